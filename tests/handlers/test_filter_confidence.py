import os
import subprocess
import sys

import pytest

import settings
from handlers.errors import ConfidenceBelowThreshold, InvalidEvent, UnusableImage
from tests.handlers.doubles import printed


@pytest.fixture
def filter_confidence(load_handler):
    return load_handler("filter_confidence")


def classified(label: str, confidence, **extra) -> dict:
    return {"s3_bucket": "driver-photos", "s3_key": "a.png", "label": label, "confidence": confidence,
            "inference_id": "0064D3901D00059242-4af981f98d22a0b9979da24b259e5e42",
            "inferences": [confidence, 1 - confidence] if isinstance(confidence, float) else [],
            "usable": True, "unusable_reasons": [], **extra}


@pytest.mark.parametrize("label, confidence, route", [
    ("bicycle", 0.99, "near"), ("motorcycle", 0.96, "far"), ("bicycle", settings.DEFAULT_THRESHOLD, "near"),
], ids=["bicycle", "motorcycle", "exactly-at-threshold"])
def test_filter_confidence_accepts_a_confident_classification_and_routes_the_driver(
        filter_confidence, label, confidence, route, lambda_context):
    event = classified(label, confidence)

    result = filter_confidence.handler(event, lambda_context)

    assert result == {**event, "accepted": True, "threshold": settings.DEFAULT_THRESHOLD, "route": route,
                      "audit": False}


@pytest.mark.parametrize("confidence", [0.0, 0.5, 0.9499], ids=["zero", "coin-flip", "just-below"])
def test_filter_confidence_raises_its_own_error_below_the_threshold(filter_confidence, confidence, lambda_context):
    with pytest.raises(ConfidenceBelowThreshold) as raised:
        filter_confidence.handler(classified("bicycle", confidence), lambda_context)

    assert f"{confidence:.4f}" in str(raised.value)
    assert str(settings.DEFAULT_THRESHOLD) in str(raised.value)


@pytest.mark.parametrize("confidence", [0.999, 0.5], ids=["confident", "unsure"])
def test_filter_confidence_never_routes_an_unusable_picture(filter_confidence, confidence, lambda_context):
    reasons = ["nearly uniform: blank (contrast 0.0 < 10)", "too dark (brightness 0 < 18 of 255)"]

    with pytest.raises(UnusableImage) as raised:
        filter_confidence.handler(classified("bicycle", confidence, usable=False, unusable_reasons=reasons),
                                  lambda_context)

    assert str(raised.value) == ("s3://driver-photos/a.png is not a usable photo of a vehicle: " + "; ".join(reasons)
                                 + "; a person should check this driver")


@pytest.mark.parametrize("threshold, confidence, accepted", [("0.8", 0.85, True), ("0.9", 0.85, False)],
                         ids=["lower-threshold-accepts", "higher-threshold-rejects"])
def test_filter_confidence_reads_the_threshold_from_configuration(load_handler, threshold, confidence, accepted,
                                                                  lambda_context):
    filter_confidence = load_handler("filter_confidence", **{settings.ENV_THRESHOLD: threshold})

    if accepted:
        result = filter_confidence.handler(classified("motorcycle", confidence), lambda_context)
        assert result["threshold"] == float(threshold)
    else:
        with pytest.raises(ConfidenceBelowThreshold, match=f"threshold {threshold}"):
            filter_confidence.handler(classified("motorcycle", confidence), lambda_context)


@pytest.mark.parametrize("threshold", ["0", "1.5", "-0.2", "high"], ids=["zero", "above-one", "negative", "not-a-number"])
def test_filter_confidence_refuses_to_start_with_a_meaningless_threshold(load_handler, threshold):
    with pytest.raises(ValueError):
        load_handler("filter_confidence", **{settings.ENV_THRESHOLD: threshold})


@pytest.mark.parametrize("event", [
    {"confidence": 0.99},
    {"label": "scooter", "confidence": 0.99},
    {"label": "bicycle"},
    {"label": "bicycle", "confidence": "0.99"},
    {"label": "bicycle", "confidence": True},
    {"label": "bicycle", "confidence": 1.2},
    {"label": "bicycle", "confidence": float("nan")},
    [0.99, 0.01],
    {"label": "bicycle", "confidence": 0.99, "usable": None},
    {"label": "bicycle", "confidence": 0.99, "usable": False, "unusable_reasons": []},
    {"label": "bicycle", "confidence": 0.99, "usable": True, "unusable_reasons": ["dark"]},
], ids=["no-label", "unknown-label", "no-confidence", "confidence-as-text", "confidence-boolean",
        "confidence-above-one", "confidence-nan", "not-an-object", "usable-missing", "unusable-without-reason",
        "usable-with-reasons"])
