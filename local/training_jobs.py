"""SageMaker training jobs that really train, on this machine, under SageMaker's contract.

moto records CreateTrainingJob and calls it Completed at once, running nothing. In the stand-in
(local/moto_gaps/ hooks this in), a job instead runs in the background as SageMaker would run a
script-mode job:

  - each channel of InputDataConfig is copied from its S3 prefix (or object) to
    <job>/input/data/<channel>/, keeping the keys' relative paths;
  - the code is the job's `sagemaker_submit_directory` (a sourcedir.tar.gz in S3) and its entry
    point `sagemaker_program`, as the SageMaker SDK and training/launch.py set them;
  - the other hyperparameters become `--name value` arguments (JSON-encoded strings, as the SDK
    writes them, are decoded), and SM_MODEL_DIR, SM_CHANNEL_<NAME>, SM_CHANNELS, SM_HPS,
    SM_NUM_CPUS, SM_OUTPUT_DATA_DIR are set;
  - model.tar.gz of the model directory goes to <S3OutputPath>/<job>/output/model.tar.gz;
  - DescribeTrainingJob says InProgress meanwhile, then Completed (with FinalMetricDataList from
    the job's MetricDefinitions) or Failed with the script's last error lines as FailureReason.
"""
from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from monitoring import storage
from training.archives import model_archive

logger = logging.getLogger(__name__)

# Hyperparameters the SageMaker SDK adds for its own containers; never passed to the script.
SDK_HYPERPARAMETERS = ("sagemaker_program", "sagemaker_submit_directory", "sagemaker_container_log_level",
                       "sagemaker_job_name", "sagemaker_region")
FAILURE_REASON_CHARACTERS = 1024
DEFAULT_MAX_RUNTIME_SECONDS = 86400


def _decoded(value: str) -> str:
    """The SDK JSON-encodes hyperparameter values ('"40"'); plain strings pass unchanged."""
    try:
        decoded = json.loads(value)
    except (TypeError, ValueError):
        return value
    return decoded if isinstance(decoded, str) else value


def download_channel(s3, uri: str, destination: Path) -> int:
    """Copy an S3 prefix (or one object) below destination, keeping relative keys; returns files."""
    location = storage.parse_s3(uri)
    bucket, prefix = location.bucket, location.prefix
    destination.mkdir(parents=True, exist_ok=True)
    copied = 0
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            relative = key[len(prefix):].lstrip("/") or Path(key).name
            if key.endswith("/"):
                continue
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(target))
            copied += 1
    return copied


def final_metrics(definitions: list, output: str) -> list:
    """The last value each MetricDefinitions regex finds in the job's output."""
    found = []
    now = datetime.now(timezone.utc)
    for definition in definitions or []:
        values = re.findall(definition["Regex"], output, flags=re.MULTILINE)
        if values:
            last = values[-1][0] if isinstance(values[-1], tuple) else values[-1]
            try:
                found.append({"MetricName": definition["Name"], "Value": float(last), "Timestamp": now})
            except ValueError:
                continue
    return found


