"""The report's figures over labelled predictions, on plain numpy arrays (no I/O, no plotting):
calibration and the confusion matrix. The threshold estimates under audit sampling are
monitoring/estimates.py's (plain Python, shared with the monitor).

Conventions shared with the workflow's Check Confidence step: a prediction is *accepted* when its
confidence (the top class probability) is >= the threshold, *rejected* otherwise. Precision among
accepted is the share of accepted predictions that are correct; coverage is the share accepted.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np

import settings
from monitoring.calibration import CALIBRATION_BINS, calibration_bins, expected_calibration_error

DEFAULT_TARGET_PRECISION = settings.TARGET_PRECISION


def share(mask: np.ndarray) -> Optional[float]:
    """Mean of a boolean array; None when it is empty (a share of nothing is undefined, not 0)."""
    return float(np.mean(mask)) if mask.size else None


@dataclass(frozen=True)
class ThresholdCurves:
    """Coverage and precision among accepted at every threshold that changes them.

    thresholds are the distinct confidences, ascending: at thresholds[i] exactly the predictions
    with confidence >= thresholds[i] are accepted (any threshold in between behaves like the next
    one up).
    """

    thresholds: np.ndarray
    coverage: np.ndarray
    precision: np.ndarray


@dataclass(frozen=True)
class Calibration:
    """Reliability diagram data: per confidence bin, mean confidence, accuracy and size."""

    bin_edges: np.ndarray
    mean_confidence: np.ndarray   # NaN for empty bins
    accuracy: np.ndarray          # NaN for empty bins
    counts: np.ndarray
    expected_calibration_error: float


def calibration(confidences: np.ndarray, correct: np.ndarray, class_count: int,
                bins: int = CALIBRATION_BINS) -> Calibration:
    """Reliability diagram data with the one ECE definition the training metrics and the
    benchmark use too (monitoring/calibration.py), so the figures agree for the same predictions."""
    edges, counts, confidence_sums, correct_sums = calibration_bins(
        confidences, correct, class_count, bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.where(counts > 0, confidence_sums / counts, np.nan)
        accuracy = np.where(counts > 0, correct_sums / counts, np.nan)
    ece = expected_calibration_error(confidences, correct, class_count, bins)
    return Calibration(edges, mean_confidence, accuracy, counts, ece)


def confusion_matrix(true_labels: np.ndarray, predictions: np.ndarray, class_count: int) -> np.ndarray:
    """counts[true, predicted]."""
    return np.bincount(true_labels * class_count + predictions,
                       minlength=class_count * class_count).reshape(class_count, class_count)
