"""Hand Over Baseline: once a promotion has held, the new champion's baseline becomes the monitor's.

Copies baseline/statistics.json and constraints.json out of the promoted model.tar.gz to
BASELINE_URI, where monitorModel reads them (training/rollout.py, as `launch promote` does).
"""
import os

import boto3
from aws_lambda_powertools import Logger, Tracer

import settings
from training import rollout

logger = Logger()
tracer = Tracer()

BASELINE_URI = os.environ[settings.ENV_BASELINE_URI]

S3 = boto3.client("s3")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    model_data = event["model_data"]
    published = rollout.hand_over_baseline(S3, model_data, BASELINE_URI)
    logger.info("The monitor's baseline (%s) is now %s's", BASELINE_URI, model_data)
    return {"baseline_uri": BASELINE_URI, "model_data": model_data, "published": published}
