"""The routing rule, in one place: is the photo usable, is the model sure enough, is this routed
driver in the audited share, and where does the driver go.

Check Confidence (handlers/filter_confidence.py, one photo per execution) and the fleet onboarding
(handlers/onboard_chunk.py, a chunk of a manifest per call) both decide with `decide()`, so a
driver gets the same answer whichever way the photo came in. No AWS call: the threshold and the
audit rate are inputs, read by the callers from their configuration.
"""
import hashlib
import math
import os
from dataclasses import dataclass
from typing import Optional

import settings
from handlers.errors import ConfidenceBelowThreshold, InvalidEvent, UnusableImage
from handlers.support import non_empty_text

ROUTED = "routed"
REVIEW = "review"


@dataclass(frozen=True)
class Decision:
    """What the rule decided for one classified photo."""
    outcome: str                   # ROUTED or REVIEW
    label: str
    confidence: float
    threshold: float
    route: Optional[str] = None    # "near" or "far" when routed
    audit: bool = False            # a routed driver a person also checks
    reason: Optional[str] = None   # the error's name when a person must decide (UnusableImage, ...)
    message: Optional[str] = None  # why, as a person reads it

    @property
    def error(self) -> Optional[Exception]:
        """The workflow's named error for a driver sent to a person (Check Confidence raises it)."""
        if self.outcome != REVIEW:
            return None
        return {UnusableImage.__name__: UnusableImage,
                ConfidenceBelowThreshold.__name__: ConfidenceBelowThreshold}[self.reason](self.message)


def decide(label, confidence, usable, unusable_reasons, inference_id, threshold: float, audit_rate: float,
           image: str = "") -> Decision:
    """The decision for a classification: unusable photos and confidences below the threshold go to
    a person; the rest are routed by their label, a reproducible share of them audited.
    Raises InvalidEvent when the classification itself is malformed."""
    label, confidence = _classification(label, confidence)
    reasons = _unusable_reasons(usable, unusable_reasons)
    photo = image or "the image"
    if reasons:
        return Decision(REVIEW, label, confidence, threshold, reason=UnusableImage.__name__,
                        message=f"{photo} is not a usable photo of a vehicle: {'; '.join(reasons)}; "
                                "a person should check this driver")
    if confidence < threshold:
        return Decision(REVIEW, label, confidence, threshold, reason=ConfidenceBelowThreshold.__name__,
                        message=f"confidence {confidence:.4f} that {photo} shows a {label} is below the threshold "
                                f"{threshold}; a person should check this driver")
    return Decision(ROUTED, label, confidence, threshold, route=settings.ROUTE_BY_LABEL[label],
                    audit=audited(inference_id, audit_rate))


def audited(inference_id, rate: float) -> bool:
    """Whether this inference is in the audited share: the first 52 bits of its SHA-256 as a
    fraction of 1, below the rate (uniform over ids, the same everywhere and every time)."""
    if not isinstance(inference_id, str) or not inference_id:
        return False
    fraction = int(hashlib.sha256(inference_id.encode()).hexdigest()[:13], 16) / 16 ** 13
    return fraction < rate


def audit_rate_from_environment() -> float:
    """AUDIT_RATE as serverless.yml sets it (settings.DEFAULT_AUDIT_RATE without it), checked."""
    rate = float(os.environ.get(settings.ENV_AUDIT_RATE) or settings.DEFAULT_AUDIT_RATE)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{settings.ENV_AUDIT_RATE} must be a share in [0, 1], got {rate}")
    return rate


def _classification(label, confidence) -> tuple[str, float]:
    non_empty_text(label, "label")
    if label not in settings.ROUTE_BY_LABEL:
        raise InvalidEvent(f"label must be one of {sorted(settings.ROUTE_BY_LABEL)}, got {label!r}")
    if (not isinstance(confidence, (int, float)) or isinstance(confidence, bool)
            or math.isnan(confidence) or not 0.0 <= confidence <= 1.0):
        raise InvalidEvent(f"confidence must be a number between 0 and 1, got {confidence!r}")
    return label, float(confidence)


def _unusable_reasons(usable, reasons) -> list:
    if not isinstance(usable, bool) or not isinstance(reasons, list) or usable == bool(reasons):
        raise InvalidEvent(f"usable must be true or false, with unusable_reasons listing why when false; got "
                           f"usable={usable!r}, unusable_reasons={reasons!r}"[:300])
    return reasons
