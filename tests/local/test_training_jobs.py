"""Training jobs in the stand-in really train: channels, code, hyperparameters, output, status."""
import io
import json
import tarfile
import time

import boto3
import numpy as np
import pytest
from moto import mock_aws
from PIL import Image

import settings
from local import moto_gaps
from training import archives, pretrained

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/mxnet-training:1.9.0-cpu-py38"


@pytest.fixture
def aws(dummy_aws_credentials):
    with mock_aws(), moto_gaps.bridged():
        boto3.client("s3").create_bucket(Bucket="jobs")
        yield boto3.client("s3"), boto3.client("sagemaker")


def put_code(s3, files: dict) -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    s3.put_object(Bucket="jobs", Key="code/sourcedir.tar.gz", Body=buffer.getvalue())
    return "s3://jobs/code/sourcedir.tar.gz"


def start(sagemaker, name, code, hyperparameters=None, channels=None, metrics=None):
    sagemaker.create_training_job(
        TrainingJobName=name, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File", "MetricDefinitions": metrics or []},
        HyperParameters={"sagemaker_program": '"train.py"', "sagemaker_submit_directory": json.dumps(code),
                         **(hyperparameters or {})},
        InputDataConfig=[{"ChannelName": channel, "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}}}
            for channel, uri in (channels or {}).items()],
        OutputDataConfig={"S3OutputPath": "s3://jobs/models"},
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 600})


def finished(sagemaker, name, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sagemaker.describe_training_job(TrainingJobName=name)
        if described["TrainingJobStatus"] not in ("InProgress", "Stopping"):
            return described
        time.sleep(0.2)
    pytest.fail(f"training job {name} did not finish in {timeout} s")


ECHO_SCRIPT = """import json, os, sys, pathlib
model = pathlib.Path(os.environ["SM_MODEL_DIR"])
channel = pathlib.Path(os.environ["SM_CHANNEL_TRAIN"])
(model / "seen.json").write_text(json.dumps({"argv": sys.argv[1:], "files": sorted(str(p.relative_to(channel))
    for p in channel.rglob("*") if p.is_file()), "channels": json.loads(os.environ["SM_CHANNELS"])}))
print("final test_accuracy=0.875")
"""


def test_a_job_runs_its_script_on_its_channels_and_leaves_model_tar_gz_where_sagemaker_does(aws):
    s3, sagemaker = aws
    s3.put_object(Bucket="jobs", Key="data/train/bicycle/a.png", Body=b"a")
    s3.put_object(Bucket="jobs", Key="data/train/motorcycle/b.png", Body=b"b")
    code = put_code(s3, {"train.py": ECHO_SCRIPT})

    start(sagemaker, "echo", code, {"epochs": '"3"'}, {"train": "s3://jobs/data/train"},
          [{"Name": "final:test_accuracy", "Regex": r"^final .*test_accuracy=([0-9.]+)"}])
    running = sagemaker.describe_training_job(TrainingJobName="echo")["TrainingJobStatus"]
    described = finished(sagemaker, "echo")

    assert running == "InProgress" and described["TrainingJobStatus"] == "Completed"
    assert described["ModelArtifacts"]["S3ModelArtifacts"] == "s3://jobs/models/echo/output/model.tar.gz"
    archive = s3.get_object(Bucket="jobs", Key="models/echo/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as handle:
        seen = json.loads(handle.extractfile("seen.json").read())
    assert seen == {"argv": ["--epochs", "3"], "files": ["bicycle/a.png", "motorcycle/b.png"], "channels": ["train"]}
    assert [(m["MetricName"], m["Value"]) for m in described["FinalMetricDataList"]] == [("final:test_accuracy", 0.875)]


def test_a_failing_script_fails_the_job_with_its_last_error_lines(aws):
    s3, sagemaker = aws
    s3.put_object(Bucket="jobs", Key="data/train/x.png", Body=b"x")
    code = put_code(s3, {"train.py": "import sys\nprint('train.py: no images in train/bicycle', file=sys.stderr)\nsys.exit(2)\n"})

    start(sagemaker, "broken", code, channels={"train": "s3://jobs/data/train"})
    described = finished(sagemaker, "broken")

    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("AlgorithmError: ")
    assert "no images in train/bicycle" in described["FailureReason"]


def test_a_job_without_its_code_or_data_fails_with_a_client_error(aws):
    s3, sagemaker = aws
    code = put_code(s3, {"train.py": ECHO_SCRIPT})

    start(sagemaker, "no-data", code, channels={"train": "s3://jobs/nothing"})
    described = finished(sagemaker, "no-data")

    assert described["TrainingJobStatus"] == "Failed" and "has no data at s3://jobs/nothing" in described["FailureReason"]


@pytest.mark.slow
def test_the_projects_own_train_py_trains_in_a_job(aws, tmp_path, pretrained_channel):
    s3, sagemaker = aws
    rng = np.random.RandomState(0)
    for label, name in enumerate(settings.CLASS_NAMES):
        for index in range(8):
            pixels = rng.randint(0, 80, (32, 32, 3))
            pixels[..., 0 if label == 0 else 2] += 150
            buffer = io.BytesIO()
            Image.fromarray(pixels.astype(np.uint8)).save(buffer, "PNG")
            s3.put_object(Bucket="jobs", Key=f"data/train/{name}/{index}.png", Body=buffer.getvalue())
    s3.put_object(Bucket="jobs", Key="code/sourcedir.tar.gz", Body=archives.source_archive(settings.PROJECT_ROOT))
    weights = pretrained_channel / pretrained.PARAMS_FILE
    s3.put_object(Bucket="jobs", Key=f"data/pretrained/{weights.name}", Body=weights.read_bytes())
    hyperparameters = {name: json.dumps(value) for name, value in {
        "epochs": "1", "input-size": "32", "batch-size": "4", "validation-fraction": "0.25"}.items()}

    start(sagemaker, "real", "s3://jobs/code/sourcedir.tar.gz", hyperparameters,
          {"train": "s3://jobs/data/train", "pretrained": "s3://jobs/data/pretrained"})
    described = finished(sagemaker, "real")

    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    archive = s3.get_object(Bucket="jobs", Key="models/real/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as handle:
        names = set(handle.getnames())
    assert {"classes.json", "model-symbol.json", "model-0000.params", "architecture.json", "metrics.json",
            "baseline/statistics.json"} <= names
