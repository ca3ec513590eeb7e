"""The real ASL file, executed by moto's Step Functions interpreter, with the real handlers."""
import io
import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from PIL import Image

import settings
from handlers import errors
from imaging import photo
from tests.handlers.doubles import SageMakerRuntimeError, assessment, image_bytes
from imaging import samples

ASL = json.loads(settings.STATE_MACHINE_FILE.read_text())
THROTTLED = SageMakerRuntimeError("ThrottlingException", "Rate exceeded")
# The endpoint's sentence for a photo its ImageNet head does not see a two-wheeler in (training/usability.py).
NOT_A_TWO_WHEELER = "not a bicycle or motorcycle to the backbone's ImageNet head (two-wheeler probability 0.10 < 0.50)"


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
    ({"s3_key": "truncated.jpg"}, samples.truncated(samples.phone_jpeg(800, 600)), "NotAnImage"),
    ({"s3_key": "huge.jpg"}, b"\xff\xd8\xff" + bytes(photo.DEFAULT_MAX_BYTES), "ImageTooLarge"),
    ({"s3_key": "bomb.png"}, samples.decompression_bomb_png(), "ImageTooManyPixels"),
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
    (samples.phone_jpeg(), (384, 288)), (samples.phone_jpeg(orientation=6), (288, 384)),
    (samples.encoded(samples.scene(1024, 768), "WEBP"), (384, 288)), (samples.sixteen_bit_png(), (64, 48)),
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


@pytest.mark.parametrize("reason, code", [
    ("nearly uniform: blank (contrast 0.0 < 10)", "nearly_uniform"), (NOT_A_TWO_WHEELER, "not_two_wheeler"),
], ids=["nearly-uniform", "not-a-two-wheeler"])
@pytest.mark.parametrize("confidence", [0.999, 0.6], ids=["confident", "unsure"])
def test_classify_vehicle_never_routes_an_unusable_picture(workflow, endpoint, confidence, reason, code):
    endpoint.answer(assessment(confidence, 1 - confidence, reasons=[reason], codes=[code]))

    result = workflow.run(upload(workflow, "drivers/black.jpg", samples.encoded(samples.uniform_image(), "JPEG")))

    assert (result.status, result.error) == ("FAILED", "UnusableImage")
    assert reason.split(":")[0].split(" (")[0] in result.error_message
    assert "a person should check" in result.error_message


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


# A person is asked before the execution ends under these names: the model's doubts ...
REVIEWED = ("ConfidenceBelowThreshold", "UnusableImage")
# ... and, for an upload, whatever else stops the workflow from deciding: the photo itself ...
PHOTO_REFUSALS = ("ImageNotFound", "ImageAccessDenied", "NotAnImage", "ImageTooLarge", "ImageTooManyPixels")
# ... or the services it needs.
OPERATIONAL = PHOTO_REFUSALS + ("ImageStoreUnavailable", "ModelError", "UnexpectedModelOutput", "EndpointRejected",
                                "EndpointUnavailable")


@pytest.mark.parametrize("error", named_errors(), ids=named_errors())
def test_classify_vehicle_ends_each_named_error_in_its_own_fail_state(error):
    caught_into = {catch["Next"] for state in ASL["States"].values() for catch in state.get("Catch", [])
                   if error in catch["ErrorEquals"]}
    fail_states = [name for name, state in ASL["States"].items() if state.get("Error") == error]

    assert len(caught_into) == 1 and len(fail_states) == 1
    [target] = caught_into
    if error in REVIEWED or error in OPERATIONAL:
        assert target == ("Request Review" if error in REVIEWED else "Can A Person Take It?")
        choices = ASL["States"]["Which Rejection?" if error in REVIEWED else "Which Failure?"]
        assert fail_states[0] in {choice["Next"] for choice in choices["Choices"]} | {choices["Default"]}
    else:
        assert target == fail_states[0]
    assert ASL["States"][fail_states[0]]["Type"] == "Fail"


