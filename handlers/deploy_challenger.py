"""Deploy Challenger: the first state of deployChallenger, run when a model package is approved.

EventBridge hands over SageMaker's "Model Package State Change" event (or a person starts the
state machine with {"model_package_arn": ...}); the package's model becomes the endpoint's shadow
variant, sent a copy of SHADOW_SHARE percent of the requests, both variants captured
(training/rollout.py, the code `python -m training.launch shadow` runs). A package the endpoint
already serves (the champion, approved when it was promoted) is left alone.
"""
import os

import boto3
from aws_lambda_powertools import Logger, Tracer

import settings
from training import rollout

logger = Logger()
tracer = Tracer()

ENDPOINT_NAME = os.environ[settings.ENV_ENDPOINT_NAME]
MODEL_ROLE_ARN = os.environ[settings.ENV_MODEL_ROLE_ARN]
SHADOW_SHARE = float(os.environ.get(settings.ENV_SHADOW_SHARE) or 100)
POLL_SECONDS = int(os.environ.get(settings.ENV_POLL_SECONDS) or 60)

SAGEMAKER = boto3.client("sagemaker")


def package_of(event: dict) -> str:
    arn = (event.get("detail") or {}).get("ModelPackageArn") or event.get("model_package_arn")
    if not arn:
        raise ValueError("the input names no model package: give {\"model_package_arn\": ...} or SageMaker's "
                         "Model Package State Change event")
    return arn


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    arn = package_of(event.get("input", event))
    challenger = rollout.challenger_from_package(SAGEMAKER, arn, MODEL_ROLE_ARN)
    if challenger.model_data in rollout.serving_model_data(SAGEMAKER, ENDPOINT_NAME):
        logger.info("%s already serves %s: nothing to deploy", ENDPOINT_NAME, challenger.model_data)
        return {"deployed": False, "endpoint_name": ENDPOINT_NAME, "model_package_arn": arn, "model_data": challenger.model_data,
                "reason": "the endpoint already serves this model"}
    config = rollout.deploy_shadow(SAGEMAKER, ENDPOINT_NAME, challenger, SHADOW_SHARE)
    logger.info("%s shadows %g%% of its requests to %s (%s)", ENDPOINT_NAME, SHADOW_SHARE, challenger.model_data, config)
    return {"deployed": True, "endpoint_name": ENDPOINT_NAME, "model_package_arn": arn,
            "model_data": challenger.model_data, "endpoint_config": config, "shadow_share": SHADOW_SHARE,
            "poll_seconds": POLL_SECONDS}
