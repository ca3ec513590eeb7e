"""EfficientNet-Lite0 in Gluon: TF "SAME" padding, input sides, and the real ImageNet weights against
ImageNet's own sample photos (../shared/data/real-world/*/inet__*.jpg, read-only)."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import settings
from training import efficientnet, model_artifacts, pretrained

# ImageNet class index of each sample photo the network names first (the photo's own class).
KNOWN_TOP_1 = {"crash_helmet": 518, "convertible": 511, "manhole_cover": 640, "minibus": 654, "parking_meter": 704,
               "trailer_truck": 867, "groom": 982}
IMAGENET_SIDE = 224


def imagenet_samples() -> dict:
    """{name: path} of the sample photos, named inet__n<wnid>_<name>.jpg."""
    paths = sorted(Path(settings.REAL_WORLD_DIR).glob("*/inet__*.jpg"))
    return {path.stem.split("_", 3)[3]: path for path in paths}


@pytest.fixture(scope="module")
def imagenet_net(pretrained_channel):
    return pretrained.load_imagenet_network(pretrained_channel)


def test_build_imagenet_network_classifies_imagenets_own_photos_as_imagenet_does(imagenet_net):
    import mxnet as mx

    samples = imagenet_samples()
    if not samples:
        pytest.skip(f"no ImageNet sample photos in {settings.REAL_WORLD_DIR}")
    assert set(KNOWN_TOP_1) <= set(samples), sorted(samples)
    images = []
    for name in KNOWN_TOP_1:
        with Image.open(samples[name]) as image:
            images.append(model_artifacts.to_model_image(image, IMAGENET_SIDE))  # short side 224, centre crop

    logits = imagenet_net(mx.nd.array(model_artifacts.to_batch_array(images, IMAGENET_SIDE))).asnumpy()

    assert logits.shape == (len(KNOWN_TOP_1), efficientnet.IMAGENET_CLASSES)
    assert dict(zip(KNOWN_TOP_1, logits.argmax(axis=1).tolist())) == KNOWN_TOP_1


def test_build_imagenet_network_is_sure_of_a_known_photo(imagenet_net):
    import mxnet as mx

    samples = imagenet_samples()
    if "crash_helmet" not in samples:
        pytest.skip(f"no ImageNet sample photos in {settings.REAL_WORLD_DIR}")
    with Image.open(samples["crash_helmet"]) as image:
        batch = model_artifacts.to_batch_array([image], IMAGENET_SIDE)

    probabilities = mx.nd.softmax(imagenet_net(mx.nd.array(batch))).asnumpy()[0]

    assert probabilities.sum() == pytest.approx(1.0, abs=1e-4)
    assert probabilities[518] > 0.5  # crash helmet, one of the two-wheeler classes
    assert 518 in pretrained.TWO_WHEELER_CLASSES


@pytest.mark.parametrize("kernel, stride, padding", [
    (3, 1, (1, 1)), (5, 1, (2, 2)), (3, 2, (0, 1)), (5, 2, (1, 2)), (1, 1, (0, 0)),
], ids=["3x3", "5x5", "3x3-stride-2", "5x5-stride-2", "1x1"])
def test_same_padding_puts_tensorflows_extra_row_after(kernel, stride, padding):
    assert efficientnet.same_padding(kernel, stride) == padding


@pytest.mark.parametrize("side", [64, 96])
def test_a_stride_2_convolution_gives_tensorflows_output_side(side):
    import mxnet as mx

    conv = efficientnet.block_classes()["PaddedConv"](4, 3, 2)
    conv.initialize()

    assert conv(mx.nd.zeros((1, 3, side, side))).shape == (1, 4, side // 2, side // 2)


@pytest.mark.parametrize("side", [100, 16, 0, 48])
def test_check_input_side_rejects_a_side_that_is_not_a_multiple_of_32(side):
    with pytest.raises(ValueError, match="multiple of 32"):
        efficientnet.check_input_side(side)


@pytest.mark.parametrize("side", [32, 160, 224])
def test_check_input_side_accepts_multiples_of_32(side):
    assert efficientnet.check_input_side(side) == side


def test_block_settings_are_efficientnet_lite0s_sixteen_blocks():
    settings_ = efficientnet.block_settings()

    assert len(settings_) == efficientnet.BLOCK_COUNT == 16
    assert settings_[0] == (32, 16, 3, 1, 1) and settings_[-1] == (192, 320, 3, 1, 6)
    assert [setting[3] for setting in settings_].count(2) == 4  # four stride-2 stages: 32x reduction with the stem


def test_load_imagenet_weights_refuses_a_state_dict_that_does_not_fit():
    net = efficientnet.build_imagenet_network()
    net.initialize()

    with pytest.raises(ValueError, match="not EfficientNet-Lite0"):
        efficientnet.load_imagenet_weights(net, {"_conv_stem.weight": np.zeros((32, 3, 3, 3), dtype=np.float32)})
