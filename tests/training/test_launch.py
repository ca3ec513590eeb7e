"""The launcher against the real SageMaker SDK, with moto standing in for AWS (no real calls)."""
import hashlib
import importlib.metadata
import io
import json
import os
import re
import subprocess
import sys
import shutil
import tarfile

import boto3
import pytest
from moto import mock_aws
from PIL import Image

import settings
from imaging import samples
from training import launch, pretrained, train

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
BUCKET = "vehicles"
BASE_URI = f"s3://{BUCKET}/project"


AWS_TEST_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def _put_model_artifact(boto_session, s3_uri, model_dir):
    """What a finished training job leaves in S3: model.tar.gz of the model directory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(model_dir.iterdir()):
            archive.add(path, arcname=path.name)  # folders (baseline/) with what they hold
    bucket, key = s3_uri[len("s3://"):].split("/", 1)
    boto_session.client("s3").put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())


@pytest.fixture(scope="module")
def launched(tiny_model_dir, tmp_path_factory):
    """Run the cloud path once, end to end against moto: fit, then deploy with data capture.

    Records the parameters of every SageMaker request the SDK makes, in order.
    """
    import sagemaker
    from sagemaker.estimator import EstimatorBase

    endpoint_file = tmp_path_factory.mktemp("launch") / "endpoint.json"
    # Data staged before the backbone came: train/ and test/, no pretrained/ (run_cloud converts it).
    data_dir = tmp_path_factory.mktemp("staged")
    for split in ("train", "test"):
        for value, class_name in enumerate(settings.CLASS_NAMES):
            (data_dir / split / class_name).mkdir(parents=True)
            Image.new("RGB", (32, 32), (200 * value, 40, 90)).save(data_dir / split / class_name / "0.png")
    # The real photos staged beside them (a user's own labelled folders, as the launcher finds them).
    real_photos = tmp_path_factory.mktemp("real-photos")
    for value, folder in enumerate((*settings.CLASS_NAMES, "other")):
        (real_photos / folder).mkdir()
        Image.new("RGB", (64, 48), (90, 200 * (value % 2), 40)).save(real_photos / folder / f"own__{folder}.jpg")
    args = launch.parse_args(["cloud", "--role", ROLE, "--s3-prefix", BASE_URI, "--no-logs",
                              "--upload-data", "--data-dir", str(data_dir),
                              "--hyperparameter", "epochs=2", "--endpoint-name", "vehicle-classifier-test",
                              "--endpoint-name-file", str(endpoint_file)])
    calls, telemetry = [], []
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        from sagemaker.telemetry import telemetry_logging
        patch.setattr(telemetry_logging, "_send_telemetry_request", lambda *args, **kwargs: telemetry.append(args))
        for name, value in AWS_TEST_ENV.items():
            patch.setenv(name, value)
        patch.setattr(settings, "REAL_WORLD_DIR", real_photos)
        # The SDK polls job and endpoint status with sleeps of up to 30 s; moto answers at once.
        patch.setattr(sagemaker.session.time, "sleep", lambda seconds: None)
        boto_session = boto3.Session(region_name="us-east-1")
        boto_session.events.register("provide-client-params.sagemaker.*",
                                     lambda params, model, **_: calls.append((model.name, params)))
        boto_session.client("s3").create_bucket(Bucket=BUCKET)
        session = launch.cloud_session(boto_session)
        session._default_bucket = BUCKET
        original_fit = EstimatorBase.fit

        def fit_then_leave_artifact(estimator, *fit_args, **fit_kwargs):
            original_fit(estimator, *fit_args, **fit_kwargs)
            _put_model_artifact(boto_session, estimator.model_data, tiny_model_dir)

        patch.setattr(EstimatorBase, "fit", fit_then_leave_artifact)
        launch.run_cloud(args, sagemaker_session=session)
        objects = {f"s3://{BUCKET}/{obj['Key']}": boto_session.client("s3").get_object(
            Bucket=BUCKET, Key=obj["Key"])["Body"].read()
            for obj in boto_session.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]}
        autoscaling = boto_session.client("application-autoscaling")
        scaling = {"targets": autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"],
                   "policies": autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]}
    return {"calls": calls, "endpoint_file": endpoint_file, "s3_objects": objects, "telemetry": telemetry,
            "scaling": scaling}


def _call(calls, operation):
    matching = [params for name, params in calls if name == operation]
    assert matching, f"no {operation} call among {[name for name, _ in calls]}"
    return matching[-1]


@pytest.mark.slow
def test_run_cloud_creates_training_job_with_mxnet_script_mode(launched):
    job = _call(launched["calls"], "CreateTrainingJob")

    assert job["AlgorithmSpecification"]["TrainingImage"].endswith("/mxnet-training:1.9.0-cpu-py38")
    assert job["AlgorithmSpecification"]["MetricDefinitions"] == train.METRIC_DEFINITIONS
    assert json.loads(job["HyperParameters"]["sagemaker_program"]) == "train.py"
    assert json.loads(job["HyperParameters"]["epochs"]) == "2"
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]}
    assert channels == {"train": f"{BASE_URI}/data/train", "test": f"{BASE_URI}/data/test",
                        "pretrained": f"{BASE_URI}/data/pretrained", "real": f"{BASE_URI}/data/real"}
    assert job["OutputDataConfig"]["S3OutputPath"] == f"{BASE_URI}/models"


@pytest.mark.slow
def test_run_cloud_uploads_the_staged_data_and_the_pinned_pretrained_weights(launched):
    weights = launched["s3_objects"][f"{BASE_URI}/data/pretrained/{pretrained.PARAMS_FILE}"]

    assert hashlib.sha256(weights).hexdigest() == pretrained.PARAMS_SHA256
    assert f"{BASE_URI}/data/train/bicycle/0.png" in launched["s3_objects"]
    # The real-photo channel's links are uploaded as the photos' bytes.
    assert launched["s3_objects"][f"{BASE_URI}/data/real/motorcycle/own__motorcycle.jpg"][:2] == b"\xff\xd8"


@pytest.mark.slow
def test_run_cloud_deploys_inference_entry_point_with_full_data_capture(launched):
    config = _call(launched["calls"], "CreateEndpointConfig")
    model = _call(launched["calls"], "CreateModel")
    endpoint = _call(launched["calls"], "CreateEndpoint")

    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["InitialSamplingPercentage"] == 100
    assert capture["DestinationS3Uri"] == f"{BASE_URI}/data-capture"
    assert sorted(option["CaptureMode"] for option in capture["CaptureOptions"]) == ["Input", "Output"]
    assert model["PrimaryContainer"]["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert model["PrimaryContainer"]["Image"].endswith("/mxnet-inference:1.9.0-cpu-py38")
    assert endpoint["EndpointName"] == "vehicle-classifier-test"


@pytest.mark.slow
def test_run_cloud_repacks_model_with_serving_code(launched):
    model = _call(launched["calls"], "CreateModel")
    body = launched["s3_objects"][model["PrimaryContainer"]["ModelDataUrl"]]

    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        names = set(archive.getnames())

    assert {"model-symbol.json", "model-0000.params", "architecture.json", "classes.json", "calibration.json",
            "usability.json"} <= names
    assert {"code/inference.py", "code/model_artifacts.py", "code/usability.py"} <= names
    # the photo decoder the Lambda ships too (the SDK puts dependencies in code/lib), and the
    # container's pinned Pillow
    assert {"code/lib/imaging/__init__.py", "code/lib/imaging/photo.py", "code/requirements.txt"} <= names


@pytest.mark.slow
def test_run_cloud_training_source_ships_the_training_modules(launched):
    job = _call(launched["calls"], "CreateTrainingJob")
    source = json.loads(job["HyperParameters"]["sagemaker_submit_directory"])
    body = launched["s3_objects"][source]

    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        names = set(archive.getnames())

    assert {"train.py", "efficientnet.py", "network.py", "finetune.py", "pretrained.py", "torch_legacy.py",
            "model_artifacts.py", "usability.py", "requirements.txt", "imaging/photo.py"} <= names
    assert "augmentation.py" not in names


@pytest.mark.slow
def test_inference_runs_as_the_serving_container_lays_it_out(tiny_model_dir, tmp_path):
    """code/ holds training/'s files and code/lib/ the dependencies; nothing of the repository is on the path."""
    code = tmp_path / "code"
    shutil.copytree(settings.PROJECT_ROOT / "training", code, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(settings.PROJECT_ROOT / "imaging", code / "lib" / "imaging", ignore=shutil.ignore_patterns("__pycache__"))
    script = ("import json, sys, inference; model = inference.model_fn(sys.argv[1]); "
              "body = open(sys.argv[2], 'rb').read(); "
              "print(inference.transform_fn(model, body, 'image/jpeg', inference.ASSESSMENT_CONTENT_TYPE)[0])")
    photo_file = tmp_path / "photo.jpg"
    photo_file.write_bytes(samples.phone_jpeg(1200, 1600, orientation=6))  # a landscape photo, upright
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}

    completed = subprocess.run([sys.executable, "-c", script, str(tiny_model_dir), str(photo_file)], cwd=code,
                               env=environment, capture_output=True, text=True, timeout=120)

    assert completed.returncode == 0, completed.stderr[-2000:]
    answer = json.loads(completed.stdout.strip().splitlines()[-1])
    assert answer["usable"] is True and len(answer["probabilities"]) == 2


