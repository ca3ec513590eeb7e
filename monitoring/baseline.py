"""statistics.json and constraints.json in SageMaker Model Monitor's shapes: building and reading them.

Plain Python (no numpy): training/train.py writes the baseline of a model with it (from the
validation split), and the monitor writes each window's statistics and reads the baseline back.

statistics.json (per feature, Model Monitor's schema):
    {"version": 0.0, "dataset": {"item_count": N},
     "features": [{"name": "confidence", "inferred_type": "Fractional",
                   "numerical_statistics": {"common": {"num_present", "num_missing"}, "mean", "sum",
                                            "std_dev", "min", "max",
                                            "distribution": {"kll": {"buckets": [...],
                                                                     "sketch": {"parameters": {"c", "k"},
                                                                                "data": [[values]]}}}}},
                  {"name": "predicted_class", "inferred_type": "String",
                   "string_statistics": {"common": {...}, "distinct_count",
                                         "distribution": {"categorical": {"buckets": [{"value", "count"}]}}}}]}

A KLL sketch with fewer items than k keeps every item in its first level; a baseline of a few
hundred photos therefore keeps its exact sample, which the drift tests compare against. Above k
items the sketch keeps k evenly spaced order statistics.

constraints.json: per feature its completeness, is_non_negative and string domains, and
monitoring_config with the distribution comparison settings (monitoring/drift.py explains them).
"""
import math
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
VIOLATIONS_FILE = "constraint_violations.json"
BASELINE_DIR = "baseline"           # inside a model directory (and model.tar.gz)
FORMAT_VERSION = 0.0
KLL_PARAMETERS = {"c": 0.64, "k": 2048.0}
HISTOGRAM_BUCKETS = 10
# Defaults of monitoring_config; each lives in constraints.json, where a user may change it.
DEFAULT_SIGNIFICANCE_LEVEL = 0.001  # family-wise false-alarm rate of one window's drift checks: one in 1000 hourly windows (six weeks)
DEFAULT_MIN_WINDOW_ITEMS = 50       # fewer inferences than this: "not enough data"
DEFAULT_COMPLETENESS_TOLERANCE = 0.05
NUMERICAL = "Fractional"
CATEGORICAL = "String"