@pytest.mark.parametrize("state", [name for name, state in ASL["States"].items() if state["Type"] == "Task"])
def test_classify_vehicle_task_catches_every_other_error_and_retries_only_transient_ones(state):
    task = ASL["States"][state]
    retried = {error for rule in task["Retry"] for error in rule["ErrorEquals"]}
    transient = {"EndpointUnavailable", "ImageStoreUnavailable", "DynamoDB.ProvisionedThroughputExceededException",
                 "DynamoDB.RequestLimitExceeded", "DynamoDB.ThrottlingException",
                 "DynamoDB.InternalServerErrorException"}
    if not task["Resource"].endswith(":lambda:invoke") and "dynamodb" not in task["Resource"]:
        transient.add("States.TaskFailed")  # SQS and EventBridge fail only when throttled or down

    assert task["Catch"][-1]["ErrorEquals"] == ["States.ALL"]
    assert all(error.startswith("Lambda.") or error in transient for error in retried)
    assert all(rule.get("Comment") and rule["BackoffRate"] == 2.0 for rule in task["Retry"])
    assert "TimeoutSeconds" in task


# --- the loop around the workflow: decisions published, people asked, uploads claimed once ------

def audit_rate(rate: str) -> None:
    """The deployed Check Confidence's audit rate (the rest of its environment as deployed)."""
    client, name = boto3.client("lambda"), "vehicle-routing-test-filterConfidence"
    variables = client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    client.update_function_configuration(FunctionName=name, Environment={"Variables": {
        **variables, settings.ENV_THRESHOLD: "0.95", settings.ENV_AUDIT_RATE: rate}})


def test_classify_vehicle_publishes_the_routing_decision_for_dispatch(workflow, endpoint, dispatch, review_requests):
    audit_rate("0")  # else 1 run in 20 audits this driver (a random inference id) and queues an audit
    endpoint.answer(assessment(0.99, 0.01))

    result = workflow.run(upload(workflow, "drivers/bike.png", image_bytes("PNG")))

    [event] = dispatch.events()
    assert result.status == "SUCCEEDED" and result.output["audit"] is False
    assert (event["source"], event["detail-type"]) == (settings.DECISION_EVENT_SOURCE, settings.DRIVER_ROUTED)
    assert event["detail"] == {
        "image": f"s3://{workflow.images_bucket}/drivers/bike.png", "s3_bucket": workflow.images_bucket,
        "s3_key": "drivers/bike.png", "label": "bicycle", "confidence": 0.99, "route": "near",
        "threshold": settings.DEFAULT_THRESHOLD, "inference_id": result.output["inference_id"],
        "endpoint_name": settings.DEFAULT_ENDPOINT_NAME, "execution": result.arn}
    assert review_requests() == []


@pytest.mark.parametrize("answer, error, said", [
    (assessment(0.6, 0.4), "ConfidenceBelowThreshold", "0.6000"),
    (assessment(0.99, 0.01, reasons=["nearly uniform: blank (contrast 0.0 < 10)"], codes=["nearly_uniform"]),
     "UnusableImage", "nearly uniform"),
    (assessment(0.99, 0.01, reasons=[NOT_A_TWO_WHEELER], codes=["not_two_wheeler"]), "UnusableImage",
     "not a bicycle or motorcycle"),
], ids=["low-confidence", "unusable-photo", "not-a-two-wheeler"])
def test_classify_vehicle_asks_a_person_and_still_fails_under_the_error(workflow, endpoint, dispatch, review_requests,
                                                                      answer, error, said):
    endpoint.answer(answer)

    result = workflow.run(upload(workflow, "drivers/unsure.png", image_bytes("PNG")))

    [request] = review_requests()
    [event] = dispatch.events()
    assert (result.status, result.error) == ("FAILED", error)
    assert json.loads(result.cause)["errorType"] == error
    assert {key: request[key] for key in ("kind", "reason", "s3_key", "label", "inference_id", "execution")} == {
        "kind": settings.REVIEW_REQUEST, "reason": error, "s3_key": "drivers/unsure.png", "label": "bicycle",
        "inference_id": endpoint.requests[0].inference_id, "execution": result.arn}
    assert request["image"] == f"s3://{workflow.images_bucket}/drivers/unsure.png"
    assert json.loads(request["cause"])["errorType"] == error and said in json.loads(request["cause"])["errorMessage"]
    assert said in result.error_message
    assert (event["detail-type"], event["detail"]["reason"]) == (settings.DRIVER_NEEDS_REVIEW, error)


