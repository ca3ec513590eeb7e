import base64
import io
import json

import boto3
import pytest
from PIL import Image

import settings
from handlers.errors import (ImageAccessDenied, ImageNotFound, ImageStoreUnavailable, ImageTooLarge,
                             ImageTooManyPixels, InvalidEvent, NotAnImage)
from tests.handlers.doubles import TRACE_ID, answer_s3_with_error, image_bytes, invoke_traced, printed, subsegments
from imaging import samples


@pytest.fixture
def serialize_image(load_handler):
    return load_handler("serialize_image")


def put(bucket: str, key: str, body: bytes) -> None:
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)


@pytest.mark.parametrize("image_format, content_type", [("PNG", "image/png"), ("JPEG", "image/jpeg")],
                         ids=["png", "jpeg"])
def test_serialize_image_passes_a_small_upright_image_through_unchanged(
        serialize_image, images_bucket, image_format, content_type, lambda_context):
    image = image_bytes(image_format)
    put(images_bucket, "photo-without-extension", image)

    result = serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "photo-without-extension"}, lambda_context)

    assert isinstance(result["image_data"], str)
    assert base64.b64decode(result["image_data"]) == image
    assert result["content_type"] == content_type
    assert (result["s3_bucket"], result["s3_key"]) == (images_bucket, "photo-without-extension")


def test_serialize_image_accepts_the_course_event_shape(serialize_image, images_bucket, png, lambda_context):
    put(images_bucket, "a.png", png)
    event = {"s3_bucket": images_bucket, "s3_key": "a.png", "image_data": "", "inferences": []}

    result = serialize_image.handler(event, lambda_context)

    assert base64.b64decode(result["image_data"]) == png


def decoded(result: dict) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(result["image_data"])))


@pytest.mark.parametrize("orientation", [1, 6], ids=["landscape", "portrait-stored-sideways"])
def test_serialize_image_normalises_a_12_megapixel_phone_photo_into_a_small_payload(
        serialize_image, images_bucket, orientation, lambda_context):
    original = samples.phone_jpeg(orientation=orientation)
    put(images_bucket, "drivers/phone.jpg", original)

    result = serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "drivers/phone.jpg"}, lambda_context)

    with decoded(result) as image:
        assert image.format == "JPEG" and result["content_type"] == "image/jpeg"
        assert image.size == ((384, 288) if orientation == 1 else (288, 384))
        assert samples.mean_color(image.convert("RGB"), (0.05, 0.05, 0.45, 0.45))[0] > 180  # red block top-left
    assert result["original"] == {
        "location": f"s3://{images_bucket}/drivers/phone.jpg", "format": "JPEG", "bytes": len(original),
        "width": 4032 if orientation == 1 else 3024, "height": 3024 if orientation == 1 else 4032,
        "orientation": orientation}
    assert len(json.dumps(result).encode()) < 100 * 1024


@pytest.mark.parametrize("body, expected_format", [
    (samples.sixteen_bit_png(), "PNG"), (samples.encoded(samples.scene(320, 240), "WEBP"), "WEBP"),
    (samples.cmyk_jpeg(), "JPEG"), (samples.palette_png(transparent=True), "PNG"),
], ids=["16-bit-png", "webp", "cmyk-jpeg", "palette-png-with-transparency"])
def test_serialize_image_normalises_every_accepted_kind_to_rgb(serialize_image, images_bucket, body, expected_format,
                                                               lambda_context):
    put(images_bucket, "upload", body)

    result = serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "upload"}, lambda_context)

    with decoded(result) as image:
        assert image.mode == "RGB" and image.format in ("PNG", "JPEG")
    assert result["original"]["format"] == expected_format


@pytest.mark.parametrize("event", [
    {"s3_key": "a.png"},
    {"s3_bucket": "driver-photos"},
    {"s3_bucket": "", "s3_key": "a.png"},
    {"s3_bucket": "driver-photos", "s3_key": 7},
    ["driver-photos", "a.png"],
    {"s3_bucket": "not a valid bucket name!", "s3_key": "a.png"},
], ids=["no-bucket", "no-key", "empty-bucket", "key-not-text", "not-an-object", "invalid-bucket-name"])
def test_serialize_image_rejects_an_event_without_a_valid_location(serialize_image, images_bucket, event,
                                                                   lambda_context):
    with pytest.raises(InvalidEvent):
        serialize_image.handler(event, lambda_context)


