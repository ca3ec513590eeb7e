"""The threshold arithmetic behind the report, on plain numpy arrays (no I/O, no plotting).

Conventions shared with the workflow's Check Confidence step: a prediction is *accepted* when its
confidence (the top class probability) is >= the threshold, *rejected* otherwise. Precision among
accepted is the share of accepted predictions that are correct; coverage is the share accepted.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np

from training import model_artifacts

DEFAULT_TARGET_PRECISION = model_artifacts.TARGET_PRECISION


def share(mask: np.ndarray) -> Optional[float]:
    """Mean of a boolean array; None when it is empty (a share of nothing is undefined, not 0)."""
    return float(np.mean(mask)) if mask.size else None


@dataclass(frozen=True)
class ThresholdOutcome:
    """What one threshold does to a labelled set of predictions."""

    threshold: float
    total: int
    accepted: int
    accepted_correct: int
    rejected: int
    rejected_correct: int

    @property
    def coverage(self) -> Optional[float]:
        return self.accepted / self.total if self.total else None

    @property
    def rejected_share(self) -> Optional[float]:
        return self.rejected / self.total if self.total else None

    @property
    def precision_accepted(self) -> Optional[float]:
        return self.accepted_correct / self.accepted if self.accepted else None

    @property
    def accuracy_rejected(self) -> Optional[float]:
        return self.rejected_correct / self.rejected if self.rejected else None


def outcome_at(threshold: float, confidences: np.ndarray, correct: np.ndarray) -> ThresholdOutcome:
    """Counts of accepted / rejected and how many of each were correct, at one threshold."""
    accepted = confidences >= threshold
    return ThresholdOutcome(
        threshold=float(threshold),
        total=int(confidences.size),
        accepted=int(accepted.sum()),
        accepted_correct=int((accepted & correct).sum()),
        rejected=int((~accepted).sum()),
        rejected_correct=int((~accepted & correct).sum()),
    )


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


def threshold_curves(confidences: np.ndarray, correct: np.ndarray, weights: Optional[np.ndarray] = None) -> ThresholdCurves:
    """Coverage and precision for all thresholds in one sort (O(n log n)), not one pass each; the
    definition training and the benchmark use for coverage at a target precision. Weights count
    sampled predictions for the ones they stand for (an audit sampled at 5% counts 20 times)."""
    return ThresholdCurves(*model_artifacts.precision_coverage_curve(confidences, correct, weights))


@dataclass(frozen=True)
class Proportion:
    """successes of trials, with a 95% Wilson score interval (sound for small counts and 0% or 100%)."""
    successes: int
    trials: int
    low: Optional[float]
    high: Optional[float]

    @property
    def share(self) -> Optional[float]:
        return self.successes / self.trials if self.trials else None


WILSON_Z = 1.959963984540054  # the 97.5% quantile of the standard normal: a 95% interval


def wilson_interval(successes: int, trials: int, z: float = WILSON_Z) -> Proportion:
    if trials == 0:
        return Proportion(0, 0, None, None)
    share = successes / trials
    centre = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * ((share * (1 - share) / trials + z * z / (4 * trials * trials)) ** 0.5) / (1 + z * z / trials)
    return Proportion(successes, trials, max(0.0, centre - half), min(1.0, centre + half))


def weighted_wilson_interval(correct: np.ndarray, weights: np.ndarray, z: float = WILSON_Z) -> Proportion:
    """Wilson's interval for a weighted share (audited drivers standing for 1/rate routed ones
    beside fully reviewed ones), on Kish's effective sample size (sum w)^2 / sum w^2: equal weights
    give the plain interval, unequal ones a wider interval than the raw count would claim. The
    Proportion's successes and trials are the checked drivers' raw counts."""
    correct, weights = np.asarray(correct, dtype=float), np.asarray(weights, dtype=float)
    if correct.size == 0 or weights.sum() <= 0:
        return Proportion(0, 0, None, None)
    effective = weights.sum() ** 2 / np.sum(weights ** 2)
    share = float(np.sum(weights * correct) / weights.sum())
    interval = wilson_interval(share * effective, effective, z)
    return Proportion(int(correct.sum()), int(correct.size), interval.low, interval.high)


def recommend_threshold(curves: ThresholdCurves, target_precision: float) -> Optional[int]:
    """Index into curves of the lowest threshold whose precision among accepted is >= target;
    None when no threshold reaches it. The lowest such threshold buys the largest coverage."""
    meets = np.flatnonzero(curves.precision >= target_precision - 1e-12)
    return int(meets[0]) if meets.size else None


@dataclass(frozen=True)
class Calibration:
    """Reliability diagram data: per confidence bin, mean confidence, accuracy and size."""

    bin_edges: np.ndarray
    mean_confidence: np.ndarray   # NaN for empty bins
    accuracy: np.ndarray          # NaN for empty bins
    counts: np.ndarray
    expected_calibration_error: float


def calibration(confidences: np.ndarray, correct: np.ndarray, class_count: int,
                bins: int = model_artifacts.CALIBRATION_BINS) -> Calibration:
    """Reliability diagram data with the one ECE definition the training metrics and the
    benchmark use too (training/model_artifacts.py), so the figures agree for the same predictions."""
    edges, counts, confidence_sums, correct_sums = model_artifacts.calibration_bins(
        confidences, correct, class_count, bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.where(counts > 0, confidence_sums / counts, np.nan)
        accuracy = np.where(counts > 0, correct_sums / counts, np.nan)
    ece = model_artifacts.expected_calibration_error(confidences, correct, class_count, bins)
    return Calibration(edges, mean_confidence, accuracy, counts, ece)


def confusion_matrix(true_labels: np.ndarray, predictions: np.ndarray, class_count: int) -> np.ndarray:
    """counts[true, predicted]."""
    return np.bincount(true_labels * class_count + predictions,
                       minlength=class_count * class_count).reshape(class_count, class_count)
