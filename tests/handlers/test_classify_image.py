import json

import pytest

import settings
from handlers.errors import (EndpointRejected, EndpointUnavailable, InvalidEvent, ModelError,
                             UnexpectedModelOutput)
from tests.handlers.doubles import (TRACE_ID, SageMakerRuntimeError, assessment, b64, invoke_traced, printed,
                                   subsegments)


@pytest.fixture
def classify_image(load_handler, endpoint):
    return load_handler("classify_image", **{settings.ENV_ENDPOINT_NAME: "vehicle-classifier-test"})


def serialized(image: bytes, content_type: str = "image/png", **extra) -> dict:
    return {"s3_bucket": "driver-photos", "s3_key": "a.png", "image_data": b64(image),
            "content_type": content_type, **extra}


@pytest.mark.parametrize("probabilities, label, confidence", [
    ((0.97, 0.03), "bicycle", 0.97),
    ((0.1, 0.9), "motorcycle", 0.9),
    ((1, 0), "bicycle", 1.0),
], ids=["bicycle", "motorcycle", "integer-probabilities"])
def test_classify_image_names_the_most_likely_class(classify_image, endpoint, png, probabilities, label, confidence,
                                                    lambda_context):
    endpoint.answer(assessment(*probabilities))

    result = classify_image.handler(serialized(png), lambda_context)

    assert (result["label"], result["confidence"]) == (label, confidence)
    assert result["inferences"] == list(probabilities)
    assert all(isinstance(value, float) for value in result["inferences"])
    assert (result["usable"], result["unusable_reasons"]) == (True, [])


def test_classify_image_asks_for_the_assessment_and_passes_on_why_a_picture_is_unusable(classify_image, endpoint, png,
                                                                                        lambda_context):
    endpoint.answer(assessment(0.99, 0.01, reasons=["nearly uniform: blank (contrast 0.0 < 10)"]))

    result = classify_image.handler(serialized(png), lambda_context)

    assert (result["label"], result["usable"]) == ("bicycle", False)
    assert result["unusable_reasons"] == ["nearly uniform: blank (contrast 0.0 < 10)"]
    assert endpoint.requests[0].accept == settings.ASSESSMENT_CONTENT_TYPE


def test_classify_image_sends_the_decoded_image_with_its_content_type_and_an_inference_id(
        classify_image, endpoint, jpeg, lambda_context):
    endpoint.answer(assessment(0.2, 0.8))

    result = classify_image.handler(serialized(jpeg, "image/jpeg"), lambda_context)

    [request] = endpoint.requests
    assert request.body == jpeg
    assert request.content_type == "image/jpeg"
    assert request.endpoint_name == "vehicle-classifier-test"
    assert request.inference_id == result["inference_id"]


def test_classify_image_keeps_the_callers_inference_id(classify_image, endpoint, png, lambda_context):
    endpoint.answer(assessment(0.2, 0.8))

    result = classify_image.handler(serialized(png, inference_id="driver-42-2026-11-25"), lambda_context)

    assert result["inference_id"] == endpoint.requests[0].inference_id == "driver-42-2026-11-25"


def test_classify_image_drops_the_image_data_and_keeps_the_rest(classify_image, endpoint, png, lambda_context):
    endpoint.answer(assessment(0.97, 0.03))

    result = classify_image.handler(serialized(png, inferences=[]), lambda_context)

    assert "image_data" not in result
    assert (result["s3_bucket"], result["s3_key"], result["content_type"]) == ("driver-photos", "a.png", "image/png")


def test_classify_image_uses_the_default_endpoint_name_without_configuration(load_handler, endpoint, png,
                                                                             lambda_context):
    classify_image = load_handler("classify_image")
    endpoint.answer(assessment(0.97, 0.03))

    classify_image.handler(serialized(png), lambda_context)

    assert endpoint.requests[0].endpoint_name == settings.DEFAULT_ENDPOINT_NAME


def test_classify_image_reads_class_names_from_configuration(load_handler, endpoint, png, lambda_context):
    classify_image = load_handler("classify_image", **{settings.ENV_CLASS_NAMES: "motorcycle, bicycle"})
    endpoint.answer(assessment(0.97, 0.03))

    assert classify_image.handler(serialized(png), lambda_context)["label"] == "motorcycle"


@pytest.mark.parametrize("event", [
    {"content_type": "image/png"},
    {"image_data": "", "content_type": "image/png"},
    {"image_data": "not base64 at all!", "content_type": "image/png"},
    {"image_data": "iVBORw0KGgo=", "content_type": "image/gif"},
    {"image_data": "iVBORw0KGgo="},
    {"image_data": "iVBORw0KGgo=", "content_type": "image/png", "inference_id": "x" * 65},
    "iVBORw0KGgo=",
], ids=["no-image-data", "empty-image-data", "not-base64", "unsupported-content-type", "no-content-type",
        "inference-id-too-long", "not-an-object"])
def test_classify_image_rejects_a_malformed_event_without_calling_the_endpoint(classify_image, endpoint, event,
                                                                               lambda_context):
    with pytest.raises(InvalidEvent):
        classify_image.handler(event, lambda_context)

    assert endpoint.requests == []


@pytest.mark.parametrize("answer", [
    assessment(0.5), assessment(0.2, 0.3, 0.5), '{"bicycle": 0.9}', assessment(True, False), assessment(1.5, -0.5),
    json.dumps({"probabilities": [0.9, 0.1]}), json.dumps({"probabilities": [0.9, 0.1], "usable": "yes"}),
    json.dumps({"probabilities": [0.9, 0.1], "usable": False, "unusable_reasons": []}),
], ids=["too-few", "too-many", "no-probabilities", "booleans", "outside-0-1", "no-usable", "usable-not-boolean",
        "unusable-without-reason"])
