"""Onboard a fleet offline: a folder of photos (or a manifest) through the deployed onboardFleet.

    python -m local.onboard FOLDER_OR_MANIFEST [--model-dir DIR]

A folder: every photo below it is a driver, whose id is the photo's path relative to the folder.
A manifest: a CSV with a driver_id,s3_key header whose s3_key names a photo file (relative to the
manifest's folder); rows naming no file are kept, and the run reports them. The photos are staged
into the stand-in's images bucket below onboarding/photos/, the manifest below
onboarding/manifests/, and onboardFleet runs as `sls invoke stepf --name onboardFleet` runs it in
the cloud. A progress bar follows the drivers; the summary is printed, and the report copied to
artifacts/onboarding/<run id>/report.csv. docs/onboarding.md says how to read it.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import settings
from handlers import onboarding
from local.aws import STAND_IN_LAMBDA_CONTAINERS
from local.product import (PHOTO_SUFFIXES, RunError, exit_status, quiet_expected_noise, require_model,
                           running_product)

ONBOARD_OUTPUT = "OnboardFleetStateMachineArn"
PHOTOS_PREFIX = f"{onboarding.ONBOARDING_PREFIX}/photos"
UPLOAD_THREADS = 8
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class StagedRow:
    driver_id: str
    s3_key: str
    photo: Optional[Path]      # the local file uploaded under s3_key (None: nothing to upload)


def rows_of_folder(folder: Path) -> list[StagedRow]:
    photos = sorted(path for path in folder.rglob("*") if path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        raise RunError(f"No photos ({', '.join(PHOTO_SUFFIXES)}) below {folder}.")
    return [StagedRow(path.relative_to(folder).as_posix(), f"{PHOTOS_PREFIX}/{path.relative_to(folder).as_posix()}",
                      path) for path in photos]


def rows_of_manifest(manifest: Path) -> list[StagedRow]:
    """The manifest's rows as written (bad ones too: the run reports them), each photo file found."""
    with manifest.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not set(onboarding.MANIFEST_COLUMNS) <= set(reader.fieldnames or ()):
            raise RunError(f"{manifest}: the first line must be the header {','.join(onboarding.MANIFEST_COLUMNS)}.")
        rows = []
        for row in reader:
            driver, name = (row.get("driver_id") or "").strip(), (row.get("s3_key") or "").strip()
            photo = (manifest.parent / name) if name else None
            found = photo is not None and photo.is_file()
            rows.append(StagedRow(driver, f"{PHOTOS_PREFIX}/{name}" if name else "", photo if found else None))
    return rows


def manifest_text(rows: list[StagedRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(onboarding.MANIFEST_COLUMNS)
    writer.writerows((row.driver_id, row.s3_key) for row in rows)
    return buffer.getvalue()


def stage(s3, bucket: str, rows: list[StagedRow], run_id: str, progress: bool = True) -> str:
    """Upload each distinct photo once, then the manifest; returns the manifest's key."""
    from tqdm import tqdm
    uploads = {row.s3_key: row.photo for row in rows if row.photo is not None}
    with ThreadPoolExecutor(max_workers=UPLOAD_THREADS, thread_name_prefix="stage") as pool:
        list(tqdm(pool.map(lambda item: s3.upload_file(str(item[1]), bucket, item[0]), uploads.items()),
                  total=len(uploads), desc="staging photos", unit="photo", disable=not progress))
    key = f"{onboarding.MANIFESTS_PREFIX}/{run_id}.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=manifest_text(rows).encode())
    return key


def run_onboarding(stepfunctions, s3, state_machine_arn: str, bucket: str, manifest_key: str, run_id: str,
                   rows: int, progress: bool = True, timeout_seconds: float = 3600,
                   stop_after: Optional[int] = None) -> dict:
    """Start onboardFleet (named run_id) and follow it: a progress bar over the drivers decided
    (finished chunks and refused rows). Returns the execution's description. With stop_after, the
    execution is stopped (as a person would abort it) once that many drivers are decided."""
    from tqdm import tqdm
    arn = stepfunctions.start_execution(stateMachineArn=state_machine_arn, name=run_id,
                                        input=json.dumps({"manifest_key": manifest_key}))["executionArn"]
    deadline = time.monotonic() + timeout_seconds
    sizes: dict = {}
    refused = 0
    with tqdm(total=rows, desc="onboarding drivers", unit="driver", disable=not progress) as bar:
        while True:
            description = stepfunctions.describe_execution(executionArn=arn)
            if not sizes:
                sizes, refused = _plan(s3, bucket, run_id)
            done = refused + sum(sizes.get(onboarding.chunk_key_of_result(key), 0)
                                 for key in _keys(s3, bucket, f"{onboarding.run_prefix(run_id)}/results/"))
            bar.update(max(0, min(rows, done) - bar.n))
            if stop_after is not None and done >= stop_after and description["status"] == "RUNNING":
                stepfunctions.stop_execution(executionArn=arn, error="Stopped", cause="stopped half-way on purpose")
                stop_after = None
                continue
            if description["status"] != "RUNNING":
                if description["status"] == "SUCCEEDED":
                    bar.update(rows - bar.n)
                return description
            if time.monotonic() > deadline:
                raise RunError(f"onboardFleet run {run_id} still running after {timeout_seconds:.0f} s")
            time.sleep(POLL_SECONDS)


def _plan(s3, bucket: str, run_id: str) -> tuple[dict, int]:
    """(rows per chunk, rows refused) once Prepare Onboarding has written them, else nothing yet."""
    try:
        chunks = onboarding.read_json(s3, bucket, onboarding.chunks_index_key(run_id))
        refused = onboarding.read_json(s3, bucket, onboarding.invalid_rows_key(run_id))
    except s3.exceptions.NoSuchKey:
        return {}, 0
    return {chunk["chunk_key"]: chunk["rows"] for chunk in chunks}, len(refused)


def _keys(s3, bucket: str, prefix: str) -> list[str]:
    return [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])]


