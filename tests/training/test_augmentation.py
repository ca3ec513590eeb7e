import numpy as np
import pytest
from PIL import Image

from training import augmentation


def _batch(count=6, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (count, 32, 32, 3)).astype(np.uint8)


def test_crop_flip_cutout_keeps_shape_and_dtype():
    pixels = _batch(5)

    augmented = augmentation.crop_flip_cutout(pixels, np.random.RandomState(1), cutout=8)

    assert augmented.shape == pixels.shape and augmented.dtype == np.uint8
    assert not np.array_equal(augmented, pixels)


@pytest.mark.parametrize("name", sorted(augmentation.OPERATIONS))
@pytest.mark.parametrize("magnitude", [0.0, 0.5, 1.0], ids=["weakest", "middle", "strongest"])
def test_every_operation_returns_a_32px_rgb_image(name, magnitude):
    image = Image.fromarray(_batch(1)[0])

    result = augmentation.OPERATIONS[name](image, magnitude, np.random.RandomState(0))

    assert result.mode == "RGB" and result.size == (32, 32)


@pytest.mark.parametrize("name", ["shear_x", "shear_y", "translate_x", "translate_y", "rotate",
                                  "brightness", "color", "contrast", "sharpness", "solarize"])
def test_operations_at_magnitude_zero_leave_the_image_alone(name):
    image = Image.fromarray(_batch(1)[0])

    result = augmentation.OPERATIONS[name](image, 0.0, np.random.RandomState(0))

    assert np.array_equal(np.asarray(result), np.asarray(image))


def test_geometric_operations_fill_with_grey():
    white = Image.new("RGB", (32, 32), (255, 255, 255))

    shifted = np.asarray(augmentation.OPERATIONS["translate_x"](white, 1.0, np.random.RandomState(0)))

    assert (shifted == augmentation.FILL[0]).all(axis=2).any()


def test_trivial_augment_is_reproducible_from_the_generator_and_changes_most_images():
    pixels = _batch(32)

    first = augmentation.trivial_augment(pixels, np.random.RandomState(7))
    second = augmentation.trivial_augment(pixels, np.random.RandomState(7))

    assert np.array_equal(first, second)
    changed = [not np.array_equal(a, b) for a, b in zip(first, pixels)]
    assert sum(changed) >= 16


@pytest.mark.parametrize("policy", augmentation.POLICIES)
def test_augment_applies_each_policy_to_a_batch(policy):
    pixels = _batch(4)

    augmented = augmentation.augment(pixels, np.random.RandomState(3), cutout=8, policy=policy)

    assert augmented.shape == pixels.shape and augmented.dtype == np.uint8


def test_augment_refuses_an_unknown_policy():
    with pytest.raises(ValueError, match="unknown augmentation policy 'autoaugment'"):
        augmentation.augment(_batch(1), np.random.RandomState(0), cutout=0, policy="autoaugment")