def test_classify_image_rejects_an_assessment_it_cannot_read(classify_image, endpoint, png, answer, lambda_context):
    endpoint.answer(answer)

    with pytest.raises(UnexpectedModelOutput, match="one probability per class"):
        classify_image.handler(serialized(png), lambda_context)


@pytest.mark.parametrize("answer", ["[0.9, 0.1]", "not json", '"0.9, 0.1"'], ids=["bare-list", "not-json", "string"])
def test_classify_image_rejects_an_answer_that_is_not_an_assessment(classify_image, endpoint, png, answer,
                                                                    lambda_context):
    endpoint.answer(answer, content_type="application/json")

    with pytest.raises(UnexpectedModelOutput, match="should answer its assessment"):
        classify_image.handler(serialized(png), lambda_context)


@pytest.mark.parametrize("error, expected, message", [
    (SageMakerRuntimeError("ThrottlingException", "Rate exceeded"), EndpointUnavailable, "ThrottlingException"),
    (SageMakerRuntimeError("ServiceUnavailable", "Service unavailable", status=503), EndpointUnavailable,
     "ServiceUnavailable"),
    (SageMakerRuntimeError("InternalFailure", "Internal failure", status=500), EndpointUnavailable,
     "InternalFailure"),
    (SageMakerRuntimeError("ModelNotReadyException", "Model not ready", status=429), EndpointUnavailable,
     "ModelNotReadyException"),
    (SageMakerRuntimeError("ModelError", "Received client error (400) from primary",
                           OriginalStatusCode=400, OriginalMessage="400: the image could not be decoded"),
     ModelError, "status 400.*could not be decoded"),
    (SageMakerRuntimeError("ValidationError", "Endpoint vehicle-classifier-test of account 123 not found."),
     EndpointRejected, "not found.*ENDPOINT_NAME"),
], ids=["throttled", "service-unavailable", "internal-failure", "model-not-ready", "model-error",
        "endpoint-not-found"])
def test_classify_image_names_endpoint_errors(classify_image, endpoint, png, error, expected, message, lambda_context):
    endpoint.fail(error)

    with pytest.raises(expected, match=message):
        classify_image.handler(serialized(png), lambda_context)


def test_classify_image_reports_the_model_containers_own_message(classify_image, endpoint, png, lambda_context):
    endpoint.fail(SageMakerRuntimeError("ModelError", "Received client error (415) from primary",
                                        OriginalStatusCode=415, OriginalMessage="415: unsupported content type"))

    with pytest.raises(ModelError, match="status 415.*unsupported content type"):
        classify_image.handler(serialized(png), lambda_context)


def test_classify_image_makes_a_single_attempt_when_throttled(classify_image, endpoint, png, lambda_context):
    endpoint.fail(SageMakerRuntimeError("ThrottlingException", "Rate exceeded"))
    endpoint.answer(assessment(0.97, 0.03))

    with pytest.raises(EndpointUnavailable):
        classify_image.handler(serialized(png), lambda_context)

    assert len(endpoint.requests) == 1


def test_classify_image_names_an_unreachable_endpoint_unavailable(load_handler, png, lambda_context):
    classify_image = load_handler("classify_image", **{settings.ENV_SAGEMAKER_RUNTIME_URL: "http://127.0.0.1:9"})

    with pytest.raises(EndpointUnavailable, match="did not answer"):
        classify_image.handler(serialized(png), lambda_context)


def test_classify_image_names_an_answer_that_breaks_off_unavailable(load_handler, breaking_off_server, png,
                                                                    lambda_context):
    classify_image = load_handler("classify_image", **{settings.ENV_SAGEMAKER_RUNTIME_URL: breaking_off_server})

    with pytest.raises(EndpointUnavailable, match="did not answer"):
        classify_image.handler(serialized(png), lambda_context)


def test_classify_image_logs_label_confidence_and_inference_id(classify_image, endpoint, png, capsys, lambda_context):
    endpoint.answer(assessment(0.1, 0.9))

    result = classify_image.handler(serialized(png), lambda_context)

    [line], documents = printed(capsys)
    decision = {"step": "classify_image", "outcome": "classified", "image": "s3://driver-photos/a.png",
                "endpoint": "vehicle-classifier-test", "label": "motorcycle", "confidence": 0.9,
                "inference_id": result["inference_id"], "usable": True, "unusable_reasons": []}
    assert {key: line.get(key) for key in decision} == decision  # top-level fields, as Logs Insights reads them
    assert (line["message"], line["service"]) == ("classified", settings.SERVICE_NAME) and documents == []
    assert result["endpoint_name"] == "vehicle-classifier-test"


def test_classify_image_traces_its_endpoint_call_in_the_trace_of_the_state_machine(answering_server, xray_daemon, png):
    answering_server.update(body=assessment(0.1, 0.9).encode(), content_type=settings.ASSESSMENT_CONTENT_TYPE)

    outcome = invoke_traced("classify_image", serialized(png, inference_id="upload-7"), xray_daemon,
                            AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=answering_server["url"])

    documents = xray_daemon.documents()
    traced = subsegments(documents)
    assert outcome["result"]["label"] == "motorcycle"
    assert {document["trace_id"] for document in documents} == {TRACE_ID}
    assert traced["## handler"]["annotations"] == {"inference_id": "upload-7", "ColdStart": True,
                                                   "Service": settings.SERVICE_NAME}
    [call] = [document for document in traced.values() if document.get("namespace") == "aws"]
    assert call["aws"]["operation"] == "InvokeEndpoint"
    assert call["parent_id"] == traced["## handlers.classify_image._invoke_endpoint"]["id"]
