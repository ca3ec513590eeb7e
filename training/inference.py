"""SageMaker MXNet serving contract for the bicycle/motorcycle classifier.

The MXNet serving container calls model_fn(model_dir) once, then transform_fn(model, body,
content_type, accept) per request. Images are decoded by imaging/photo.py, the decoder the Serialize
Image Lambda uses too (EXIF orientation, 16-bit, CMYK, palette, alpha, WebP, size limits); it ships
beside this file as an estimator dependency.

Two answers, by the Accept header:
  application/json (and */*)   a JSON list of calibrated probabilities in the order of classes.json
                               (what plain clients expect)
  ASSESSMENT_CONTENT_TYPE      a JSON object: those probabilities, the class names, and whether the
                               picture is a usable photo of a vehicle, with the reasons when it is
                               not (training/usability.py); the workflow asks for this one

predict_probabilities and assess are the batch paths for benchmarks and the local run. Bad requests
raise InferenceRequestError, which carries an HTTP status (415 unsupported content type, 406
unsupported accept type, 400 undecodable image, 413 too many pixels) and a message a person
understands; in the SageMaker container it is the toolkit's own error class, so the model server
answers with that status instead of a 500.
"""
import json
import math
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

try:
    from imaging import photo
except ImportError:  # the serving container: the SDK repacks the estimator's dependencies into code/lib
    sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
    from imaging import photo

try:
    from training import model_artifacts, usability
except ImportError:  # SageMaker copies training/ alone into /opt/ml/code
    import model_artifacts
    import usability

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

SUPPORTED_CONTENT_TYPES = ("image/png", "image/jpeg", "image/webp", "application/x-image")
JSON_CONTENT_TYPE = "application/json"
ASSESSMENT_CONTENT_TYPE = "application/vnd.vehicle-routing.assessment+json"
PROBABILITY_ACCEPT_TYPES = (JSON_CONTENT_TYPE, "application/*", "*/*", "")
BATCH_SIZE = 256
# Statistics of the model's input (reduced to 32x32) the assessment reports, so the monitor can watch what the
# traffic looks like without decoding a photo (training/usability.image_statistics defines them).
MONITORED_INPUT_STATISTICS = ("brightness", "contrast", "sharpness", "colourfulness")


class InferenceRequestError(_ToolkitError):
    def __str__(self):
        return f"{self.status_code}: {self.message}"


@dataclass(frozen=True)
class LoadedModel:
    network: object          # mxnet.gluon.SymbolBlock: NCHW 0..255 pixels -> (logits, two-wheeler mass)
    class_names: tuple
    temperature: float
    two_wheeler_limit: float
    input_size: int = model_artifacts.DEFAULT_INPUT_SIZE


@dataclass(frozen=True)
class Assessment:
    """What the model makes of one picture."""
    probabilities: list
    two_wheeler_mass: float         # the ImageNet head's probability of a two-wheeler class
    unusable_reasons: list          # usability.Reason: sentences, each with its .code
    input_statistics: dict = None   # MONITORED_INPUT_STATISTICS of the model's input

    @property
    def usable(self) -> bool:
        return not self.unusable_reasons


def model_fn(model_dir) -> LoadedModel:
    """Load the exported graph, input size, class names, softmax temperature and usability limit of a model directory."""
    import mxnet as mx

    model_dir = Path(model_dir)
    class_names = tuple(model_artifacts.read_json(model_dir, model_artifacts.CLASSES_FILE))
    temperature = float(model_artifacts.read_json(model_dir, model_artifacts.CALIBRATION_FILE)["temperature"])
    if temperature <= 0:
        raise ValueError(f"{model_dir / model_artifacts.CALIBRATION_FILE}: temperature must be positive")
    limit = float(model_artifacts.read_json(model_dir, model_artifacts.USABILITY_FILE)["two_wheeler_limit"])
    input_size = int(model_artifacts.read_json(model_dir, model_artifacts.ARCHITECTURE_FILE)["input_size"])
    with warnings.catch_warnings():  # SymbolBlock.imports warns about the unnamed input; harmless
        warnings.simplefilter("ignore")
        network = mx.gluon.SymbolBlock.imports(
            str(model_dir / model_artifacts.SYMBOL_FILE), [model_artifacts.INPUT_NAME],
            str(model_dir / model_artifacts.PARAMS_FILE), ctx=mx.cpu())
    network.hybridize(static_alloc=True)
    return LoadedModel(network=network, class_names=class_names, temperature=temperature,
                       two_wheeler_limit=limit, input_size=input_size)


