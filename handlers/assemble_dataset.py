"""Assemble Dataset: the first state of the retraining pipeline.

Turns the review loop's answers into a training channel (training/dataset.py, over S3), below
DATASETS_URI/<run>/, and returns the training job the next state starts: its name, channels (the
base data, the reviewed and held-back photos, the parent model), code, container and
hyperparameters (HYPERPARAMETERS, with the execution input's "hyperparameters" on top, so a
rehearsal can train a tiny network). Fewer new labelled photos than MIN_NEW_LABELS raise
NotEnoughNewLabels: the pipeline ends without training.
"""
import hashlib
import json
import os
import re

import boto3
from aws_lambda_powertools import Logger, Tracer

import settings
from handlers.retraining_errors import NotEnoughNewLabels
from training import dataset

logger = Logger()
tracer = Tracer()

GROUND_TRUTH_URI = os.environ[settings.ENV_GROUND_TRUTH_URI]
CAPTURE_URI = os.environ[settings.ENV_CAPTURE_URI]
DATASETS_URI = os.environ[settings.ENV_DATASETS_URI].rstrip("/")
BASE_DATA_URI = os.environ[settings.ENV_BASE_DATA_URI].rstrip("/")
MIN_NEW_LABELS = int(os.environ.get(settings.ENV_MIN_NEW_LABELS) or dataset.DEFAULT_MIN_NEW_LABELS)
HOLDOUT_SHARE = float(os.environ.get(settings.ENV_HOLDOUT_SHARE) or dataset.DEFAULT_HOLDOUT_SHARE)
HYPERPARAMETERS = json.loads(os.environ.get(settings.ENV_HYPERPARAMETERS) or "{}")
POLL_SECONDS = int(os.environ.get(settings.ENV_POLL_SECONDS) or 60)
TRAINING_IMAGE = os.environ[settings.ENV_TRAINING_IMAGE]
TRAINING_INSTANCE_TYPE = os.environ.get(settings.ENV_TRAINING_INSTANCE_TYPE) or "ml.m5.xlarge"
SOURCE_CODE_URI = os.environ[settings.ENV_SOURCE_CODE_URI]
MODELS_URI = os.environ[settings.ENV_MODELS_URI].rstrip("/")
PARENT_MODEL_URI = os.environ.get(settings.ENV_PARENT_MODEL_URI) or None
ENTRY_POINT = "train.py"
MAX_RUNTIME_SECONDS = 6 * 3600
# SageMaker names: letters, digits and hyphens, at most 63.
_NOT_IN_A_NAME = re.compile(r"[^a-zA-Z0-9-]+")

S3 = boto3.client("s3")


def training_job_name(run: str) -> str:
    """retrain-<run>, made a valid SageMaker name; a long run name keeps a hash of itself."""
    cleaned = _NOT_IN_A_NAME.sub("-", run).strip("-") or "run"
    name = f"retrain-{cleaned}"
    if len(name) > 63:
        name = f"{name[:46].rstrip('-')}-{hashlib.sha256(run.encode()).hexdigest()[:16]}"
    return name


def channel(name: str, uri: str) -> dict:
    return {"ChannelName": name, "InputMode": "File", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}}}


def has_objects(uri: str) -> bool:
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    return S3.list_objects_v2(Bucket=bucket, Prefix=prefix.rstrip("/") + "/", MaxKeys=1).get("KeyCount", 0) > 0


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    run = str(event.get("run") or "manual")
    requested = event.get("input") if isinstance(event.get("input"), dict) else {}
    overrides = requested.get("hyperparameters") or {}
    if not isinstance(overrides, dict):
        raise ValueError(f"hyperparameters must be an object of train.py options, got {overrides!r}"[:200])
    name = training_job_name(run)
    channel_uri = f"{DATASETS_URI}/{name}"
    try:
        document = dataset.build(GROUND_TRUTH_URI, CAPTURE_URI, channel_uri, BASE_DATA_URI, HOLDOUT_SHARE,
                                 MIN_NEW_LABELS, s3_client=S3)
    except dataset.DatasetError as error:
        raise NotEnoughNewLabels(str(error)) from error
    logger.info("Assembled %s: %s, left out %s", channel_uri, document["counts"], document["left_out"])
    # As the SageMaker SDK writes them: JSON-encoded strings, plus the script-mode entry point.
    hyperparameters = {key: json.dumps(str(value)) for key, value in {**HYPERPARAMETERS, **overrides}.items()}
    hyperparameters.update(sagemaker_program=json.dumps(ENTRY_POINT), sagemaker_submit_directory=json.dumps(SOURCE_CODE_URI))
    # The ImageNet weights travel too: a parent of another architecture (or none) starts from them.
    channels = [channel("train", f"{BASE_DATA_URI}/train"), channel("test", f"{BASE_DATA_URI}/test"),
                channel(settings.PRETRAINED_CHANNEL, f"{BASE_DATA_URI}/{settings.PRETRAINED_CHANNEL}"),
                channel("reviewed", f"{channel_uri}/{dataset.REVIEWED_CHANNEL}"),
                channel("holdout", f"{channel_uri}/{dataset.HOLDOUT_CHANNEL}")]
    # The parent's real photos (training.stage_data's channel) stay, the reviewed ones add to them; base
    # data staged before there were real photos has no such channel (SageMaker refuses an empty one).
    real_uri = f"{BASE_DATA_URI}/{settings.REAL_CHANNEL}"
    if has_objects(real_uri):
        channels.append(channel(settings.REAL_CHANNEL, real_uri))
    # The model the endpoint serves now (the state machine looks it up), else the configured one.
    parent = event.get("parent_model_uri") or PARENT_MODEL_URI
    if parent:
        channels.append(channel("parent", parent))
    return {"training_job_name": name, "dataset_uri": channel_uri, "counts": document["counts"],
            "left_out": document["left_out"], "manifest_sha256": document["manifest_sha256"],
            "poll_seconds": POLL_SECONDS,
            "job": {"name": name, "image": TRAINING_IMAGE,
                    "hyperparameters": hyperparameters, "input_data_config": channels,
                    "output_path": MODELS_URI, "instance_type": TRAINING_INSTANCE_TYPE,
                    "max_runtime_seconds": MAX_RUNTIME_SECONDS}}
