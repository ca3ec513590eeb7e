"""What every handler of the workflow shares: boto3 clients that never retry, event field checks,
and the one-JSON-line-per-decision log.

Clients make a single attempt because the state machine owns retries (with backoff and a
visible history); a handler that also retried would multiply attempts and hide them.
"""
from aws_lambda_powertools import Logger

from handlers.errors import InvalidEvent


def single_attempt_client(service_name: str):
    # boto3 is imported here rather than at the top so that the filter function, which calls no
    # AWS service, does not pay boto3's import (about a third of a second) on every cold start.
    import boto3
    from botocore.config import Config

    return boto3.client(service_name, config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def json_object(event) -> dict:
    """The state input, which must be a JSON object (InvalidEvent otherwise)."""
    if not isinstance(event, dict):
        raise InvalidEvent(f"the state input must be a JSON object, got {type(event).__name__}")
    return event


def non_empty_text(value, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidEvent(f"the event needs a non-empty text field {field!r}, got {value!r}"[:300])
    return value


def required_text(event: dict, field: str) -> str:
    return non_empty_text(json_object(event).get(field), field)


def s3_uri(event: dict) -> str:
    """Where the image came from, for logs and messages (empty when the event does not say)."""
    if isinstance(event, dict) and event.get("s3_bucket") and event.get("s3_key"):
        return f"s3://{event['s3_bucket']}/{event['s3_key']}"
    return ""


def log_decision(logger: Logger, step: str, outcome: str, **fields) -> None:
    """Log one decision as a JSON line (Powertools' Logger): the step, its outcome ('serialized',
    'accepted', or the error's name) and what the decision was about (image, label, confidence,
    threshold, ...), each a top-level field beside Powertools' own (service, function_request_id,
    xray_trace_id, ...), so Logs Insights filters on them directly."""
    logger.info(outcome, step=step, outcome=outcome, stacklevel=3, **fields)  # located at the handler's call
