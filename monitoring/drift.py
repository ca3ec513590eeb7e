"""Has a window of traffic moved away from the baseline? Two-sample tests that know their sample sizes.

Plain Python (no numpy), so the monitor Lambda runs it.

A fixed distance threshold cannot serve windows of every size: two samples of 100 and 200 drawn
from one distribution differ by a Kolmogorov-Smirnov distance of about 0.17 one time in twenty.
So each feature is tested: numerical ones by the two-sample Kolmogorov-Smirnov test, categorical
ones by the chi-squared test of homogeneity, both against the baseline sample itself (the
validation split's values, kept in statistics.json). A window raises a drift violation for a
feature when its p-value is below the family-wise significance level divided by the number of
features tested (Bonferroni), so a window of in-distribution traffic raises nothing with
probability at least 1 - significance level, whatever its size.
"""
import math
from collections import Counter
from dataclasses import dataclass
from typing import Mapping, Sequence

# Categories whose pooled count is below this are merged before the chi-squared test (its
# approximation needs expected counts of about five).
MIN_POOLED_CATEGORY_COUNT = 5
MERGED_CATEGORY = "(rare values)"


@dataclass(frozen=True)
class TestResult:
    """A distance between the two distributions and the p-value of "no difference"."""

    distance: float
    p_value: float
    method: str


def ks_distance(baseline_sorted: Sequence[float], window_sorted: Sequence[float]) -> float:
    """The largest gap between the two empirical distribution functions (both inputs sorted)."""
    n, m = len(baseline_sorted), len(window_sorted)
    i = j = 0
    largest = 0.0
    while i < n and j < m:
        value = min(baseline_sorted[i], window_sorted[j])
        while i < n and baseline_sorted[i] <= value:
            i += 1
        while j < m and window_sorted[j] <= value:
            j += 1
        largest = max(largest, abs(i / n - j / m))
    return largest


def kolmogorov_p_value(distance: float, n: int, m: int) -> float:
    """P(D >= distance) for two samples of n and m from one continuous distribution: the
    asymptotic Kolmogorov distribution with Stephens' small-sample correction (ties, as in
    confidences stuck at 1.0, only make it conservative)."""
    if distance <= 0:
        return 1.0
    effective = n * m / (n + m)
    root = math.sqrt(effective)
    scaled = (root + 0.12 + 0.11 / root) * distance
    if scaled < 0.3:
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = 2 * (-1) ** (k - 1) * math.exp(-2 * k * k * scaled * scaled)
        total += term
        if abs(term) < 1e-12:
            break
    return min(1.0, max(0.0, total))


def ks_test(baseline_sorted: Sequence[float], window: Sequence[float]) -> TestResult:
    distance = ks_distance(baseline_sorted, sorted(window))
    return TestResult(distance, kolmogorov_p_value(distance, len(baseline_sorted), len(window)), "KolmogorovSmirnov")


def _regularized_gamma_upper(a: float, x: float) -> float:
    """Q(a, x) = Gamma(a, x) / Gamma(a): a series below a + 1, a continued fraction above."""
    if x <= 0:
        return 1.0
    log_prefix = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        denominator = a
        for _ in range(1000):
            denominator += 1
            term *= x / denominator
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    # Lentz's method on the continued fraction of Gamma(a, x).
    tiny = 1e-300
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    fraction = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        step = d * c
        fraction *= step
        if abs(step - 1) < 1e-15:
            break
    return min(1.0, math.exp(log_prefix) * fraction)


def chi_square_p_value(statistic: float, degrees_of_freedom: int) -> float:
    if degrees_of_freedom <= 0:
        return 1.0
    return _regularized_gamma_upper(degrees_of_freedom / 2, statistic / 2)


def chi_square_test(baseline_counts: Mapping[str, int], window_counts: Mapping[str, int]) -> TestResult:
    """Chi-squared test that both samples come from one categorical distribution; the distance
    reported is the L-infinity one between the two shares (what Model Monitor reports)."""
    pooled = Counter(baseline_counts) + Counter(window_counts)
    merged_baseline, merged_window = Counter(), Counter()
    for value in pooled:
        key = value if pooled[value] >= MIN_POOLED_CATEGORY_COUNT else MERGED_CATEGORY
        merged_baseline[key] += baseline_counts.get(value, 0)
        merged_window[key] += window_counts.get(value, 0)
    n, m = sum(baseline_counts.values()), sum(window_counts.values())
    if not n or not m:
        return TestResult(0.0, 1.0, "ChiSquared")
    distance = max(abs(baseline_counts.get(value, 0) / n - window_counts.get(value, 0) / m) for value in pooled)
    categories = [key for key in merged_baseline.keys() | merged_window.keys()
                  if merged_baseline[key] + merged_window[key] > 0]
    if len(categories) < 2:
        return TestResult(distance, 1.0, "ChiSquared")
    statistic = 0.0
    for key in categories:
        total = merged_baseline[key] + merged_window[key]
        for observed, size in ((merged_baseline[key], n), (merged_window[key], m)):
            expected = total * size / (n + m)
            statistic += (observed - expected) ** 2 / expected
    return TestResult(distance, chi_square_p_value(statistic, len(categories) - 1), "ChiSquared")