def test_classify_vehicle_puts_an_upload_the_endpoint_could_not_classify_in_front_of_a_person(
        workflow, endpoint, dispatch, review_requests, retry_waits):
    rule = retrier("Classify Vehicle", "EndpointUnavailable")
    endpoint.fail(*[THROTTLED] * (rule["MaxAttempts"] + 1))
    event = {**upload(workflow, "drivers/waiting.png", image_bytes("PNG")), "inference_id": "0064D3A-5bf981f9"}

    result = workflow.run(event)

    [request] = review_requests()
    [announced] = dispatch.events()
    assert (result.status, result.error) == ("FAILED", "EndpointUnavailable")
    assert {key: request[key] for key in ("kind", "reason", "s3_key", "inference_id", "execution")} == {
        "kind": settings.REVIEW_REQUEST, "reason": "EndpointUnavailable", "s3_key": "drivers/waiting.png",
        "inference_id": "0064D3A-5bf981f9", "execution": result.arn}
    assert "label" not in request and json.loads(request["cause"])["errorType"] == "EndpointUnavailable"
    assert (announced["detail-type"], announced["detail"]["reason"]) == (settings.DRIVER_NEEDS_REVIEW,
                                                                          "EndpointUnavailable")


def test_classify_vehicle_puts_an_upload_it_cannot_read_in_front_of_a_person(workflow, endpoint, dispatch,
                                                                            review_requests):
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(100)
    event = {**upload(workflow, "drivers/iphone.heic", heic), "inference_id": "0064D3B-6cf981f9"}

    result = workflow.run(event)

    [request] = review_requests()
    [announced] = dispatch.events()
    assert (result.status, result.error) == ("FAILED", "NotAnImage")
    assert (request["reason"], request["s3_key"]) == ("NotAnImage", "drivers/iphone.heic")
    assert "HEIC" in json.loads(request["cause"])["errorMessage"]
    assert announced["detail"]["reason"] == "NotAnImage" and endpoint.requests == []


def test_classify_vehicle_started_by_hand_without_an_id_just_fails_when_the_endpoint_is_down(
        workflow, endpoint, dispatch, review_requests, retry_waits):
    endpoint.fail(*[THROTTLED] * (retrier("Classify Vehicle", "EndpointUnavailable")["MaxAttempts"] + 1))

    result = workflow.run(upload(workflow, "drivers/by-hand.png", image_bytes("PNG")))

    assert (result.status, result.error) == ("FAILED", "EndpointUnavailable")
    assert "did not answer" in result.error_message or "unavailable" in result.error_message
    assert review_requests() == [] and dispatch.events() == []


def test_classify_vehicle_puts_an_audit_on_the_queue_for_an_audited_driver(workflow, endpoint, dispatch,
                                                                          review_requests):
    audit_rate("1")
    endpoint.answer(assessment(0.02, 0.98))

    result = workflow.run(upload(workflow, "drivers/moto.png", image_bytes("PNG")))

    [audit] = review_requests()
    assert (result.status, result.output["audit"]) == ("SUCCEEDED", True)
    assert {key: audit[key] for key in ("kind", "reason", "label", "route", "inference_id")} == {
        "kind": settings.AUDIT_REQUEST, "reason": "Audit", "label": "motorcycle", "route": "far",
        "inference_id": result.output["inference_id"]}
    assert [event["detail-type"] for event in dispatch.events()] == ["DriverRouted"]


def test_classify_vehicle_routes_an_upload_delivered_twice_once(workflow, endpoint, dispatch):
    endpoint.answer(assessment(0.99, 0.01), assessment(0.99, 0.01))
    event = {**upload(workflow, "drivers/twice.png", image_bytes("PNG")), "inference_id": "0064D39-4af981f9"}

    first, second = workflow.run(event), workflow.run(event)

    assert (first.status, second.status) == ("SUCCEEDED", "SUCCEEDED")
    assert second.output == {**event, "duplicate": True}
    assert len(endpoint.requests) == 1 and len(dispatch.events()) == 1


def executions(workflow) -> list:
    return workflow.client.list_executions(stateMachineArn=workflow.state_machine_arn)["executions"]


@pytest.fixture
def notifying_bucket(workflow):
    """The images bucket with EventBridge notifications on (the stack does so when it creates it)."""
    boto3.client("s3").put_bucket_notification_configuration(
        Bucket=workflow.images_bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})
    return workflow.images_bucket


