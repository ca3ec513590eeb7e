"""Check Confidence: let a classification through only for a usable photo the model is sure of.

A picture the endpoint called unusable (blank, dark, noise, a document...) raises UnusableImage;
below the threshold this raises ConfidenceBelowThreshold. Errors, not a returned status, so the
execution fails under that name and nobody routes a driver on a guess (the state machine puts a
review request on the queue first). A routed driver is marked for an audit when its inference id
falls in the audited share (AUDIT_RATE): the same id is always audited or never, on any machine.
"""
import os
import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

import settings
from handlers import routing_rule
from handlers.errors import ConfidenceBelowThreshold, UnusableImage
from handlers.routing_threshold import ThresholdSource, current_threshold
from handlers.support import json_object, log_decision, s3_uri

STEP = "filter_confidence"
# The rule's inputs (handlers/routing_rule.py holds the rule itself, shared with the fleet onboarding).
# Checked at start: a meaningless default must stop the function before it judges anyone. The
# threshold in force is read per invocation (routing_threshold: an SSM parameter, cached briefly).
THRESHOLD_SOURCE = ThresholdSource.from_environment()
AUDIT_RATE = routing_rule.audit_rate_from_environment()
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
        decision = routing_rule.decide(json_object(event).get("label"), event.get("confidence"), event.get("usable"),
                                       event.get("unusable_reasons"), event.get("inference_id"), threshold,
                                       AUDIT_RATE, image=s3_uri(event))
        if decision.error is not None:
            raise decision.error
    except Exception as error:
        if isinstance(error, (UnusableImage, ConfidenceBelowThreshold)):
            _measure(sent_to_person=1, threshold=threshold)
        log_decision(logger, STEP, type(error).__name__, image=s3_uri(event), reason=str(error),
                     label=event.get("label") if isinstance(event, dict) else None,
                     confidence=event.get("confidence") if isinstance(event, dict) else None,
                     threshold=threshold)
        raise
    _measure(sent_to_person=0, threshold=threshold)
    log_decision(logger, STEP, "accepted", image=s3_uri(event), label=decision.label, confidence=decision.confidence,
                 threshold=threshold, route=decision.route, audit=decision.audit)
    return {**event, "accepted": True, "threshold": threshold, "route": decision.route, "audit": decision.audit}


def _measure(sent_to_person: int, threshold: float) -> None:
    """A model's answer as metrics: sent to a person (1) or routed (0), and the threshold it was judged at."""
    metrics.add_metric(name=settings.SENT_TO_PERSON_METRIC, unit=MetricUnit.Count, value=sent_to_person)
    metrics.add_metric(name=settings.ROUTING_THRESHOLD_METRIC, unit=MetricUnit.NoUnit, value=threshold)
