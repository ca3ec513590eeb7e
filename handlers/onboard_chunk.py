"""Onboard Chunk: decide every driver of one chunk of a fleet's manifest, once, across reruns.

Each photo goes the per-photo workflow's way, through the same code: read and normalised by
serialize_image.read_normalized, assessed by the endpoint through classify_image.assess (the
serving contract), decided by routing_rule.decide (Check Confidence's rule: threshold, unusable
reasons, audit share). A photo the workflow would refuse (not an image, too large, gone) goes to a
person under the error's name, as the per-photo workflow sends it.

Exactly once, and resumable: a driver's photo has a claim id (onboarding.inference_id: driver, key,
ETag). A decision is written to the claims table under it (conditional: the first writer wins)
before anything is published, and marked published after. So a rerun of the manifest publishes
nothing twice, a chunk retried after a crash publishes only what was not yet published, and
photos already decided are never sent to the endpoint again. Transient failures (endpoint, S3,
DynamoDB, EventBridge or SQS throttled) are raised after what was decided is published: the
state machine retries the chunk, which then finishes only what is left.
"""
import json
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

import settings
from handlers import classify_image, onboarding, routing_rule, serialize_image
from handlers.errors import EndpointUnavailable, ImageStoreUnavailable, WorkflowError
from handlers.onboarding_errors import DecisionStoreUnavailable
from handlers.routing_threshold import ThresholdSource, current_threshold
from handlers.support import log_decision, required_text, single_attempt_client

STEP = "onboard_chunk"
# The rule's inputs, read as Check Confidence reads them (handlers/routing_rule.py): the threshold in
# force per chunk from the stack's parameter (handlers/routing_threshold.py), the audit share at start.
THRESHOLD_SOURCE = ThresholdSource.from_environment()
AUDIT_RATE = routing_rule.audit_rate_from_environment()
CLAIMS_TABLE = os.environ.get(settings.ENV_CLAIMS_TABLE, "")
DECISION_BUS = os.environ.get(settings.ENV_DECISION_BUS, "")
REVIEW_QUEUE_URL = os.environ.get(settings.ENV_REVIEW_QUEUE_URL, "")
WORKERS = int(os.environ.get(settings.ENV_CHUNK_WORKERS) or 8)
if not 1 <= WORKERS <= 64:
    raise ValueError(f"{settings.ENV_CHUNK_WORKERS} must be between 1 and 64, got {WORKERS}")
TRANSIENT = (EndpointUnavailable, ImageStoreUnavailable, DecisionStoreUnavailable)
EVENTS_PER_CALL, MESSAGES_PER_CALL, KEYS_PER_READ, ITEMS_PER_WRITE = 10, 10, 100, 25

logger = Logger()
s3 = single_attempt_client("s3")
dynamodb = single_attempt_client("dynamodb")
events = single_attempt_client("events")
sqs = single_attempt_client("sqs")


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    bucket, chunk, run_id = (required_text(event, field) for field in ("s3_bucket", "chunk_key", "run_id"))
    execution = event.get("execution") or ""
    rows = [onboarding.Row(**row) for row in onboarding.read_json(s3, bucket, chunk)["rows"]]
    claim_ids = {row.driver_id: onboarding.inference_id(row) for row in rows}
    decided = _decisions_so_far(list(claim_ids.values()))
    undecided = [row for row in rows if claim_ids[row.driver_id] not in decided]
    threshold = current_threshold(THRESHOLD_SOURCE)
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="onboard") as pool:
        outcomes = list(pool.map(
            lambda row: _decide(row, claim_ids[row.driver_id], bucket, run_id, execution, threshold), undecided))
    decided.update({item["inference_id"]: item for item in outcomes if isinstance(item, dict)})
    _publish([item for item in decided.values() if not item.get("published")], run_id)
    transient = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    lines = [_report_line(row, decided[claim_ids[row.driver_id]]) if claim_ids[row.driver_id] in decided
             else onboarding.report_line(row.driver_id, row.s3_key, onboarding.FAILED, line=row.line,
                                         reason=f"{type(transient[0]).__name__}: {transient[0]} (after the retries, "
                                                "a rerun of the manifest finishes it)")
             for row in rows]
    # Events this run put for the chunk, over all its attempts: a retry must not forget the first's.
    published_now = sum(item.get("published_in_run") == run_id for item in decided.values())
    onboarding.write_json(s3, bucket, onboarding.result_key(chunk), {"rows": lines, "published_now": published_now})
    if transient:  # what was decided is published and reported; the state machine's retry does the rest
        log_decision(logger, STEP, type(transient[0]).__name__, chunk=chunk, undecided=len(transient),
                     reason=str(transient[0]))
        raise transient[0]
    counts = {decision: sum(line["decision"] == decision for line in lines) for decision in onboarding.DECISIONS}
    log_decision(logger, STEP, "onboarded", chunk=chunk, rows=len(rows), published_now=published_now, **counts)
    return {"chunk_key": chunk, "rows": len(rows), "published_now": published_now, **counts}


