"""The monitor's checks of one window against a baseline, as Model Monitor violations.

Plain Python (no numpy). Each violation is {"feature_name", "constraint_check_type",
"description"}, the shape of Model Monitor's constraint_violations.json:

  baseline_drift_check      the feature's distribution moved (monitoring/drift.py: a test that
                            knows both sample sizes, Bonferroni over the features)
  categorical_values_check  values outside the feature's domain in constraints.json
  completeness_check        more values missing than the baseline allows
  LessThanThreshold         (model quality, with ground truth) the audited precision of
                            automatic routing is below the target, its whole interval below it
  calibration_check         (model quality, with ground truth) the audits contradict the
                            label-free precision (monitoring/label_free.py): more (or fewer) of
                            the audited routed drivers are wrong than their confidences allow at
                            95%, so calibration no longer holds on this traffic
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from monitoring import baseline
from monitoring import drift as drift_tests
from monitoring.estimates import Estimate
from monitoring.formatting import (audited_share, calibration_finding, calibration_meaning, calibration_verdict,
                                   label_free_share)
from monitoring.label_free import CalibrationCheck, LabelFreeEstimate

DRIFT_CHECK = "baseline_drift_check"
VALUES_CHECK = "categorical_values_check"
COMPLETENESS_CHECK = "completeness_check"
QUALITY_CHECK = "LessThanThreshold"
CALIBRATION_CHECK = "calibration_check"
PRECISION_METRIC = "precision_accepted"
LABEL_FREE_PRECISION_METRIC = "expected_precision_accepted"


@dataclass
class WindowVerdict:
    """What the checks found: violations, per-feature drift distances and p-values, and whether
    the window was large enough to judge at all."""

    items: int
    enough_data: bool
    min_items: int = baseline.DEFAULT_MIN_WINDOW_ITEMS
    violations: List[dict] = field(default_factory=list)
    drift: Dict[str, drift_tests.TestResult] = field(default_factory=dict)
    per_test_level: Optional[float] = None
    quality: Optional[dict] = None


def _config(constraints: dict) -> dict:
    config = constraints.get("monitoring_config", {})
    distribution = config.get("distribution_constraints", {})
    return {
        "level": float(distribution.get("comparison_threshold", baseline.DEFAULT_SIGNIFICANCE_LEVEL)),
        "compare": distribution.get("perform_comparison", "Enabled") == "Enabled",
        "min_items": int(config.get("min_window_items", baseline.DEFAULT_MIN_WINDOW_ITEMS)),
        "completeness_tolerance": float(config.get("completeness_tolerance", baseline.DEFAULT_COMPLETENESS_TOLERANCE)),
    }


def check_window(window_statistics: dict, baseline_statistics: dict, constraints: dict,
                 quality: Optional[dict] = None) -> WindowVerdict:
    """Compare a window's statistics with the baseline's under the constraints; quality, when
    ground truth is there, is model_quality()'s result."""
    config = _config(constraints)
    items = int(window_statistics["dataset"]["item_count"])
    verdict = WindowVerdict(items=items, enough_data=items >= config["min_items"], min_items=config["min_items"],
                            quality=quality)
    if quality and quality.get("violated"):
        verdict.violations.append({"feature_name": PRECISION_METRIC, "metric_name": PRECISION_METRIC,
                                   "constraint_check_type": QUALITY_CHECK, "description": quality["description"]})
    if quality and quality.get("calibration_violated"):
        verdict.violations.append({"feature_name": PRECISION_METRIC, "metric_name": LABEL_FREE_PRECISION_METRIC,
                                   "constraint_check_type": CALIBRATION_CHECK,
                                   "description": quality["calibration_description"]})
    if not verdict.enough_data:
        return verdict
    window_features = baseline.features_by_name(window_statistics)
    baseline_features = baseline.features_by_name(baseline_statistics)
    tests = {}
    for constraint in constraints.get("features", []):
        name = constraint["name"]
        window, reference = window_features.get(name), baseline_features.get(name)
        if window is None:
            continue
        _check_completeness(verdict, name, window, constraint, config["completeness_tolerance"])
        _check_domain(verdict, name, window, constraint)
        if reference is None or not config["compare"]:
            continue
        if constraint["inferred_type"] == baseline.NUMERICAL:
            reference_sample, window_sample = baseline.numerical_sample(reference), baseline.numerical_sample(window)
            if len(reference_sample) >= 2 and len(window_sample) >= config["min_items"]:
                tests[name] = drift_tests.ks_test(reference_sample, window_sample)
        else:
            reference_counts, window_counts = baseline.categorical_counts(reference), baseline.categorical_counts(window)
            if sum(window_counts.values()) >= config["min_items"]:
                tests[name] = drift_tests.chi_square_test(reference_counts, window_counts)
    verdict.drift = tests
    if tests:
        verdict.per_test_level = config["level"] / len(tests)
        for name, result in tests.items():
            if result.p_value < verdict.per_test_level:
                verdict.violations.append({
                    "feature_name": name, "constraint_check_type": DRIFT_CHECK,
                    "description": (f"Baseline drift distance {result.distance:.3f} exceeds what chance allows "
                                    f"between {items} inferences and the baseline: {result.method} p-value {result.p_value:.2g} < {verdict.per_test_level:.2g} "
                                    f"(significance {config['level']:g} over {len(tests)} features)")})
    return verdict


