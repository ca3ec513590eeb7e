"""CloudWatch's query language as the dashboard speaks it: SEARCH, metric math, a widget's metrics."""
from datetime import datetime, timedelta

import pytest

from local import metric_queries
from local.metric_queries import MetricQueryError

T0 = datetime(2026, 12, 6, 12, 0)
GRID = [T0 + timedelta(minutes=minute) for minute in range(4)]


def test_parse_search_reads_the_schema_and_exact_terms():
    search = metric_queries.parse_search(
        "SEARCH('{\"vehicle-routing/dev\",Error} MetricName=\"ExecutionsFailedByError\"', 'Sum', 300)")

    assert (search.namespace, search.dimension_names, search.metric_name, search.stat, search.period) == (
        "vehicle-routing/dev", ("Error",), "ExecutionsFailedByError", "Sum", 300)
    assert search.dimension_terms == {}


@pytest.mark.parametrize("namespace, name, dimensions, matches", [
    ("AWS/SageMaker", "Invocations", {"EndpointName": "ep", "VariantName": "AllTraffic"}, True),
    ("AWS/SageMaker", "Invocations", {"EndpointName": "other", "VariantName": "AllTraffic"}, False),
    ("AWS/SageMaker", "ModelLatency", {"EndpointName": "ep", "VariantName": "AllTraffic"}, False),
    ("AWS/SageMaker", "Invocations", {"EndpointName": "ep"}, False),
    ("AWS/Lambda", "Invocations", {"EndpointName": "ep", "VariantName": "AllTraffic"}, False),
], ids=["same", "another-endpoint", "another-metric", "another-schema", "another-namespace"])
def test_a_search_matches_its_schema_and_terms_exactly(namespace, name, dimensions, matches):
    search = metric_queries.parse_search(
        "SEARCH('{AWS/SageMaker,EndpointName,VariantName} EndpointName=\"ep\" MetricName=\"Invocations\"', 'Sum')")

    assert search.matches(namespace, name, dimensions) is matches
    if matches:   # each metric found is told apart by what the terms leave open: the variant
        assert search.label_of(name, dimensions) == "AllTraffic"


@pytest.mark.parametrize("expression", [
    "SEARCH('{AWS/SageMaker,EndpointName} Invocations', 'Sum', 300)",
    "SEARCH('EndpointName=\"ep\"', 'Sum', 300)",
    "SEARCH('{AWS/SageMaker,EndpointName} MetricName=\"Invocations\" OR MetricName=\"ModelLatency\"', 'Sum')",
    "SEARCH('{AWS/SageMaker,EndpointName}', Sum)",
], ids=["partial-term", "no-schema", "boolean", "unquoted-stat"])
def test_parse_search_refuses_what_it_would_not_match_as_cloudwatch_does(expression):
    with pytest.raises(MetricQueryError):
        metric_queries.parse_search(expression)


def test_evaluate_computes_period_by_period_where_both_series_have_a_value():
    series = {"checked": {GRID[0]: 10.0, GRID[1]: 4.0, GRID[2]: 5.0}, "doubted": {GRID[0]: 3.0, GRID[2]: 0.0}}

    assert metric_queries.evaluate("checked - doubted", series, GRID) == {GRID[0]: 7.0, GRID[2]: 5.0}
    assert metric_queries.evaluate("100 * (checked - FILL(doubted, 0)) / checked", series, GRID) == {
        GRID[0]: 70.0, GRID[1]: 100.0, GRID[2]: 100.0}


def test_evaluate_fill_gives_every_period_a_value_and_division_by_zero_none():
    series = {"failed": {GRID[1]: 2.0}, "routed": {GRID[1]: 0.0, GRID[2]: 1.0}}

    assert metric_queries.evaluate("FILL(failed, 0)", series, GRID) == {GRID[0]: 0, GRID[1]: 2.0, GRID[2]: 0, GRID[3]: 0}
    assert metric_queries.evaluate("FILL(failed, 0) / routed", series, GRID) == {GRID[2]: 0.0}
    assert metric_queries.evaluate("-routed", series, GRID) == {GRID[1]: -0.0, GRID[2]: -1.0}


@pytest.mark.parametrize("expression", ["RATE(m1)", "m1 ** 2", "m1 if m2 else m3", "'text'", "FILL(m1, m2)",
                                        "IF(m1 > 0, m1, 0)"])
def test_math_refuses_functions_and_operators_it_does_not_compute(expression):
    with pytest.raises(MetricQueryError):
        metric_queries.referenced_ids(expression)


def test_referenced_ids_are_the_names_an_expression_reads():
    assert metric_queries.referenced_ids("100 * FILL(failed, 0) / (checked - doubted + FILL(failed, 0))") == {
        "failed", "checked", "doubted"}


def test_widget_queries_turn_each_metrics_line_into_a_get_metric_data_query():
    properties = {"stat": "Maximum", "period": 300, "metrics": [
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "reviews", {"label": "Waiting"}],
        ["ns", "SentToPerson", "EndpointName", "ep", {"id": "checked", "stat": "SampleCount", "visible": False,
                                                     "yAxis": "right"}],
        [{"id": "share", "expression": "100 * checked", "label": "Share"}]]}

    first, second, third = metric_queries.widget_queries(properties)

    assert first.query == {"Id": "m1", "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
                   "Dimensions": [{"Name": "QueueName", "Value": "reviews"}]}, "Period": 300, "Stat": "Maximum"}}
    assert first.label == "Waiting" and first.visible
    assert (second.id, second.query["MetricStat"]["Stat"], second.visible, second.y_axis) == (
        "checked", "SampleCount", False, "right")
    assert second.query["ReturnData"] is False
    assert (third.query, third.label) == ({"Id": "share", "Expression": "100 * checked", "ReturnData": True}, "Share")


@pytest.mark.parametrize("line", [
    ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName"],
    [".", "ApproximateNumberOfMessagesVisible", "QueueName", "reviews"],
    ["...", {"stat": "Sum"}],
    ["AWS/SQS", {"expression": "m1"}],
    [{"expression": "RATE(m1)"}],
], ids=["dimension-without-value", "dot-shorthand", "ellipsis-shorthand", "expression-with-names", "unknown-math"])
def test_widget_queries_refuse_lines_they_would_draw_wrong(line):
    with pytest.raises(MetricQueryError):
        metric_queries.widget_queries({"metrics": [line]})
