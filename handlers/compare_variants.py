"""Compare Variants: the first judgement of promoteChallenger.

Pairs the champion's and the shadow's captured answers on inference id, joins what people
answered (reviews and audits), leaves out the photos the challenger was trained on (its dataset's
manifest, named by the shadow model's tags), and returns monitoring.compare's figures and verdict:
the same code as `python -m monitoring.compare` and the report's side-by-side section.
"""
import os

import boto3
from aws_lambda_powertools import Logger, Tracer

import settings
from handlers.rollout_errors import NothingToCompare, TrainingManifestMissing
from monitoring import compare
from monitoring.ground_truth import read_ground_truth

logger = Logger()
tracer = Tracer()

CAPTURE_URI = os.environ[settings.ENV_CAPTURE_URI]
GROUND_TRUTH_URI = os.environ[settings.ENV_GROUND_TRUTH_URI]
THRESHOLD = float(os.environ.get(settings.ENV_THRESHOLD) or settings.DEFAULT_THRESHOLD)

S3 = boto3.client("s3")


def dataset_of(tags) -> str:
    """The challenger's dataset location from its model's tags (SageMaker's [{"Key", "Value"}])."""
    return {tag["Key"]: tag["Value"] for tag in tags or []}.get(settings.CHALLENGER_DATASET_TAG, "")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    champion = event.get("champion_variant") or settings.DEFAULT_VARIANT_NAME
    challenger = event.get("challenger_variant") or settings.CHALLENGER_VARIANT_NAME
    pairs = compare.read_pairs(CAPTURE_URI, champion, challenger, s3_client=S3)
    if not pairs:
        raise NothingToCompare(f"no inference below {CAPTURE_URI} was answered by both {champion} and {challenger}")
    labels, _ = read_ground_truth(GROUND_TRUTH_URI, s3_client=S3)
    dataset = dataset_of(event.get("tags")).rstrip("/")
    try:
        trained_on = compare.trained_photo_hashes(f"{dataset}/manifest.jsonl", S3) if dataset else set()
    except compare.ManifestNotFound as error:
        raise TrainingManifestMissing(str(error)) from error
    result = compare.compare(pairs, labels, THRESHOLD, trained_on=trained_on)
    for line in compare.table(result):
        logger.info(line)
    # The cases to look at stay in the report: the state's payload keeps only their number.
    result["checked_disagreements"] = len(result["checked_disagreements"])
    return result
