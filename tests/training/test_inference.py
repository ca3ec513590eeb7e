import io
import json

import mxnet as mx
import numpy as np
import pytest
from PIL import Image

from training import inference, model_artifacts


def _image_bytes(size, fmt, mode="RGB", color=(200, 40, 10)):
    buffer = io.BytesIO()
    image = Image.new(mode, size, color if mode == "RGB" else 0)
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return inference.model_fn(tiny_model_dir)


def test_model_fn_loads_classes_and_temperature(model):
    assert model.class_names == ("bicycle", "motorcycle")
    assert model.temperature == 1.5


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
    logits = model.network(mx.nd.array(model_artifacts.to_batch_array(images))).asnumpy()

    probabilities = inference.predict_probabilities(model, images)

    scaled = np.exp(logits / 1.5)
    assert probabilities == pytest.approx(scaled / scaled.sum(axis=1, keepdims=True), rel=1e-5)


def test_large_image_is_resized_with_antialiasing(model):
    # A fine checkerboard averages to grey; resizing without a low-pass filter would alias it.
    checker = (np.indices((640, 640)).sum(axis=0) % 2 * 255).astype(np.uint8)
    image = Image.fromarray(np.stack([checker] * 3, axis=-1))

    pixels = model_artifacts.to_batch_array([image])

    assert pixels.shape == (1, 3, 32, 32)
    assert abs(pixels.mean() - 127.5) < 3 and pixels.std() < 10


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
