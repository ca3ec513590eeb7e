import numpy as np
import pytest
from PIL import Image

from training import model_artifacts


def test_softmax_rows_sum_to_one_and_survive_large_logits():
    logits = np.array([[1000.0, 0.0], [0.0, 0.0], [-5.0, 5.0]])

    probabilities = model_artifacts.softmax(logits)

    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert probabilities[0].tolist() == pytest.approx([1.0, 0.0])
    assert probabilities[1].tolist() == pytest.approx([0.5, 0.5])


def test_softmax_temperature_softens_probabilities():
    logits = np.array([[2.0, 0.0]])

    assert model_artifacts.softmax(logits, temperature=2.0)[0, 0] == pytest.approx(1 / (1 + np.exp(-1.0)))


@pytest.mark.parametrize("confidences, correct, target, expected", [
    ([0.99, 0.9, 0.8, 0.7], [True, True, False, True], 0.99, (0.5, 0.9)),
    ([0.99, 0.9, 0.8, 0.7], [True, True, False, True], 0.75, (1.0, 0.7)),
    ([0.99, 0.9], [False, True], 0.99, (0.0, None)),
    # A threshold cannot split tied confidences: the wrong 0.9 comes with the right one.
    ([0.99, 0.9, 0.9], [True, True, False], 0.99, (1 / 3, 0.99)),
], ids=["first-error-stops-coverage", "lower-target-accepts-all", "most-confident-wrong", "ties-together"])
def test_coverage_at_precision(confidences, correct, target, expected):
    coverage, threshold = model_artifacts.coverage_at_precision(np.array(confidences), np.array(correct), target)

    assert coverage == pytest.approx(expected[0])
    assert threshold == (pytest.approx(expected[1]) if expected[1] is not None else None)


def test_precision_coverage_curve_of_nothing_is_empty():
    thresholds, coverage, precision = model_artifacts.precision_coverage_curve(np.array([]), np.array([]))

    assert thresholds.size == coverage.size == precision.size == 0


@pytest.mark.parametrize("size, side", [((1000, 33), 32), ((33, 1000), 32), ((161, 160), 160), ((20, 30), 64),
                                        ((160, 160), 160)],
                         ids=["wide", "tall", "almost-square", "upsampled", "already-the-input"])
def test_to_model_image_is_a_square_of_the_side_whatever_the_aspect(size, side):
    image = Image.new("P", size, 3)

    square = model_artifacts.to_model_image(image, side)

    assert square.size == (side, side) and square.mode == "RGB"


def test_required_files_include_the_architecture():
    assert model_artifacts.ARCHITECTURE_FILE == "architecture.json"
    assert model_artifacts.ARCHITECTURE_FILE in model_artifacts.REQUIRED_FILES
