"""Serialize Image: read the image the event names from S3 and pass it on base64-encoded.

Base64 *text*, because a Lambda cannot return bytes; a size limit, because the encoded image
travels in the Step Functions state payload (256 KB at most).
"""
import base64
import os

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

import settings
from handlers.errors import (ImageAccessDenied, ImageNotFound, ImageStoreUnavailable, ImageTooLarge,
                             InvalidEvent, NotAnImage)
from handlers.support import log_decision, required_text, s3_uri, single_attempt_client

STEP = "serialize_image"
MAX_IMAGE_BYTES = int(os.environ.get(settings.ENV_MAX_IMAGE_BYTES, settings.DEFAULT_MAX_IMAGE_BYTES))
# The formats the model's endpoint accepts, recognised by their first bytes, never by file name.
SIGNATURES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
NOT_FOUND_CODES = {"NoSuchKey", "NoSuchBucket", "404"}
ACCESS_DENIED_CODES = {"AccessDenied", "403"}
TRANSIENT_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "500", "503"}

s3 = single_attempt_client("s3")


def handler(event: dict, context) -> dict:
    try:
        bucket = required_text(event, "s3_bucket")
        key = required_text(event, "s3_key")
        image = _read_image(bucket, key, s3_uri(event))
        content_type = _content_type(image, s3_uri(event))
    except Exception as error:
        log_decision(STEP, type(error).__name__, image=s3_uri(event), reason=str(error))
        raise
    log_decision(STEP, "serialized", image=s3_uri(event), content_type=content_type,
                 image_bytes=len(image))
    return {**event, "image_data": base64.b64encode(image).decode("ascii"), "content_type": content_type}


def _read_image(bucket: str, key: str, location: str) -> bytes:
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ParamValidationError as error:
        raise InvalidEvent(f"{location} is not a valid S3 location: {error}") from error
    except ClientError as error:
        raise _named_s3_error(error, location) from error
    except BotoCoreError as error:  # connection refused or timed out before S3 answered
        raise ImageStoreUnavailable(f"S3 did not answer for {location}: {error}") from error
    with response["Body"] as body:
        size = response["ContentLength"]
        if size > MAX_IMAGE_BYTES:  # decided before downloading a huge object
            raise ImageTooLarge(
                f"{location} has {size} bytes; at most {MAX_IMAGE_BYTES} fit in the Step Functions "
                f"256 KB state payload once base64-encoded. Resize or recompress the image.")
        return body.read()


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


def _content_type(image: bytes, location: str) -> str:
    for signature, content_type in SIGNATURES.items():
        if image.startswith(signature):
            return content_type
    raise NotAnImage(f"{location} is not a PNG or JPEG image (size {len(image)} B, "
                     f"first bytes {image[:8]!r})")

