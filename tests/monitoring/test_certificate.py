import math
import random

import pytest

from monitoring import certificate
from monitoring.certificate import Looks, Tally, certify


@pytest.mark.parametrize("wrong, needed", [(0, 299), (1, 473), (2, 628)])
def test_clean_checks_needed_is_the_textbook_arithmetic_for_one_percent_at_95(wrong, needed):
    assert certificate.clean_checks_needed(wrong, 0.01, 0.95) == needed
    assert certificate.passes(wrong, needed, 0.01, 0.95)
    assert not certificate.passes(wrong, needed - 1, 0.01, 0.95)


@pytest.mark.parametrize("checks", [1, 10, 299, 1000])
def test_the_upper_bound_with_no_mistake_is_the_exact_clopper_pearson_one(checks):
    assert certificate.error_upper_bound(0, checks, 0.95) == pytest.approx(1 - 0.05 ** (1 / checks), rel=1e-6)


def test_the_upper_bound_holds_its_level_for_a_binomial_error_rate():
    rng = random.Random(3)
    misses = 0
    for _ in range(2000):
        wrong = sum(rng.random() < 0.02 for _ in range(200))
        misses += certificate.error_upper_bound(wrong, 200, 0.95) < 0.02
    assert misses / 2000 <= 0.05


def routed(confidence, drivers, checked, wrong=0):
    return Tally(confidence, drivers, checked, wrong, audited=True)


def reviewed(confidence, drivers, wrong=0, checked=None):
    return Tally(confidence, drivers, drivers if checked is None else checked, wrong, audited=False)


def test_before_a_look_the_missing_checks_count_the_mistakes_so_far_without_testing_anything():
    answer = certify([routed(0.99, 4000, 200, wrong=2)], 0.95)

    assert not answer.looked and answer.looks["count"] == 0
    assert answer.missing_checks["mistakes_seen"] == 2
    assert answer.missing_checks["checks_needed"] == certificate.clean_checks_needed(
        2, 0.01, 1 - certificate.look_level(1))


def test_too_few_audits_say_not_yet_with_the_clean_checks_and_days_missing_and_look_at_no_label():
    tallies = [routed(0.99, 4000, 200, wrong=0), reviewed(0.8, 1000, wrong=300)]

    answer = certify(tallies, 0.95, days=2.0)

    assert not answer.certified and answer.threshold is None and not answer.looked
    first_look = certificate.clean_checks_needed(0, 0.01, 1 - certificate.look_level(1))
    assert answer.missing_checks["clean_checks"] == first_look - 200
    # 5% of 2,000 routed drivers a day are audited: 100 audits a day.
    assert answer.missing_checks["days"] == pytest.approx((first_look - 200) / 100, abs=0.01)
    assert answer.checks["audited"] == {"drivers": 4000, "checked": 200, "wrong": 0}


def test_enough_clean_audits_certify_the_threshold_in_force_and_its_routed_share():
    tallies = [routed(0.99, 8000, 400), reviewed(0.9, 2000, wrong=200)]

    answer = certify(tallies, 0.95)

    assert answer.certified and answer.threshold == 0.95 and answer.looked
    assert answer.routed_share == pytest.approx(0.8)
    assert answer.missing_checks is None
    assert answer.precision_lower_bound >= 0.99
    assert answer.looks["count"] == 1


def test_a_census_below_the_threshold_in_force_lowers_the_certificate_when_its_wrong_count_allows():
    clean_band = certify([routed(0.99, 8000, 600), reviewed(0.9, 500, wrong=1)], 0.95)
    poor_band = certify([routed(0.99, 8000, 600), reviewed(0.9, 500, wrong=100)], 0.95)

    assert clean_band.certified and clean_band.threshold == 0.9
    assert clean_band.checks["reviewed"]["drivers"] == 500
    assert poor_band.certified and poor_band.threshold == 0.95


def test_an_unanswered_review_counts_as_wrong():
    answered = certify([routed(0.99, 8000, 600), reviewed(0.9, 500, wrong=0)], 0.95)
    unanswered = certify([routed(0.99, 8000, 600), reviewed(0.9, 500, wrong=0, checked=400)], 0.95)

    assert answered.threshold == 0.9
    assert unanswered.threshold == 0.95
    assert unanswered.checks["reviewed"]["unanswered"] == 0  # at the certified threshold: none below it


def test_the_sequence_stops_at_the_first_failure_from_the_top():
    # The most confident audited drivers hold mistakes; below them, many clean ones: a lower
    # threshold alone would pass, but the fixed sequence never gets there.
    tallies = [routed(0.995, 1000, 400, wrong=10), routed(0.97, 20000, 2000, wrong=0)]

    answer = certify(tallies, 0.95)

    assert not answer.certified and answer.looked
    assert answer.sequence[-1]["passed"] is False and answer.sequence[-1]["threshold"] >= 0.995
    assert answer.missing_checks["mistakes_seen"] == 10


def test_looks_spend_the_error_rate_and_wait_for_the_pile_to_grow():
    assert sum(certificate.look_level(look) for look in range(1, 100000)) <= 0.05 + 1e-12
    tallies = [routed(0.99, 8000, 420, wrong=3)]

    first = certify(tallies, 0.95)
    again = certify(tallies, 0.95, looks=Looks(first.looks["count"], first.looks["checks_at_last"],
                                                first.looks["wrong_at_last"]))

    assert first.looked and not first.certified
    assert not again.looked and again.looks["count"] == 1
    assert again.missing_checks["checks_needed"] == max(
        math.ceil(certificate.LOOK_GROWTH * 420),
        certificate.clean_checks_needed(3, 0.01, 1 - certificate.look_level(2)))


def test_a_wrong_certificate_is_rare_when_the_truth_sits_just_below_the_target():
    # Routed drivers right 98.8% of the time whatever their confidence: no threshold keeps 99%.
    rng = random.Random(7)
    wrong_certificates = 0
    for _ in range(300):
        tallies = []
        for index in range(10):
            checked = 60
            tallies.append(routed(0.95 + index * 0.005, 1200, checked, sum(rng.random() < 0.012 for _ in range(checked))))
        wrong_certificates += certify(tallies, 0.95).certified
    assert wrong_certificates / 300 <= 0.05


@pytest.mark.parametrize("target, confidence", [(1.0, 0.95), (0.99, 0.0), (0.0, 0.95)])
def test_a_meaningless_target_or_confidence_is_refused(target, confidence):
    with pytest.raises(ValueError):
        certify([routed(0.99, 10, 1)], 0.95, target, confidence)
