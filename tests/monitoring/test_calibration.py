import numpy as np
import pytest

from monitoring import calibration


@pytest.mark.parametrize("confidences, correct, num_classes, expected", [
    ([0.9] * 10, [True] * 9 + [False], 2, 0.0),
    ([1.0] * 4, [True, True, False, False], 2, 0.5),
    # 0.52 and 0.58 fall in different bins of [0.5, 1]; bins over [0, 1] would merge them (0.05).
    ([0.52, 0.58], [True, False], 2, 0.5 * 0.48 + 0.5 * 0.58),
    # Three classes: bins over [1/3, 1], so 0.35 and 0.39 share the first bin.
    ([0.35, 0.39], [True, False], 3, abs(0.5 - 0.37)),
], ids=["calibrated", "overconfident", "two-class-bins-start-at-half", "three-class-bins-start-at-third"])
def test_expected_calibration_error(confidences, correct, num_classes, expected):
    ece = calibration.expected_calibration_error(np.array(confidences), np.array(correct), num_classes)

    assert ece == pytest.approx(expected)


def test_expected_calibration_error_of_nothing_is_nan():
    assert np.isnan(calibration.expected_calibration_error(np.array([]), np.array([]), 2))


def test_calibration_bins_put_top_confidence_in_last_bin():
    edges, counts, confidence_sums, correct_sums = calibration.calibration_bins(
        np.array([0.5, 0.55, 1.0]), np.array([1, 0, 1]), 2, bins=10)

    assert edges[0] == 0.5 and edges[-1] == 1.0
    assert counts.tolist() == [1, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    assert confidence_sums[-1] == 1.0 and correct_sums.tolist()[:2] == [1.0, 0.0]
