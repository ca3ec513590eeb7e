"""What the labels people gave say about routing, with intervals that hold under audit sampling.

Plain Python (no numpy), so the scheduled monitor Lambda and the report share it.

The review loop labels drivers in two strata, split by the threshold the workflow used (T0):
  accepted  usable, confidence >= T0: routed without a person; a random share is audited
  rejected  usable, confidence <  T0: sent to a person; normally all reviewed (a census)
Coverage at any threshold needs no label: it is counted over every captured usable inference.
Only precision among accepted is estimated, stratum by stratum: within a stratum the labelled
drivers are a simple random sample of it (audits are chosen by a hash of the inference id, so
given how many were audited, every subset of that size was equally likely), and each labelled
driver stands for size / labelled drivers of its stratum ("routed / audited" for audits).

Intervals are exact for a finite population: the number of correct drivers in a stratum is
bounded by inverting the hypergeometric distribution of the labelled ones, which collapses to the
count itself when the stratum is a census. Strata are combined by adding their bounds; when more
than one stratum is sampled, each gets an equal share of the error rate (Bonferroni), so the sum
holds at least at the stated level. With full labels every figure is exact.
"""
import bisect
import functools
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

DEFAULT_CONFIDENCE_LEVEL = 0.95


@dataclass(frozen=True)
class Stratum:
    """A part of the drivers: how many there are, how many a person labelled, how many of those the
    model got right."""

    size: int
    labelled: int
    correct: int

    def __post_init__(self):
        if not 0 <= self.correct <= self.labelled <= self.size:
            raise ValueError(f"need 0 <= correct <= labelled <= size, got {self}")

    @property
    def is_census(self) -> bool:
        return self.labelled == self.size


@dataclass(frozen=True)
class Estimate:
    """A share, its point estimate (None when some stratum has no label at all) and interval."""

    value: Optional[float]
    low: Optional[float]
    high: Optional[float]
    labelled: int = 0
    size: int = 0

    @property
    def interval(self) -> List[Optional[float]]:
        return [self.low, self.high]


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _hypergeometric_cdf(x: int, population: int, successes: int, draws: int) -> float:
    """P(X <= x) for X the successes among `draws` taken without replacement."""
    lowest = max(0, draws - (population - successes))
    highest = min(x, successes, draws)
    if highest < lowest:
        return 0.0
    total = _log_choose(population, draws)
    return min(1.0, sum(math.exp(_log_choose(successes, k) + _log_choose(population - successes, draws - k) - total)
                        for k in range(lowest, highest + 1)))


@functools.lru_cache(maxsize=4096)
def correct_count_bounds(stratum: Stratum, error_rate: float) -> Tuple[int, int]:
    """(fewest, most) correct drivers the whole stratum can hold, at two-sided error_rate.

    The exact (Clopper-Pearson style) interval of a hypergeometric proportion: the most is the
    largest count under which seeing at most this many correct still has probability above
    error_rate / 2, the fewest likewise from above. A census returns its count twice.
    """
    size, labelled, correct = stratum.size, stratum.labelled, stratum.correct
    if stratum.is_census:
        return correct, correct
    wrong = labelled - correct
    most_right = _most_consistent(correct, size, labelled, error_rate / 2)
    most_wrong = _most_consistent(wrong, size, labelled, error_rate / 2)
    return size - most_wrong, most_right


def _most_consistent(seen: int, size: int, labelled: int, tail: float) -> int:
    """The largest count K of a kind in the stratum under which seeing at most `seen` of that kind
    among the labelled still has probability above tail (that probability falls as K grows)."""
    low, high = seen, size - (labelled - seen)
    while low < high:
        middle = (low + high + 1) // 2
        if _hypergeometric_cdf(seen, size, middle, labelled) > tail:
            low = middle
        else:
            high = middle - 1
    return low


def share_of_correct(strata: Sequence[Stratum], level: float = DEFAULT_CONFIDENCE_LEVEL) -> Estimate:
    """The share of correct drivers over the union of the strata, with its interval."""
    strata = [stratum for stratum in strata if stratum.size]
    size = sum(stratum.size for stratum in strata)
    labelled = sum(stratum.labelled for stratum in strata)
    if not size:
        return Estimate(None, None, None, 0, 0)
    sampled = sum(1 for stratum in strata if not stratum.is_census)
    error_rate = (1 - level) / max(1, sampled)
    fewest = most = 0
    for stratum in strata:
        low, high = correct_count_bounds(stratum, error_rate)
        fewest, most = fewest + low, most + high
    if all(stratum.labelled for stratum in strata):
        value = sum(stratum.size * stratum.correct / stratum.labelled for stratum in strata) / size
    else:
        value = None
    return Estimate(value, fewest / size, most / size, labelled, size)


