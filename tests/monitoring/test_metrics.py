"""Calibration and confusion figures against values worked out by hand."""
import numpy as np
import pytest

from monitoring import metrics

# Six labelled predictions: wrong at 0.6 and 0.8, right elsewhere.
CONFIDENCES = np.array([0.99, 0.6, 0.9, 0.7, 0.95, 0.8])
CORRECT = np.array([True, False, True, True, True, False])


def test_calibration_bins_and_expected_calibration_error():
    confidences = np.array([0.55, 0.65, 0.65, 0.95, 0.97, 1.0])
    correct = np.array([True, True, False, True, True, True])

    result = metrics.calibration(confidences, correct, class_count=2, bins=5)

    assert result.bin_edges.tolist() == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    assert result.counts.tolist() == [1, 2, 0, 0, 3]  # 1.0 falls in the last bin
    assert result.accuracy[[0, 1, 4]].tolist() == pytest.approx([1, 0.5, 1])
    assert np.isnan(result.accuracy[2]) and np.isnan(result.mean_confidence[3])
    # (1/6)|1 - 0.55| + (2/6)|0.5 - 0.65| + (3/6)|1 - 0.9733...| = (0.45 + 0.3 + 0.08) / 6
    assert result.expected_calibration_error == pytest.approx(0.83 / 6)


def test_confusion_matrix_rows_are_true_classes():
    matrix = metrics.confusion_matrix(np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 0]), 2)

    assert matrix.tolist() == [[1, 1], [1, 2]]


@pytest.mark.parametrize("values, expected", [((), None), ((True, False, False, False), 0.25)],
                         ids=["empty", "quarter"])
def test_share_of_nothing_is_undefined(values, expected):
    assert metrics.share(np.array(values, dtype=bool)) == expected
