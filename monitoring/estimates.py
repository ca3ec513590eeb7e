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

A point estimate is only worth printing when the checks behind it can pin the share down: below
minimum_checks() in a sampled stratum, the interval is the message (Estimate.informative).
"""
import bisect
import functools
import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

DEFAULT_CONFIDENCE_LEVEL = 0.95
# The widest 95% interval a share may have for its point estimate to be worth stating: ten points,
# so the point says which tenth of the scale the share lies in (about 90% or about 80%), the
# coarsest difference an operator acts on. Wider, a point reads as a fact it is not: 1 right of 2
# checks prints "50.0%" for an interval from 1.7% to 98.3%.
INFORMATIVE_WIDTH = 0.10


@dataclass(frozen=True)
class Stratum:
    """A part of the drivers: how many there are, how many a person labelled, how many of those the
    model got right."""

    size: int
    labelled: int
    correct: int
    # What its drivers are, for sentences ("routed drivers"); not part of its identity.
    name: str = field(default="", compare=False)

    def __post_init__(self):
        if not 0 <= self.correct <= self.labelled <= self.size:
            raise ValueError(f"need 0 <= correct <= labelled <= size, got {self}")

    @property
    def is_census(self) -> bool:
        return self.labelled == self.size


def minimum_checks(width: float = INFORMATIVE_WIDTH, level: float = DEFAULT_CONFIDENCE_LEVEL) -> int:
    """The fewest checks whose exact interval can be narrower than `width`.

    An exact (Clopper-Pearson) interval from n checks is narrowest when all n agree: it then runs
    from ((1 - level) / 2) ** (1 / n) to 1. Fewer checks than this can never pin a share down to
    `width`, whatever they show. The hypergeometric intervals here agree for a stratum far larger
    than its checks (tests/monitoring/test_estimates.py checks it); a small stratum's interval is a
    little narrower, so there the count errs on the side of caution.
    """
    tail = (1 - level) / 2
    return math.ceil(math.log(tail) / math.log(1 - width) - 1e-9)


MINIMUM_CHECKS = minimum_checks()


@dataclass(frozen=True)
class Estimate:
    """A share, its point estimate (None when some stratum has no label at all) and interval.

    thinnest is the sampled stratum (not a census) with the fewest checks, None when every
    stratum is a census and the figure is exact: the evidence the point rests on.
    """

    value: Optional[float]
    low: Optional[float]
    high: Optional[float]
    labelled: int = 0
    size: int = 0
    thinnest: Optional[Stratum] = field(default=None, compare=False)

    @property
    def interval(self) -> List[Optional[float]]:
        return [self.low, self.high]

    @property
    def informative(self) -> bool:
        """Whether the point estimate may be stated: every sampled stratum has the minimum checks."""
        return self.value is not None and (self.thinnest is None or self.thinnest.labelled >= MINIMUM_CHECKS)

    @property
    def shown_value(self) -> Optional[float]:
        """The point estimate when it is informative, else None (the interval then says it all)."""
        return self.value if self.informative else None

    def more_checks(self) -> int:
        """Checks the thinnest sampled stratum still needs before the point is informative."""
        return 0 if self.thinnest is None else max(0, MINIMUM_CHECKS - self.thinnest.labelled)

    def more_drivers(self) -> Optional[int]:
        """About how many more drivers of the thinnest stratum must come, checked at its current
        rate (checked / drivers), for those checks; None when none of it was checked yet."""
        stratum = self.thinnest
        if stratum is None or not stratum.labelled:
            return None
        return math.ceil(self.more_checks() * stratum.size / stratum.labelled)

    def evidence(self) -> dict:
        """What the figure rests on, as JSON-ready values (the summary, the bus events)."""
        stratum = self.thinnest
        return {"informative": self.informative, "minimum_checks": MINIMUM_CHECKS,
                "checks": None if stratum is None else stratum.labelled,
                "of": None if stratum is None else stratum.size,
                "of_what": None if stratum is None else stratum.name,
                "more_checks": self.more_checks(), "more_drivers": self.more_drivers()}


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
    sampled_strata = [stratum for stratum in strata if not stratum.is_census]
    sampled = len(sampled_strata)
    error_rate = (1 - level) / max(1, sampled)
    fewest = most = 0
    for stratum in strata:
        low, high = correct_count_bounds(stratum, error_rate)
        fewest, most = fewest + low, most + high
    if all(stratum.labelled for stratum in strata):
        value = sum(stratum.size * stratum.correct / stratum.labelled for stratum in strata) / size
    else:
        value = None
    thinnest = min(sampled_strata, key=lambda stratum: stratum.labelled, default=None)
    return Estimate(value, fewest / size, most / size, labelled, size, thinnest)


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


# The strata as sentences name their drivers: routed ones are audited, the others reviewed.
STRATUM_NAMES = {"accepted": "routed drivers", "rejected": "drivers sent to a person"}


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
            result.append(Stratum(size[position], labelled[position], correct[position], STRATUM_NAMES[stratum]))
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
        # The point rests on the precision that chose the recommendation (none chosen: on the
        # routed drivers' checks, the stratum every candidate at or below the threshold shares).
        evidence = self.precision(recommended if recommended is not None else self.workflow_threshold)
        return recommended, Estimate(value, low, high, evidence.labelled, evidence.size, evidence.thinnest)