def _numerical_statistics(values: List[float], missing: int) -> dict:
    present = len(values)
    common = {"num_present": present, "num_missing": missing}
    if not present:
        return {"common": common}
    ordered = sorted(values)
    total = math.fsum(ordered)
    mean = total / present
    variance = math.fsum((value - mean) ** 2 for value in ordered) / present
    low, high = ordered[0], ordered[-1]
    width = (high - low) / HISTOGRAM_BUCKETS
    buckets = []
    for index in range(HISTOGRAM_BUCKETS):
        lower = low + index * width
        upper = high if index == HISTOGRAM_BUCKETS - 1 else low + (index + 1) * width
        buckets.append({"lower_bound": lower, "upper_bound": upper, "count": 0})
    for value in ordered:
        index = min(HISTOGRAM_BUCKETS - 1, int((value - low) / width)) if width > 0 else 0
        buckets[index]["count"] += 1
    k = int(KLL_PARAMETERS["k"])
    sketch = ordered if present <= k else [ordered[(i * (present - 1)) // (k - 1)] for i in range(k)]
    return {"common": common, "mean": mean, "sum": total, "std_dev": math.sqrt(variance), "min": low, "max": high,
            "distribution": {"kll": {"buckets": buckets,
                                     "sketch": {"parameters": dict(KLL_PARAMETERS), "data": [sketch]}}}}


def _string_statistics(values: List[str], missing: int) -> dict:
    counts: Dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return {"common": {"num_present": len(values), "num_missing": missing}, "distinct_count": float(len(counts)),
            "distribution": {"categorical": {"buckets": [{"value": value, "count": count}
                                                         for value, count in sorted(counts.items())]}}}


def dataset_statistics(rows: Sequence[Mapping[str, object]], feature_types: Mapping[str, str]) -> dict:
    """statistics.json for feature rows ({name: value or None}), features in feature_types' order."""
    features = []
    for name, inferred_type in feature_types.items():
        values = [row.get(name) for row in rows]
        present = [value for value in values if value is not None]
        missing = len(values) - len(present)
        if inferred_type == NUMERICAL:
            features.append({"name": name, "inferred_type": inferred_type,
                             "numerical_statistics": _numerical_statistics([float(v) for v in present], missing)})
        else:
            features.append({"name": name, "inferred_type": inferred_type,
                             "string_statistics": _string_statistics([str(v) for v in present], missing)})
    return {"version": FORMAT_VERSION, "dataset": {"item_count": len(rows)}, "features": features}


def suggest_constraints(statistics: dict, domains: Optional[Mapping[str, Iterable[str]]] = None,
                        significance_level: float = DEFAULT_SIGNIFICANCE_LEVEL,
                        min_window_items: int = DEFAULT_MIN_WINDOW_ITEMS) -> dict:
    """constraints.json for a baseline's statistics: completeness as seen, non-negativity as seen,
    and for string features the domain given (all values the feature may take) or else the values seen."""
    domains = domains or {}
    features = []
    for feature in statistics["features"]:
        entry = {"name": feature["name"], "inferred_type": feature["inferred_type"]}
        if feature["inferred_type"] == NUMERICAL:
            numbers = feature["numerical_statistics"]
            common = numbers["common"]
            entry["num_constraints"] = {"is_non_negative": numbers.get("min", 0.0) >= 0}
        else:
            common = feature["string_statistics"]["common"]
            seen = [bucket["value"] for bucket in feature["string_statistics"]["distribution"]["categorical"]["buckets"]]
            entry["string_constraints"] = {"domains": sorted(set(domains.get(feature["name"], seen)) | set(seen))}
        total = common["num_present"] + common["num_missing"]
        entry["completeness"] = common["num_present"] / total if total else 1.0
        features.append(entry)
    return {
        "version": FORMAT_VERSION,
        "features": features,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": 1.0,
            "domain_content_threshold": 1.0,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                # Robust: a two-sample test per feature at the significance level below, split
                # over the features (monitoring/drift.py), instead of a fixed distance threshold.
                "comparison_method": "Robust",
                "comparison_threshold": significance_level,
                "categorical_drift_method": "ChiSquared",
                "categorical_comparison_threshold": significance_level,
            },
            # This project's own keys, beside Model Monitor's.
            "min_window_items": min_window_items,
            "completeness_tolerance": DEFAULT_COMPLETENESS_TOLERANCE,
        },
    }


def features_by_name(statistics: dict) -> Dict[str, dict]:
    return {feature["name"]: feature for feature in statistics.get("features", [])}


def numerical_sample(feature: dict) -> List[float]:
    """The sorted values a numerical feature's KLL sketch keeps (all of them up to k)."""
    sketch = feature.get("numerical_statistics", {}).get("distribution", {}).get("kll", {}).get("sketch", {})
    return sorted(value for level in sketch.get("data", []) for value in level)


def categorical_counts(feature: dict) -> Dict[str, int]:
    buckets = feature.get("string_statistics", {}).get("distribution", {}).get("categorical", {}).get("buckets", [])
    return {bucket["value"]: int(bucket["count"]) for bucket in buckets}


def completeness(feature: dict) -> Optional[float]:
    statistics = feature.get("numerical_statistics") or feature.get("string_statistics") or {}
    common = statistics.get("common", {})
    total = common.get("num_present", 0) + common.get("num_missing", 0)
    return common.get("num_present", 0) / total if total else None


class MalformedBaseline(ValueError):
    """A statistics.json or constraints.json that is not what the monitor can compare against."""


def check_baseline(statistics: dict, constraints: dict) -> None:
    """Raise MalformedBaseline unless both documents have the shape this module writes."""
    for document, name in ((statistics, STATISTICS_FILE), (constraints, CONSTRAINTS_FILE)):
        if not isinstance(document, dict) or not isinstance(document.get("features"), list):
            raise MalformedBaseline(f"{name} has no 'features' list")
    if not isinstance(constraints.get("monitoring_config"), dict):
        raise MalformedBaseline(f"{CONSTRAINTS_FILE} has no 'monitoring_config'")
    for feature in statistics["features"]:
        if not isinstance(feature, dict) or "name" not in feature or "inferred_type" not in feature:
            raise MalformedBaseline(f"{STATISTICS_FILE} has a feature without name or inferred_type: {feature!r:.80}")
