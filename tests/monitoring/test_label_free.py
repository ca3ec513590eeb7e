"""The label-free estimate: the exact Poisson-binomial behind it, and by simulation, an interval
that holds while calibration holds and audits that contradict it when calibration breaks."""
import itertools
import math
import random

import pytest

from monitoring import label_free
from monitoring.estimates import MINIMUM_CHECKS


def test_wrong_count_distribution_is_the_exact_poisson_binomial():
    confidences = [0.99, 0.9, 0.75, 0.6, 0.97, 0.5, 0.8]
    by_hand = [0.0] * (len(confidences) + 1)
    for outcome in itertools.product((True, False), repeat=len(confidences)):
        probability = math.prod(p if right else 1 - p for p, right in zip(confidences, outcome))
        by_hand[outcome.count(False)] += probability

    assert label_free.wrong_count_distribution(confidences) == pytest.approx(by_hand, abs=1e-12)


def test_a_large_window_keeps_its_whole_distribution_though_the_far_tail_is_dropped():
    rng = random.Random(1)
    confidences = [0.95 + 0.05 * rng.random() for _ in range(5000)]

    distribution = label_free.wrong_count_distribution(confidences)

    mean = sum(k * p for k, p in enumerate(distribution))
    variance = sum((k - mean) ** 2 * p for k, p in enumerate(distribution))
    assert len(distribution) < 500   # not 5001: linear in the drivers
    assert sum(distribution) == pytest.approx(1.0, abs=1e-12)
    assert mean == pytest.approx(sum(1 - p for p in confidences), rel=1e-9)
    assert variance == pytest.approx(sum(p * (1 - p) for p in confidences), rel=1e-9)


def test_the_expected_share_is_the_mean_confidence_and_nothing_routed_is_unknown():
    estimate = label_free.expected_share_right([0.99, 0.97, 0.95] * 20)

    assert estimate.value == pytest.approx(0.97) and estimate.drivers == 60 and estimate.informative
    assert estimate.low < 0.97 < estimate.high <= 1.0
    assert label_free.expected_share_right([]) == label_free.LabelFreeEstimate(None, None, None, 0)
    few = label_free.expected_share_right([0.99] * (MINIMUM_CHECKS - 1))
    assert not few.informative and few.as_dict()["value"] is None and few.as_dict()["interval"] == few.interval


@pytest.mark.parametrize("wrong, contradicted", [(0, False), (1, False), (5, True)], ids=["none", "one", "five"])
def test_the_audits_contradict_calibration_only_beyond_what_chance_allows(wrong, contradicted):
    checked = [(0.99, index >= wrong) for index in range(40)]   # 0.4 wrong expected

    check = label_free.check_calibration(checked)

    assert (check.checked, check.wrong, check.expected_wrong) == (40, wrong, pytest.approx(0.4))
    assert check.contradicted is contradicted and check.over_confident is contradicted
    assert label_free.check_calibration([]).contradicted is False


def _confidences(rng: random.Random, size: int, shape: str):
    """crowded: most confidences near 1, as the model's on CIFAR; spread: all over (0.5, 1)."""
    if shape == "crowded":
        return [0.5 + 0.5 * rng.betavariate(4, 0.4) for _ in range(size)]
    return [0.5 + 0.5 * rng.betavariate(2, 1) for _ in range(size)]


def _simulate(seed, size, shape, audit_rate, chance_right, draws=400, threshold=0.95):
    """A population of drivers whose confidences are fixed, their outcomes drawn `draws` times
    with P(right) = chance_right(confidence), a random audit share of the routed ones checked:
    how often each label-free interval holds the realised share, how often the audits contradict."""
    rng = random.Random(seed)
    confidences = _confidences(rng, size, shape)
    routed = [confidence for confidence in confidences if confidence >= threshold]
    precision, accuracy = label_free.expected_share_right(routed), label_free.expected_share_right(confidences)
    held = {"precision": 0, "accuracy": 0, "contradicted": 0}
    for _ in range(draws):
        right = [rng.random() < chance_right(confidence) for confidence in confidences]
        routed_right = [was for confidence, was in zip(confidences, right) if confidence >= threshold]
        held["precision"] += precision.low <= sum(routed_right) / len(routed_right) <= precision.high
        held["accuracy"] += accuracy.low <= sum(right) / len(right) <= accuracy.high
        audited = [(confidence, was) for confidence, was in zip(confidences, right)
                   if confidence >= threshold and rng.random() < audit_rate]
        held["contradicted"] += label_free.check_calibration(audited).contradicted
    return {name: count / draws for name, count in held.items()}


@pytest.mark.parametrize("seed, size, shape, audit_rate", [
    (10, 200, "crowded", 0.05), (11, 600, "crowded", 0.05), (12, 300, "spread", 0.2), (13, 600, "crowded", 0.2)],
    ids=["200-crowded-5%", "600-crowded-5%", "300-spread-20%", "600-crowded-20%"])
def test_while_calibration_holds_the_interval_covers_the_realised_share_and_audits_seldom_object(
        seed, size, shape, audit_rate):
    """GIVEN drivers right with exactly their confidence, WHEN their outcomes are drawn 400 times,
    THEN each label-free interval holds the realised share in about 95% of draws (at least, less
    the draws' own noise: 3 standard errors is about 3 points), and the audits contradict it in at
    most about the 5% the check allows."""
    held = _simulate(seed, size, shape, audit_rate, chance_right=lambda confidence: confidence)

    assert held["precision"] >= 0.92 and held["accuracy"] >= 0.92
    assert held["contradicted"] <= 0.05


@pytest.mark.parametrize("seed, size, audit_rate, found", [(13, 600, 0.2, 0.9), (11, 600, 0.05, 0.3)],
                         ids=["about-85-audits", "about-20-audits"])
def test_when_the_model_is_over_confident_the_interval_misses_and_the_audits_contradict_it(
        seed, size, audit_rate, found):
    """GIVEN drivers right less often than their confidence says (p ** 8: 0.99 is right 92% of the
    time), THEN the label-free interval seldom holds the realised share, and the audits say so: in
    most draws with about 85 audits of 430 routed drivers, in a fair share with about 20."""
    held = _simulate(seed, size, "crowded", audit_rate, chance_right=lambda confidence: confidence ** 8)

    assert held["precision"] <= 0.05 and held["accuracy"] <= 0.05
    assert held["contradicted"] >= found


def test_the_interval_takes_in_the_expected_share_when_the_realised_one_can_only_be_whole():
    # 0.02 wrong expected among 67: "none wrong" is all but certain, yet the expected share is 99.97%.
    estimate = label_free.expected_share_right([0.9997] * 67)

    assert estimate.low <= estimate.value <= estimate.high == 1.0
