"""The stand-in's evaluation of rollback alarms: CloudWatch's statistics and comparisons over an interval."""
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws
from moto.cloudwatch.models import cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID

from local import alarm_evaluation

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("name, expected", [("Sum", 109.0), ("Average", 10.9), ("Minimum", 1.0), ("Maximum", 100.0),
                                            ("SampleCount", 10.0), ("p50", 1.0), ("p90", 1.0), ("p99", 100.0)])
def test_statistics_of_raw_values(name, expected):
    assert alarm_evaluation.statistic([1.0] * 9 + [100.0], name) == expected


@pytest.fixture
def cloudwatch(dummy_aws_credentials):
    with mock_aws():
        client = boto3.client("cloudwatch", region_name="us-east-1")
        yield client, cloudwatch_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]


def alarm(client, name, threshold, statistic="Average", missing="notBreaching"):
    client.put_metric_alarm(AlarmName=name, Namespace="vehicle-routing/test", MetricName="SentToPerson",
                            Dimensions=[{"Name": "EndpointName", "Value": "ep"}], Statistic=statistic, Period=60,
                            EvaluationPeriods=1, Threshold=threshold, ComparisonOperator="GreaterThanThreshold",
                            TreatMissingData=missing)


def put(client, values, when=NOW, endpoint="ep"):
    client.put_metric_data(Namespace="vehicle-routing/test", MetricData=[
        {"MetricName": "SentToPerson", "Value": value, "Timestamp": when,
         "Dimensions": [{"Name": "EndpointName", "Value": endpoint}]} for value in values])


def test_an_alarm_fires_only_on_values_of_its_metric_and_dimensions_within_the_interval(cloudwatch):
    client, backend = cloudwatch
    alarm(client, "share", 0.5)
    put(client, [0, 0, 1, 0])                                 # 25% in the interval: no alarm
    put(client, [1] * 20, when=NOW - timedelta(hours=1))      # before the canary started
    put(client, [1] * 20, endpoint="another")                 # another endpoint

    assert alarm_evaluation.breached(backend, ["share"], NOW - timedelta(minutes=1), NOW + timedelta(minutes=1)) == []
    put(client, [1] * 8)                                      # now 9 of 12

    [(name, reason)] = alarm_evaluation.breached(backend, ["share"], NOW - timedelta(minutes=1), NOW + timedelta(minutes=1))
    assert name == "share" and "Average of 12 values of SentToPerson is 0.75" in reason
    assert client.describe_alarms(AlarmNames=["share"])["MetricAlarms"][0]["StateValue"] == "ALARM"


@pytest.mark.parametrize("missing, fired", [("notBreaching", False), ("breaching", True), ("missing", False)])
def test_no_data_counts_as_the_alarm_says(cloudwatch, missing, fired):
    client, backend = cloudwatch
    alarm(client, "quiet", 0.5, missing=missing)

    assert bool(alarm_evaluation.breached(backend, ["quiet"], NOW, NOW)) is fired


def test_an_alarm_that_does_not_exist_cannot_roll_back(cloudwatch, caplog):
    _, backend = cloudwatch

    assert alarm_evaluation.breached(backend, ["nobody"], NOW, NOW) == []
    assert "does not exist" in caplog.text