class TrainingJobRunner:
    """Runs one recorded training job in a thread, and keeps moto's record of it up to date."""

    def __init__(self, job, s3_client_factory: Callable[[], object], work_root: Optional[Path] = None):
        self.job = job
        self.s3_client_factory = s3_client_factory
        self.work_root = work_root

    def start(self) -> threading.Thread:
        job = self.job
        job.training_job_status, job.secondary_status = "InProgress", "Starting"
        job.training_end_time = None
        job.final_metric_data_list = []
        thread = threading.Thread(target=self._run_and_record, name=f"training-job-{job.training_job_name}", daemon=True)
        thread.start()
        return thread

    def _run_and_record(self) -> None:
        job = self.job
        try:
            output = self._run()
        except Exception as error:  # noqa: BLE001 - every failure is the job's FailureReason, as on SageMaker
            job.training_job_status, job.secondary_status = "Failed", "Failed"
            job.failure_reason = str(error)[-FAILURE_REASON_CHARACTERS:]
            logger.warning("Training job %s failed: %s", job.training_job_name, job.failure_reason)
        else:
            job.final_metric_data_list = final_metrics(job.algorithm_specification.get("MetricDefinitions"), output)
            job.training_job_status, job.secondary_status = "Completed", "Completed"
        job.training_end_time = job.last_modified_time = datetime.now(timezone.utc)

    def _run(self) -> str:
        job, s3 = self.job, self.s3_client_factory()
        hyperparameters = {name: _decoded(value) for name, value in (job.hyper_parameters or {}).items()}
        with tempfile.TemporaryDirectory(prefix=f"{job.training_job_name}-", dir=self.work_root) as scratch:
            root = Path(scratch)
            job.secondary_status = "Downloading"
            channels = {}
            for channel in job.input_data_config or []:
                name = channel["ChannelName"]
                uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
                channels[name] = root / "input" / "data" / name
                if not download_channel(s3, uri, channels[name]):
                    raise RuntimeError(f"ClientError: channel {name!r} has no data at {uri}")
            code_dir = root / "code"
            program = self._fetch_code(s3, hyperparameters, code_dir)
            model_dir, output_dir = root / "model", root / "output" / "data"
            model_dir.mkdir(parents=True)
            output_dir.mkdir(parents=True)
            arguments = [item for name, value in hyperparameters.items() if name not in SDK_HYPERPARAMETERS
                         for item in (f"--{name}", value)]
            environment = {**os.environ, "SM_MODEL_DIR": str(model_dir), "SM_OUTPUT_DATA_DIR": str(output_dir),
                           "SM_NUM_CPUS": str(os.cpu_count() or 1), "SM_CHANNELS": json.dumps(sorted(channels)),
                           "SM_HPS": json.dumps({k: v for k, v in hyperparameters.items() if k not in SDK_HYPERPARAMETERS}),
                           "SM_CURRENT_HOST": "algo-1", "PYTHONUNBUFFERED": "1",
                           **{f"SM_CHANNEL_{name.upper()}": str(path) for name, path in channels.items()}}
            environment.pop("PYTHONPATH", None)
            job.secondary_status = "Training"
            limit = (job.stopping_condition or {}).get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS)
            try:
                completed = subprocess.run([sys.executable, program, *arguments], cwd=code_dir, env=environment,
                                           capture_output=True, text=True, timeout=float(limit))
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"MaxRuntimeExceeded: the job ran longer than {limit} s") from None
            if completed.returncode != 0:
                tail = (completed.stderr or completed.stdout).strip().splitlines()[-8:]
                raise RuntimeError(f"AlgorithmError: {program} exited with {completed.returncode}: " + " | ".join(tail))
            job.secondary_status = "Uploading"
            output = storage.parse_s3(job.model_artifacts["S3ModelArtifacts"])
            s3.put_object(Bucket=output.bucket, Key=output.prefix, Body=model_archive(model_dir))
            return completed.stdout

    @staticmethod
    def _fetch_code(s3, hyperparameters: dict, code_dir: Path) -> str:
        """Unpack sagemaker_submit_directory and return the path of sagemaker_program in it."""
        submit = hyperparameters.get("sagemaker_submit_directory")
        program = hyperparameters.get("sagemaker_program")
        if not submit or not program:
            raise RuntimeError("ClientError: script mode needs the hyperparameters sagemaker_program and "
                               "sagemaker_submit_directory (an s3:// sourcedir.tar.gz)")
        archive = storage.read_bytes(submit, s3)
        code_dir.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as handle:
            handle.extractall(code_dir, filter="data")
        entry = code_dir / program
        if not entry.is_file():
            raise RuntimeError(f"ClientError: {program} is not in {submit}")
        return str(entry)
