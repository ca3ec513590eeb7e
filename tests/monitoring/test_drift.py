"""The drift tests against values known from tables, and their false-alarm rate on equal samples."""
import random
from collections import Counter

import pytest

from monitoring import drift


def test_ks_distance_is_the_largest_gap_between_the_empirical_distributions():
    assert drift.ks_distance([1, 2, 3, 4], [3, 4, 5, 6]) == 0.5
    assert drift.ks_distance([1, 2], [1, 2]) == 0.0
    assert drift.ks_distance([1], [2]) == 1.0


@pytest.mark.parametrize("distance, n, m, expected", [
    (0.1663, 100, 200, 0.05),   # the asymptotic 5% critical value for 100 against 200
    (0.1994, 100, 200, 0.01),
    (0.05, 100, 200, 1.0),
], ids=["5%", "1%", "nothing"])
def test_kolmogorov_p_value_matches_the_critical_values(distance, n, m, expected):
    assert drift.kolmogorov_p_value(distance, n, m) == pytest.approx(expected, abs=0.008)


@pytest.mark.parametrize("statistic, freedom, expected", [(3.841, 1, 0.05), (11.345, 3, 0.01), (0.0, 2, 1.0),
                                                          (40.0, 4, 4.3e-8)], ids=["1-df", "3-df", "zero", "far"])
def test_chi_square_p_value_matches_the_tables(statistic, freedom, expected):
    assert drift.chi_square_p_value(statistic, freedom) == pytest.approx(expected, rel=0.02)


def test_chi_square_test_merges_rare_categories_and_reports_the_largest_share_gap():
    result = drift.chi_square_test({"a": 50, "b": 50, "rare": 1}, {"a": 150, "b": 50})

    assert result.distance == pytest.approx(0.75 - 50 / 101)
    assert result.p_value < 1e-4


@pytest.mark.parametrize("test", ["ks", "chi2"])
def test_equal_samples_raise_the_alarm_about_as_often_as_the_level_says(test):
    rng = random.Random(0)
    alarms = 0
    for _ in range(1000):
        if test == "ks":
            p = drift.ks_test(sorted(rng.random() for _ in range(100)), [rng.random() for _ in range(200)]).p_value
        else:
            p = drift.chi_square_test(Counter(rng.choice("aab") for _ in range(100)),
                                      Counter(rng.choice("aab") for _ in range(200))).p_value
        alarms += p < 0.05
    assert 0.03 <= alarms / 1000 <= 0.07
