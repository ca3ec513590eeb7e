"""Promote Challenger: make the shadow's model the production variant, guarded.

Blue/green with a canary step (CANARY_PERCENT of the capacity for CANARY_WAIT_SECONDS), rolled back
by SageMaker when any of ROLLBACK_ALARMS fires; the champion's config is kept in the endpoint's tags
for `python -m training.launch rollback`, and the model package is marked approved
(training/rollout.py, the code `python -m training.launch promote` runs).
"""
import os

import boto3
from aws_lambda_powertools import Logger, Tracer

import settings
from training import rollout

logger = Logger()
tracer = Tracer()

ENDPOINT_NAME = os.environ[settings.ENV_ENDPOINT_NAME]
ROLLBACK_ALARMS = [name for name in (os.environ.get(settings.ENV_ROLLBACK_ALARMS) or "").split(",") if name]
CANARY_PERCENT = int(os.environ.get(settings.ENV_CANARY_PERCENT) or rollout.DEFAULT_CANARY_PERCENT)
CANARY_WAIT_SECONDS = int(os.environ.get(settings.ENV_CANARY_WAIT_SECONDS) or rollout.DEFAULT_CANARY_WAIT_SECONDS)
POLL_SECONDS = int(os.environ.get(settings.ENV_POLL_SECONDS) or 60)

SAGEMAKER = boto3.client("sagemaker")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    promoted = rollout.promote(SAGEMAKER, ENDPOINT_NAME, ROLLBACK_ALARMS, CANARY_PERCENT, CANARY_WAIT_SECONDS)
    logger.info("Promoting %s on %s (canary %d%% for %d s, rolled back by %s)", promoted["model_data"],
                ENDPOINT_NAME, CANARY_PERCENT, CANARY_WAIT_SECONDS, ", ".join(ROLLBACK_ALARMS))
    return {**promoted, "endpoint_name": ENDPOINT_NAME, "rollback_alarms": ROLLBACK_ALARMS,
            "poll_seconds": POLL_SECONDS}
