"""The real ASL file, executed by moto's Step Functions interpreter, with the real handlers."""
import io
import json

import boto3
import pytest
from PIL import Image

import settings
from handlers import errors
from imaging import photo
from tests.handlers.doubles import SageMakerRuntimeError, assessment, image_bytes
from tests.imaging import photos

ASL = json.loads(settings.STATE_MACHINE_FILE.read_text())
THROTTLED = SageMakerRuntimeError("ThrottlingException", "Rate exceeded")


def upload(workflow, key: str, body: bytes) -> dict:
    boto3.client("s3").put_object(Bucket=workflow.images_bucket, Key=key, Body=body)
    return {"s3_bucket": workflow.images_bucket, "s3_key": key}


def retrier(state: str, error: str) -> dict:
    [found] = [rule for rule in ASL["States"][state]["Retry"] if error in rule["ErrorEquals"]]
    return found


@pytest.mark.parametrize("probabilities, label, confidence, route", [
    ((0.97, 0.03), "bicycle", 0.97, "near"), ((0.01, 0.99), "motorcycle", 0.99, "far"),
], ids=["bicycle", "motorcycle"])
def test_classify_vehicle_succeeds_with_label_confidence_and_route(workflow, endpoint, probabilities, label, confidence,
                                                                   route):
    endpoint.answer(assessment(*probabilities))
    event = upload(workflow, "driver.png", image_bytes("PNG"))

    result = workflow.run(event)

    assert result.status == "SUCCEEDED"
    assert {key: result.output[key] for key in ("label", "confidence", "route", "accepted", "threshold")} == {
        "label": label, "confidence": confidence, "route": route, "accepted": True,
        "threshold": settings.DEFAULT_THRESHOLD}
    assert result.output["inferences"] == list(probabilities)
    assert "image_data" not in result.output
    assert result.output["inference_id"] == endpoint.requests[0].inference_id


def test_classify_vehicle_accepts_the_course_event_with_a_jpeg(workflow, endpoint):
    endpoint.answer(assessment(0.02, 0.98))
    jpeg = image_bytes("JPEG")
    event = {**upload(workflow, "driver.jpg", jpeg), "image_data": "", "inferences": []}

    result = workflow.run(event)

    assert (result.status, result.output["label"]) == ("SUCCEEDED", "motorcycle")
    assert (endpoint.requests[0].body, endpoint.requests[0].content_type) == (jpeg, "image/jpeg")


def test_classify_vehicle_fails_with_the_threshold_error_when_unsure(workflow, endpoint):
    endpoint.answer(assessment(0.62, 0.38))

    result = workflow.run(upload(workflow, "blurry.png", image_bytes("PNG")))

    assert (result.status, result.error) == ("FAILED", "ConfidenceBelowThreshold")
    assert "0.6200" in result.error_message and str(settings.DEFAULT_THRESHOLD) in result.error_message
    assert len(endpoint.requests) == 1


@pytest.mark.parametrize("event, body, error", [
    ({"s3_key": "missing.png"}, None, "ImageNotFound"),
    ({"s3_key": "one-byte.png"}, b"\x89", "NotAnImage"),
    ({"s3_key": "truncated.jpg"}, photos.truncated(photos.phone_jpeg(800, 600)), "NotAnImage"),
    ({"s3_key": "huge.jpg"}, b"\xff\xd8\xff" + bytes(photo.DEFAULT_MAX_BYTES), "ImageTooLarge"),
    ({"s3_key": "bomb.png"}, photos.decompression_bomb_png(), "ImageTooManyPixels"),
    ({"image_data": "", "inferences": []}, None, "InvalidEvent"),
], ids=["missing-key", "one-byte-file", "truncated-jpeg", "over-25-mb", "decompression-bomb", "no-location"])
def test_classify_vehicle_fails_with_a_named_error_on_bad_input(workflow, endpoint, retry_waits, event, body, error):
    if body is not None:
        upload(workflow, event["s3_key"], body)
    if "s3_key" in event:
        event = {**event, "s3_bucket": workflow.images_bucket}

    result = workflow.run(event)

    assert (result.status, result.error) == ("FAILED", error)
    assert endpoint.requests == [] and retry_waits == []


