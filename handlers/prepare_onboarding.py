"""Prepare Onboarding: read a fleet's CSV manifest, refuse its bad rows, and write its good rows in
chunks for the Distributed Map.

Bad rows (no driver, no key, a driver listed twice, a photo that is not in the bucket) go into the
run's invalid.json with their reason and never stop the good rows. The good rows are written as
chunk files (CHUNK_SIZE rows each) with each photo's ETag, plus chunks.json, the list the
Distributed Map's ItemReader reads. Writing the chunks here rather than with ItemBatcher lets the
same state machine run offline, where moto cannot parse ItemBatcher (docs/onboarding.md).
"""
import os

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

import settings
from handlers import onboarding
from handlers.onboarding_errors import InvalidManifest
from handlers.support import log_decision, required_text, single_attempt_client

STEP = "prepare_onboarding"
IMAGES_BUCKET = os.environ.get(settings.ENV_IMAGES_BUCKET, "")
CHUNK_SIZE = int(os.environ.get(settings.ENV_CHUNK_SIZE) or 100)
if not 1 <= CHUNK_SIZE <= 1000:
    raise ValueError(f"CHUNK_SIZE must be between 1 and 1000 rows, got {CHUNK_SIZE}")

logger = Logger()
s3 = single_attempt_client("s3")


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    run_id = required_text(event, "run_id")          # the execution's name
    request = event.get("request")                   # the execution's input
    if not isinstance(request, dict):
        raise InvalidManifest(f"start the run with {{\"manifest_key\": \"{onboarding.MANIFESTS_PREFIX}/...csv\"}}, "
                              f"got {request!r}"[:300])
    manifest_key = required_text(request, "manifest_key")
    bucket = request.get("s3_bucket") or IMAGES_BUCKET
    rows, refused = onboarding.parse_manifest(_manifest_text(bucket, manifest_key))
    etags = _etags(bucket, onboarding.common_prefix(row.s3_key for row in rows))
    found = []
    for row in rows:
        if row.s3_key in etags:
            found.append(onboarding.Row(row.line, row.driver_id, row.s3_key, etags[row.s3_key]))
        else:
            refused.append(onboarding.refused_row(row.line, row.driver_id, row.s3_key, onboarding.PHOTO_NOT_FOUND,
                                                  f"no photo at s3://{bucket}/{row.s3_key}"))
    chunks = []
    for number, rows_of_chunk in enumerate(onboarding.chunked(found, CHUNK_SIZE), start=1):
        key = onboarding.chunk_key(run_id, number)
        onboarding.write_json(s3, bucket, key, {"run_id": run_id, "rows": [row.as_dict() for row in rows_of_chunk]})
        chunks.append({"chunk_key": key, "rows": len(rows_of_chunk)})
    onboarding.write_json(s3, bucket, onboarding.chunks_index_key(run_id), chunks)
    onboarding.write_json(s3, bucket, onboarding.invalid_rows_key(run_id), refused)
    log_decision(logger, STEP, "prepared", manifest=f"s3://{bucket}/{manifest_key}", rows=len(found) + len(refused),
                 valid=len(found), refused=len(refused), chunks=len(chunks))
    return {"s3_bucket": bucket, "manifest_key": manifest_key, "run_id": run_id, "rows": len(found) + len(refused),
            "valid_rows": len(found), "refused_rows": len(refused), "chunk_count": len(chunks),
            "chunks_key": onboarding.chunks_index_key(run_id)}


def _manifest_text(bucket: str, key: str) -> str:
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        raise InvalidManifest(f"cannot read the manifest s3://{bucket}/{key}: "
                              f"{error.response.get('Error', {}).get('Code')}") from error
    if response["ContentLength"] > onboarding.MAX_MANIFEST_BYTES:
        raise InvalidManifest(f"the manifest s3://{bucket}/{key} has {response['ContentLength']} bytes, more than "
                              f"{onboarding.MAX_MANIFEST_BYTES}: split the fleet into several manifests")
    try:
        return response["Body"].read().decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidManifest(f"the manifest s3://{bucket}/{key} is not UTF-8 text: {error}") from error


def _etags(bucket: str, prefix: str) -> dict:
    """Every object below the prefix the rows share, with its ETag: a listing of 1,000 keys a call
    rather than a HeadObject a row."""
    etags = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            etags[item["Key"]] = item["ETag"].strip('"')
    return etags
