"""SageMaker MXNet serving contract for the bicycle/motorcycle classifier.

The MXNet serving container calls model_fn(model_dir) once, then transform_fn(model, body,
content_type, accept) per request. The response is a JSON list of calibrated probabilities in
the order of classes.json (the order the classify handler expects). predict_probabilities is
the batch path for benchmarks and the local run.

Bad requests raise InferenceRequestError, which carries an HTTP status (415 unsupported
content type, 406 unsupported accept type, 400 undecodable image) and a message a person
understands; in the SageMaker container it is the toolkit's own error class, so the model
server answers with that status instead of a 500.
"""
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

try:
    from training import model_artifacts
except ImportError:  # SageMaker copies training/ alone into /opt/ml/code
    import model_artifacts

try:  # present in the SageMaker MXNet serving container
    from sagemaker_inference.errors import GenericInferenceToolkitError as _ToolkitError
except ImportError:
    class _ToolkitError(Exception):
        """Same attributes as sagemaker_inference's GenericInferenceToolkitError."""

        def __init__(self, status_code, message=None, phrase=None):
            self.status_code = status_code
            self.message = message or "Invalid Request"
            self.phrase = phrase or self.message
            super().__init__(status_code, self.message, self.phrase)

SUPPORTED_CONTENT_TYPES = ("image/png", "image/jpeg", "application/x-image")
JSON_CONTENT_TYPE = "application/json"
ACCEPTABLE_ACCEPT_TYPES = (JSON_CONTENT_TYPE, "application/*", "*/*", "")
# A request larger than this many pixels is refused rather than decoded (decompression bombs).
MAX_IMAGE_PIXELS = 40_000_000
BATCH_SIZE = 256


class InferenceRequestError(_ToolkitError):
    def __str__(self):
        return f"{self.status_code}: {self.message}"


@dataclass(frozen=True)
class LoadedModel:
    network: object          # mxnet.gluon.SymbolBlock: NCHW 0..255 pixels -> logits
    class_names: tuple
    temperature: float


def model_fn(model_dir) -> LoadedModel:
    """Load the exported graph, class names and softmax temperature from a model directory."""
    import mxnet as mx

    model_dir = Path(model_dir)
    class_names = tuple(model_artifacts.read_json(model_dir, model_artifacts.CLASSES_FILE))
    temperature = float(model_artifacts.read_json(model_dir, model_artifacts.CALIBRATION_FILE)["temperature"])
    if temperature <= 0:
        raise ValueError(f"{model_dir / model_artifacts.CALIBRATION_FILE}: temperature must be positive")
    with warnings.catch_warnings():  # SymbolBlock.imports warns about the unnamed input; harmless
        warnings.simplefilter("ignore")
        network = mx.gluon.SymbolBlock.imports(
            str(model_dir / model_artifacts.SYMBOL_FILE), [model_artifacts.INPUT_NAME],
            str(model_dir / model_artifacts.PARAMS_FILE), ctx=mx.cpu())
    network.hybridize(static_alloc=True)
    return LoadedModel(network=network, class_names=class_names, temperature=temperature)


def predict_probabilities(model: LoadedModel, images) -> np.ndarray:
    """Calibrated class probabilities (N x classes, class order of the model) for Pillow images."""
    import mxnet as mx

    images = list(images)
    if not images:
        return np.zeros((0, len(model.class_names)), dtype=np.float64)
    logits = np.concatenate([
        model.network(mx.nd.array(model_artifacts.to_batch_array(images[start:start + BATCH_SIZE]))).asnumpy()
        for start in range(0, len(images), BATCH_SIZE)])
    return model_artifacts.softmax(logits, model.temperature)


def _media_type(header) -> str:
    return (header or "").split(";")[0].strip().lower()


def decode_image(request_body: bytes, content_type: str) -> Image.Image:
    """Decode request bytes into an RGB Pillow image, or raise InferenceRequestError."""
    media_type = _media_type(content_type)
    if media_type not in SUPPORTED_CONTENT_TYPES:
        raise InferenceRequestError(
            415, f"Unsupported content type {content_type!r}: send an image as one of "
                 f"{', '.join(SUPPORTED_CONTENT_TYPES)}.")
    if isinstance(request_body, (bytearray, memoryview)):
        request_body = bytes(request_body)
    if not isinstance(request_body, bytes) or not request_body:
        raise InferenceRequestError(400, "The request body is empty: send the bytes of a PNG or JPEG image.")
    try:
        with Image.open(io.BytesIO(request_body)) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise InferenceRequestError(
                    400, f"The image is {image.width}x{image.height} pixels; at most {MAX_IMAGE_PIXELS} are accepted.")
            image.load()
            return image.convert("RGB")
    except InferenceRequestError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise InferenceRequestError(
            400, f"The request body is not a readable image ({type(error).__name__}: {error}).") from error


def transform_fn(model: LoadedModel, request_body, content_type, accept):
    """One image in, (JSON list of probabilities in class order, "application/json") out."""
    if _media_type(accept) not in ACCEPTABLE_ACCEPT_TYPES:
        raise InferenceRequestError(406, f"Unsupported accept type {accept!r}: this model answers {JSON_CONTENT_TYPE}.")
    image = decode_image(request_body, content_type)
    probabilities = predict_probabilities(model, [image])[0]
    return json.dumps([float(p) for p in probabilities]), JSON_CONTENT_TYPE
