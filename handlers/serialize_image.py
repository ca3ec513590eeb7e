"""Serialize Image: read a driver's photo from S3 and pass it on normalised, as base64 text.

Whatever the phone sent (JPEG, PNG or WebP, any size, rotated by EXIF, 16-bit), the model and the
state payload get an upright RGB image whose longest side is at most MAX_IMAGE_SIDE pixels, encoded
within 64 KB (imaging/photo.py, the decoder the endpoint uses too). Base64 *text*, because a
Lambda cannot return bytes. What the original was (location, bytes, pixels, orientation) travels
on in `original`, so a reviewer and monitoring can trace the photo.
"""
import base64
import os
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Tracer
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

import settings
from handlers.errors import (ImageAccessDenied, ImageNotFound, ImageStoreUnavailable, ImageTooLarge,
                             ImageTooManyPixels, InvalidEvent, NotAnImage)
from handlers.support import log_decision, required_text, s3_uri, single_attempt_client
from imaging import photo

STEP = "serialize_image"
IMAGES_BUCKET = os.environ.get(settings.ENV_IMAGES_BUCKET, "")
MAX_IMAGE_BYTES = int(os.environ.get(settings.ENV_MAX_IMAGE_BYTES) or photo.DEFAULT_MAX_BYTES)
MAX_IMAGE_MEGAPIXELS = float(os.environ.get(settings.ENV_MAX_IMAGE_MEGAPIXELS) or photo.DEFAULT_MAX_MEGAPIXELS)
MAX_IMAGE_SIDE = int(os.environ.get(settings.ENV_MAX_IMAGE_SIDE) or photo.DEFAULT_MAX_SIDE)
NOT_FOUND_CODES = {"NoSuchKey", "NoSuchBucket", "404"}
ACCESS_DENIED_CODES = {"AccessDenied", "403"}
TRANSIENT_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "500", "503"}
# The shared decoder's refusals, as the workflow's errors of the same names.
REFUSALS = {photo.NotAnImage: NotAnImage, photo.ImageTooLarge: ImageTooLarge,
            photo.ImageTooManyPixels: ImageTooManyPixels}

logger = Logger()
tracer = Tracer()
s3 = single_attempt_client("s3")


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)  # the response holds the photo (X-Ray takes 64 KB)
def handler(event: dict, context) -> dict:
    location = s3_uri(event)
    try:
        event = _with_bucket(event)
        location = s3_uri(event)
        tracer.put_annotation("image", location)  # X-Ray finds the photo's trace by it
        event, image, content_type, original = read_normalized(event)
    except Exception as error:
        log_decision(logger, STEP, type(error).__name__, image=location, reason=str(error))
        raise
    log_decision(logger, STEP, "serialized", image=location, content_type=content_type, image_bytes=len(image),
                 original=original)
    return {**event, "image_data": base64.b64encode(image).decode("ascii"), "content_type": content_type,
            "original": original}


def read_normalized(event: dict) -> tuple[dict, bytes, str, dict]:
    """(the event with the key as found, the normalised image, its content type, what the original
    was) for the photo the event names; the fleet onboarding (handlers/onboard_chunk.py) reads
    photos through it too, so both paths refuse and normalise alike."""
    event = _with_bucket(event)
    location = s3_uri(event)
    event, location, data = _read_image_at_key_as_given_or_decoded(event, location)
    image, content_type, original = _normalized(data, location)
    return event, image, content_type, original


def _with_bucket(event: dict) -> dict:
    """The event with s3_bucket: its own, else the deployment's images bucket."""
    if isinstance(event, dict) and event.get("s3_bucket") is None and IMAGES_BUCKET:
        event = {**event, "s3_bucket": IMAGES_BUCKET}
    required_text(event, "s3_bucket")
    return event


def _read_image_at_key_as_given_or_decoded(event: dict, location: str) -> tuple[dict, str, bytes]:
    """S3's notifications URL-encode object keys ("my photo.jpg" arrives as "my+photo.jpg"); AWS
    does not say whether its EventBridge events do too. So a key that is not there is tried once
    more URL-decoded, and the event goes on with the key that was found."""
    key = required_text(event, "s3_key")
    try:
        return event, location, _read_image(event["s3_bucket"], key, location)
    except ImageNotFound as not_found:
        decoded = unquote_plus(key)
        if decoded == key:
            raise
        decoded_event = {**event, "s3_key": decoded}
        decoded_location = s3_uri(decoded_event)
        try:
            return decoded_event, decoded_location, _read_image(event["s3_bucket"], decoded, decoded_location)
        except ImageNotFound:
            raise not_found from None


def _read_image(bucket: str, key: str, location: str) -> bytes:
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ParamValidationError as error:
        raise InvalidEvent(f"{location} is not a valid S3 location: {error}") from error
    except ClientError as error:
        raise _named_s3_error(error, location) from error
    except BotoCoreError as error:  # connection refused or timed out before S3 answered
        raise ImageStoreUnavailable(f"S3 did not answer for {location}: {error}") from error
    # Read through botocore's StreamingBody (not the raw stream its `with` hands out): it checks the
    # length and turns a broken-off download into a BotoCoreError.
    body = response["Body"]
    try:
        try:  # decided before downloading a huge object
            photo.check_byte_size(response["ContentLength"], MAX_IMAGE_BYTES)
        except photo.ImageTooLarge as error:
            raise ImageTooLarge(f"{location}: {error} ({settings.ENV_MAX_IMAGE_BYTES})") from error
        try:
            return body.read()
        except BotoCoreError as error:  # the download broke off or stalled: S3 may serve it on a retry
            raise ImageStoreUnavailable(f"S3 stopped sending {location}: {error}") from error
    finally:
        body.close()


@tracer.capture_method(capture_response=False)  # the decode's time, not its bytes
def _normalized(data: bytes, location: str) -> tuple[bytes, str, dict]:
    try:
        image, content_type, original = photo.normalize(data, MAX_IMAGE_SIDE, MAX_IMAGE_MEGAPIXELS)
    except photo.PhotoRejected as error:
        raise REFUSALS[type(error)](f"{location}: {error}") from error
    return image, content_type, {"location": location, **original.as_dict()}


def _named_s3_error(error: ClientError, location: str) -> Exception:
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    if code in NOT_FOUND_CODES:
        return ImageNotFound(f"no image at {location} ({code}: {message})")
    if code in ACCESS_DENIED_CODES:
        return ImageAccessDenied(f"this function may not read {location} ({code}: {message})")
    if code in TRANSIENT_CODES:
        return ImageStoreUnavailable(f"S3 could not serve {location} right now ({code}: {message})")
    return error
