"""Monitor Model: the window it judges, and one scheduled run against moto (S3, CloudWatch, EventBridge)."""
import json
from datetime import datetime, timezone

import boto3
import pytest

import settings
from monitoring import baseline, capture_format

BUCKET = "monitoring-files"
ENDPOINT = "vehicle-classifier"


def environment(**overrides) -> dict:
    return {settings.ENV_CAPTURE_URI: f"s3://{BUCKET}/data-capture/{ENDPOINT}",
            settings.ENV_BASELINE_URI: f"s3://{BUCKET}/monitoring/baseline/{ENDPOINT}",
            settings.ENV_REPORTS_URI: f"s3://{BUCKET}/monitoring/reports", settings.ENV_GROUND_TRUTH_URI: "",
            settings.ENV_ENDPOINT_NAME: ENDPOINT, settings.ENV_MONITORING_SCHEDULE: "hourly",
            settings.ENV_METRICS_NAMESPACE: "vehicle-routing/data-metrics", settings.ENV_DECISION_BUS: "decisions",
            settings.ENV_WINDOW_HOURS: "2", **overrides}


@pytest.mark.parametrize("event, expected", [
    ({"time": "2026-12-01T14:00:07Z"}, ("2026-12-01T12:00:00+00:00", "2026-12-01T14:00:00+00:00")),
    ({"start": "2026-11-30T08:00Z", "end": "2026-11-30T09:00Z"},
     ("2026-11-30T08:00:00+00:00", "2026-11-30T09:00:00+00:00")),
], ids=["scheduled-whole-hours", "named-window"])
def test_window_of_a_scheduled_or_named_event(load_handler, event, expected):
    handler = load_handler("monitor_model", **environment())

    start, end = handler.window_of(event)

    assert (start.isoformat(), end.isoformat()) == expected


def test_window_of_a_run_by_hand_ends_now(load_handler):
    handler = load_handler("monitor_model", **environment())

    start, end = handler.window_of({})

    assert abs((datetime.now(timezone.utc) - end).total_seconds()) < 5
    assert (end - start).total_seconds() == 2 * 3600


def test_handler_writes_reports_by_hour_and_puts_model_deteriorated_on_the_bus(load_handler, tiny_model_dir,
                                                                               lambda_context):
    s3, events, sqs = boto3.client("s3"), boto3.client("events"), boto3.client("sqs")
    s3.create_bucket(Bucket=BUCKET)
    for name in (baseline.STATISTICS_FILE, baseline.CONSTRAINTS_FILE):
        s3.upload_file(str(tiny_model_dir / baseline.BASELINE_DIR / name), BUCKET, f"monitoring/baseline/{ENDPOINT}/{name}")
    when = datetime(2026, 12, 1, 13, 20, tzinfo=timezone.utc)
    body = json.dumps({"probabilities": [0.99, 0.01], "usable": True, "unusable_codes": [], "two_wheeler_mass": 0.9,
                       "input_statistics": {"brightness": 5.0, "contrast": 1.0, "sharpness": 1.0,
                                            "colourfulness": 0.0}}).encode()
    lines = "".join(capture_format.to_jsonl_line(capture_format.build_capture_record(
        b"\xff\xd8", "image/jpeg", body, settings.ASSESSMENT_CONTENT_TYPE, inference_id=f"id-{n}",
        inference_time=when)) for n in range(80))
    s3.put_object(Bucket=BUCKET, Key=capture_format.capture_key("data-capture", ENDPOINT, "AllTraffic", when),
                  Body=lines.encode())
    events.create_event_bus(Name="decisions")
    queue = sqs.create_queue(QueueName="seen")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName="decisions", EventPattern=json.dumps({"source": [settings.DECISION_EVENT_SOURCE]}))
    events.put_targets(Rule="all", EventBusName="decisions", Targets=[{"Id": "q", "Arn": arn}])
    handler = load_handler("monitor_model", **environment())

    result = handler.handler({"time": "2026-12-01T14:00:03Z"}, lambda_context)

    assert (result["items"], result["enough_data"]) == (80, True) and result["violations"] > 0
    assert result["reports"]["violations"] == (f"s3://{BUCKET}/monitoring/reports/{ENDPOINT}/hourly/2026/12/01/12/"
                                               f"{baseline.VIOLATIONS_FILE}")
    [message] = sqs.receive_message(QueueUrl=queue).get("Messages", [])
    event = json.loads(message["Body"])
    assert event["detail-type"] == settings.MODEL_DETERIORATED
    assert event["detail"]["window_end"] == "2026-12-01T14:00:00+00:00"
    names = {m["MetricName"] for m in boto3.client("cloudwatch").list_metrics(Namespace="vehicle-routing/data-metrics")["Metrics"]}
    assert "feature_baseline_drift_brightness" in names and "violation_count" in names
