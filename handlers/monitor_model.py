"""Monitor Model: judge the last window of the endpoint's data capture against the model's baseline.

Runs on a schedule (EventBridge, hourly by default). The window is the WINDOW_HOURS whole hours
before the schedule's time; the reports go below REPORTS_URI/<endpoint>/<schedule>/yyyy/mm/dd/hh/
(statistics.json, constraint_violations.json), the metrics to CloudWatch with Model Monitor's names
and dimensions, and a window with violations puts a ModelDeteriorated event on the decisions bus.
The judging is monitoring/monitor.py's, the same code the command line runs. The window is judged at
the routing threshold in force (the THRESHOLD_PARAMETER record); when that came from a certificate
and the audits since it break its promise, the threshold goes back to the conservative default.
"""
import json
import os
from datetime import datetime, timedelta, timezone

import boto3
from aws_lambda_powertools import Logger, Tracer

import settings
from monitoring import monitor, threshold_store
from monitoring.capture_format import hour_path, parse_inference_time

logger = Logger()
tracer = Tracer()

CAPTURE_URI = os.environ[settings.ENV_CAPTURE_URI]
BASELINE_URI = os.environ[settings.ENV_BASELINE_URI]
REPORTS_URI = os.environ[settings.ENV_REPORTS_URI]
GROUND_TRUTH_URI = os.environ.get(settings.ENV_GROUND_TRUTH_URI) or None
ENDPOINT_NAME = os.environ[settings.ENV_ENDPOINT_NAME]
SCHEDULE_NAME = os.environ[settings.ENV_MONITORING_SCHEDULE]
METRICS_NAMESPACE = os.environ[settings.ENV_METRICS_NAMESPACE]
DECISION_BUS = os.environ[settings.ENV_DECISION_BUS]
WINDOW_HOURS = int(os.environ.get(settings.ENV_WINDOW_HOURS) or 1)
THRESHOLD = float(os.environ.get(settings.ENV_THRESHOLD) or settings.DEFAULT_THRESHOLD)
THRESHOLD_PARAMETER = os.environ.get(settings.ENV_THRESHOLD_PARAMETER) or None
if WINDOW_HOURS < 1:
    raise ValueError(f"{settings.ENV_WINDOW_HOURS} must be at least 1, got {WINDOW_HOURS}")

# The monitor reads many capture files: these clients keep boto3's standard retries.
S3 = boto3.client("s3")
CLOUDWATCH = boto3.client("cloudwatch")
EVENTS = boto3.client("events")
SSM = boto3.client("ssm")


def window_of(event: dict) -> tuple:
    """(start, end): on the schedule, the WINDOW_HOURS whole hours before the scheduled time; run by
    hand (`sls invoke --function monitorModel`), the WINDOW_HOURS up to now; an event may also name
    its own window with "start" and "end" (ISO 8601), to judge an hour again."""
    event = event if isinstance(event, dict) else {}
    if event.get("start") and event.get("end"):
        return parse_inference_time(event["start"]), parse_inference_time(event["end"])
    if event.get("time"):
        end = parse_inference_time(event["time"]).replace(minute=0, second=0, microsecond=0)
    else:
        end = datetime.now(timezone.utc)
    return end - timedelta(hours=WINDOW_HOURS), end


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    start, end = window_of(event)
    output = f"{REPORTS_URI.rstrip('/')}/{ENDPOINT_NAME}/{SCHEDULE_NAME}/{hour_path(start)}"
    record = threshold_store.read(SSM, THRESHOLD_PARAMETER) if THRESHOLD_PARAMETER else None
    threshold = float(record["threshold"]) if record else THRESHOLD
    # The production variant's answers only: a shadow's are captured beside them, never served.
    result = monitor.run(CAPTURE_URI, BASELINE_URI, output, GROUND_TRUTH_URI, start, end, threshold, s3_client=S3,
                         cloudwatch=CLOUDWATCH, metrics_namespace=METRICS_NAMESPACE, endpoint_name=ENDPOINT_NAME,
                         schedule_name=SCHEDULE_NAME, variant=settings.DEFAULT_VARIANT_NAME, threshold_record=record)
    for line in result.lines:
        logger.info(line)
    if result.certificate_broken:
        threshold_store.reset(SSM, THRESHOLD_PARAMETER, f"the monitor found the certificate broken: "
                              f"{result.certificate.description()}", "monitorModel", THRESHOLD)
        logger.warning("Routing threshold back to the default %g: the certificate no longer holds", THRESHOLD)
    violations = result.violations["violations"]
    if violations:
        response = EVENTS.put_events(Entries=[{
            "Source": settings.DECISION_EVENT_SOURCE, "DetailType": settings.MODEL_DETERIORATED,
            "EventBusName": DECISION_BUS,
            "Detail": json.dumps({"endpoint_name": ENDPOINT_NAME, "monitoring_schedule": SCHEDULE_NAME,
                                  "window_start": start.isoformat(), "window_end": end.isoformat(),
                                  "items": result.verdict.items, "violations": violations,
                                  "report": result.locations["violations"]})}])
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"{settings.MODEL_DETERIORATED} was not put on {DECISION_BUS}: {response['Entries']}")
    return {"window_start": start.isoformat(), "window_end": end.isoformat(), "items": result.verdict.items,
            "enough_data": result.verdict.enough_data, "violations": len(violations), "threshold": threshold,
            "threshold_reset": result.certificate_broken,
            "reports": result.locations}
