"""Register Challenger: the last state of the retraining pipeline.

Reads the evaluation the training job wrote into its model.tar.gz (metrics.json: the challenger
and its parent judged on the held-back newest reviewed photos and the CIFAR test images,
training/evaluation.py), writes it beside the model as evaluation.json, and registers the model
in the model package group with those metrics and PendingManualApproval: a person approves.
"""
import io
import json
import os
import tarfile

import boto3
from aws_lambda_powertools import Logger, Tracer

import settings
from handlers.retraining_errors import ChallengerNotEvaluated
from monitoring import storage

logger = Logger()
tracer = Tracer()

MODEL_PACKAGE_GROUP = os.environ[settings.ENV_MODEL_PACKAGE_GROUP]
INFERENCE_IMAGE = os.environ[settings.ENV_INFERENCE_IMAGE]
METRICS_FILE = "metrics.json"
CONTENT_TYPES = ["image/png", "image/jpeg", "image/webp"]
RESPONSE_TYPES = ["application/json", settings.ASSESSMENT_CONTENT_TYPE]

S3 = boto3.client("s3")
SAGEMAKER = boto3.client("sagemaker")


def evaluation_of(model_data: str) -> dict:
    """The challenger's and its parent's figures from metrics.json inside model.tar.gz."""
    archive = storage.read_bytes(model_data, S3)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as handle:
        try:
            metrics = json.loads(handle.extractfile(METRICS_FILE).read())
        except (KeyError, AttributeError):
            raise ChallengerNotEvaluated(f"{model_data} holds no {METRICS_FILE}") from None
    if "judged" not in metrics:
        raise ChallengerNotEvaluated(f"{model_data}'s {METRICS_FILE} has no evaluation ('judged')")
    return {"judged": metrics["judged"], "test": metrics.get("test"), "data": metrics.get("data"),
            "parent_model_version": metrics.get("parent_model_version"), "threshold": settings.DEFAULT_THRESHOLD}


def _ensure_group() -> None:
    try:
        SAGEMAKER.describe_model_package_group(ModelPackageGroupName=MODEL_PACKAGE_GROUP)
    except SAGEMAKER.exceptions.ClientError as error:
        if error.response["Error"]["Code"] not in ("ValidationException", "ResourceNotFound"):
            raise
        SAGEMAKER.create_model_package_group(
            ModelPackageGroupName=MODEL_PACKAGE_GROUP,
            ModelPackageGroupDescription="Bicycle-or-motorcycle classifiers retrained from reviewed photos")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    job = event["training_job"]
    model_data = job["ModelArtifacts"]["S3ModelArtifacts"]
    evaluation = evaluation_of(model_data)
    model = storage.parse_s3(model_data)
    bucket, evaluation_key = model.bucket, model.prefix.rsplit("/", 1)[0] + "/evaluation.json"
    S3.put_object(Bucket=bucket, Key=evaluation_key, Body=json.dumps(evaluation, indent=2).encode(),
                  ContentType="application/json")
    _ensure_group()
    challenger = evaluation["judged"].get("challenger", {}).get("holdout", {})
    package = SAGEMAKER.create_model_package(
        ModelPackageGroupName=MODEL_PACKAGE_GROUP,
        ModelPackageDescription=f"Trained by {job['TrainingJobName']} on dataset {event.get('manifest_sha256', '?')[:12]}",
        InferenceSpecification={"Containers": [{"Image": INFERENCE_IMAGE, "ModelDataUrl": model_data}],
                                "SupportedContentTypes": CONTENT_TYPES, "SupportedResponseMIMETypes": RESPONSE_TYPES},
        ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                      "S3Uri": f"s3://{bucket}/{evaluation_key}"}}},
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties={
            "training_job": job["TrainingJobName"],
            # The comparison of champion and challenger leaves out what the challenger trained on.
            settings.MODEL_PACKAGE_DATASET_PROPERTY: str(event.get("dataset_uri") or ""),
            "dataset_manifest_sha256": str(event.get("manifest_sha256", "")),
            "parent_model_version": str(evaluation.get("parent_model_version") or ""),
            "holdout_vehicles": str(challenger.get("vehicles", 0)),
            "holdout_routed_correct": str(challenger.get("routed_correct", 0)),
            "holdout_routed": str(challenger.get("routed", 0))})
    logger.info("Registered %s in %s (PendingManualApproval)", package["ModelPackageArn"], MODEL_PACKAGE_GROUP)
    return {"model_package_arn": package["ModelPackageArn"], "model_data": model_data,
            "evaluation": f"s3://{bucket}/{evaluation_key}", "judged": evaluation["judged"],
            "dataset_uri": event.get("dataset_uri")}
