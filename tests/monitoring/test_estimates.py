"""The stratified estimates: exact with full labels, and intervals that hold under audit sampling."""
import random

import pytest

from monitoring import estimates
from monitoring.estimates import Estimate, Inference, Stratum, ThresholdEstimates

# Six labelled predictions: wrong at 0.6 and 0.8, right elsewhere (worked out by hand below).
LABELLED = [(0.99, True), (0.6, False), (0.9, True), (0.7, True), (0.95, True), (0.8, False)]


def full_labels(workflow_threshold=0.95):
    return ThresholdEstimates([Inference(c, right) for c, right in LABELLED], workflow_threshold)


@pytest.mark.parametrize("threshold, coverage, precision", [
    (0.9, 3 / 6, 1.0), (0.8, 4 / 6, 3 / 4), (0.6, 1.0, 4 / 6), (1.0, 0.0, None)],
    ids=["0.9", "0.8", "all", "none"])
def test_full_labels_give_the_exact_coverage_and_precision(threshold, coverage, precision):
    result = full_labels()

    estimate = result.precision(threshold)

    assert result.coverage(threshold) == pytest.approx(coverage)
    assert estimate.value == (pytest.approx(precision) if precision is not None else None)
    assert estimate.low == estimate.high == estimate.value


@pytest.mark.parametrize("target, expected", [(0.99, 0.9), (0.75, 0.7), (0.5, 0.6)], ids=["99", "75", "50"])
def test_recommend_is_the_lowest_threshold_meeting_the_target(target, expected):
    assert full_labels().recommend(target) == expected


def test_recommend_is_none_when_no_threshold_reaches_the_target():
    result = ThresholdEstimates([Inference(0.9, False), Inference(0.7, True)], 0.95)

    assert result.recommend(0.99) is None
    assert result.coverage_at_target(0.99)[1].value == 0.0


def test_tied_confidences_are_accepted_together():
    result = ThresholdEstimates([Inference(0.9, True), Inference(0.8, True), Inference(0.9, False)], 0.95)

    assert result.candidates == [0.8, 0.9]
    assert (result.coverage(0.9), result.point_precision(0.9)) == (pytest.approx(2 / 3), 0.5)


def test_unlabelled_inferences_count_for_coverage_and_their_stratum_widens_precision():
    # 10 routed at 0.99, 2 of them audited (both right); 2 rejected at 0.6, reviewed, 1 right.
    inferences = ([Inference(0.99, True)] * 2 + [Inference(0.99)] * 8 + [Inference(0.6, True), Inference(0.6, False)])
    result = ThresholdEstimates(inferences, 0.95)

    at = result.precision(0.95)

    assert result.coverage(0.95) == pytest.approx(10 / 12)
    assert at.value == 1.0 and at.high == 1.0 and at.low < 0.5
    everything = result.precision(0.5)  # routed estimated, rejected counted: (10 * 1.0 + 1) / 12
    assert everything.value == pytest.approx(11 / 12)
    assert everything.high == pytest.approx(11 / 12) and everything.low == pytest.approx((10 * at.low + 1) / 12)


def test_census_bounds_are_the_count_itself_and_a_sample_bounds_hold_what_it_could_hide():
    assert estimates.correct_count_bounds(Stratum(40, 40, 37), 0.05) == (37, 37)
    low, high = estimates.correct_count_bounds(Stratum(100, 10, 10), 0.05)
    # All 10 sampled right: at most 100 right; the fewest such that 10 of 10 is still plausible.
    assert high == 100 and 60 < low < 80
    assert estimates.correct_count_bounds(Stratum(5, 0, 0), 0.05) == (0, 5)


def test_a_stratum_with_no_label_has_no_point_estimate_but_an_interval():
    result = estimates.share_of_correct([Stratum(10, 0, 0), Stratum(10, 10, 10)])

    assert result == Estimate(None, 0.5, 1.0, 10, 20)


def test_strata_reject_impossible_counts():
    with pytest.raises(ValueError):
        Stratum(5, 6, 1)


def _population(rng: random.Random, size: int):
    """Confidences crowded near 1 and a model over-confident there, like the CIFAR model on photos."""
    population = []
    for _ in range(size):
        confidence = 0.5 + 0.5 * rng.betavariate(4, 0.4)
        population.append((confidence, rng.random() < 0.6 + 0.4 * confidence ** 8))
    return population


@pytest.mark.parametrize("seed, size, audit_rate", [(10, 200, 0.05), (11, 600, 0.05), (12, 300, 0.2)],
                         ids=["200-drivers-5%", "600-drivers-5%", "300-drivers-20%"])
