"""Check Confidence: let a classification through only for a usable photo the model is sure of.

A picture the endpoint called unusable (blank, dark, noise, a document...) raises UnusableImage;
below the threshold this raises ConfidenceBelowThreshold. Errors, not a returned status, so the
execution fails under that name and nobody routes a driver on a guess (the state machine puts a
review request on the queue first). A routed driver is marked for an audit when its inference id
falls in the audited share (AUDIT_RATE): the same id is always audited or never, on any machine.
"""
import hashlib
import math
import os
import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

import settings
from handlers.errors import ConfidenceBelowThreshold, InvalidEvent, UnusableImage
from handlers.routing_threshold import ThresholdSource, current_threshold
from handlers.support import log_decision, required_text, s3_uri

STEP = "filter_confidence"
# Checked at start: a meaningless default must stop the function before it judges anyone. The
# threshold in force is read per invocation (routing_threshold: an SSM parameter, cached briefly).
THRESHOLD_SOURCE = ThresholdSource.from_environment()
AUDIT_RATE = float(os.environ.get(settings.ENV_AUDIT_RATE) or settings.DEFAULT_AUDIT_RATE)
if not 0.0 <= AUDIT_RATE <= 1.0:
    raise ValueError(f"{settings.ENV_AUDIT_RATE} must be a share in [0, 1], got {AUDIT_RATE}")
ENDPOINT_NAME = os.environ.get(settings.ENV_ENDPOINT_NAME) or settings.DEFAULT_ENDPOINT_NAME
# Powertools Metrics reads it; without one, each invocation would end in its SchemaValidationError.
if not os.environ.get(settings.ENV_POWERTOOLS_METRICS_NAMESPACE):
    raise ValueError(f"{settings.ENV_POWERTOOLS_METRICS_NAMESPACE} must name where {settings.SENT_TO_PERSON_METRIC} "
                     "is published (serverless.yml sets it)")

# No Tracer here: its X-Ray SDK would more than double this function's cold start, and a function
# that calls no AWS service shows in the trace anyway (Lambda's active tracing records it).
logger = Logger()
# Each model's answer is also a SentToPerson value in POWERTOOLS_METRICS_NAMESPACE (0 routed, 1 sent
# to a person for an unusable photo or low confidence): its average is the share the rollback alarm
# watches, by EndpointName alone. service="" keeps Powertools from adding its "service" dimension
# (from POWERTOOLS_SERVICE_NAME), which would make it a metric the alarm does not read.
metrics = Metrics(service="")
metrics.set_default_dimensions(EndpointName=ENDPOINT_NAME)
# A malformed event is no model answer, so it publishes no value: not a reason to warn.
warnings.filterwarnings("ignore", "No application metrics to publish", module="aws_lambda_powertools")


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    threshold = current_threshold(THRESHOLD_SOURCE)
    try:
        label, confidence = _classification(event)
        reasons = _unusable_reasons(event)
        if reasons:
            raise UnusableImage(f"{s3_uri(event) or 'the image'} is not a usable photo of a vehicle: "
                                f"{'; '.join(reasons)}; a person should check this driver")
        if confidence < threshold:
            raise ConfidenceBelowThreshold(
                f"confidence {confidence:.4f} that {s3_uri(event) or 'the image'} shows a {label} "
                f"is below the threshold {threshold}; a person should check this driver")
    except Exception as error:
        if isinstance(error, (UnusableImage, ConfidenceBelowThreshold)):
            metrics.add_metric(name=settings.SENT_TO_PERSON_METRIC, unit=MetricUnit.Count, value=1)
            metrics.add_metric(name=settings.ROUTING_THRESHOLD_METRIC, unit=MetricUnit.NoUnit, value=threshold)
        log_decision(logger, STEP, type(error).__name__, image=s3_uri(event), reason=str(error),
                     label=event.get("label") if isinstance(event, dict) else None,
                     confidence=event.get("confidence") if isinstance(event, dict) else None,
                     threshold=threshold)
        raise
    route = settings.ROUTE_BY_LABEL[label]
    audit = audited(event.get("inference_id"), AUDIT_RATE)
    metrics.add_metric(name=settings.SENT_TO_PERSON_METRIC, unit=MetricUnit.Count, value=0)
    metrics.add_metric(name=settings.ROUTING_THRESHOLD_METRIC, unit=MetricUnit.NoUnit, value=threshold)
    log_decision(logger, STEP, "accepted", image=s3_uri(event), label=label, confidence=confidence,
                 threshold=threshold, route=route, audit=audit)
    return {**event, "accepted": True, "threshold": threshold, "route": route, "audit": audit}


def audited(inference_id, rate: float) -> bool:
    """Whether this inference is in the audited share: the first 52 bits of its SHA-256 as a
    fraction of 1, below the rate (uniform over ids, the same everywhere and every time)."""
    if not isinstance(inference_id, str) or not inference_id:
        return False
    fraction = int(hashlib.sha256(inference_id.encode()).hexdigest()[:13], 16) / 16 ** 13
    return fraction < rate


def _classification(event: dict) -> tuple[str, float]:
    label = required_text(event, "label")
    if label not in settings.ROUTE_BY_LABEL:
        raise InvalidEvent(f"label must be one of {sorted(settings.ROUTE_BY_LABEL)}, got {label!r}")
    confidence = event.get("confidence")
    if (not isinstance(confidence, (int, float)) or isinstance(confidence, bool)
            or math.isnan(confidence) or not 0.0 <= confidence <= 1.0):
        raise InvalidEvent(f"confidence must be a number between 0 and 1, got {confidence!r}")
    return label, float(confidence)


def _unusable_reasons(event: dict) -> list[str]:
    usable, reasons = event.get("usable"), event.get("unusable_reasons")
    if not isinstance(usable, bool) or not isinstance(reasons, list) or usable == bool(reasons):
        raise InvalidEvent(f"usable must be true or false, with unusable_reasons listing why when false; got "
                           f"usable={usable!r}, unusable_reasons={reasons!r}"[:300])
    return reasons