def test_filter_confidence_rejects_a_malformed_event(filter_confidence, event, lambda_context):
    if isinstance(event, dict):
        event = {"usable": True, "unusable_reasons": [], **event}
    with pytest.raises(InvalidEvent):
        filter_confidence.handler(event, lambda_context)


def test_filter_confidence_logs_each_decision_with_image_label_confidence_and_threshold(filter_confidence, capsys,
                                                                                        lambda_context):
    filter_confidence.handler(classified("motorcycle", 0.97), lambda_context)
    with pytest.raises(ConfidenceBelowThreshold):
        filter_confidence.handler(classified("bicycle", 0.6), lambda_context)

    (accepted, rejected), _ = printed(capsys)

    assert {key: accepted[key] for key in ("outcome", "image", "label", "confidence", "threshold", "route")} == {
        "outcome": "accepted", "image": "s3://driver-photos/a.png", "label": "motorcycle", "confidence": 0.97,
        "threshold": settings.DEFAULT_THRESHOLD, "route": "far"}
    assert (rejected["outcome"], rejected["label"], rejected["confidence"]) == ("ConfidenceBelowThreshold", "bicycle", 0.6)


@pytest.mark.parametrize("rate", ["0", "0.05", "0.5", "1"])
def test_filter_confidence_audits_a_share_of_routed_drivers_chosen_by_inference_id(load_handler, rate, lambda_context):
    filter_confidence = load_handler("filter_confidence", **{settings.ENV_AUDIT_RATE: rate})
    ids = [f"{number:018X}-etag" for number in range(2000)]

    def audit(inference_id):
        return filter_confidence.handler(classified("bicycle", 0.99, inference_id=inference_id), lambda_context)["audit"]

    audited, again = [audit(i) for i in ids], [audit(i) for i in ids]

    assert audited == again
    assert sum(audited) / len(ids) == pytest.approx(float(rate), abs=0.015)


@pytest.mark.parametrize("rate", ["-0.1", "1.5", "many"], ids=["negative", "above-one", "not-a-number"])
def test_filter_confidence_refuses_to_start_with_a_meaningless_audit_rate(load_handler, rate):
    with pytest.raises(ValueError):
        load_handler("filter_confidence", **{settings.ENV_AUDIT_RATE: rate})


def test_filter_confidence_refuses_to_start_without_a_metrics_namespace(load_handler, monkeypatch):
    monkeypatch.delenv(settings.ENV_POWERTOOLS_METRICS_NAMESPACE)

    with pytest.raises(ValueError, match=settings.ENV_POWERTOOLS_METRICS_NAMESPACE):
        load_handler("filter_confidence")


# The fields a decision line of Check Confidence has at its top level (docs/operations.md queries them).
DECISION_FIELDS = {"step", "outcome", "image", "label", "confidence", "threshold"}


def test_filter_confidence_decision_line_keeps_its_fields_at_the_top_level_beside_powertools_keys(
        filter_confidence, capsys, lambda_context):
    filter_confidence.handler(classified("bicycle", 0.99), lambda_context)

    [line], _ = printed(capsys)

    assert {key: line[key] for key in DECISION_FIELDS | {"route", "audit"}} == {
        "step": "filter_confidence", "outcome": "accepted", "image": "s3://driver-photos/a.png", "label": "bicycle",
        "confidence": 0.99, "threshold": settings.DEFAULT_THRESHOLD, "route": "near", "audit": False}
    assert (line["level"], line["message"], line["service"]) == ("INFO", "accepted", settings.SERVICE_NAME)
    assert (line["function_name"], line["function_request_id"]) == (lambda_context.function_name,
                                                                    lambda_context.aws_request_id)


