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
from imaging import photo  # noqa: E402 - shipped beside training/ (the estimator's dependencies)

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


# --- the real-photo channel: labelled photos of drivers' vehicles, grouped by source --------------------

# Folder layout of a real-photo channel (training.stage_data stages it; a user's own photos come the same
# way): one folder per class, and other/ for things that must never be routed. A file's source is the
# part of its name before SOURCE_SEPARATOR (the shared collections name files <source>__<name>); photos
# without one belong to OWN_SOURCE. Cross-validation folds hold out whole sources.
OTHER_FOLDER = "other"
SOURCE_SEPARATOR = "__"
OWN_SOURCE = "own"
# The label of a photo that shows no class (other/, not_a_vehicle): taught as "unsure", never a class.
OUTLIER_LABEL = -1


class ChannelError(ValueError):
    """A real-photo folder that is there but broken: the one-line message names the folder or file."""


def source_of(path) -> str:
    name = Path(path).name
    return name.split(SOURCE_SEPARATOR, 1)[0] if SOURCE_SEPARATOR in name else OWN_SOURCE


def real_photo_files(channel_dir, class_names) -> list:
    """[(path, folder)] of a real-photo channel, sorted; ChannelError for a class folder missing or
    empty of photos. other/ may be absent."""
    channel_dir = Path(channel_dir)
    files = []
    for folder in (*class_names, OTHER_FOLDER):
        directory = channel_dir / folder
        if not directory.is_dir():
            if folder == OTHER_FOLDER:
                continue
            raise ChannelError(f"{directory} is missing: a real-photo folder holds "
                               f"{'/, '.join(class_names)}/ and optionally {OTHER_FOLDER}/")
        found = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
        if not found and folder != OTHER_FOLDER:
            raise ChannelError(f"{directory} holds no photos")
        files.extend((path, folder) for path in found)
    return files


def read_real_photo(path) -> Image.Image:
    """A photo as the workflow hands it to the endpoint (Serialize Image's normalisation, then the
    endpoint's decoding): training sees real photos at the network's input resolution, exactly as
    serving does. ChannelError names a file that is not a readable photo."""
    try:
        data = Path(path).read_bytes()
        normalised, _, _ = photo.normalize(data)
        image, _ = photo.decode(normalised)
    except (OSError, photo.PhotoRejected) as error:
        raise ChannelError(f"{path}: not a readable photo ({error})") from None
    return image


def load_real_photos(channel_dir, class_names, size: int = model_artifacts.DEFAULT_INPUT_SIZE) -> dict:
    """{"pixels": uint8 NHWC at size, "labels": class index or OUTLIER_LABEL (other/), "sources",
    "names"} of a real-photo channel; empty arrays for a missing or empty channel."""
    empty = {"pixels": np.zeros((0, size, size, 3), dtype=np.uint8), "labels": np.zeros(0, dtype=np.int64),
             "sources": np.zeros(0, dtype=object), "names": []}
    folders = (*class_names, OTHER_FOLDER)
    if not channel_dir or not any((Path(channel_dir) / folder).is_dir() for folder in folders):
        return empty  # no channel, or one staged without photos (its REAL.json alone)
    files = real_photo_files(channel_dir, class_names)
    if not files:
        return empty
    pixels = [np.asarray(model_artifacts.to_model_image(read_real_photo(path), size), dtype=np.uint8)
              for path, _ in files]
    labels = [class_names.index(folder) if folder in class_names else OUTLIER_LABEL for _, folder in files]
    return {"pixels": np.stack(pixels), "labels": np.asarray(labels, dtype=np.int64),
            "sources": np.asarray([source_of(path) for path, _ in files], dtype=object),
            "names": [f"{folder}/{path.name}" for path, folder in files]}



def grouped_folds(sources, folds: int, seed: int = 0) -> list:
    """Fold index per photo: whole sources are held out together, the largest sources spread first
    over the folds with the fewest photos (so folds are of similar size); fewer folds when there are
    fewer sources."""
    sources = np.asarray(sources, dtype=object)
    names, counts = np.unique(sources, return_counts=True)
    folds = max(1, min(folds, len(names)))
    rng = np.random.RandomState(seed)
    order = sorted(range(len(names)), key=lambda i: (-counts[i], rng.rand()))
    sizes = np.zeros(folds, dtype=np.int64)
    fold_of_source = {}
    for index in order:
        fold = int(np.argmin(sizes))
        fold_of_source[names[index]] = fold
        sizes[fold] += counts[index]
    return np.asarray([fold_of_source[source] for source in sources], dtype=np.int64)