def test_intervals_hold_over_repeated_audit_draws(seed, size, audit_rate):
    """GIVEN a population whose every label is known, WHEN the review loop labels it many times
    (all rejected drivers, a random audit share of the routed), THEN coverage is counted exactly
    and the intervals hold the truth in at least their nominal share of draws, less a margin for
    the 400 draws' own noise."""
    rng = random.Random(seed)
    threshold, target, draws = 0.95, 0.99, 400
    population = _population(rng, size)
    truth = ThresholdEstimates([Inference(c, right) for c, right in population], threshold)
    true_precision = truth.point_precision(threshold)
    true_coverage_at_target = truth.coverage_at_target(target)[1].value
    held = {"precision": 0, "recommended": 0, "coverage_at_target": 0}
    recommendations = 0
    for _ in range(draws):
        sample = ThresholdEstimates(
            [Inference(c, right if c < threshold or rng.random() < audit_rate else None) for c, right in population],
            threshold)
        assert sample.coverage(threshold) == truth.coverage(threshold)
        at = sample.precision(threshold)
        held["precision"] += at.low <= true_precision <= at.high
        recommended, coverage = sample.coverage_at_target(target)
        held["coverage_at_target"] += coverage.low <= true_coverage_at_target <= coverage.high
        if recommended is not None:
            recommendations += 1
            there = sample.precision(recommended)
            held["recommended"] += there.low <= truth.point_precision(recommended) <= there.high
    assert held["precision"] / draws >= 0.92
    assert held["coverage_at_target"] / draws >= 0.92
    assert recommendations and held["recommended"] / recommendations >= 0.92


def _width(stratum: Stratum) -> float:
    low, high = estimates.correct_count_bounds(stratum, 1 - estimates.DEFAULT_CONFIDENCE_LEVEL)
    return (high - low) / stratum.size


def test_the_minimum_checks_is_the_fewest_whose_exact_interval_can_be_as_narrow_as_the_stated_width():
    """Derived, not chosen: with one check fewer, no outcome at all pins the share of a stratum far
    larger than its checks down to INFORMATIVE_WIDTH; at the minimum, checks that all agree do."""
    needed, size = estimates.MINIMUM_CHECKS, 1_000_000

    assert needed == estimates.minimum_checks(estimates.INFORMATIVE_WIDTH)
    assert _width(Stratum(size, needed, needed)) <= estimates.INFORMATIVE_WIDTH
    assert min(_width(Stratum(size, needed - 1, right)) for right in range(needed)) > estimates.INFORMATIVE_WIDTH
    assert estimates.minimum_checks(0.2) < needed < estimates.minimum_checks(0.05)


def test_a_point_estimate_is_informative_only_with_the_minimum_checks_in_every_sampled_stratum():
    routed = Stratum(400, 10, 9, "routed drivers")
    thin = estimates.share_of_correct([routed, Stratum(50, 50, 40, "drivers sent to a person")])
    enough = estimates.share_of_correct([Stratum(400, estimates.MINIMUM_CHECKS, estimates.MINIMUM_CHECKS - 1)])
    census = estimates.share_of_correct([Stratum(3, 3, 1)])

    assert thin.value is not None and not thin.informative and thin.shown_value is None
    assert thin.thinnest == routed and thin.more_checks() == estimates.MINIMUM_CHECKS - 10
    # At the current rate, 10 checks in 400 routed: 40 routed drivers for each check still needed.
    assert thin.more_drivers() == 40 * (estimates.MINIMUM_CHECKS - 10)
    assert thin.evidence()["of_what"] == "routed drivers"
    assert enough.informative and enough.shown_value == enough.value and enough.more_checks() == 0
    assert census.informative and census.thinnest is None and census.value == pytest.approx(1 / 3)
    unchecked = estimates.share_of_correct([Stratum(30, 0, 0)])
    assert not unchecked.informative and unchecked.more_drivers() is None


def test_coverage_at_the_target_rests_on_the_checks_of_the_precision_that_chose_it():
    inferences = [Inference(0.99, True)] * 3 + [Inference(0.99)] * 57 + [Inference(0.6, False)] * 5

    recommended, coverage = ThresholdEstimates(inferences, 0.95).coverage_at_target(0.99)

    assert recommended == 0.99 and coverage.value == pytest.approx(60 / 65)
    assert not coverage.informative and coverage.thinnest.labelled == 3
