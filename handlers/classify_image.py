"""Classify Vehicle: send the image to the SageMaker endpoint and name the most likely class.

The endpoint is asked for its assessment (settings.ASSESSMENT_CONTENT_TYPE): the probabilities in
class order, and whether the picture is a usable photo of a vehicle at all, with the reasons when
it is not; Check Confidence decides on both. The image data is dropped from the output to keep the
state payload small; the InferenceId lets captured endpoint records be joined with ground truth.
"""
import base64
import binascii
import json
import os
import uuid

from aws_lambda_powertools import Logger, Tracer
from botocore.exceptions import BotoCoreError, ClientError

import settings
from handlers.errors import (EndpointRejected, EndpointUnavailable, InvalidEvent, ModelError,
                             UnexpectedModelOutput)
from handlers.support import log_decision, required_text, s3_uri, single_attempt_client

STEP = "classify_image"
ENDPOINT_NAME = os.environ.get(settings.ENV_ENDPOINT_NAME) or settings.DEFAULT_ENDPOINT_NAME
CLASS_NAMES = tuple(name.strip() for name in os.environ[settings.ENV_CLASS_NAMES].split(",")) \
    if os.environ.get(settings.ENV_CLASS_NAMES) else settings.CLASS_NAMES
CONTENT_TYPES = ("image/png", "image/jpeg", "image/webp")
MAX_INFERENCE_ID_LENGTH = 64  # SageMaker's limit
# SageMaker error codes that mean "try again shortly" rather than "this request is wrong".
TRANSIENT_CODES = {"ThrottlingException", "ServiceUnavailable", "InternalFailure",
                   "InternalDependencyException", "ModelNotReadyException"}

logger = Logger()
tracer = Tracer()
sagemaker_runtime = single_attempt_client("sagemaker-runtime")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    try:
        image, content_type = _image(event)
        inference_id = _inference_id(event)
        tracer.put_annotation("inference_id", inference_id)  # X-Ray finds the photo's trace by it
        probabilities, unusable_reasons = _invoke_endpoint(image, content_type, inference_id)
    except Exception as error:
        log_decision(logger, STEP, type(error).__name__, image=s3_uri(event), endpoint=ENDPOINT_NAME,
                     reason=str(error))
        raise
    label, confidence = top_class(probabilities)
    result = {key: value for key, value in event.items() if key != "image_data"}
    result.update(inferences=probabilities, label=label, confidence=confidence,
                  inference_id=inference_id, usable=not unusable_reasons, unusable_reasons=unusable_reasons,
                  endpoint_name=ENDPOINT_NAME)
    log_decision(logger, STEP, "classified", image=s3_uri(event), endpoint=ENDPOINT_NAME, label=result["label"],
                 confidence=result["confidence"], inference_id=inference_id, usable=result["usable"],
                 unusable_reasons=unusable_reasons)
    return result


def top_class(probabilities: list[float]) -> tuple[str, float]:
    """The most likely class and its probability."""
    best = max(range(len(CLASS_NAMES)), key=probabilities.__getitem__)
    return CLASS_NAMES[best], probabilities[best]


def _image(event: dict) -> tuple[bytes, str]:
    content_type = required_text(event, "content_type")
    if content_type not in CONTENT_TYPES:
        raise InvalidEvent(f"content_type must be one of {CONTENT_TYPES}, got {content_type!r}")
    try:
        image = base64.b64decode(required_text(event, "image_data"), validate=True)
    except binascii.Error as error:
        raise InvalidEvent(f"image_data is not base64 text: {error}") from error
    return image, content_type


def _inference_id(event: dict) -> str:
    """The caller's id when it brings one (to join with its own ground truth), else a new one."""
    given = event.get("inference_id")
    if given is None:
        return uuid.uuid4().hex
    if not isinstance(given, str) or not given.strip() or len(given) > MAX_INFERENCE_ID_LENGTH:
        raise InvalidEvent(f"inference_id must be text of 1 to {MAX_INFERENCE_ID_LENGTH} characters, "
                           f"got {given!r}"[:300])
    return given


@tracer.capture_method
def _invoke_endpoint(image: bytes, content_type: str, inference_id: str) -> tuple[list[float], list[str]]:
    """(probabilities in class order, reasons the picture is unusable): the serving contract, which
    the fleet onboarding (handlers/onboard_chunk.py) calls too."""
    try:
        response = sagemaker_runtime.invoke_endpoint(
            EndpointName=ENDPOINT_NAME, ContentType=content_type, Accept=settings.ASSESSMENT_CONTENT_TYPE,
            Body=image, InferenceId=inference_id)
        answer = response["Body"].read()
    except ClientError as error:
        raise _named_endpoint_error(error) from error
    except BotoCoreError as error:  # connection refused, read timeout: the endpoint may recover
        raise EndpointUnavailable(f"endpoint {ENDPOINT_NAME!r} did not answer: {error}") from error
    return _assessment(answer)


# The serving contract under a public name: the fleet onboarding (handlers/onboard_chunk.py) calls it too.
assess = _invoke_endpoint


def _named_endpoint_error(error: ClientError) -> Exception:
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    if code in TRANSIENT_CODES:
        return EndpointUnavailable(f"endpoint {ENDPOINT_NAME!r} is unavailable right now ({code}: {message})")
    if code == "ModelError":
        status = error.response.get("OriginalStatusCode", "?")
        detail = error.response.get("OriginalMessage") or message
        return ModelError(f"the model behind {ENDPOINT_NAME!r} refused the image "
                          f"(status {status}): {detail}")
    if code == "ValidationError":
        return EndpointRejected(f"SageMaker refused the request to {ENDPOINT_NAME!r}: {message} "
                                f"(is {settings.ENV_ENDPOINT_NAME} the name of an InService endpoint?)")
    return error


def _assessment(body: bytes) -> tuple[list[float], list[str]]:
    """(probabilities in class order, reasons the picture is unusable) from the endpoint's answer."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise UnexpectedModelOutput(
            f"endpoint {ENDPOINT_NAME!r} should answer its assessment (a JSON object with probabilities and "
            f"usable), got {body[:200]!r}; is it serving a model trained by this version of training/?")
    values, usable, reasons = answer.get("probabilities"), answer.get("usable"), answer.get("unusable_reasons", [])
    valid = (isinstance(values, list) and len(values) == len(CLASS_NAMES)
             and all(isinstance(value, (int, float)) and not isinstance(value, bool)
                     and 0.0 <= value <= 1.0 for value in values)
             and isinstance(usable, bool) and isinstance(reasons, list) and all(isinstance(r, str) for r in reasons)
             and usable == (not reasons))
    if not valid:
        raise UnexpectedModelOutput(
            f"endpoint {ENDPOINT_NAME!r} should answer one probability per class of {CLASS_NAMES}, whether the "
            f"picture is usable and, if not, why; got {body[:300]!r}")
    return [float(value) for value in values], reasons
