import io
import json

import mxnet as mx
import numpy as np
import pytest
from PIL import Image

from imaging import samples
from training import inference, model_artifacts


def _image_bytes(size, fmt, mode="RGB", color=(200, 40, 10)):
    buffer = io.BytesIO()
    image = Image.new(mode, size, color if mode == "RGB" else 0)
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return inference.model_fn(tiny_model_dir)


def test_model_fn_loads_classes_temperature_gate_and_input_size(model):
    assert model.class_names == ("bicycle", "motorcycle")
    assert model.temperature == 1.5
    assert model.two_wheeler_limit == 0.0
    assert model.input_size == 32


@pytest.mark.parametrize("body, content_type", [
    (_image_bytes((32, 32), "PNG"), "image/png"),
    (_image_bytes((32, 32), "JPEG"), "image/jpeg"),
    (_image_bytes((1024, 768), "JPEG"), "application/x-image"),
    (_image_bytes((32, 32), "PNG", mode="L"), "image/png"),
    (_image_bytes((32, 32), "PNG", mode="RGBA"), "image/png; charset=binary"),
], ids=["png", "jpeg", "large-x-image", "greyscale-png", "rgba-png-with-parameter"])
def test_transform_fn_returns_json_probabilities_in_class_order(model, body, content_type):
    text, response_type = inference.transform_fn(model, body, content_type, "application/json")

    probabilities = json.loads(text)
    assert response_type == "application/json"
    assert len(probabilities) == 2
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert sum(probabilities) == pytest.approx(1.0)


