import numpy as np
import pytest
from PIL import Image

from imaging import samples
from training import model_artifacts, usability


def model_input(image: Image.Image, size: int = model_artifacts.DEFAULT_INPUT_SIZE) -> np.ndarray:
    """What the endpoint judges: the statistics reduction of the model's input (inference.assess)."""
    return usability.statistics_pixels(model_artifacts.to_model_image(image, size))


@pytest.mark.parametrize("image, reason", [
    (samples.uniform_image((0, 0, 0)), "nearly uniform"),
    (samples.uniform_image((255, 255, 255)), "nearly uniform"),
    (samples.uniform_image((40, 90, 200)), "nearly uniform"),
    (Image.new("RGB", (64, 64), (6, 6, 6)), "too dark"),
    (samples.noise_image(640, 480), "nearly uniform"),
    (samples.noise_image(40, 40), "neighbouring pixels unrelated"),
    (samples.text_document(), "too few colours"),
], ids=["black", "white", "one-colour", "dark", "large-noise", "small-noise", "text-document"])
def test_image_reasons_name_what_makes_a_picture_unusable(image, reason):
    reasons = usability.image_reasons(model_input(image), image.size)

    assert any(reason in text for text in reasons), reasons


def test_image_reasons_call_a_blown_out_photo_unusable():
    scene = np.asarray(samples.scene(320, 240), dtype=np.float64)
    blown_out = Image.fromarray((255 - (255 - scene) * 0.05).astype(np.uint8))

    reasons = usability.image_reasons(model_input(blown_out), blown_out.size)

    assert any("blown out" in text for text in reasons), reasons


@pytest.mark.parametrize("size", [(4, 4), (31, 400), (400, 20)], ids=["4x4", "narrow", "flat"])
def test_image_reasons_refuse_pictures_smaller_than_the_model_input(size):
    reasons = usability.image_reasons(np.zeros((size[1], size[0], 3), dtype=np.uint8), size)

    assert reasons == [f"smaller than the model's 32x32 input ({size[0]}x{size[1]} pixels)"]


@pytest.mark.parametrize("image", [samples.scene(320, 240, noise=8), samples.scene(32, 32, noise=12)],
                         ids=["photo", "cifar-sized"])
def test_image_reasons_accept_a_photo(image):
    assert usability.image_reasons(model_input(image), image.size) == []


def test_image_statistics_of_a_known_picture():
    pixels = np.zeros((32, 32, 3), dtype=np.uint8)
    pixels[:, 16:] = 255

    stats = usability.image_statistics(pixels)

    assert stats["brightness"] == pytest.approx(127.5)
    assert stats["contrast"] == pytest.approx(127.5)
    assert stats["colours"] == 2


@pytest.mark.parametrize("size", [32, 160, 224])
def test_statistics_pixels_reduce_any_model_input_to_the_thumbnail_side(size):
    image = model_artifacts.to_model_image(samples.scene(320, 240, noise=8), size)

    pixels = usability.statistics_pixels(image)

    assert pixels.shape == (usability.STATISTICS_SIDE, usability.STATISTICS_SIDE, 3) and pixels.dtype == np.uint8


def test_statistics_pixels_keep_the_limits_whatever_the_input_size():
    # Statistics of the same photo at two input sizes are close, since both are reduced to 32x32.
    photo = samples.scene(320, 240, noise=8)

    small, large = (usability.image_statistics(model_input(photo, size)) for size in (32, 224))

    assert small["brightness"] == pytest.approx(large["brightness"], abs=3)
    assert small["contrast"] == pytest.approx(large["contrast"], rel=0.1)


@pytest.mark.parametrize("mass, limit, usable", [(0.9, 0.5, True), (0.5, 0.5, True), (0.49, 0.5, False),
                                                 (float("nan"), 0.5, False), (0.0, 0.0, True)],
                         ids=["above", "at-the-limit", "below", "not-a-number", "no-gate"])
def test_two_wheeler_reason(mass, limit, usable):
    assert (usability.two_wheeler_reason(mass, limit) == []) == usable


def test_two_wheeler_reason_is_coded_and_says_the_mass_and_the_limit():
    (reason,) = usability.two_wheeler_reason(0.12, 0.5)

    assert reason.code == "not_two_wheeler" and reason.code in usability.REASON_CODES
    assert "0.12 < 0.50" in reason
