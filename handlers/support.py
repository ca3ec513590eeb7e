"""What every handler shares: boto3 clients that never retry, event field checks, and the
one-JSON-line-per-decision log.

Clients make a single attempt because the state machine owns retries (with backoff and a
visible history); a handler that also retried would multiply attempts and hide them.
"""
import json
import logging
import sys
import time

import settings
from handlers.errors import InvalidEvent


def single_attempt_client(service_name: str):
    # boto3 is imported here rather than at the top so that the filter function, which calls no
    # AWS service, does not pay boto3's import (about a third of a second) on every cold start.
    import boto3
    from botocore.config import Config

    return boto3.client(service_name, config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def required_text(event: dict, field: str) -> str:
    if not isinstance(event, dict):
        raise InvalidEvent(f"the state input must be a JSON object, got {type(event).__name__}")
    value = event.get(field)
    if not isinstance(value, str) or not value:
        raise InvalidEvent(f"the event needs a non-empty text field {field!r}, got {value!r}"[:300])
    return value


def s3_uri(event: dict) -> str:
    """Where the image came from, for logs and messages (empty when the event does not say)."""
    if isinstance(event, dict) and event.get("s3_bucket") and event.get("s3_key"):
        return f"s3://{event['s3_bucket']}/{event['s3_key']}"
    return ""


class _JsonLinesToStdout(logging.Handler):
    """Writes to whatever sys.stdout is at the time, so redirected output is captured too."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stdout.write(json.dumps(record.decision, sort_keys=True, default=str) + "\n")


# Lambda sends a function's stdout to CloudWatch line by line: a bare JSON line per decision is
# what Logs Insights queries best, so this logger bypasses the runtime's text prefix.
_decision_logger = logging.getLogger(settings.DECISION_LOGGER)
_decision_logger.setLevel(logging.INFO)
_decision_logger.propagate = False
if not _decision_logger.handlers:
    _decision_logger.addHandler(_JsonLinesToStdout())


def log_decision(step: str, outcome: str, **fields) -> None:
    """Log one decision as a JSON line: the step, its outcome ('serialized', 'accepted', or the
    error's name) and what the decision was about (image, label, confidence, threshold, ...)."""
    _decision_logger.info(outcome, extra={"decision": {"step": step, "outcome": outcome, **fields}})


def embedded_metrics(namespace: str, dimensions: dict, metrics: dict, unit: str = "Count") -> dict:
    """Fields that make a decision line a CloudWatch Embedded Metric Format document: Lambda's logs
    turn each such line into metric values, with no API call and no extra permission."""
    return {"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
                "Namespace": namespace, "Dimensions": [sorted(dimensions)],
                "Metrics": [{"Name": name, "Unit": unit} for name in metrics]}]},
            **dimensions, **metrics}
