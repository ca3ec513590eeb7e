"""monitoring.decisions against moto's EventBridge and SQS."""
import json
import socket

import boto3
import pytest
from moto import mock_aws

from monitoring import decisions


@pytest.fixture
def bus(aws_credentials):
    with mock_aws():
        boto3.client("events").create_event_bus(Name="vehicle-routing-test-decisions")
        yield "vehicle-routing-test-decisions"


def publish(bus: str, detail_type: str, detail: dict) -> None:
    boto3.client("events").put_events(Entries=[{"EventBusName": bus, "Source": "vehicle-routing",
                                                "DetailType": detail_type, "Detail": json.dumps(detail)}])


def test_watch_prints_each_decision_published_while_it_watches(bus):
    lines = []
    with decisions.Subscription(boto3.client("events"), boto3.client("sqs"), bus) as subscription:
        publish(bus, "DriverRouted", {"image": "s3://b/drivers/a.png", "label": "bicycle", "confidence": 0.991,
                                      "route": "near"})
        publish(bus, "DriverNeedsReview", {"image": "s3://b/drivers/b.png", "reason": "UnusableImage",
                                           "label": "motorcycle", "confidence": 0.97})
        publish(bus, "DriverNeedsReview", {"image": "s3://b/drivers/c.heic", "reason": "NotAnImage"})
        count = decisions.watch(subscription, seconds=0.1, show=lines.append)

    assert count == 3
    assert lines[2].endswith("DriverNeedsReview s3://b/drivers/c.heic: NotAnImage (no model answer)")
    assert lines[0].endswith("DriverRouted s3://b/drivers/a.png: bicycle (0.9910) -> near orders")
    assert lines[1].endswith("DriverNeedsReview s3://b/drivers/b.png: UnusableImage (model: motorcycle, 0.9700)")


def test_watch_removes_its_rule_and_queue_when_it_stops(bus):
    with decisions.Subscription(boto3.client("events"), boto3.client("sqs"), bus):
        during = boto3.client("events").list_rules(EventBusName=bus)["Rules"]

    assert len(during) == 1
    assert boto3.client("events").list_rules(EventBusName=bus)["Rules"] == []
    assert boto3.client("sqs").list_queues().get("QueueUrls", []) == []


def test_watch_names_a_bus_that_is_not_there(bus, capsys):
    status = decisions.main(["--bus", "no-such-bus", "--seconds", "0"])

    assert status == 2
    assert "no event bus 'no-such-bus'" in capsys.readouterr().err


def test_watch_says_in_one_line_that_the_stand_in_is_not_running(aws_credentials, capsys, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")

    status = decisions.main(["--bus", "vehicle-routing-test-decisions", "--seconds", "0"])

    assert status == 2
    assert capsys.readouterr().err.strip() == (f"error: cannot reach http://127.0.0.1:{port}/ "
                                               f"(offline: is `python -m local.aws` running?)")


def test_watch_ends_with_one_line_when_its_queue_goes_away(bus):
    with decisions.Subscription(boto3.client("events"), boto3.client("sqs"), bus) as subscription:
        boto3.client("sqs").delete_queue(QueueUrl=subscription.queue_url)

        with pytest.raises(decisions.WatchError, match="went away"):
            decisions.watch(subscription, seconds=0.1)
