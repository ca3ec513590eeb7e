"""What the model's own confidences say about its precision, without a single label (CBPE).

Plain Python (no numpy), so the scheduled monitor Lambda and the report share it.

The endpoint returns calibrated probabilities (temperature-scaled on the validation split). If
they stay calibrated on this traffic, a driver answered with top-class confidence p is right with
probability p, independently of the others, so the number right among n drivers is a sum of
Bernoulli(p_i): Poisson-binomial, with mean sum p_i and variance sum p_i (1 - p_i). Hence, as
NannyML's confidence-based performance estimation does:

  expected precision among routed   the mean confidence over the routed drivers
  expected accuracy                 the mean confidence over every usable driver

and an interval for the share that will turn out right, read from the exact Poisson-binomial
distribution. The interval holds only while calibration holds, which no label-free figure can
check by itself. The audits can: under calibration, the number wrong among the checked drivers
is Poisson-binomial too (audits are chosen by a hash of the inference id, reviews by confidence,
never by whether the model was right), so a count outside its central range contradicts the
label-free figure: calibration no longer holds on this traffic.
"""
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from monitoring.estimates import DEFAULT_CONFIDENCE_LEVEL, MINIMUM_CHECKS

# Beyond mean + 10 standard deviations + 40 of the count wrong, Bernstein's inequality leaves
# less than e^-50 of the distribution: it is dropped, which keeps the exact computation linear in
# the drivers for windows of any size.
_TAIL_SPREADS, _TAIL_MARGIN = 10, 40


def wrong_count_distribution(confidences: Sequence[float]) -> List[float]:
    """P(exactly k of these drivers are wrong), k = 0, 1, ..., when each is right with its
    confidence, independently (Poisson-binomial, by adding one driver at a time)."""
    wrong = [1.0 - p for p in confidences]
    mean = sum(wrong)
    spread = math.sqrt(sum(q * (1.0 - q) for q in wrong))
    cap = min(len(wrong), math.ceil(mean + _TAIL_SPREADS * spread + _TAIL_MARGIN))
    distribution = [1.0] + [0.0] * cap
    reached = 0
    for q in wrong:
        reached = min(cap, reached + 1)
        for k in range(reached, 0, -1):
            distribution[k] = distribution[k] * (1.0 - q) + distribution[k - 1] * q
        distribution[0] *= 1.0 - q
    return distribution


def central_range(distribution: Sequence[float], level: float = DEFAULT_CONFIDENCE_LEVEL) -> Tuple[int, int]:
    """(fewest, most): the counts with at most (1 - level) / 2 of the probability below fewest and
    at most as much above most, so the count falls inside with at least `level` probability."""
    tail = (1 - level) / 2
    cumulative, fewest, most = 0.0, None, len(distribution) - 1
    for count, probability in enumerate(distribution):
        cumulative += probability
        if fewest is None and cumulative > tail + 1e-12:
            fewest = count
        if cumulative >= 1 - tail - 1e-12:
            most = count
            break
    return (fewest if fewest is not None else 0), most


@dataclass(frozen=True)
class LabelFreeEstimate:
    """The share expected right from the confidences of `drivers` drivers, and the interval the
    realised share falls in with the stated probability, if calibration holds."""

    value: Optional[float]
    low: Optional[float]
    high: Optional[float]
    drivers: int

    @property
    def interval(self) -> List[Optional[float]]:
        return [self.low, self.high]

    @property
    def informative(self) -> bool:
        """The same bar as an audited figure's: a share of fewer outcomes than the minimum number
        of checks cannot be pinned down to the informative width."""
        return self.value is not None and self.drivers >= MINIMUM_CHECKS

    @property
    def shown_value(self) -> Optional[float]:
        return self.value if self.informative else None

    def as_dict(self) -> dict:
        return {"value": self.shown_value, "interval": self.interval, "drivers": self.drivers,
                "informative": self.informative, "assumes": "calibration"}


def expected_share_right(confidences: Sequence[float], level: float = DEFAULT_CONFIDENCE_LEVEL) -> LabelFreeEstimate:
    """The label-free estimate over these drivers' top-class confidences."""
    drivers = len(confidences)
    if not drivers:
        return LabelFreeEstimate(None, None, None, 0)
    fewest_wrong, most_wrong = central_range(wrong_count_distribution(confidences), level)
    expected = sum(confidences) / drivers
    # The realised share moves in steps of 1 / drivers, so the expected one can fall between the
    # interval's ends and the next step (0.9997 expected, "none wrong" likely): it is taken in.
    return LabelFreeEstimate(expected, min(expected, (drivers - most_wrong) / drivers),
                             max(expected, (drivers - fewest_wrong) / drivers), drivers)


@dataclass(frozen=True)
class CalibrationCheck:
    """The checked drivers against what their confidences expect: `wrong` of `checked` found
    wrong, where calibration expects `expected_wrong` and allows `fewest` to `most` at the level."""

    checked: int
    wrong: int
    expected_wrong: float
    fewest: int
    most: int

    @property
    def contradicted(self) -> bool:
        return bool(self.checked) and not self.fewest <= self.wrong <= self.most

    @property
    def over_confident(self) -> bool:
        """More wrong than calibration allows: the label-free figure is too rosy."""
        return self.contradicted and self.wrong > self.most

    def as_dict(self) -> dict:
        return {"checked": self.checked, "wrong": self.wrong, "expected_wrong": self.expected_wrong,
                "allowed_wrong": [self.fewest, self.most], "contradicted": self.contradicted}


def check_calibration(checked: Sequence[Tuple[float, bool]], level: float = DEFAULT_CONFIDENCE_LEVEL) -> CalibrationCheck:
    """Do the checked drivers, (confidence, right) each, contradict calibration? Under it their
    count wrong lies outside the central range with at most 1 - level probability."""
    confidences = [confidence for confidence, _ in checked]
    fewest, most = central_range(wrong_count_distribution(confidences), level) if checked else (0, 0)
    return CalibrationCheck(len(checked), sum(1 for _, right in checked if not right),
                            sum(1.0 - confidence for confidence in confidences), fewest, most)
