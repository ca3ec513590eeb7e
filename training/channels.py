"""Training data on disk: channels laid out as <class>/<image>, and the validation split.

Shipped to SageMaker with training/ (train.py imports it); numpy and Pillow only.
"""
from pathlib import Path

import numpy as np
from PIL import Image

try:
    from training import model_artifacts
except ImportError:  # SageMaker copies training/ alone into /opt/ml/code
    import model_artifacts

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def class_order(folder_names, preferred_order=None) -> list:
    """preferred_order (the repository's settings.CLASS_NAMES) when the folders are exactly those
    classes, else the sorted folder names."""
    folder_names = sorted(folder_names)
    if preferred_order is not None and sorted(preferred_order) == folder_names:
        return list(preferred_order)
    return folder_names


def open_for_model(path, size: int) -> Image.Image:
    """A photo file decoded just large enough for the model: JPEGs at a reduced scale (draft mode)."""
    with Image.open(path) as image:
        if image.format == "JPEG":
            image.draft("RGB", (size, size))
        image.load()
        return image.copy()


def _read_images(files, size: int) -> list:
    return [np.asarray(model_artifacts.to_model_image(open_for_model(path, size), size), dtype=np.uint8)
            for path in files]


def class_names_of(channel_dir, preferred_order=None) -> list:
    """The classes of a channel laid out as <class>/<image>, in preferred_order when they are those."""
    channel_dir = Path(channel_dir)
    if not channel_dir.is_dir():
        raise FileNotFoundError(f"no channel directory {channel_dir}")
    class_names = class_order((p.name for p in channel_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
                              preferred_order)
    if not class_names:
        raise FileNotFoundError(f"no class sub-directories in {channel_dir}")
    return class_names


def load_channel(channel_dir, class_names=None, preferred_order=None, size: int = model_artifacts.DEFAULT_INPUT_SIZE):
    """Read a channel laid out as <class>/<image>; return (uint8 NHWC pixels at size x size, int labels,
    class names)."""
    channel_dir = Path(channel_dir)
    if class_names is None:
        class_names = class_names_of(channel_dir, preferred_order)
    if not channel_dir.is_dir():
        raise FileNotFoundError(f"no channel directory {channel_dir}")
    images, labels = [], []
    for label, name in enumerate(class_names):
        files = sorted(p for p in (channel_dir / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"no images in {channel_dir / name}")
        images.extend(_read_images(files, size))
        labels.extend([label] * len(files))
    return np.stack(images), np.asarray(labels, dtype=np.int64), list(class_names)


def load_photo_images(channel_dir, folders) -> dict:
    """{folder: [Pillow images, as stored]} for the folders of a channel that exist and hold photos
    (a reviewed channel may lack a class nobody answered yet); {} for a missing channel."""
    root = Path(channel_dir) if channel_dir else None
    if root is None or not root.is_dir():
        return {}
    found = {}
    for name in folders:
        folder = root / name
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
        images = []
        for path in files:
            with Image.open(path) as image:
                image.load()
                images.append(image.copy())
        if images:
            found[name] = images
    return found


def load_labelled_photos(channel_dir, folders, size: int = model_artifacts.DEFAULT_INPUT_SIZE) -> dict:
    """{folder: uint8 NHWC pixels at the model's input size}, as load_photo_images finds them."""
    return {name: np.stack([np.asarray(model_artifacts.to_model_image(image, size), dtype=np.uint8) for image in images])
            for name, images in load_photo_images(channel_dir, folders).items()}


def split_validation(labels, fraction: float, seed: int):
    """Stratified split of indices into (train, validation), the same for every member."""
    rng = np.random.RandomState(seed)
    train_idx, validation_idx = [], []
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        cut = max(1, int(round(len(idx) * fraction)))
        validation_idx.extend(idx[:cut])
        train_idx.extend(idx[cut:])
    return np.sort(train_idx), np.sort(validation_idx)


def to_nchw(pixels):
    return pixels.transpose(0, 3, 1, 2).astype(np.float32)