def _forward(model: LoadedModel, images):
    """(calibrated probabilities N x classes, two-wheeler masses N) for Pillow model-input images."""
    import mxnet as mx

    images = list(images)
    if not images:
        return np.zeros((0, len(model.class_names))), np.zeros(0)
    logits, masses = [], []
    for start in range(0, len(images), BATCH_SIZE):
        outputs = model.network(mx.nd.array(model_artifacts.to_batch_array(images[start:start + BATCH_SIZE],
                                                                           model.input_size)))
        logits.append(outputs[0].asnumpy())
        masses.append(outputs[1].asnumpy())
    return model_artifacts.softmax(np.concatenate(logits), model.temperature), np.concatenate(masses)


def predict_probabilities(model: LoadedModel, images) -> np.ndarray:
    """Calibrated class probabilities (N x classes, class order of the model) for Pillow images."""
    return _forward(model, [model_artifacts.to_model_image(image, model.input_size) for image in images])[0]


def assess(model: LoadedModel, images) -> list:
    """An Assessment per Pillow image: probabilities, and whether it is a usable vehicle photo."""
    images = list(images)
    model_images = [model_artifacts.to_model_image(image, model.input_size) for image in images]
    probabilities, masses = _forward(model, model_images)
    assessments = []
    for image, model_image, row, mass in zip(images, model_images, probabilities, masses):
        pixels = usability.statistics_pixels(model_image)
        stats = usability.image_statistics(pixels)
        reasons = usability.image_reasons(pixels, image.size, stats)
        reasons += usability.two_wheeler_reason(float(mass), model.two_wheeler_limit)
        monitored = {name: stats[name] for name in MONITORED_INPUT_STATISTICS}
        assessments.append(Assessment([float(p) for p in row], float(mass), reasons, monitored))
    return assessments


def _media_type(header) -> str:
    return (header or "").split(";")[0].strip().lower()


def decode_image(request_body: bytes, content_type: str) -> Image.Image:
    """Decode request bytes as the workflow does (imaging/photo.py), or raise InferenceRequestError."""
    media_type = _media_type(content_type)
    if media_type not in SUPPORTED_CONTENT_TYPES:
        raise InferenceRequestError(
            415, f"Unsupported content type {content_type!r}: send an image as one of "
                 f"{', '.join(SUPPORTED_CONTENT_TYPES)}.")
    if isinstance(request_body, (bytearray, memoryview)):
        request_body = bytes(request_body)
    if not isinstance(request_body, bytes) or not request_body:
        raise InferenceRequestError(400, f"The request body is empty: send the bytes of a {photo.ACCEPTED_DESCRIPTION} image.")
    try:
        image, _ = photo.decode(request_body)
    except photo.ImageTooManyPixels as error:
        raise InferenceRequestError(413, f"The image is too large: {error}.") from error
    except photo.PhotoRejected as error:
        raise InferenceRequestError(400, f"The request body is not a usable image: {error}.") from error
    return image


def transform_fn(model: LoadedModel, request_body, content_type, accept):
    """One image in; out a JSON list of probabilities in class order ("application/json"), or the
    whole assessment (ASSESSMENT_CONTENT_TYPE)."""
    accept_type = _media_type(accept)
    if accept_type not in PROBABILITY_ACCEPT_TYPES + (ASSESSMENT_CONTENT_TYPE,):
        raise InferenceRequestError(
            406, f"Unsupported accept type {accept!r}: this model answers {JSON_CONTENT_TYPE} (a list of "
                 f"probabilities) or {ASSESSMENT_CONTENT_TYPE} (probabilities and whether the photo is usable).")
    image = decode_image(request_body, content_type)
    [assessment] = assess(model, [image])
    if accept_type != ASSESSMENT_CONTENT_TYPE:
        return json.dumps(assessment.probabilities), JSON_CONTENT_TYPE
    return json.dumps(assessment_answer(model, assessment)), ASSESSMENT_CONTENT_TYPE


def assessment_answer(model: LoadedModel, assessment: Assessment) -> dict:
    """The ASSESSMENT_CONTENT_TYPE answer (also what training's monitoring baseline is made of)."""
    mass = assessment.two_wheeler_mass
    return {
        "probabilities": assessment.probabilities,
        "classes": list(model.class_names),
        "usable": assessment.usable,
        "unusable_reasons": assessment.unusable_reasons,
        "unusable_codes": [reason.code for reason in assessment.unusable_reasons],
        "input_statistics": {name: round(value, 3) for name, value in assessment.input_statistics.items()},
        "two_wheeler_mass": round(mass, 4) if math.isfinite(mass) else None,
        "two_wheeler_limit": round(model.two_wheeler_limit, 4),
    }
