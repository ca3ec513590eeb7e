import base64
import json

import boto3
import pytest

import settings
from handlers.errors import (ImageAccessDenied, ImageNotFound, ImageStoreUnavailable, ImageTooLarge,
                             InvalidEvent, NotAnImage)
from tests.handlers.doubles import answer_s3_with_error, image_bytes


@pytest.fixture
def serialize_image(load_handler):
    return load_handler("serialize_image")


def put(bucket: str, key: str, body: bytes) -> None:
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)


@pytest.mark.parametrize("image_format, content_type", [("PNG", "image/png"), ("JPEG", "image/jpeg")],
                         ids=["png", "jpeg"])
def test_serialize_image_returns_base64_text_and_detected_content_type(
        serialize_image, images_bucket, image_format, content_type):
    image = image_bytes(image_format)
    put(images_bucket, "photo-without-extension", image)

    result = serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "photo-without-extension"}, None)

    assert isinstance(result["image_data"], str)
    assert base64.b64decode(result["image_data"]) == image
    assert result["content_type"] == content_type
    assert (result["s3_bucket"], result["s3_key"]) == (images_bucket, "photo-without-extension")


def test_serialize_image_accepts_the_course_event_shape(serialize_image, images_bucket, png):
    put(images_bucket, "a.png", png)
    event = {"s3_bucket": images_bucket, "s3_key": "a.png", "image_data": "", "inferences": []}

    result = serialize_image.handler(event, None)

    assert base64.b64decode(result["image_data"]) == png


def test_serialize_image_output_fits_the_step_functions_payload_at_the_size_limit(serialize_image, images_bucket):
    largest = b"\x89PNG\r\n\x1a\n" + bytes(settings.DEFAULT_MAX_IMAGE_BYTES - 8)
    put(images_bucket, "largest.png", largest)

    result = serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "largest.png"}, None)

    assert len(json.dumps(result).encode()) < 256 * 1024


@pytest.mark.parametrize("event", [
    {"s3_key": "a.png"},
    {"s3_bucket": "driver-photos"},
    {"s3_bucket": "", "s3_key": "a.png"},
    {"s3_bucket": "driver-photos", "s3_key": 7},
    ["driver-photos", "a.png"],
    {"s3_bucket": "not a valid bucket name!", "s3_key": "a.png"},
], ids=["no-bucket", "no-key", "empty-bucket", "key-not-text", "not-an-object", "invalid-bucket-name"])
def test_serialize_image_rejects_an_event_without_a_valid_location(serialize_image, images_bucket, event):
    with pytest.raises(InvalidEvent):
        serialize_image.handler(event, None)


@pytest.mark.parametrize("bucket, key", [("driver-photos", "missing.png"), ("no-such-bucket", "a.png")],
                         ids=["missing-key", "missing-bucket"])
def test_serialize_image_names_a_missing_object_image_not_found(serialize_image, images_bucket, bucket, key):
    with pytest.raises(ImageNotFound, match=f"s3://{bucket}/{key}"):
        serialize_image.handler({"s3_bucket": bucket, "s3_key": key}, None)


@pytest.mark.parametrize("body", [b"", b"\x89", b"GIF89a" + bytes(20), b"just some text, not pixels"],
                         ids=["empty", "one-byte", "gif", "text"])
def test_serialize_image_rejects_what_is_not_a_png_or_jpeg(serialize_image, images_bucket, body):
    put(images_bucket, "upload.png", body)

    with pytest.raises(NotAnImage, match="not a PNG or JPEG"):
        serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "upload.png"}, None)


@pytest.mark.parametrize("limit, size", [(None, settings.DEFAULT_MAX_IMAGE_BYTES + 1), (1000, 1001)],
                         ids=["default-limit", "configured-limit"])
def test_serialize_image_rejects_an_image_over_the_size_limit(load_handler, images_bucket, limit, size):
    environment = {settings.ENV_MAX_IMAGE_BYTES: limit} if limit else {}
    serialize_image = load_handler("serialize_image", **environment)
    put(images_bucket, "huge.png", b"\x89PNG\r\n\x1a\n" + bytes(size - 8))

    with pytest.raises(ImageTooLarge, match=f"{size} bytes"):
        serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "huge.png"}, None)


@pytest.mark.parametrize("status, code, expected", [
    (403, "AccessDenied", ImageAccessDenied),
    (503, "SlowDown", ImageStoreUnavailable),
    (500, "InternalError", ImageStoreUnavailable),
], ids=["access-denied", "throttled", "internal-error"])
def test_serialize_image_names_s3_errors(serialize_image, images_bucket, png, status, code, expected):
    put(images_bucket, "a.png", png)
    answer_s3_with_error(serialize_image.s3, "GetObject", status, code, "injected")

    with pytest.raises(expected, match=code):
        serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "a.png"}, None)


def test_serialize_image_makes_a_single_attempt_on_a_transient_error(serialize_image, images_bucket, png):
    put(images_bucket, "a.png", png)
    attempts = answer_s3_with_error(serialize_image.s3, "GetObject", 503, "SlowDown", "injected")

    with pytest.raises(ImageStoreUnavailable):
        serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "a.png"}, None)

    assert len(attempts) == 1


def test_serialize_image_logs_one_json_line_per_decision(serialize_image, images_bucket, png, capsys):
    put(images_bucket, "a.png", png)
    serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "a.png"}, None)
    with pytest.raises(ImageNotFound):
        serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "gone.png"}, None)

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    assert [(line["outcome"], line["image"]) for line in lines] == [
        ("serialized", f"s3://{images_bucket}/a.png"), ("ImageNotFound", f"s3://{images_bucket}/gone.png")]
