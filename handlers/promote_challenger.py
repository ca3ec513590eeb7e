"""Promote Challenger: make the shadow's model the production variant, guarded.

Blue/green with a canary step (CANARY_PERCENT of the capacity for CANARY_WAIT_SECONDS), rolled back
by SageMaker when any of ROLLBACK_ALARMS fires; the champion's config is kept in the endpoint's tags
for `python -m training.launch rollback`, and the model package is marked approved
(training/rollout.py, the code `python -m training.launch promote` runs). A new model has no
certificate of its own yet: the routing threshold goes back to the conservative default
(monitoring/threshold_store.py) as its canary starts.
"""
import os

import boto3
from aws_lambda_powertools import Logger, Tracer

import settings
from monitoring import threshold_store
from training import rollout

logger = Logger()
tracer = Tracer()

ENDPOINT_NAME = os.environ[settings.ENV_ENDPOINT_NAME]
ROLLBACK_ALARMS = [name for name in (os.environ.get(settings.ENV_ROLLBACK_ALARMS) or "").split(",") if name]
CANARY_PERCENT = int(os.environ.get(settings.ENV_CANARY_PERCENT) or rollout.DEFAULT_CANARY_PERCENT)
CANARY_WAIT_SECONDS = int(os.environ.get(settings.ENV_CANARY_WAIT_SECONDS) or rollout.DEFAULT_CANARY_WAIT_SECONDS)
POLL_SECONDS = int(os.environ.get(settings.ENV_POLL_SECONDS) or 60)
THRESHOLD_PARAMETER = os.environ.get(settings.ENV_THRESHOLD_PARAMETER) or None
DEFAULT_THRESHOLD = float(os.environ.get(settings.ENV_THRESHOLD) or settings.DEFAULT_THRESHOLD)

SAGEMAKER = boto3.client("sagemaker")
SSM = boto3.client("ssm")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    promoted = rollout.promote(SAGEMAKER, ENDPOINT_NAME, ROLLBACK_ALARMS, CANARY_PERCENT, CANARY_WAIT_SECONDS)
    if THRESHOLD_PARAMETER:
        threshold_store.reset(SSM, THRESHOLD_PARAMETER, f"promotion of {promoted['model_data']}: a new model has no "
                              "certificate of its own", "promoteChallenger", DEFAULT_THRESHOLD)
    logger.info("Promoting %s on %s (canary %d%% for %d s, rolled back by %s)", promoted["model_data"],
                ENDPOINT_NAME, CANARY_PERCENT, CANARY_WAIT_SECONDS, ", ".join(ROLLBACK_ALARMS))
    return {**promoted, "endpoint_name": ENDPOINT_NAME, "rollback_alarms": ROLLBACK_ALARMS,
            "poll_seconds": POLL_SECONDS}