@pytest.mark.parametrize("body, size", [
    (photos.phone_jpeg(), (384, 288)), (photos.phone_jpeg(orientation=6), (288, 384)),
    (photos.encoded(photos.scene(1024, 768), "WEBP"), (384, 288)), (photos.sixteen_bit_png(), (64, 48)),
], ids=["12-megapixel-jpeg", "portrait-rotated-by-exif", "webp", "16-bit-png"])
def test_classify_vehicle_routes_a_phone_photo_normalised_for_the_endpoint(workflow, endpoint, body, size):
    endpoint.answer(assessment(0.99, 0.01))

    result = workflow.run(upload(workflow, "drivers/phone-photo", body))

    assert (result.status, result.output["route"]) == ("SUCCEEDED", "near")
    [request] = endpoint.requests
    with Image.open(io.BytesIO(request.body)) as sent:
        assert sent.size == size and sent.mode == "RGB" and request.content_type == f"image/{sent.format.lower()}"
    assert result.output["original"]["bytes"] == len(body)
    assert result.output["original"]["location"] == f"s3://{workflow.images_bucket}/drivers/phone-photo"


@pytest.mark.parametrize("confidence", [0.999, 0.6], ids=["confident", "unsure"])
def test_classify_vehicle_never_routes_an_unusable_picture(workflow, endpoint, confidence):
    endpoint.answer(assessment(confidence, 1 - confidence, reasons=["nearly uniform: blank (contrast 0.0 < 10)"]))

    result = workflow.run(upload(workflow, "drivers/black.jpg", photos.encoded(photos.uniform_image(), "JPEG")))

    assert (result.status, result.error) == ("FAILED", "UnusableImage")
    assert "nearly uniform" in result.error_message and "a person should check" in result.error_message


def test_classify_vehicle_retries_a_throttled_endpoint_with_backoff_then_succeeds(workflow, endpoint, retry_waits):
    endpoint.fail(THROTTLED, THROTTLED)
    endpoint.answer(assessment(0.97, 0.03))
    rule = retrier("Classify Vehicle", "EndpointUnavailable")

    result = workflow.run(upload(workflow, "driver.png", image_bytes("PNG")))

    assert (result.status, result.output["label"]) == ("SUCCEEDED", "bicycle")
    assert len(endpoint.requests) == 3
    assert retry_waits == [rule["IntervalSeconds"], rule["IntervalSeconds"] * rule["BackoffRate"]]


def test_classify_vehicle_fails_when_the_endpoint_stays_unavailable(workflow, endpoint, retry_waits):
    rule = retrier("Classify Vehicle", "EndpointUnavailable")
    endpoint.fail(*[THROTTLED] * (rule["MaxAttempts"] + 1))

    result = workflow.run(upload(workflow, "driver.png", image_bytes("PNG")))

    assert (result.status, result.error) == ("FAILED", "EndpointUnavailable")
    assert len(endpoint.requests) == rule["MaxAttempts"] + 1
    assert len(retry_waits) == rule["MaxAttempts"]


def test_classify_vehicle_does_not_retry_a_model_error(workflow, endpoint, retry_waits):
    endpoint.fail(SageMakerRuntimeError("ModelError", "Received client error (400) from primary",
                                        OriginalStatusCode=400, OriginalMessage="400: cannot decode the image"))

    result = workflow.run(upload(workflow, "driver.png", image_bytes("PNG")))

    assert (result.status, result.error) == ("FAILED", "ModelError")
    assert "cannot decode the image" in result.error_message
    assert len(endpoint.requests) == 1 and retry_waits == []


def named_errors() -> list[str]:
    return sorted(error.__name__ for error in errors.WorkflowError.__subclasses__())


@pytest.mark.parametrize("error", named_errors(), ids=named_errors())
def test_classify_vehicle_ends_each_named_error_in_its_own_fail_state(error):
    caught_into = {catch["Next"] for state in ASL["States"].values() for catch in state.get("Catch", [])
                   if error in catch["ErrorEquals"]}

    assert len(caught_into) == 1
    [fail_state] = caught_into
    assert ASL["States"][fail_state] | {"Type": "Fail", "Error": error} == ASL["States"][fail_state]


@pytest.mark.parametrize("state", [name for name, state in ASL["States"].items() if state["Type"] == "Task"])
def test_classify_vehicle_task_catches_every_other_error_and_retries_only_transient_ones(state):
    task = ASL["States"][state]
    retried = {error for rule in task["Retry"] for error in rule["ErrorEquals"]}
    transient = {"EndpointUnavailable", "ImageStoreUnavailable"}

    assert task["Catch"][-1]["ErrorEquals"] == ["States.ALL"]
    assert all(error.startswith("Lambda.") or error in transient for error in retried)
    assert all(rule.get("Comment") and rule["BackoffRate"] == 2.0 for rule in task["Retry"])
    assert "TimeoutSeconds" in task
