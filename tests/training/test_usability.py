import numpy as np
import pytest
from PIL import Image

from tests.imaging import photos
from training import model_artifacts, usability


def model_input(image: Image.Image) -> np.ndarray:
    return np.asarray(model_artifacts.to_model_image(image))


@pytest.mark.parametrize("image, reason", [
    (photos.uniform_image((0, 0, 0)), "nearly uniform"),
    (photos.uniform_image((255, 255, 255)), "nearly uniform"),
    (photos.uniform_image((40, 90, 200)), "nearly uniform"),
    (Image.new("RGB", (64, 64), (6, 6, 6)), "too dark"),
    (photos.noise_image(640, 480), "nearly uniform"),
    (photos.noise_image(40, 40), "neighbouring pixels unrelated"),
    (photos.text_document(), "too few colours"),
], ids=["black", "white", "one-colour", "dark", "large-noise", "small-noise", "text-document"])
def test_image_reasons_name_what_makes_a_picture_unusable(image, reason):
    reasons = usability.image_reasons(model_input(image), image.size)

    assert any(reason in text for text in reasons), reasons


def test_image_reasons_call_a_blown_out_photo_unusable():
    scene = np.asarray(photos.scene(320, 240), dtype=np.float64)
    blown_out = Image.fromarray((255 - (255 - scene) * 0.05).astype(np.uint8))

    reasons = usability.image_reasons(model_input(blown_out), blown_out.size)

    assert any("blown out" in text for text in reasons), reasons


@pytest.mark.parametrize("size", [(4, 4), (31, 400), (400, 20)], ids=["4x4", "narrow", "flat"])
def test_image_reasons_refuse_pictures_smaller_than_the_model_input(size):
    reasons = usability.image_reasons(np.zeros((size[1], size[0], 3), dtype=np.uint8), size)

    assert reasons == [f"smaller than the model's 32x32 input ({size[0]}x{size[1]} pixels)"]


@pytest.mark.parametrize("image", [photos.scene(320, 240, noise=8), photos.scene(32, 32, noise=12)],
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


def test_fit_feature_distribution_whitens_the_shared_covariance():
    rng = np.random.RandomState(0)
    covariance = np.array([[4.0, 1.0], [1.0, 2.0]])
    labels = np.repeat([0, 1], 5000)
    features = rng.multivariate_normal([0, 0], covariance, 10000) + np.where(labels[:, None] == 1, [10.0, 0.0], 0.0)

    means, whitening = usability.fit_feature_distribution(features, labels, 2, shrinkage=0.0)

    assert means == pytest.approx(np.array([[0, 0], [10, 0]]), abs=0.1)
    point = np.array([[2.0, 1.0]])
    expected = float(point @ np.linalg.inv(covariance) @ point.T)
    assert usability.mahalanobis_distances(point, means, whitening)[0] == pytest.approx(expected, rel=0.05)


def test_distance_limit_is_a_high_quantile_of_the_validation_distances():
    distances = np.exp(np.random.RandomState(0).normal(5.0, 0.5, 100000))

    limit = usability.distance_limit(distances, 0.005)

    assert np.mean(distances > limit) == pytest.approx(0.005, abs=0.001)


@pytest.mark.parametrize("distance, limit, usable", [(10.0, 20.0, True), (20.0, 20.0, True), (21.0, 20.0, False),
                                                     (float("nan"), 20.0, False)],
                         ids=["below", "at-the-limit", "above", "not-a-number"])
def test_distance_reason(distance, limit, usable):
    assert (usability.distance_reason(distance, limit) == []) == usable
