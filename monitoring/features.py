"""What the monitor watches in each captured inference: the features of what the endpoint saw and said.

Plain Python (no numpy), so the monitor Lambda, the report's reader and training's baseline share
one definition. The endpoint's assessment answer (training/inference.py) carries everything:

  numerical    confidence (top probability), probability_<last class> (p(motorcycle)),
               two_wheeler_mass (the ImageNet head's two-wheeler probability), and the model input's brightness,
               contrast, sharpness and colourfulness
  categorical  predicted_class, usable ("true"/"false"), unusable_reason (the first reason's code,
               "none" when usable)

A plain probability list (what clients asking for application/json get) yields the prediction
features only; the others are then missing, which the completeness check counts.
"""
import csv
import io
import json
import math
from typing import List, Optional, Sequence

from monitoring.baseline import CATEGORICAL, NUMERICAL

# Keys under which a JSON response may hold the probabilities, when it is an object, not a list.
PROBABILITY_KEYS = ("probabilities", "predictions", "inferences", "scores")
INPUT_STATISTICS = ("brightness", "contrast", "sharpness", "colourfulness")
NO_REASON = "none"


class UnusableOutput(ValueError):
    """An endpoint response that is not a list of class probabilities."""


def parse_probabilities(body: bytes, content_type: Optional[str], class_count: int) -> List[float]:
    """Class probabilities from a response body: a JSON list (or [[...]], or an object holding one
    under PROBABILITY_KEYS) or a CSV row. Raises UnusableOutput otherwise."""
    text = body.decode("utf-8", errors="replace").strip()
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        if media_type == "text/csv" or (not text.startswith(("[", "{")) and "," in text):
            values = next(csv.reader(io.StringIO(text)))
        else:
            values = json.loads(text)
            if isinstance(values, dict):
                values = next((values[key] for key in PROBABILITY_KEYS if key in values), None)
            if isinstance(values, list) and len(values) == 1 and isinstance(values[0], list):
                values = values[0]
        probabilities = [float(value) for value in values]
    except (ValueError, TypeError, StopIteration):
        raise UnusableOutput(f"not a list of probabilities: {text[:60]!r}") from None
    if len(probabilities) != class_count:
        raise UnusableOutput(f"{len(probabilities)} probabilities for {class_count} classes")
    if not all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in probabilities):
        raise UnusableOutput(f"probabilities outside [0, 1]: {probabilities}")
    return probabilities


def _assessment(body: bytes) -> dict:
    try:
        answer = json.loads(body)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def parse_usable(body: bytes) -> bool:
    """Whether the endpoint's answer called the picture usable (answers without the field: yes)."""
    return _assessment(body).get("usable") is not False


def feature_names(class_names: Sequence[str]) -> dict:
    """{feature name: inferred type}, in the order statistics.json lists them."""
    return {
        "confidence": NUMERICAL,
        f"probability_{class_names[-1]}": NUMERICAL,
        "two_wheeler_mass": NUMERICAL,
        **{name: NUMERICAL for name in INPUT_STATISTICS},
        "predicted_class": CATEGORICAL,
        "usable": CATEGORICAL,
        "unusable_reason": CATEGORICAL,
    }


def _number(value) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def features_of(body: bytes, content_type: Optional[str], class_names: Sequence[str]) -> dict:
    """The features of one endpoint answer (None where the answer does not tell); raises
    UnusableOutput when it holds no class probabilities."""
    probabilities = parse_probabilities(body, content_type, len(class_names))
    answer = _assessment(body)
    top = max(range(len(probabilities)), key=probabilities.__getitem__)
    statistics = answer.get("input_statistics") if isinstance(answer.get("input_statistics"), dict) else {}
    usable = answer.get("usable")
    codes = answer.get("unusable_codes")
    if usable is True:
        reason = NO_REASON
    elif usable is False and isinstance(codes, list) and codes:
        reason = str(codes[0])
    else:
        reason = None
    return {
        "confidence": probabilities[top],
        f"probability_{class_names[-1]}": probabilities[-1],
        "two_wheeler_mass": _number(answer.get("two_wheeler_mass")),
        **{name: _number(statistics.get(name)) for name in INPUT_STATISTICS},
        "predicted_class": class_names[top],
        "usable": None if not isinstance(usable, bool) else ("true" if usable else "false"),
        "unusable_reason": reason,
    }