def test_filter_confidence_publishes_whether_a_person_decides_per_model_answer_by_endpoint_name_alone(
        load_handler, capsys, lambda_context):
    # As deployed: POWERTOOLS_SERVICE_NAME is set, and must not become a dimension the alarm does not read.
    handler = load_handler("filter_confidence", **{settings.ENV_POWERTOOLS_METRICS_NAMESPACE: "vehicle-routing/prod",
                                                   settings.ENV_ENDPOINT_NAME: "vehicle-classifier"})

    handler.handler(classified("bicycle", 0.99), lambda_context)
    with pytest.raises(ConfidenceBelowThreshold):
        handler.handler(classified("bicycle", 0.6), lambda_context)
    with pytest.raises(UnusableImage):
        handler.handler(classified("bicycle", 0.99, usable=False, unusable_reasons=["too dark"]), lambda_context)
    with pytest.raises(InvalidEvent):
        handler.handler(classified("bicycle", "sure"), lambda_context)

    decisions, documents = printed(capsys)
    assert [line["outcome"] for line in decisions] == ["accepted", "ConfidenceBelowThreshold", "UnusableImage",
                                                       "InvalidEvent"]
    # One document per model answer; a malformed event is none, so it publishes nothing.
    assert [document[settings.SENT_TO_PERSON_METRIC] for document in documents] == [[0.0], [1.0], [1.0]]
    # Beside it, the threshold each answer was judged at (the dashboard's threshold in force).
    assert [document[settings.ROUTING_THRESHOLD_METRIC] for document in documents] == [[0.95]] * 3
    for document in documents:
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert directive == {"Namespace": "vehicle-routing/prod", "Dimensions": [["EndpointName"]],
                             "Metrics": [{"Name": settings.SENT_TO_PERSON_METRIC, "Unit": "Count"},
                                         {"Name": settings.ROUTING_THRESHOLD_METRIC, "Unit": "None"}]}
        assert document["EndpointName"] == "vehicle-classifier" and document["_aws"]["Timestamp"] > 1.7e12


def test_filter_confidence_cold_start_imports_neither_boto3_nor_the_xray_sdk():
    """It calls no AWS service: Lambda's active tracing records it without Powertools' Tracer, whose
    X-Ray SDK would cost more than the rest of its import (bench/handler_imports.py)."""
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, handlers.filter_confidence; "
                               "print(sorted(name for name in ('boto3', 'aws_xray_sdk') if name in sys.modules))"],
        cwd=settings.PROJECT_ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, settings.ENV_POWERTOOLS_METRICS_NAMESPACE: "vehicle-routing/test"})

    assert imported.stdout.strip() == "[]", imported.stderr


def put_threshold(name: str, value) -> None:
    import json

    import boto3
    boto3.client("ssm").put_parameter(Name=name, Value=json.dumps({"threshold": value, "source": "certificate"}),
                                      Type="String", Overwrite=True)


def test_filter_confidence_judges_at_the_threshold_in_the_parameter_and_says_so(load_handler, lambda_context, capsys):
    put_threshold("/vehicle-routing/test/routing-threshold", 0.9)
    filter_confidence = load_handler("filter_confidence", **{settings.ENV_THRESHOLD_PARAMETER:
                                                             "/vehicle-routing/test/routing-threshold"})

    result = filter_confidence.handler(classified("motorcycle", 0.92), lambda_context)

    assert result["accepted"] and result["threshold"] == 0.9
    (line,), _ = printed(capsys)
    assert line["threshold"] == 0.9


def test_filter_confidence_sees_a_changed_threshold_without_a_redeploy(load_handler, lambda_context):
    name = "/vehicle-routing/test/routing-threshold"
    put_threshold(name, 0.9)
    filter_confidence = load_handler("filter_confidence", **{settings.ENV_THRESHOLD_PARAMETER: name,
                                                             "POWERTOOLS_PARAMETERS_MAX_AGE": "0"})
    assert filter_confidence.handler(classified("bicycle", 0.93), lambda_context)["threshold"] == 0.9

    put_threshold(name, 0.97)

    with pytest.raises(ConfidenceBelowThreshold, match="threshold 0.97"):
        filter_confidence.handler(classified("bicycle", 0.93), lambda_context)


@pytest.mark.parametrize("stored", [None, "not json", 1.7], ids=["missing", "malformed", "not-a-probability"])
def test_filter_confidence_falls_back_to_the_conservative_default_when_the_parameter_is_unusable(
        load_handler, lambda_context, stored):
    import boto3
    name = "/vehicle-routing/test/routing-threshold"
    if stored == "not json":
        boto3.client("ssm").put_parameter(Name=name, Value="{", Type="String")
    elif stored is not None:
        put_threshold(name, stored)
    filter_confidence = load_handler("filter_confidence", **{settings.ENV_THRESHOLD_PARAMETER: name})

    with pytest.raises(ConfidenceBelowThreshold, match=f"threshold {settings.DEFAULT_THRESHOLD}"):
        filter_confidence.handler(classified("bicycle", 0.94), lambda_context)