# --- thresholds ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Inference:
    """One captured usable inference: its confidence, whether a person found the model right (None:
    not labelled), and, when another model's decision chose who was checked (a shadow beside the
    production model), whether that decision routed it; else routed means confidence >= the
    workflow's threshold."""

    confidence: float
    correct: Optional[bool] = None
    routed_by_workflow: Optional[bool] = None


class ThresholdEstimates:
    """Coverage (counted) and precision among accepted (estimated) at any threshold, for usable
    inferences labelled by the review loop that ran at workflow_threshold."""

    def __init__(self, inferences: Sequence[Inference], workflow_threshold: float,
                 level: float = DEFAULT_CONFIDENCE_LEVEL):
        self.workflow_threshold = float(workflow_threshold)
        self.level = level
        ordered = sorted(inferences, key=lambda inference: inference.confidence)
        self._confidences = [inference.confidence for inference in ordered]
        self.total = len(ordered)
        # Suffix counts per stratum: [i] counts positions i.. of the ascending order.
        self._counts = {}
        for stratum in ("accepted", "rejected"):
            size, labelled, correct = [0] * (self.total + 1), [0] * (self.total + 1), [0] * (self.total + 1)
            for position in range(self.total - 1, -1, -1):
                inference = ordered[position]
                routed = (inference.routed_by_workflow if inference.routed_by_workflow is not None
                          else inference.confidence >= self.workflow_threshold)
                inside = routed == (stratum == "accepted")
                size[position] = size[position + 1] + inside
                labelled[position] = labelled[position + 1] + (inside and inference.correct is not None)
                correct[position] = correct[position + 1] + (inside and inference.correct is True)
            self._counts[stratum] = (size, labelled, correct)
        self.candidates = sorted({inference.confidence for inference in ordered if inference.correct is not None})

    def _position(self, threshold: float) -> int:
        return bisect.bisect_left(self._confidences, threshold - 1e-12)

    def accepted(self, threshold: float) -> int:
        return self.total - self._position(threshold)

    def coverage(self, threshold: float) -> Optional[float]:
        return self.accepted(threshold) / self.total if self.total else None

    def strata(self, threshold: float) -> List[Stratum]:
        position = self._position(threshold)
        result = []
        for stratum in ("accepted", "rejected"):
            size, labelled, correct = self._counts[stratum]
            result.append(Stratum(size[position], labelled[position], correct[position]))
        return result

    def precision(self, threshold: float) -> Estimate:
        return share_of_correct(self.strata(threshold), self.level)

    def point_precision(self, threshold: float) -> Optional[float]:
        strata = [stratum for stratum in self.strata(threshold) if stratum.size]
        if not strata or not all(stratum.labelled for stratum in strata):
            return None
        return sum(s.size * s.correct / s.labelled for s in strata) / sum(s.size for s in strata)

    def recommend(self, target_precision: float) -> Optional[float]:
        """The lowest labelled confidence whose estimated precision among accepted reaches the
        target (the largest coverage that does), or None."""
        for threshold in self.candidates:
            value = self.point_precision(threshold)
            if value is not None and value >= target_precision - 1e-12:
                return threshold
        return None

    def coverage_at_target(self, target_precision: float) -> Tuple[Optional[float], Estimate]:
        """(recommended threshold, coverage there with its interval).

        The lowest threshold whose true precision reaches the target lies between the lowest
        candidate whose interval's high end reaches it and the lowest whose low end does; the
        interval's high end also takes in the unlabelled drivers just below that candidate.
        """
        recommended = self.recommend(target_precision)
        optimistic = pessimistic = None
        for index, threshold in enumerate(self.candidates):
            estimate = self.precision(threshold)
            if optimistic is None and estimate.high is not None and estimate.high >= target_precision - 1e-12:
                optimistic = index
            if estimate.low is not None and estimate.low >= target_precision - 1e-12:
                pessimistic = index
                break
        if not self.total:
            return recommended, Estimate(None, None, None)
        value = self.coverage(recommended) if recommended is not None else 0.0
        low = self.coverage(self.candidates[pessimistic]) if pessimistic is not None else 0.0
        if optimistic is None:
            high = 0.0
        elif optimistic == 0:
            high = 1.0
        else:  # every driver above the candidate below it: the true threshold may lie in between
            below = self.candidates[optimistic - 1]
            high = (self.total - bisect.bisect_right(self._confidences, below)) / self.total
        high = max(high, value)
        low = min(low, value)
        return recommended, Estimate(value, low, high)