def _present(feature: dict) -> int:
    statistics = feature.get("numerical_statistics") or feature.get("string_statistics") or {}
    return statistics.get("common", {}).get("num_present", 0)


def _check_completeness(verdict: WindowVerdict, name: str, window: dict, constraint: dict, tolerance: float) -> None:
    expected = constraint.get("completeness")
    seen = baseline.completeness(window)
    if expected is None or seen is None or seen >= expected - tolerance:
        return
    verdict.violations.append({
        "feature_name": name, "constraint_check_type": COMPLETENESS_CHECK,
        "description": f"Data completeness {seen:.1%} is below the baseline's {expected:.1%} (tolerance "
                       f"{tolerance:.0%}): answers without this field, e.g. clients not asking for the assessment"})


def _check_domain(verdict: WindowVerdict, name: str, window: dict, constraint: dict) -> None:
    domain = constraint.get("string_constraints", {}).get("domains")
    if not domain:
        return
    outside = {value: count for value, count in baseline.categorical_counts(window).items() if value not in domain}
    if outside:
        present = _present(window)
        count = sum(outside.values())
        verdict.violations.append({
            "feature_name": name, "constraint_check_type": VALUES_CHECK,
            "description": f"{count} of {present} values are outside the baseline's domain {sorted(domain)}: "
                           f"{', '.join(sorted(outside))}"})


def model_quality(precision: Estimate, target_precision: float, threshold: float,
                  label_free: LabelFreeEstimate, calibration: CalibrationCheck) -> dict:
    """The model-quality checks from the review loop's labels and the model's own confidences.

    LessThanThreshold is violated only when the whole interval of the audited precision of
    automatic routing lies below the target; calibration_check when the audited routed drivers
    contradict the label-free precision (more, or fewer, wrong than their confidences allow).
    The point estimates are given only where they are informative (estimates.MINIMUM_CHECKS).
    """
    audited, expected = audited_share(precision), label_free_share(label_free, "routed drivers")
    result = {"metric_name": PRECISION_METRIC, "threshold": threshold, "target": target_precision,
              "value": precision.shown_value, "interval": precision.interval, "labelled": precision.labelled,
              "accepted": precision.size, "evidence": precision.evidence(), "label_free": label_free.as_dict(),
              "calibration": calibration.as_dict(), "text": audited, "label_free_text": expected,
              "calibration_text": calibration_verdict(calibration, "audited routed drivers")}
    violated = precision.high is not None and precision.high < target_precision
    result["violated"] = violated
    if violated:
        result["description"] = (
            f"Metric {PRECISION_METRIC} with {audited} was {QUALITY_CHECK} '{target_precision:g}' at the threshold "
            f"{threshold:g}: its whole 95% interval lies below the target")
    result["calibration_violated"] = calibration.contradicted
    if calibration.contradicted:
        result["calibration_description"] = (
            f"Metric {LABEL_FREE_PRECISION_METRIC} with {expected} is contradicted by the audits at the threshold "
            f"{threshold:g}: {calibration_finding(calibration, 'audited routed drivers')}; "
            f"{calibration_meaning(calibration)}")
    return result