def test_serialize_image_reads_from_the_deployments_images_bucket_when_the_event_names_none(
        load_handler, images_bucket, png, lambda_context):
    serialize_image = load_handler("serialize_image", **{settings.ENV_IMAGES_BUCKET: images_bucket})
    put(images_bucket, "drivers/a.png", png)

    result = serialize_image.handler({"s3_key": "drivers/a.png"}, lambda_context)

    assert result["s3_bucket"] == images_bucket
    assert result["original"]["location"] == f"s3://{images_bucket}/drivers/a.png"


@pytest.mark.parametrize("bucket, key", [("driver-photos", "missing.png"), ("no-such-bucket", "a.png")],
                         ids=["missing-key", "missing-bucket"])
def test_serialize_image_names_a_missing_object_image_not_found(serialize_image, images_bucket, bucket, key,
                                                                lambda_context):
    with pytest.raises(ImageNotFound, match=f"s3://{bucket}/{key}"):
        serialize_image.handler({"s3_bucket": bucket, "s3_key": key}, lambda_context)


@pytest.mark.parametrize("stored_key, event_key", [
    ("drivers/my photo.jpg", "drivers/my+photo.jpg"),        # URL-encoded, as S3 notifications send keys
    ("drivers/a+b (1).jpg", "drivers/a%2Bb+%281%29.jpg"),
    ("drivers/a+b.jpg", "drivers/a+b.jpg"),                  # a literal "+" is read as given, first
], ids=["space", "plus-and-brackets", "literal-plus"])
def test_serialize_image_finds_a_key_sent_url_encoded_and_goes_on_with_the_real_one(
        serialize_image, images_bucket, png, stored_key, event_key, lambda_context):
    put(images_bucket, stored_key, png)

    result = serialize_image.handler({"s3_bucket": images_bucket, "s3_key": event_key}, lambda_context)

    assert result["s3_key"] == stored_key
    assert result["original"]["location"] == f"s3://{images_bucket}/{stored_key}"


def test_serialize_image_names_the_key_as_sent_when_neither_it_nor_its_decoding_is_there(serialize_image,
                                                                                        images_bucket, lambda_context):
    with pytest.raises(ImageNotFound, match=rf"s3://{images_bucket}/drivers/gone\+photo.jpg"):
        serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "drivers/gone+photo.jpg"}, lambda_context)


@pytest.mark.parametrize("body, found", [
    (b"", "an empty file"), (b"\x89", "an unknown format"), (samples.encoded(Image.new("RGB", (8, 8)), "GIF"), "GIF"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"), (b"just some text, not pixels", "an unknown format"),
    (samples.truncated(samples.phone_jpeg(800, 600)), "truncated or corrupt"),
], ids=["empty", "one-byte", "gif", "heic", "text", "truncated-jpeg"])
def test_serialize_image_rejects_what_is_not_an_accepted_image(serialize_image, images_bucket, body, found,
                                                               lambda_context):
    put(images_bucket, "upload.png", body)

    with pytest.raises(NotAnImage, match=found) as rejected:
        serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "upload.png"}, lambda_context)

    assert f"s3://{images_bucket}/upload.png" in str(rejected.value)


@pytest.mark.parametrize("limit, size", [(None, 25_000_001), (1000, 1001)], ids=["default-limit", "configured-limit"])
def test_serialize_image_rejects_a_photo_over_the_byte_limit(load_handler, images_bucket, limit, size, lambda_context):
    environment = {settings.ENV_MAX_IMAGE_BYTES: limit} if limit else {}
    serialize_image = load_handler("serialize_image", **environment)
    put(images_bucket, "huge.jpg", b"\xff\xd8\xff" + bytes(size - 3))

    with pytest.raises(ImageTooLarge, match=f"{size} bytes .*; at most {limit or 25_000_000} bytes"):
        serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "huge.jpg"}, lambda_context)


def test_serialize_image_accepts_a_real_photo_far_above_the_old_payload_limit(serialize_image, images_bucket,
                                                                              lambda_context):
    original = samples.phone_jpeg(1920, 1080)
    put(images_bucket, "1080p.jpg", original)

    result = serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "1080p.jpg"}, lambda_context)

    assert len(original) > 256 * 1024 and result["original"]["bytes"] == len(original)


