"""The operators' page: a dashboard drawn from CloudWatch's API (moto with the stand-in's bridges)."""
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

import settings
from local import moto_gaps, operations_page

VARIANTS = ("AllTraffic", "Challenger")
DASHBOARD = {"widgets": [
    {"type": "text", "x": 0, "y": 0, "width": 24, "height": 1, "properties": {"markdown": "## Routing <b>"}},
    {"type": "alarm", "x": 0, "y": 1, "width": 24, "height": 2, "properties": {"title": "Alarms", "alarms": [
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:violations"]}},
    {"type": "metric", "x": 0, "y": 3, "width": 12, "height": 6, "properties": {
        "title": "Model latency per variant", "region": "us-east-1", "period": 300,
        "annotations": {"horizontal": [{"label": "Rollback alarm", "value": 900}]},
        "metrics": [[{"id": "p99", "label": "p99", "expression": (
            "SEARCH('{AWS/SageMaker,EndpointName,VariantName} EndpointName=\"ep\" MetricName=\"ModelLatency\"', "
            "'p99', 300)")}]]}},
    {"type": "metric", "x": 12, "y": 3, "width": 12, "height": 6, "properties": {
        "title": "Share sent to a person (%)", "region": "us-east-1", "period": 300, "metrics": [
            ["ns", "SentToPerson", "EndpointName", "ep", {"id": "checked", "stat": "SampleCount", "visible": False}],
            ["ns", "SentToPerson", "EndpointName", "ep", {"id": "doubted", "stat": "Sum", "visible": False}],
            [{"id": "share", "expression": "100 * doubted / checked", "label": "Sent to a person"}]]}},
    {"type": "metric", "x": 0, "y": 9, "width": 24, "height": 6, "properties": {
        "title": "Nothing published", "region": "us-east-1", "metrics": [["ns", "Nobody", "EndpointName", "ep"]]}}]}


@pytest.fixture
def now():
    """This test's moment: alarms are evaluated against the clock, so it is not the module's import time."""
    return datetime.now(timezone.utc)


@pytest.fixture
def cloudwatch(now):
    with mock_aws(), moto_gaps.bridged():
        client = boto3.client("cloudwatch")
        client.put_dashboard(DashboardName="routing", DashboardBody=json.dumps(DASHBOARD))
        for variant, latencies in zip(VARIANTS, ([100.0] * 99 + [1000.0], [300.0] * 10)):
            client.put_metric_data(Namespace="AWS/SageMaker", MetricData=[
                {"MetricName": "ModelLatency", "Value": latency, "Timestamp": now - timedelta(seconds=30), "Dimensions": [
                    {"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": variant}]}
                for latency in latencies])
        client.put_metric_data(Namespace="ns", MetricData=[
            {"MetricName": "SentToPerson", "Value": value, "Timestamp": now - timedelta(seconds=30),
             "Dimensions": [{"Name": "EndpointName", "Value": "ep"}]} for value in (1.0, 0.0, 0.0, 0.0)])
        client.put_metric_alarm(AlarmName="violations", Namespace="ns", MetricName="SentToPerson",
                                Dimensions=[{"Name": "EndpointName", "Value": "ep"}], Statistic="Average", Period=300,
                                EvaluationPeriods=1, Threshold=0.1, ComparisonOperator="GreaterThanThreshold")
        yield client


def widget(title: str) -> dict:
    return next(item["properties"] for item in DASHBOARD["widgets"] if item.get("properties", {}).get("title") == title)


def test_widget_lines_are_one_per_metric_a_search_finds_and_one_per_visible_query(cloudwatch, now):
    start, end = now - timedelta(minutes=5), now + timedelta(seconds=1)

    latency = operations_page.widget_lines(cloudwatch, widget("Model latency per variant"), start, end, 60)
    share = operations_page.widget_lines(cloudwatch, widget("Share sent to a person (%)"), start, end, 60)

    assert {line.label: sorted(line.points.values()) for line in latency} == {
        "p99 AllTraffic": [100.0], "p99 Challenger": [300.0]}
    assert [(line.label, list(line.points.values())) for line in share] == [("Sent to a person", [25.0])]


def test_render_draws_every_widget_where_the_dashboard_places_it(cloudwatch, now):
    page = operations_page.render(cloudwatch, "routing", now - timedelta(minutes=5), now + timedelta(seconds=1))

    assert page.count("data:image/png;base64,") == 3          # the three metric widgets, the empty one included
    assert "grid-column: 13 / span 12; grid-row: 4 / span 6;" in page
    assert "<h3>Routing &lt;b&gt;</h3>" in page                # the text widget's markdown, escaped
    assert "&#9679; ALARM</span> violations" in page           # evaluated as CloudWatch would: 25% > 10%
    assert "one point per 10 s" in page


def test_render_names_a_dashboard_that_does_not_exist(cloudwatch, now):
    with pytest.raises(operations_page.PageError, match="no dashboard 'elsewhere'"):
        operations_page.render(cloudwatch, "elsewhere", now - timedelta(minutes=5), now)


@pytest.mark.parametrize("span, period", [(timedelta(minutes=5), 10), (timedelta(minutes=30), 30),
                                          (timedelta(hours=3), 300), (timedelta(days=3), 21600)])
def test_the_page_period_keeps_a_graph_under_sixty_points(span, period, now):
    assert operations_page.period_for(now - span, now) == period


def test_with_period_sets_a_metric_and_a_search_to_the_page_period():
    metric = {"Id": "m1", "MetricStat": {"Metric": {}, "Period": 300, "Stat": "Sum"}}
    search = {"Id": "s", "Expression": "SEARCH('{AWS/SQS,QueueName} MetricName=\"NumberOfMessagesSent\"', 'Sum', 300)"}
    unperiodic = {"Id": "u", "Expression": "SEARCH('{AWS/SQS,QueueName} MetricName=\"NumberOfMessagesSent\"', 'Sum')"}

    assert operations_page.with_period(metric, 10)["MetricStat"]["Period"] == 10
    assert operations_page.with_period(search, 10)["Expression"].endswith("'Sum', 10)")
    assert operations_page.with_period(unperiodic, 10)["Expression"].endswith("'Sum', 10)")
    assert operations_page.with_period({"Id": "e", "Expression": "m1 * 2"}, 10) == {"Id": "e", "Expression": "m1 * 2"}


def test_operations_page_command_says_what_it_draws():
    shown = subprocess.run([sys.executable, "-m", "local.operations_page", "--help"], cwd=settings.PROJECT_ROOT,
                           capture_output=True, text=True, timeout=60)

    assert shown.returncode == 0 and "--dashboard" in shown.stdout
