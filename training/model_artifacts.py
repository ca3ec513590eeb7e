"""The model directory contract shared by train.py (writer) and inference.py (reader).

A model directory holds:
  model-symbol.json, model-0000.params  the exported Gluon graph (training/network.py): NCHW float32
                                        RGB pixels in 0..255 at the input size in; out (logits, the
                                        ImageNet head's probability of a two-wheeler class)
  architecture.json                     {"input_size": S, "tune_from": B, ...}: what the graph expects
                                        (photos: short side resized to S, then centre-cropped)
  classes.json                          class names in the order of the outputs
  calibration.json                      {"temperature": T}: probabilities are softmax(logits / T)
  usability.json                        {"two_wheeler_limit": L, ...}: below L the backbone's own
                                        ImageNet head does not see a two-wheeler (training/usability.py)
  metrics.json                          validation and test figures, hyperparameters

SageMaker copies training/ alone into its containers, so this module imports nothing from the
rest of the repository and only the standard library, numpy and Pillow at module level.
"""
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

EXPORT_PREFIX = "model"
EXPORT_EPOCH = 0
SYMBOL_FILE = f"{EXPORT_PREFIX}-symbol.json"
PARAMS_FILE = f"{EXPORT_PREFIX}-{EXPORT_EPOCH:04d}.params"
CLASSES_FILE = "classes.json"
ARCHITECTURE_FILE = "architecture.json"
CALIBRATION_FILE = "calibration.json"
USABILITY_FILE = "usability.json"
METRICS_FILE = "metrics.json"
INPUT_NAME = "data"

# The network's input side by default (chosen on the CIFAR validation split, training/train.py):
# a photo's short side is resized to it, then the centre square is cropped.
DEFAULT_INPUT_SIZE = 160
# LANCZOS low-pass filters when shrinking, so a 224-px camera JPEG shrinks without aliasing.
# (Image.Resampling exists from Pillow 9.1; the SageMaker py38 containers may ship an older Pillow.)
RESAMPLING = getattr(Image, "Resampling", Image).LANCZOS
# Every file a complete model directory holds (classes.json, written last, marks it complete).
REQUIRED_FILES = (SYMBOL_FILE, PARAMS_FILE, ARCHITECTURE_FILE, CALIBRATION_FILE, USABILITY_FILE, CLASSES_FILE)
# The precision automatic routing must keep: coverage at this precision is the model's headline figure.
TARGET_PRECISION = 0.99


def to_model_image(image: Image.Image, size: int = DEFAULT_INPUT_SIZE) -> Image.Image:
    """An RGB size x size copy of any Pillow image (palette, RGBA, grey...): the short side resized
    to size, then the centre square, so nothing is stretched out of its aspect."""
    if image.mode != "RGB":
        image = image.convert("RGBA").convert("RGB") if "transparency" in image.info else image.convert("RGB")
    if image.size == (size, size):
        return image
    width, height = image.size
    scale = size / min(width, height)
    scaled = (max(size, round(width * scale)), max(size, round(height * scale)))
    left, top = (scaled[0] - size) // 2, (scaled[1] - size) // 2
    return image.resize(scaled, RESAMPLING).crop((left, top, left + size, top + size))


def to_batch_array(images, size: int = DEFAULT_INPUT_SIZE) -> np.ndarray:
    """Stack Pillow images into the network's NCHW float32 input (pixel values 0..255)."""
    pixels = np.stack([np.asarray(to_model_image(image, size), dtype=np.uint8) for image in images])
    return pixels.transpose(0, 3, 1, 2).astype(np.float32)


def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax(logits / temperature) in float64, stable for large logits."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def precision_coverage_curve(confidences, correct, weights=None):
    """(thresholds ascending, coverage, precision among accepted) at every threshold that changes them.

    At thresholds[i] exactly the predictions with confidence >= thresholds[i] are accepted; ties
    are accepted together (no threshold can split them). One sort, O(n log n). Weights, when given,
    count each prediction that many times (e.g. 1/sampling rate for a sampled stratum).
    """
    confidences = np.asarray(confidences, dtype=np.float64).ravel()
    correct = np.asarray(correct, dtype=bool).ravel()
    weights = np.ones_like(confidences) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if confidences.size == 0:
        return np.empty(0), np.empty(0), np.empty(0)
    order = np.argsort(-confidences, kind="stable")
    descending = confidences[order]
    accepted_counts = np.cumsum(weights[order])
    correct_counts = np.cumsum(weights[order] * correct[order])
    last_of_run = np.append(descending[1:] != descending[:-1], True)
    accepted = accepted_counts[last_of_run][::-1]
    return (descending[last_of_run][::-1], accepted / weights.sum(),
            correct_counts[last_of_run][::-1] / accepted)


def coverage_at_precision(confidences, correct, target_precision: float):
    """(coverage, threshold): the largest share of most-confident predictions whose precision is at
    least the target, and the lowest threshold that accepts exactly them; (0.0, None) when even
    the most confident predictions miss it. Threshold-free: it ranks a model's own confidences.
    """
    thresholds, coverage, precision = precision_coverage_curve(confidences, correct)
    meets = np.flatnonzero(precision >= target_precision - 1e-12)
    if not meets.size:
        return 0.0, None
    return float(coverage[meets[0]]), float(thresholds[meets[0]])


def write_json_atomically(path: Path, payload) -> None:
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(temp_name, path)


def save_model_dir(network, class_names, temperature: float, usability: dict, metrics: dict, model_dir,
                   architecture: dict) -> Path:
    """Export a hybridizable Gluon network and its companions into model_dir.

    The graph files are exported into a scratch directory beside them and moved in one by one,
    so a crash never leaves a params file that belongs to another symbol file; classes.json is
    written last and marks a complete directory.
    """
    import mxnet as mx  # deferred: the serving side imports this module before choosing a context

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    network.hybridize()
    size = architecture["input_size"]
    network(mx.nd.zeros((1, 3, size, size)))  # export needs one traced forward pass
    with tempfile.TemporaryDirectory(dir=model_dir, prefix=".export-") as scratch:
        network.export(os.path.join(scratch, EXPORT_PREFIX), epoch=EXPORT_EPOCH)
        for name in (SYMBOL_FILE, PARAMS_FILE):
            os.replace(os.path.join(scratch, name), model_dir / name)
    write_json_atomically(model_dir / ARCHITECTURE_FILE, architecture)
    write_json_atomically(model_dir / CALIBRATION_FILE, {"temperature": float(temperature)})
    write_json_atomically(model_dir / USABILITY_FILE, usability)
    write_json_atomically(model_dir / METRICS_FILE, metrics)
    write_json_atomically(model_dir / CLASSES_FILE, list(class_names))
    return model_dir


def read_json(model_dir, name: str):
    with open(Path(model_dir) / name) as handle:
        return json.load(handle)