@pytest.mark.slow
def test_run_cloud_sends_no_telemetry(launched):
    assert launched["telemetry"] == []


@pytest.mark.slow
def test_run_cloud_scales_the_endpoint_on_invocations_per_instance(launched):
    [target] = launched["scaling"]["targets"]
    [policy] = launched["scaling"]["policies"]

    assert target["ResourceId"] == "endpoint/vehicle-classifier-test/variant/AllTraffic"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (launch.DEFAULT_MIN_INSTANCES, launch.DEFAULT_MAX_INSTANCES)
    configuration = policy["TargetTrackingScalingPolicyConfiguration"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert configuration["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    assert configuration["TargetValue"] == launch.TARGET_INVOCATIONS_PER_INSTANCE


@pytest.mark.slow
def test_run_cloud_writes_endpoint_name_and_monitoring_locations_file(launched):
    assert json.loads(launched["endpoint_file"].read_text()) == {
        "endpoint_name": "vehicle-classifier-test", "monitoring_bucket": BUCKET,
        "capture_prefix": "project/data-capture", "monitoring_prefix": "project/monitoring",
        "ground_truth_prefix": "project/ground-truth"}


@pytest.mark.slow
def test_run_cloud_publishes_the_models_baseline_where_the_monitor_reads_it(launched, tiny_model_dir):
    from monitoring import baseline

    for name in (baseline.STATISTICS_FILE, baseline.CONSTRAINTS_FILE):
        published = launched["s3_objects"][f"{BASE_URI}/monitoring/baseline/vehicle-classifier-test/{name}"]
        assert published == (tiny_model_dir / baseline.BASELINE_DIR / name).read_bytes()


@mock_aws
def test_build_data_capture_config_captures_everything():
    import sagemaker

    session = sagemaker.Session(boto_session=boto3.Session(region_name="us-east-1"), default_bucket=BUCKET,
                                sagemaker_config=launch.TELEMETRY_OFF)
    config = launch.build_data_capture_config("s3://bucket/capture", session)._to_request_dict()

    assert config["EnableCapture"] is True and config["InitialSamplingPercentage"] == 100
    assert config["DestinationS3Uri"] == "s3://bucket/capture"


def test_write_endpoint_name_replaces_file_atomically(tmp_path):
    path = tmp_path / "endpoint.json"
    path.write_text('{"endpoint_name": "old"}')

    launch.write_endpoint_name("new-endpoint", path)

    assert json.loads(path.read_text()) == {"endpoint_name": "new-endpoint"}
    assert [p.name for p in tmp_path.iterdir()] == ["endpoint.json"]


@pytest.mark.parametrize("pairs, message", [
    (["epochs"], "not NAME=VALUE"),
    (["epochs=many"], "rejects"),
    (["no-such-option=1"], "rejects"),
], ids=["missing-equals", "bad-value", "unknown-option"])
def test_parse_hyperparameters_rejects_bad_input(pairs, message):
    with pytest.raises(launch.LaunchError, match=message):
        launch.parse_hyperparameters(pairs)


def test_parse_hyperparameters_normalises_names():
    assert launch.parse_hyperparameters(["batch_size=32", "epochs=3"]) == {"batch-size": "32", "epochs": "3"}


@pytest.mark.parametrize("pattern_name, line, value", [
    ("validation:accuracy", train.EPOCH_LINE.format(
        epoch=3, train_loss=0.5, train_accuracy=0.75, validation_loss=0.4, validation_accuracy=0.8125,
        learning_rate=0.05), "0.8125"),
    ("train:loss", train.EPOCH_LINE.format(
        epoch=3, train_loss=0.5, train_accuracy=0.75, validation_loss=0.4, validation_accuracy=0.8,
        learning_rate=0.05), "0.5000"),
    ("final:test_accuracy", train.FINAL_LINE.format(
        validation_accuracy=0.9, validation_ece=0.03, test_accuracy=0.935, test_ece=0.02, temperature=1.2), "0.9350"),
], ids=["validation-accuracy", "train-loss", "final-test-accuracy"])
def test_metric_definitions_parse_train_output(pattern_name, line, value):
    regex = {d["Name"]: d["Regex"] for d in train.METRIC_DEFINITIONS}[pattern_name]

    assert re.search(regex, line).group(1) == value


def test_sagemaker_mxnet_imports_with_antlr_4_13_installed():
    """sagemaker 2.x declares ANTLR 4.9 (via omegaconf); moto needs 4.13; the MXNet path must not care."""
    from sagemaker.model_monitor import DataCaptureConfig
    from sagemaker.mxnet import MXNet, MXNetModel

    assert importlib.metadata.version("antlr4-python3-runtime").startswith("4.13")
    assert MXNet.__name__ == "MXNet" and MXNetModel.__name__ == "MXNetModel" and DataCaptureConfig


def test_ensure_local_model_reuses_complete_model_dir(tiny_model_dir, tmp_path):
    model_dir = launch.ensure_local_model(tiny_model_dir, data_dir=tmp_path / "no-data", show_progress=False)

    assert model_dir == tiny_model_dir


def test_train_locally_without_staged_data_raises_clear_error(tmp_path):
    with pytest.raises(launch.LaunchError, match="no staged data"):
        launch.train_locally(tmp_path / "model", tmp_path / "data", show_progress=False)


@pytest.mark.slow
def test_ensure_local_model_stages_and_trains_when_missing(tmp_path):
    source = tmp_path / "images"
    for split, count in (("train", 8), ("test", 2)):
        for value, class_name in enumerate(("bicycle", "motorcycle")):
            (source / split / class_name).mkdir(parents=True)
            for index in range(count):
                Image.new("RGB", (32, 32), (200 * value, 40, index * 20)).save(
                    source / split / class_name / f"{index}.png")

    model_dir = launch.ensure_local_model(
        tmp_path / "model", tmp_path / "data", data_source=source, show_progress=False,
        hyperparameters={"epochs": "1", "input-size": "32", "batch-size": "4", "validation-fraction": "0.25"})

    assert launch.is_complete_model_dir(model_dir)
    assert (tmp_path / "data" / "train.lst").is_file()
    weights = tmp_path / "data" / pretrained.CHANNEL / pretrained.PARAMS_FILE
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == pretrained.PARAMS_SHA256
    assert json.loads((model_dir / "architecture.json").read_text())["input_size"] == 32
    assert json.loads((model_dir / "metrics.json").read_text())["test"]["count"] == 4


@pytest.mark.parametrize("name", ["Vehicle-Classifier", "-leading-hyphen", "under_score", "x" * 64],
                         ids=["capitals", "leading-hyphen", "underscore", "too-long"])
def test_parse_args_rejects_endpoint_names_the_workflow_policy_cannot_match(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        launch.parse_args(["cloud", "--role", "arn:aws:iam::123456789012:role/r", "--s3-prefix", "s3://b/p",
                           f"--endpoint-name={name}"])

    assert exit_info.value.code == 2
    assert "is not a usable endpoint name" in capsys.readouterr().err


def test_parse_args_accepts_the_default_endpoint_name():
    args = launch.parse_args(["cloud", "--role", "arn:aws:iam::123456789012:role/r", "--s3-prefix", "s3://b/p"])

    assert args.endpoint_name == settings.DEFAULT_ENDPOINT_NAME


@pytest.mark.parametrize("environment, arguments, message", [
    ({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}, ["--role", ROLE], "no AWS region"),
    ({"AWS_DEFAULT_REGION": "us-east-1"}, ["--role", ROLE], "no AWS credentials"),
    ({"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
     ["--role", "SageMakerRole"], "--role must be the ARN of an IAM role"),
], ids=["no-region", "no-credentials", "role-not-an-arn"])
def test_launch_cloud_says_what_is_missing_in_one_line(tmp_path, environment, arguments, message):
    clean = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    clean.update(environment, AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
                 AWS_EC2_METADATA_DISABLED="true")

    completed = subprocess.run([sys.executable, "-m", "training.launch", "cloud", *arguments, "--s3-prefix", BASE_URI],
                               cwd=settings.PROJECT_ROOT, env=clean, capture_output=True, text=True, timeout=120)

    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines() == [completed.stderr.strip()]
    assert completed.stderr.startswith("launch: ") and message in completed.stderr


@pytest.mark.parametrize("module", ["training.launch", "training.stage_data"])
def test_help_names_the_module_command(module):
    completed = subprocess.run([sys.executable, "-m", module, "--help"], cwd=settings.PROJECT_ROOT,
                               capture_output=True, text=True, timeout=120)

    assert completed.returncode == 0
    assert completed.stdout.startswith(f"usage: python -m {module}")


def test_launch_refuses_fewer_max_than_min_instances(capsys):
    with pytest.raises(SystemExit):
        launch.parse_args(["cloud", "--role", ROLE, "--s3-prefix", BASE_URI, "--min-instances", "3",
                           "--max-instances", "2"])

    assert "--max-instances must be at least --min-instances" in capsys.readouterr().err


def test_launch_cloud_with_reviews_but_no_ground_truth_says_so_in_one_line(tmp_path, capsys):
    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        for name, value in AWS_TEST_ENV.items():
            patch.setenv(name, value)
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        code = launch.main(["cloud", "--role", ROLE, "--s3-prefix", BASE_URI, "--no-logs",
                            "--with-reviews", f"s3://{BUCKET}/ground-truth", "--endpoint-name-file",
                            str(tmp_path / "endpoint.json")])

    err = capsys.readouterr().err
    assert code != 0 and "no ground truth found below s3://vehicles/ground-truth" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "endpoint.json").exists()