def summary_lines(summary: dict) -> list[str]:
    lines = [f"{summary['rows']} drivers: {summary['routed']} routed ({summary['audited']} of them also audited), "
             f"{summary['review']} sent to a person, {summary['failed']} failed; "
             f"{summary['events_published']} decision events published by this run"
             + (f", {summary['decided_earlier']} decided by an earlier run" if summary["decided_earlier"] else "")]
    if summary["review_reasons"]:
        lines.append("Sent to a person because: " + ", ".join(f"{name} {count}" for name, count in
                                                                 summary["review_reasons"].items()))
    for row in summary["failed_rows"][:10]:
        lines.append(f"  failed, line {row['line']} ({row['driver_id'] or 'no driver'}): {row['reason']}")
    if len(summary["failed_rows"]) > 10:
        lines.append(f"  ... and {len(summary['failed_rows']) - 10} more failed rows in the report")
    return lines


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.onboard",
        description="Onboard a fleet offline: stage a folder of photos (each a driver, its id the path below the "
                    "folder) or the photos a CSV manifest (driver_id,s3_key; s3_key a file relative to the manifest) "
                    "names into the AWS stand-in, run the deployed onboardFleet state machine over them, print "
                    "the summary and copy the report to artifacts/onboarding/<run id>/report.csv.")
    parser.add_argument("source", type=Path, metavar="FOLDER_OR_MANIFEST", help="a folder of photos, or a .csv manifest")
    parser.add_argument("--model-dir", type=Path, default=settings.ARTIFACTS_DIR / "model",
                        help="the trained model the endpoint serves (default: %(default)s; `python -m local.run` "
                             "trains one)")
    parser.add_argument("--threshold", type=float, default=settings.DEFAULT_THRESHOLD,
                        help="the confidence threshold deployed (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=settings.LOCAL_ONBOARDING_DIR,
                        help="where each run's report goes, in a folder named after the run (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="the stand-in's port (default: a free one)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if not args.source.exists():
        parser.error(f"{args.source} does not exist")
    if not 0.0 < args.threshold <= 1.0:
        parser.error("--threshold must be in (0, 1]")
    return args


def onboard(args: argparse.Namespace) -> int:
    rows = rows_of_manifest(args.source) if args.source.is_file() else rows_of_folder(args.source)
    require_model(args.model_dir)
    run_id = "onboard-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    output = args.output / run_id
    scaled_out = {"lambda_containers": STAND_IN_LAMBDA_CONTAINERS}
    with quiet_expected_noise(), running_product(args.model_dir, settings.DEFAULT_ENDPOINT_NAME, args.port,
                                                 output / "captures", args.threshold,
                                                 stand_in_options=scaled_out) as product:
        s3, bucket = product.clients["s3"], product.workflow.images_bucket
        manifest_key = stage(s3, bucket, rows, run_id, progress=not args.quiet)
        started = time.perf_counter()
        description = run_onboarding(product.clients["stepfunctions"], s3,
                                     product.deployment.outputs[ONBOARD_OUTPUT], bucket, manifest_key, run_id,
                                     len(rows), progress=not args.quiet)
        seconds = time.perf_counter() - started
        if description["status"] != "SUCCEEDED":
            raise RunError(f"onboardFleet {description['status']}: {description.get('error')}: "
                           f"{description.get('cause')}")
        output.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, onboarding.report_key(run_id), str(output / "report.csv"))
        s3.download_file(bucket, onboarding.summary_key(run_id), str(output / "summary.json"))
        events = product.dispatch.received()
    summary = json.loads((output / "summary.json").read_text())
    print(f"onboardFleet run {run_id} finished in {seconds:.1f} s")
    for line in summary_lines(summary):
        print(line)
    print(f"Dispatch heard {events.get(settings.DRIVER_ROUTED, 0)} DriverRouted and "
          f"{events.get(settings.DRIVER_NEEDS_REVIEW, 0)} DriverNeedsReview events.")
    print(f"Report: {output / 'report.csv'}")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    return exit_status(lambda: onboard(args))


if __name__ == "__main__":
    sys.exit(main())