def _decide(row: onboarding.Row, claim_id: str, bucket: str, run_id: str, execution: str, threshold: float):
    """The claimed decision for one driver (an earlier writer's, if it won the claim), or the
    transient error that kept this one from being decided now."""
    location = f"s3://{bucket}/{row.s3_key}"
    item = {"inference_id": claim_id, "driver_id": row.driver_id, "s3_key": row.s3_key, "s3_bucket": bucket,
            "etag": row.etag, "decided_in_run": run_id, "execution": execution, "published": False,
            "claimed_at": datetime.now(timezone.utc).isoformat(), "endpoint_name": classify_image.ENDPOINT_NAME}
    try:
        _, image, content_type, _ = serialize_image.read_normalized({"s3_bucket": bucket, "s3_key": row.s3_key})
        probabilities, reasons = classify_image.assess(image, content_type, claim_id)
        label, confidence = classify_image.top_class(probabilities)
        decision = routing_rule.decide(label, confidence, not reasons, reasons, claim_id, threshold, AUDIT_RATE,
                                       image=location)
        item.update(decision=decision.outcome, label=label, confidence=confidence, threshold=threshold,
                    route=decision.route, audit=decision.audit, reason=decision.reason, message=decision.message,
                    unusable_reasons=json.dumps(reasons))
    except TRANSIENT as error:
        return error
    except WorkflowError as error:  # refused as the per-photo workflow refuses it: a person decides
        item.update(decision=routing_rule.REVIEW, reason=type(error).__name__, message=str(error))
    return _claim(item)


def _claim(item: dict) -> dict:
    try:
        dynamodb.put_item(TableName=CLAIMS_TABLE, Item=_attributes(item),
                          ConditionExpression="attribute_not_exists(inference_id)")
        return item
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            return _store_error(error)
    except BotoCoreError as error:
        return _store_error(error)
    try:  # another run decided this driver first: its decision stands
        return _values(dynamodb.get_item(TableName=CLAIMS_TABLE, Key={"inference_id": {"S": item["inference_id"]}},
                                         ConsistentRead=True)["Item"])
    except (ClientError, BotoCoreError) as error:
        return _store_error(error)


def _decisions_so_far(claim_ids: list) -> dict:
    """The claims already decided for these ids (by an earlier run, or this one before a retry)."""
    found = {}
    for start in range(0, len(claim_ids), KEYS_PER_READ):
        request = {CLAIMS_TABLE: {"Keys": [{"inference_id": {"S": claim_id}}
                                           for claim_id in claim_ids[start:start + KEYS_PER_READ]],
                                  "ConsistentRead": True}}
        for _ in range(5):  # DynamoDB may leave keys unprocessed under load; they are asked again
            try:
                answer = dynamodb.batch_get_item(RequestItems=request)
            except (ClientError, BotoCoreError) as error:
                raise _store_error(error) from error
            for attributes in answer["Responses"].get(CLAIMS_TABLE, []):
                item = _values(attributes)
                found[item["inference_id"]] = item
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
        if request:
            raise DecisionStoreUnavailable(f"DynamoDB left {CLAIMS_TABLE}'s claims unread after 5 calls")
    return found