def test_transform_fn_matches_batch_prediction(model):
    image = Image.fromarray(np.random.RandomState(0).randint(0, 256, (32, 32, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")

    text, _ = inference.transform_fn(model, buffer.getvalue(), "image/png", "*/*")

    assert json.loads(text) == pytest.approx(inference.predict_probabilities(model, [image])[0].tolist())


def test_predict_probabilities_applies_temperature(model):
    images = [Image.fromarray(np.random.RandomState(seed).randint(0, 256, (32, 32, 3), dtype=np.uint8))
              for seed in range(3)]
    logits = model.network(mx.nd.array(model_artifacts.to_batch_array(images, model.input_size)))[0].asnumpy()

    probabilities = inference.predict_probabilities(model, images)

    scaled = np.exp(logits / 1.5)
    assert probabilities == pytest.approx(scaled / scaled.sum(axis=1, keepdims=True), rel=1e-5)


@pytest.mark.parametrize("size", [32, 160])
def test_large_image_is_resized_with_antialiasing(size):
    # A fine checkerboard averages to grey; resizing without a low-pass filter would alias it.
    checker = (np.indices((640, 640)).sum(axis=0) % 2 * 255).astype(np.uint8)
    image = Image.fromarray(np.stack([checker] * 3, axis=-1))

    pixels = model_artifacts.to_batch_array([image], size)

    assert pixels.shape == (1, 3, size, size)
    assert abs(pixels.mean() - 127.5) < 3 and pixels.std() < 10


def test_model_image_keeps_the_aspect_and_crops_the_centre():
    # A 3:1 picture whose left and right thirds are red and middle third blue: the centre crop is all blue.
    wide = np.zeros((100, 300, 3), dtype=np.uint8)
    wide[:, :100] = wide[:, 200:] = (255, 0, 0)
    wide[:, 100:200] = (0, 0, 255)

    pixels = np.asarray(model_artifacts.to_model_image(Image.fromarray(wide), 64))

    assert pixels.shape == (64, 64, 3)
    assert (pixels[:, :, 2] > 200).all() and (pixels[:, :, 0] < 40).all()


@pytest.mark.parametrize("body, content_type, status", [
    (b"definitely not an image", "image/png", 400),
    (_image_bytes((32, 32), "PNG")[:40], "image/png", 400),
    (b"", "image/jpeg", 400),
    (_image_bytes((32, 32), "PNG"), "text/csv", 415),
    (_image_bytes((32, 32), "PNG"), None, 415),
], ids=["garbage-bytes", "truncated-png", "empty-body", "csv-content-type", "missing-content-type"])
def test_transform_fn_rejects_bad_input_with_http_status(model, body, content_type, status):
    with pytest.raises(inference.InferenceRequestError) as error:
        inference.transform_fn(model, body, content_type, "application/json")

    assert error.value.status_code == status
    assert error.value.message and "Traceback" not in error.value.message


def test_transform_fn_rejects_unsupported_accept_type(model):
    with pytest.raises(inference.InferenceRequestError) as error:
        inference.transform_fn(model, _image_bytes((32, 32), "PNG"), "image/png", "text/csv")

    assert error.value.status_code == 406


def assessment(model, body: bytes, content_type: str = "image/png") -> dict:
    text, response_type = inference.transform_fn(model, body, content_type, inference.ASSESSMENT_CONTENT_TYPE)
    assert response_type == inference.ASSESSMENT_CONTENT_TYPE
    return json.loads(text)


def test_transform_fn_answers_the_assessment_when_asked(model):
    body = samples.encoded(samples.scene(320, 240, noise=8), "JPEG")

    answer = assessment(model, body, "image/jpeg")

    plain, _ = inference.transform_fn(model, body, "image/jpeg", "application/json")
    assert answer["probabilities"] == json.loads(plain)
    assert answer["classes"] == ["bicycle", "motorcycle"]
    assert (answer["usable"], answer["unusable_reasons"]) == (True, [])
    assert 0.0 <= answer["two_wheeler_mass"] <= 1.0 and answer["two_wheeler_limit"] == 0.0
    assert answer["unusable_codes"] == []


@pytest.mark.parametrize("body, reason", [
    (samples.encoded(samples.uniform_image((0, 0, 0)), "JPEG"), "nearly uniform"),
    (samples.encoded(samples.uniform_image((255, 255, 255)), "PNG"), "nearly uniform"),
    (samples.encoded(samples.noise_image(), "PNG"), "nearly uniform"),
    (samples.encoded(samples.noise_image(48, 40), "PNG"), "neighbouring pixels unrelated"),
    (samples.encoded(samples.text_document(), "PNG"), "too few colours"),
    (samples.encoded(Image.new("RGB", (4, 4), (200, 10, 10)), "PNG"), "smaller than the model's 32x32 input (4x4"),
], ids=["black-jpeg", "white-png", "large-noise", "small-noise", "text-document", "4x4-image"])
def test_transform_fn_says_why_a_picture_is_unusable(model, body, reason):
    answer = assessment(model, body)

    assert answer["usable"] is False
    assert any(reason in text for text in answer["unusable_reasons"]), answer["unusable_reasons"]


def test_transform_fn_calls_a_picture_without_two_wheeler_mass_unusable(model):
    # No picture reaches a mass of 1 exactly, so this gate refuses every one of them.
    strict = inference.LoadedModel(model.network, model.class_names, model.temperature, two_wheeler_limit=1.0,
                                   input_size=model.input_size)

    answer = assessment(strict, samples.encoded(samples.scene(320, 240, noise=8), "PNG"))

    assert answer["usable"] is False
    assert answer["unusable_codes"] == ["not_two_wheeler"]
    assert answer["unusable_reasons"][0].startswith("not a bicycle or motorcycle")
    assert answer["two_wheeler_mass"] < 1.0 and answer["two_wheeler_limit"] == 1.0


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_transform_fn_decodes_a_rotated_photo_as_its_upright_self(model, orientation):
    upright = samples.scene(320, 240, noise=5)

    rotated, _ = inference.transform_fn(model, samples.with_orientation(upright, orientation), "image/jpeg", "*/*")
    reference, _ = inference.transform_fn(model, samples.encoded(upright, "JPEG", quality=95), "image/jpeg", "*/*")

    assert json.loads(rotated) == pytest.approx(json.loads(reference), abs=0.02)


@pytest.mark.parametrize("body, content_type", [
    (samples.encoded(samples.scene(320, 240), "WEBP"), "image/webp"),
    (samples.sixteen_bit_png(), "image/png"),
    (samples.cmyk_jpeg(), "image/jpeg"),
], ids=["webp", "16-bit-png", "cmyk-jpeg"])
def test_transform_fn_decodes_what_the_workflow_decodes(model, body, content_type):
    text, _ = inference.transform_fn(model, body, content_type, "application/json")

    assert sum(json.loads(text)) == pytest.approx(1.0)


def test_transform_fn_refuses_a_decompression_bomb_as_payload_too_large(model):
    with pytest.raises(inference.InferenceRequestError) as error:
        inference.transform_fn(model, samples.decompression_bomb_png(), "image/png", "application/json")

    assert error.value.status_code == 413 and "megapixels" in error.value.message