def test_an_upload_under_drivers_starts_one_execution_with_the_photo_and_an_inference_id(
        workflow, endpoint, dispatch, notifying_bucket):
    endpoint.answer(assessment(0.99, 0.01))
    body = image_bytes("PNG")

    boto3.client("s3").put_object(Bucket=notifying_bucket, Key="drivers/2026-11-26/driver-7.png", Body=body)

    [started] = executions(workflow)
    result = workflow.wait(started["executionArn"])
    etag = boto3.client("s3").head_object(Bucket=notifying_bucket, Key="drivers/2026-11-26/driver-7.png")["ETag"].strip('"')
    execution_input = json.loads(workflow.client.describe_execution(executionArn=result.arn)["input"])
    assert execution_input["s3_bucket"] == notifying_bucket and execution_input["s3_key"] == "drivers/2026-11-26/driver-7.png"
    assert execution_input["inference_id"].endswith(f"-{etag}") and len(execution_input["inference_id"]) <= 64
    assert (result.status, result.output["route"]) == ("SUCCEEDED", "near")
    assert [event["detail"]["inference_id"] for event in dispatch.events()] == [execution_input["inference_id"]]


@pytest.mark.parametrize("key", ["profile/driver-7.png", "driversX/driver-7.png", "archive/drivers/driver-7.png"],
                         ids=["other-prefix", "similar-prefix", "nested-prefix"])
def test_an_upload_outside_drivers_starts_nothing(workflow, endpoint, notifying_bucket, key):
    boto3.client("s3").put_object(Bucket=notifying_bucket, Key=key, Body=image_bytes("PNG"))

    assert executions(workflow) == [] and endpoint.requests == []


def test_two_uploads_of_the_same_bytes_are_two_drivers(workflow, endpoint, notifying_bucket):
    endpoint.answer(assessment(0.99, 0.01), assessment(0.99, 0.01))
    body = image_bytes("PNG")

    for key in ("drivers/first.png", "drivers/second.png"):
        boto3.client("s3").put_object(Bucket=notifying_bucket, Key=key, Body=body)

    results = [workflow.wait(execution["executionArn"]) for execution in executions(workflow)]
    assert sorted(result.output.get("duplicate", False) for result in results) == [False, False]
    assert len(endpoint.requests) == 2


# --- what operators watch ---------------------------------------------------------------------

def test_every_alarm_on_the_workflows_own_metrics_reads_a_metric_its_handlers_publish(workflow, endpoint,
                                                                                     packaged_service):
    """The deployed alarms on the namespace the handlers publish in (Powertools Metrics' EMF lines, which
    CloudWatch Logs turn into values; the stand-in puts them in moto's CloudWatch), but those a metric
    filter counts from the state machine's log: each names a metric the handlers publish, under exactly
    its dimensions. An alarm on a metric nobody publishes never fires."""
    audit_rate("0")
    endpoint.answer(assessment(0.97, 0.03), assessment(0.6, 0.4))
    workflow.run(upload(workflow, "drivers/sure.png", image_bytes("PNG")))
    workflow.run(upload(workflow, "drivers/unsure.png", image_bytes("PNG")))
    template = json.loads((packaged_service / "cloudformation-template-update-stack.json").read_text())
    counted_from_logs = {transformation["MetricName"] for resource in template["Resources"].values()
                         if resource["Type"] == "AWS::Logs::MetricFilter"
                         for transformation in resource["Properties"]["MetricTransformations"]}
    check = boto3.client("lambda").get_function_configuration(FunctionName="vehicle-routing-test-filterConfidence")
    cloudwatch = boto3.client("cloudwatch")

    alarms = [alarm for alarm in cloudwatch.describe_alarms()["MetricAlarms"]
              if alarm["Namespace"] == check["Environment"]["Variables"][settings.ENV_POWERTOOLS_METRICS_NAMESPACE]
              and alarm["MetricName"] not in counted_from_logs]

    assert [alarm["MetricName"] for alarm in alarms] == [settings.SENT_TO_PERSON_METRIC]
    for alarm in alarms:
        published = cloudwatch.list_metrics(Namespace=alarm["Namespace"], MetricName=alarm["MetricName"])["Metrics"]
        assert [sorted(map(str, metric["Dimensions"])) for metric in published] == [sorted(map(str, alarm["Dimensions"]))]
        seen = cloudwatch.get_metric_statistics(
            Namespace=alarm["Namespace"], MetricName=alarm["MetricName"], Dimensions=alarm["Dimensions"],
            StartTime=datetime.now(timezone.utc) - timedelta(minutes=10),
            EndTime=datetime.now(timezone.utc) + timedelta(minutes=1), Period=60,
            Statistics=["SampleCount", "Sum"])["Datapoints"]
        # One driver routed (0), one sent to a person (1): the share-to-people alarm's Average is 0.5.
        assert (sum(point["SampleCount"] for point in seen), sum(point["Sum"] for point in seen)) == (2, 1)