def _publish(items: list, run_id: str) -> None:
    """Review requests and audits on the queue, then DriverRouted and DriverNeedsReview on the bus,
    shaped as the per-photo workflow's; then the claims marked published (by this run)."""
    now = datetime.now(timezone.utc).isoformat()
    messages = [_queue_message(item, now) for item in items
                if item["decision"] == routing_rule.REVIEW or item.get("audit")]
    for start in range(0, len(messages), MESSAGES_PER_CALL):
        batch = [{"Id": str(number), "MessageBody": json.dumps(body)}
                 for number, body in enumerate(messages[start:start + MESSAGES_PER_CALL])]
        answer = _call(sqs.send_message_batch, QueueUrl=REVIEW_QUEUE_URL, Entries=batch)
        if answer.get("Failed"):
            raise DecisionStoreUnavailable(f"SQS refused {len(answer['Failed'])} review requests: {answer['Failed'][0]}")
    entries = [_bus_event(item) for item in items]
    for start in range(0, len(entries), EVENTS_PER_CALL):
        answer = _call(events.put_events, Entries=entries[start:start + EVENTS_PER_CALL])
        if answer.get("FailedEntryCount"):
            raise DecisionStoreUnavailable(f"EventBridge refused {answer['FailedEntryCount']} decision events")
    for item in items:
        item.update(published=True, published_in_run=run_id)
    for start in range(0, len(items), ITEMS_PER_WRITE):
        request = {CLAIMS_TABLE: [{"PutRequest": {"Item": _attributes(item)}}
                                  for item in items[start:start + ITEMS_PER_WRITE]]}
        for _ in range(5):
            request = _call(dynamodb.batch_write_item, RequestItems=request).get("UnprocessedItems") or {}
            if not request:
                break
        if request:
            raise DecisionStoreUnavailable(f"DynamoDB left claims of {CLAIMS_TABLE} unmarked after 5 calls")


def _bus_event(item: dict) -> dict:
    common = {"image": f"s3://{item['s3_bucket']}/{item['s3_key']}", "s3_bucket": item["s3_bucket"],
              "s3_key": item["s3_key"], "driver_id": item["driver_id"], "label": item.get("label"),
              "confidence": item.get("confidence"), "inference_id": item["inference_id"],
              "execution": item.get("execution")}
    if item["decision"] == routing_rule.ROUTED:
        detail, detail_type = {**common, "route": item["route"], "threshold": item["threshold"],
                               "endpoint_name": item["endpoint_name"]}, settings.DRIVER_ROUTED
    else:
        detail, detail_type = {**common, "reason": item["reason"]}, settings.DRIVER_NEEDS_REVIEW
    return {"EventBusName": DECISION_BUS, "Source": settings.DECISION_EVENT_SOURCE, "DetailType": detail_type,
            "Detail": json.dumps(detail)}


def _queue_message(item: dict, now: str) -> dict:
    body = {"image": f"s3://{item['s3_bucket']}/{item['s3_key']}", "s3_bucket": item["s3_bucket"],
            "s3_key": item["s3_key"], "driver_id": item["driver_id"], "inference_id": item["inference_id"],
            "label": item.get("label"), "confidence": item.get("confidence"), "execution": item.get("execution"),
            "requested_at": now}
    if item["decision"] == routing_rule.ROUTED:
        return {"kind": settings.AUDIT_REQUEST, "reason": "Audit", "route": item["route"],
                "threshold": item["threshold"], **body}
    return {"kind": settings.REVIEW_REQUEST, "reason": item["reason"], "cause": item.get("message"),
            "unusable_reasons": json.loads(item.get("unusable_reasons") or "[]"), **body}


def _report_line(row: onboarding.Row, item: dict) -> dict:
    reason = (f"{item['reason']}: {item.get('message') or ''}".rstrip(": ") if item["decision"] == routing_rule.REVIEW
              else "")
    return onboarding.report_line(row.driver_id, row.s3_key, item["decision"], item.get("label"),
                                  item.get("confidence"), reason, item.get("route"), bool(item.get("audit")),
                                  item["inference_id"], item.get("decided_in_run", ""), row.line)


def _call(operation, **arguments) -> dict:
    try:
        return operation(**arguments)
    except (ClientError, BotoCoreError) as error:
        raise _store_error(error) from error


def _store_error(error: Exception) -> DecisionStoreUnavailable:
    return DecisionStoreUnavailable(f"a decision could not be stored or published: {error}")


def _attributes(item: dict) -> dict:
    """A claim as DynamoDB attributes (numbers as N, flags as BOOL; absent values left out)."""
    attributes = {}
    for name, value in item.items():
        if value is None:
            continue
        if isinstance(value, bool):
            attributes[name] = {"BOOL": value}
        elif isinstance(value, (int, float)):
            attributes[name] = {"N": repr(float(value))}
        else:
            attributes[name] = {"S": str(value)}
    return attributes


def _values(attributes: dict) -> dict:
    values = {}
    for name, typed in attributes.items():
        [(kind, value)] = typed.items()
        values[name] = float(value) if kind == "N" else value
    return values
