"""Calibration of top-label confidences, on numpy arrays: the reliability bins and the expected
calibration error. train.py, the benchmarks and the monitoring report all call these, so their
figures agree for the same predictions.

It imports only numpy: SageMaker's training container gets monitoring/ beside training/
(training/launch.py's SHARED_CODE_DIRS), without settings.py.
"""
import numpy as np

# Confidence bins of the expected calibration error.
CALIBRATION_BINS = 10


def calibration_bins(confidences, correct, num_classes: int, bins: int = CALIBRATION_BINS):
    """Per-bin (edges, counts, confidence sums, correct sums) of top-label confidences.

    Equal-width bins over [1/num_classes, 1], since the top probability can never be lower
    (over [0.5, 1] for two classes); bin i holds edges[i] <= c < edges[i+1], the last bin also 1.
    """
    confidences = np.asarray(confidences, dtype=np.float64).ravel()
    correct = np.asarray(correct, dtype=np.float64).ravel()
    edges = np.linspace(1.0 / num_classes, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidences, side="right") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    confidence_sums = np.bincount(which, weights=confidences, minlength=bins)
    correct_sums = np.bincount(which, weights=correct, minlength=bins)
    return edges, counts, confidence_sums, correct_sums


def expected_calibration_error(confidences, correct, num_classes: int, bins: int = CALIBRATION_BINS) -> float:
    """Top-label ECE: sum over calibration_bins of (bin size / n) * |accuracy - mean confidence|.

    NaN when there are no predictions.
    """
    _, counts, confidence_sums, correct_sums = calibration_bins(confidences, correct, num_classes, bins)
    total = int(counts.sum())
    return float(np.abs(correct_sums - confidence_sums).sum() / total) if total else float("nan")
