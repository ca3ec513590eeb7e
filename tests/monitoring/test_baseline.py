"""statistics.json and constraints.json as Model Monitor shapes them."""
import pytest

from monitoring import baseline


def test_numerical_statistics_keep_every_value_below_k_and_k_order_statistics_above():
    small = baseline.dataset_statistics([{"x": float(v)} for v in range(10)], {"x": baseline.NUMERICAL})
    large = baseline.dataset_statistics([{"x": float(v)} for v in range(5000)], {"x": baseline.NUMERICAL})

    [feature] = small["features"]
    numbers = feature["numerical_statistics"]
    assert (numbers["mean"], numbers["min"], numbers["max"], numbers["sum"]) == (4.5, 0.0, 9.0, 45.0)
    assert baseline.numerical_sample(feature) == [float(v) for v in range(10)]
    sample = baseline.numerical_sample(large["features"][0])
    assert len(sample) == 2048 and sample[0] == 0.0 and sample[-1] == 4999.0


def test_missing_values_count_against_completeness_and_domains_take_the_declared_values():
    statistics = baseline.dataset_statistics([{"c": "a"}, {"c": None}, {"c": "b"}, {"c": "a"}],
                                             {"c": baseline.CATEGORICAL})
    constraints = baseline.suggest_constraints(statistics, {"c": ["a", "b", "z"]})

    [feature] = constraints["features"]
    assert feature["completeness"] == pytest.approx(0.75)
    assert feature["string_constraints"]["domains"] == ["a", "b", "z"]
    assert baseline.categorical_counts(statistics["features"][0]) == {"a": 2, "b": 1}
    assert constraints["monitoring_config"]["distribution_constraints"]["comparison_method"] == "Robust"


def test_check_baseline_rejects_documents_without_features():
    with pytest.raises(baseline.MalformedBaseline):
        baseline.check_baseline({"version": 0}, {"features": [], "monitoring_config": {}})