@pytest.mark.parametrize("limit, expected", [(None, "at most 64 megapixels"), (1, "at most 1 megapixels")],
                         ids=["default-limit", "configured-limit"])
def test_serialize_image_rejects_a_decompression_bomb(load_handler, images_bucket, limit, expected, lambda_context):
    environment = {settings.ENV_MAX_IMAGE_MEGAPIXELS: limit} if limit else {}
    serialize_image = load_handler("serialize_image", **environment)
    put(images_bucket, "bomb.png", samples.decompression_bomb_png(1200 if limit else 100_000, 1000 if limit else 100_000))

    with pytest.raises(ImageTooManyPixels, match=expected):
        serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "bomb.png"}, lambda_context)


def test_serialize_image_honours_a_configured_longest_side(load_handler, images_bucket, lambda_context):
    serialize_image = load_handler("serialize_image", **{settings.ENV_MAX_IMAGE_SIDE: 128})
    put(images_bucket, "phone.jpg", samples.phone_jpeg(1600, 1200))

    result = serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "phone.jpg"}, lambda_context)

    with decoded(result) as image:
        assert image.size == (128, 96)


@pytest.mark.parametrize("status, code, expected", [
    (403, "AccessDenied", ImageAccessDenied),
    (503, "SlowDown", ImageStoreUnavailable),
    (500, "InternalError", ImageStoreUnavailable),
], ids=["access-denied", "throttled", "internal-error"])
def test_serialize_image_names_s3_errors(serialize_image, images_bucket, png, status, code, expected, lambda_context):
    put(images_bucket, "a.png", png)
    answer_s3_with_error(serialize_image.s3, "GetObject", status, code, "injected")

    with pytest.raises(expected, match=code):
        serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "a.png"}, lambda_context)


def test_serialize_image_makes_a_single_attempt_on_a_transient_error(serialize_image, images_bucket, png,
                                                                     lambda_context):
    put(images_bucket, "a.png", png)
    attempts = answer_s3_with_error(serialize_image.s3, "GetObject", 503, "SlowDown", "injected")

    with pytest.raises(ImageStoreUnavailable):
        serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "a.png"}, lambda_context)

    assert len(attempts) == 1


def test_serialize_image_names_a_download_that_breaks_off_unavailable(load_handler, breaking_off_server,
                                                                      monkeypatch, lambda_context):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", breaking_off_server)  # S3, as far as this client knows
    serialize_image = load_handler("serialize_image")

    with pytest.raises(ImageStoreUnavailable, match="S3 stopped sending s3://driver-photos/a.png"):
        serialize_image.handler({"s3_bucket": "driver-photos", "s3_key": "a.png"}, lambda_context)


def test_serialize_image_logs_one_json_line_per_decision(serialize_image, images_bucket, png, capsys, lambda_context):
    put(images_bucket, "a.png", png)
    serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "a.png"}, lambda_context)
    with pytest.raises(ImageNotFound):
        serialize_image.handler({"s3_bucket": images_bucket, "s3_key": "gone.png"}, lambda_context)

    lines, _ = printed(capsys)

    assert [(line["outcome"], line["image"]) for line in lines] == [
        ("serialized", f"s3://{images_bucket}/a.png"), ("ImageNotFound", f"s3://{images_bucket}/gone.png")]


def test_serialize_image_traces_the_read_and_the_decode_but_never_the_photo(answering_server, xray_daemon, png):
    answering_server.update(body=png, content_type="image/png")  # S3's GetObject, as far as the client knows

    outcome = invoke_traced("serialize_image", {"s3_bucket": "driver-photos", "s3_key": "drivers/a.png"}, xray_daemon,
                            AWS_ENDPOINT_URL_S3=answering_server["url"])

    documents = xray_daemon.documents()
    traced = subsegments(documents)
    assert outcome["result"]["content_type"] == "image/png"
    assert {document["trace_id"] for document in documents} == {TRACE_ID}
    assert traced["## handler"]["annotations"]["image"] == "s3://driver-photos/drivers/a.png"
    assert "## handlers.serialize_image._normalized" in traced
    [call] = [document for document in traced.values() if document.get("namespace") == "aws"]
    assert call["aws"]["operation"] == "GetObject"
    assert outcome["result"]["image_data"] not in json.dumps(documents)  # X-Ray takes 64 KB a document
