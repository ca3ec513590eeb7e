"""Train and deploy the classifier: on SageMaker (cloud) or on this machine's CPU (local).

cloud: optionally stages and uploads the data, trains train.py with the SageMaker SDK's MXNet
       estimator (framework 1.9.0, py38), deploys inference.py to an endpoint that captures
       every request and response, and writes the endpoint name to settings.ENDPOINT_NAME_FILE,
       where serverless.yml reads it.
local: runs the same train.py as a subprocess with the SM_* variables SageMaker would set,
       writing the model directory to settings.ARTIFACTS_DIR/model.

This is the only module that imports the SageMaker SDK (lazily, so local runs don't pay for it).

Examples:
  python -m training.launch local
  python -m training.launch cloud --role arn:aws:iam::123456789012:role/SageMakerRole \\
      --s3-prefix s3://my-bucket/vehicles --upload-data
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from tqdm import tqdm

import settings
from training import model_artifacts, pretrained, rollout, stage_data
from training.train import METRIC_DEFINITIONS, parse_args as parse_train_args

TRAINING_DIR = Path(__file__).resolve().parent
# The photo decoder inference.py imports, shipped beside it (the Lambda package ships the same module).
# imaging decodes photos (serving); monitoring's baseline and features are what train.py writes
# the monitoring baseline with (plain Python).
SHARED_CODE_DIRS = [str(settings.PROJECT_ROOT / "imaging"), str(settings.PROJECT_ROOT / "monitoring")]
TRAIN_ENTRY_POINT = "train.py"
SERVE_ENTRY_POINT = "inference.py"
FRAMEWORK_VERSION = "1.9.0"
PY_VERSION = "py38"
DEFAULT_TRAIN_INSTANCE_TYPE = "ml.m5.xlarge"
DEFAULT_ENDPOINT_INSTANCE_TYPE = "ml.m5.large"
# The endpoint scales between these instance counts (Application Auto Scaling, target tracking).
DEFAULT_MIN_INSTANCES = 1
DEFAULT_MAX_INSTANCES = 4
# Invocations per instance per minute the scaling keeps to: bench/endpoint_latency.py measured the
# EfficientNet-Lite0 at 160 px serving about 30 photos a second with 8 clients on 2 cores (2026-12-06),
# so 600 a minute (10 a second, a third of that) leaves the headroom a burst needs while a new
# instance starts.
TARGET_INVOCATIONS_PER_INSTANCE = 600
SCALE_OUT_COOLDOWN_SECONDS = 60
SCALE_IN_COOLDOWN_SECONDS = 300
# The SageMaker SDK sends usage telemetry to AWS unless its config says otherwise: this tool never does.
TELEMETRY_OFF = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
ROLE_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
DEFAULT_MODEL_DIR = settings.ARTIFACTS_DIR / "model"
DEFAULT_DATA_DIR = settings.ARTIFACTS_DIR / "data"
CAPTURE_SUBPREFIX = settings.CAPTURE_PREFIX
MONITORING_SUBPREFIX = settings.MONITORING_PREFIX
GROUND_TRUTH_SUBPREFIX = "ground-truth"
CAPTURE_OPTIONS = ["REQUEST", "RESPONSE"]
_EPOCH_PATTERN = re.compile(r"^epoch=\d+ train_loss=")
# SageMaker's endpoint name pattern, lower case only: SageMaker lower-cases the endpoint's ARN, so a
# name with capitals would never match the classify function's sagemaker:InvokeEndpoint policy.
ENDPOINT_NAME_PATTERN = re.compile(r"^[a-z0-9](-*[a-z0-9]){0,62}$")


class LaunchError(Exception):
    """A problem the person running the launcher can fix; printed without a traceback."""


# --- shared ----------------------------------------------------------------------------------------

def parse_hyperparameters(pairs) -> dict:
    """["epochs=40", "width=48"] -> {"epochs": "40", "width": "48"}, checked against train.py's options."""
    hyperparameters = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise LaunchError(f"hyperparameter {pair!r} is not NAME=VALUE")
        hyperparameters[name.strip().replace("_", "-")] = value.strip()
    try:
        parse_train_args([arg for name, value in hyperparameters.items() for arg in (f"--{name}", value)])
    except SystemExit:
        raise LaunchError(f"train.py rejects the hyperparameters {hyperparameters} (see its --help)") from None
    return hyperparameters


def write_endpoint_name(endpoint_name: str, path=settings.ENDPOINT_NAME_FILE, monitoring: dict = None) -> Path:
    """Write {"endpoint_name": ..., and the monitoring locations} atomically, where serverless.yml
    (its monitoringBucket, capturePrefix, monitoringPrefix and groundTruthPrefix params) and the
    local run read it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump({"endpoint_name": endpoint_name, **(monitoring or {})}, handle)
        handle.write("\n")
    os.replace(temp_name, path)
    return path


# --- local mode ------------------------------------------------------------------------------------

def is_complete_model_dir(model_dir) -> bool:
    model_dir = Path(model_dir)
    return all((model_dir / name).is_file() for name in model_artifacts.REQUIRED_FILES)


def train_locally(model_dir=DEFAULT_MODEL_DIR, data_dir=DEFAULT_DATA_DIR, hyperparameters=None,
                  show_progress: bool = True) -> Path:
    """Run train.py as SageMaker would (SM_* variables, hyperparameters as options) on this CPU."""
    model_dir, data_dir = Path(model_dir), Path(data_dir)
    if not (data_dir / "train").is_dir():
        raise LaunchError(f"no staged data in {data_dir}; run `python -m training.stage_data` first")
    hyperparameters = dict(hyperparameters or {})
    options = [arg for name, value in hyperparameters.items() for arg in (f"--{name}", str(value))]
    parsed = parse_train_args(options)
    model_dir.mkdir(parents=True, exist_ok=True)
    # Data staged before the backbone, or a read-only image folder, has no pretrained channel: stage it apart.
    channel = data_dir / pretrained.CHANNEL
    weights = pretrained.stage(channel if (channel / pretrained.PARAMS_FILE).is_file()
                               else DEFAULT_DATA_DIR / pretrained.CHANNEL)
    env = dict(os.environ, SM_CHANNEL_TRAIN=str(data_dir / "train"), SM_CHANNEL_TEST=str(data_dir / "test"),
               SM_CHANNEL_PRETRAINED=str(weights.parent), SM_MODEL_DIR=str(model_dir),
               SM_CHANNEL_REAL=str(data_dir / settings.REAL_CHANNEL),
               SM_NUM_CPUS=str(os.cpu_count() or 1))
    command = [sys.executable, str(TRAINING_DIR / TRAIN_ENTRY_POINT), *options]
    lines = []
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process, \
            tqdm(total=parsed.epochs, desc="training", unit="epoch",
                 disable=not show_progress) as progress:
        for line in process.stdout:
            lines.append(line)
            if _EPOCH_PATTERN.match(line):
                progress.update(1)
                progress.set_postfix_str(line.split("validation_accuracy=")[1].split()[0], refresh=False)
            elif line.startswith(("final ", "classes=", "cached ", "out-of-fold ", "no real photos")):
                progress.write(line.rstrip())
    if process.returncode != 0:
        raise LaunchError(f"train.py failed (exit {process.returncode}):\n{''.join(lines[-20:])}")
    return model_dir


def ensure_local_model(model_dir=DEFAULT_MODEL_DIR, data_dir=DEFAULT_DATA_DIR, hyperparameters=None,
                       data_source=settings.DEFAULT_DATA_SOURCE, retrain: bool = False,
                       show_progress: bool = True) -> Path:
    """Return a trained model directory: reused when complete (unless retrain), else staged and trained now."""
    if is_complete_model_dir(model_dir) and not retrain:
        return Path(model_dir)
    if not (Path(data_dir) / "train").is_dir():
        try:
            stage_data.stage("folder", Path(data_source), Path(data_dir), show_progress=show_progress)
        except stage_data.StagingError as error:
            raise LaunchError(f"cannot stage training data: {error}") from error
    return train_locally(model_dir, data_dir, hyperparameters, show_progress=show_progress)


# --- cloud mode ------------------------------------------------------------------------------------

def build_estimator(role: str, sagemaker_session, hyperparameters=None, instance_type=DEFAULT_TRAIN_INSTANCE_TYPE,
                    output_path=None):
    from sagemaker.mxnet import MXNet

    return MXNet(
        entry_point=TRAIN_ENTRY_POINT,
        source_dir=str(TRAINING_DIR),
        dependencies=list(SHARED_CODE_DIRS),
        role=role,
        framework_version=FRAMEWORK_VERSION,
        py_version=PY_VERSION,
        instance_count=1,
        instance_type=instance_type,
        hyperparameters=dict(hyperparameters or {}),
        metric_definitions=METRIC_DEFINITIONS,
        output_path=output_path,
        sagemaker_session=sagemaker_session,
    )


def build_data_capture_config(destination_s3_uri: str, sagemaker_session=None):
    """Capture every request and response. Image requests are stored base64-encoded, JSON responses as text."""
    from sagemaker.model_monitor import DataCaptureConfig

    return DataCaptureConfig(enable_capture=True, sampling_percentage=100, destination_s3_uri=destination_s3_uri,
                             capture_options=list(CAPTURE_OPTIONS), sagemaker_session=sagemaker_session)


def deploy_endpoint(estimator, endpoint_name: str, capture_s3_uri: str,
                    instance_type=DEFAULT_ENDPOINT_INSTANCE_TYPE, min_instances: int = DEFAULT_MIN_INSTANCES,
                    wait: bool = True):
    """Deploy the trained model with inference.py as the serving entry point and data capture on."""
    model = estimator.create_model(entry_point=SERVE_ENTRY_POINT, source_dir=str(TRAINING_DIR),
                                   dependencies=list(SHARED_CODE_DIRS))
    return model.deploy(initial_instance_count=min_instances, instance_type=instance_type,
                        endpoint_name=endpoint_name,
                        data_capture_config=build_data_capture_config(capture_s3_uri, estimator.sagemaker_session),
                        wait=wait)


def scale_endpoint(boto_session, endpoint_name: str, min_instances: int = DEFAULT_MIN_INSTANCES,
                   max_instances: int = DEFAULT_MAX_INSTANCES,
                   target_invocations: int = TARGET_INVOCATIONS_PER_INSTANCE) -> str:
    """Let Application Auto Scaling keep the endpoint's invocations per instance near the target,
    between min_instances and max_instances. Returns the scaling policy's ARN."""
    autoscaling = boto_session.client("application-autoscaling")
    resource_id = f"endpoint/{endpoint_name}/variant/{settings.DEFAULT_VARIANT_NAME}"
    dimension = "sagemaker:variant:DesiredInstanceCount"
    autoscaling.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource_id,
                                         ScalableDimension=dimension, MinCapacity=min_instances,
                                         MaxCapacity=max_instances)
    return autoscaling.put_scaling_policy(
        PolicyName=f"{endpoint_name}-invocations-per-instance", ServiceNamespace="sagemaker",
        ResourceId=resource_id, ScalableDimension=dimension, PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": float(target_invocations),
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "ScaleOutCooldown": SCALE_OUT_COOLDOWN_SECONDS, "ScaleInCooldown": SCALE_IN_COOLDOWN_SECONDS})["PolicyARN"]


def cloud_session(boto_session=None):
    """A SageMaker session for this AWS account with the SDK's telemetry off, after checking that a
    region, credentials and the SDK are there (each missing one is a LaunchError, never a traceback)."""
    import boto3
    boto_session = boto_session or boto3.Session()
    if not boto_session.region_name:
        raise LaunchError("no AWS region: set AWS_DEFAULT_REGION, or run `aws configure set region REGION`")
    if boto_session.get_credentials() is None:
        raise LaunchError("no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, "
                          "or run `aws configure` (or `aws sso login`)")
    import logging
    logging.getLogger("sagemaker.config").setLevel(logging.WARNING)  # "Not applying SDK defaults..." lines
    import sagemaker
    return sagemaker.Session(boto_session=boto_session, sagemaker_config=TELEMETRY_OFF)


def run_cloud(args, sagemaker_session=None):
    if not ROLE_ARN_PATTERN.match(args.role):
        raise LaunchError(f"--role must be the ARN of an IAM role SageMaker may assume, like "
                          f"arn:aws:iam::123456789012:role/SageMakerRole; got {args.role!r}")
    bucket, prefix = stage_data.parse_s3_uri(args.s3_prefix)
    base_uri = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    sagemaker_session = sagemaker_session or cloud_session()
    if args.upload_data:
        data_dir = Path(args.data_dir)
        if not (data_dir / "train").is_dir():
            stage_data.stage("folder", settings.DEFAULT_DATA_SOURCE, data_dir)
        pretrained.stage(data_dir / pretrained.CHANNEL)
        if not (data_dir / settings.REAL_CHANNEL / stage_data.REAL_RECORD_NAME).is_file():
            real = stage_data.stage_real_photos(settings.REAL_WORLD_DIR, data_dir / settings.REAL_CHANNEL)
            print(stage_data.real_photos_line(real, settings.REAL_WORLD_DIR))
        stage_data.upload_directory(data_dir, f"{base_uri}/data", s3_client=sagemaker_session.boto_session.client("s3"))
    capture_uri = args.capture_s3_uri or f"{base_uri}/{CAPTURE_SUBPREFIX}"
    channels = {"train": f"{base_uri}/data/train", "test": f"{base_uri}/data/test",
                pretrained.CHANNEL: f"{base_uri}/data/{pretrained.CHANNEL}",
                settings.REAL_CHANNEL: f"{base_uri}/data/{settings.REAL_CHANNEL}"}
    if args.with_reviews:
        channels.update(reviewed_channels(args, base_uri, capture_uri, sagemaker_session.boto_session.client("s3")))
    estimator = build_estimator(args.role, sagemaker_session, parse_hyperparameters(args.hyperparameter),
                                args.instance_type, output_path=f"{base_uri}/models")
    estimator.fit(channels, wait=True, logs=args.logs)
    deploy_endpoint(estimator, args.endpoint_name, capture_uri, args.endpoint_instance_type, args.min_instances)
    scale_endpoint(sagemaker_session.boto_session, args.endpoint_name, args.min_instances, args.max_instances)
    capture_bucket, capture_prefix = stage_data.parse_s3_uri(capture_uri)
    monitoring_prefix = f"{prefix}/{MONITORING_SUBPREFIX}" if prefix else MONITORING_SUBPREFIX
    baseline_uri = f"s3://{capture_bucket}/{monitoring_prefix}/baseline/{args.endpoint_name}"
    published = rollout.hand_over_baseline(sagemaker_session.boto_session.client("s3"), estimator.model_data, baseline_uri)
    monitoring = {"monitoring_bucket": capture_bucket, "capture_prefix": capture_prefix.strip("/"),
                  "monitoring_prefix": monitoring_prefix,
                  "ground_truth_prefix": f"{prefix}/{GROUND_TRUTH_SUBPREFIX}" if prefix else GROUND_TRUTH_SUBPREFIX}
    path = write_endpoint_name(args.endpoint_name, args.endpoint_name_file, monitoring)
    print(f"endpoint {args.endpoint_name} is in service ({args.min_instances}-{args.max_instances} instances, "
          f"scaled on invocations per instance); captures go to {capture_uri}; the monitor's baseline "
          f"({', '.join(published)}) to {baseline_uri}; name and monitoring locations written to {path}")
    return estimator


def reviewed_channels(args, base_uri: str, capture_uri: str, s3_client) -> dict:
    """The reviewed and held-back channels training.dataset assembles from the review loop (and the
    parent model); a LaunchError names what is missing in one line."""
    from training import dataset
    run = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    channel_uri = f"{base_uri}/datasets/launch-{run}"
    try:
        document = dataset.build(args.with_reviews, f"{capture_uri}/{args.endpoint_name}", channel_uri,
                                 f"{base_uri}/data", min_new_labels=args.min_new_labels, s3_client=s3_client)
    except dataset.DatasetError as error:
        raise LaunchError(str(error)) from None
    print(f"reviewed photos: {json.dumps(document['counts'])} in {channel_uri} (left out: {document['left_out'] or 'none'})")
    channels = {"reviewed": f"{channel_uri}/{dataset.REVIEWED_CHANNEL}",
                "holdout": f"{channel_uri}/{dataset.HOLDOUT_CHANNEL}"}
    if args.parent_model_data:
        channels["parent"] = args.parent_model_data
    return channels


DEFAULT_INFERENCE_IMAGE = "763104351884.dkr.ecr.{region}.amazonaws.com/mxnet-inference:1.9.0-cpu-py38"


def monitoring_baseline_uri(endpoint_name_file=settings.ENDPOINT_NAME_FILE) -> Optional[str]:
    """The monitor's baseline location the launcher wrote into training/endpoint.json, if any."""
    try:
        document = json.loads(Path(endpoint_name_file).read_text())
        return (f"s3://{document['monitoring_bucket']}/{document['monitoring_prefix']}/baseline/"
                f"{document['endpoint_name']}")
    except (OSError, ValueError, KeyError):
        return None


def run_rollout(args, boto_session=None) -> dict:
    """shadow, promote, rollback or drop-shadow, with plain boto3 (the stand-in serves the same calls)."""
    import boto3
    session = boto_session or boto3.Session()
    sagemaker = session.client("sagemaker")
    if args.mode == "shadow":
        if args.model_package:
            challenger = rollout.challenger_from_package(sagemaker, args.model_package, args.role)
        else:
            image = args.image or DEFAULT_INFERENCE_IMAGE.format(region=session.region_name or "us-east-1")
            challenger = rollout.Challenger(args.model_data, image, args.role)
        name = rollout.deploy_shadow(sagemaker, args.endpoint_name, challenger, args.share)
        print(f"{args.endpoint_name} now shadows {args.share:g}% of its requests to {challenger.model_data} "
              f"(variant {rollout.CHALLENGER_VARIANT}, endpoint config {name}); both variants are captured")
        return {"config": name}
    if args.mode == "promote":
        alarms = rollout.ensure_alarms(session.client("cloudwatch"), args.endpoint_name, settings.DEFAULT_VARIANT_NAME)
        promoted = rollout.promote(sagemaker, args.endpoint_name, alarms + args.alarm, args.canary_percent,
                                   args.canary_wait_seconds)
        _reset_threshold(session, args, f"promotion of {promoted['model_data']}")
        print(f"{args.endpoint_name}: promoting {promoted['model_data']} (canary {args.canary_percent}% for "
              f"{args.canary_wait_seconds} s, rolled back by {', '.join(alarms + args.alarm)}); previous config "
              f"{promoted['previous']} kept" + (f"; {promoted['model_package_arn']} approved"
                                                if promoted["model_package_arn"] else ""))
        with tqdm(desc="deployment", unit=" checks", bar_format="{desc}: {postfix} ({elapsed})") as bar:
            held, why = rollout.wait_for_deployment(sagemaker, args.endpoint_name, promoted["config"],
                                                    poll_seconds=min(15, max(1, args.canary_wait_seconds / 4)),
                                                    on_poll=lambda status: bar.set_postfix_str(status))
        if not held:
            raise LaunchError(f"the promotion was rolled back ({why}); the monitor's baseline is unchanged")
        baseline_uri = args.baseline_uri or monitoring_baseline_uri()
        if baseline_uri:
            rollout.hand_over_baseline(session.client("s3"), promoted["model_data"], baseline_uri)
        print(f"{args.endpoint_name} serves {promoted['model_data']} on all its traffic"
              + (f"; the monitor's baseline is now the new model's ({baseline_uri})" if baseline_uri else ""))
        return promoted
    if args.mode == "drop-shadow":
        name = rollout.drop_shadow(sagemaker, args.endpoint_name)
        print(f"{args.endpoint_name} serves its production variants alone (endpoint config {name}); the shadow's "
              f"model and its capture stay")
        return {"config": name}
    previous = rollout.rollback(sagemaker, args.endpoint_name)
    print(f"{args.endpoint_name} is back on {previous}")
    _reset_threshold(session, args, f"rollback to {previous}")
    return {"config": previous}


def _reset_threshold(session, args, why: str) -> None:
    """A model change: the routing threshold goes back to the default until that model is certified."""
    if not getattr(args, "threshold_parameter", None):
        return
    from monitoring import threshold_store
    threshold_store.reset(session.client("ssm"), args.threshold_parameter,
                          f"{why}: a model changed, no certificate of its own yet", "training.launch")
    print(f"Routing threshold back to the default {settings.DEFAULT_THRESHOLD} ({args.threshold_parameter})")


# --- command line ----------------------------------------------------------------------------------

def endpoint_name(text: str) -> str:
    if not ENDPOINT_NAME_PATTERN.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a usable endpoint name: 1 to 63 lower-case letters, digits and hyphens, "
            "starting and ending with a letter or digit (SageMaker lower-cases endpoint ARNs, so the "
            "workflow's IAM policy would not match capitals)")
    return text


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training.launch",
                                     description="Train and deploy the bicycle/motorcycle classifier.")
    modes = parser.add_subparsers(dest="mode", required=True)
    hyper_help = "train.py hyperparameter as NAME=VALUE, repeatable (e.g. epochs=40)"

    local = modes.add_parser("local", help="train on this machine into the local model directory")
    local.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR, help="default: %(default)s")
    local.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                       help="staged data (staged from the shared image folder when missing); default: %(default)s")
    local.add_argument("--retrain", action="store_true", help="train even if the model directory is complete")
    local.add_argument("--hyperparameter", action="append", metavar="NAME=VALUE", help=hyper_help)

    cloud = modes.add_parser("cloud", help="train and deploy on SageMaker with data capture")
    cloud.add_argument("--role", required=True, help="SageMaker execution role ARN")
    cloud.add_argument("--s3-prefix", required=True,
                       help="s3://BUCKET/PREFIX for data (PREFIX/data), models and captures")
    cloud.add_argument("--upload-data", action="store_true", help="stage (if needed) and upload the data first")
    cloud.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="default: %(default)s")
    cloud.add_argument("--endpoint-name", type=endpoint_name, default=settings.DEFAULT_ENDPOINT_NAME,
                       help="default: %(default)s")
    cloud.add_argument("--capture-s3-uri", help="data capture destination (default: S3_PREFIX/data-capture)")
    cloud.add_argument("--instance-type", default=DEFAULT_TRAIN_INSTANCE_TYPE, help="default: %(default)s")
    cloud.add_argument("--endpoint-instance-type", default=DEFAULT_ENDPOINT_INSTANCE_TYPE, help="default: %(default)s")
    cloud.add_argument("--min-instances", type=positive_count, default=DEFAULT_MIN_INSTANCES,
                       help="instances the endpoint keeps at rest (default: %(default)s)")
    cloud.add_argument("--max-instances", type=positive_count, default=DEFAULT_MAX_INSTANCES,
                       help="instances it may scale out to under load (default: %(default)s)")
    cloud.add_argument("--endpoint-name-file", type=Path, default=settings.ENDPOINT_NAME_FILE,
                       help="where serverless.yml reads the endpoint name; default: %(default)s")
    cloud.add_argument("--no-logs", dest="logs", action="store_false", help="do not stream the training job logs")
    cloud.add_argument("--hyperparameter", action="append", metavar="NAME=VALUE", help=hyper_help)
    cloud.add_argument("--with-reviews", metavar="S3_URI",
                       help="also learn from the photos people reviewed: the review loop's ground truth here, the photos "
                            "from the data capture (training.dataset assembles the channel below S3_PREFIX/datasets)")
    cloud.add_argument("--parent-model-data", metavar="S3_URI",
                       help="with --with-reviews: the model.tar.gz serving now, judged beside the new model")
    cloud.add_argument("--min-new-labels", type=int, default=20,
                       help="with --with-reviews: fewer new labelled photos than this are not worth a run "
                            "(default: %(default)s)")
    shadow = modes.add_parser("shadow", help="deploy a challenger as the endpoint's shadow variant")
    source = shadow.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-package", metavar="ARN", help="a registered model package (retrainModel's)")
    source.add_argument("--model-data", metavar="S3_URI", help="a model.tar.gz")
    shadow.add_argument("--image", default=None,
                        help="with --model-data: the serving container (default: the MXNet 1.9 CPU inference image)")
    shadow.add_argument("--role", required=True, help="the SageMaker execution role ARN of the model")
    shadow.add_argument("--share", type=float, default=100.0,
                        help="percent of the requests the shadow gets a copy of (default: %(default)s)")
    promote = modes.add_parser("promote", help="make the shadow the production variant (canary, rollback on alarms)")
    promote.add_argument("--alarm", action="append", default=[], metavar="NAME",
                         help="another CloudWatch alarm that rolls the deployment back (e.g. the stack's "
                              "ModelDeterioratedAlarm); the endpoint's 5XX and latency alarms are always used")
    promote.add_argument("--canary-percent", type=int, default=rollout.DEFAULT_CANARY_PERCENT)
    promote.add_argument("--canary-wait-seconds", type=int, default=rollout.DEFAULT_CANARY_WAIT_SECONDS)
    promote.add_argument("--baseline-uri", default=None, metavar="S3_URI",
                         help="where the monitor reads its baseline (default: from training/endpoint.json); the "
                              "promoted model's baseline goes there")
    rollback = modes.add_parser("rollback", help="back to the config the last promotion replaced")
    drop_shadow = modes.add_parser("drop-shadow", help="take a kept shadow variant down; production stays as it is")
    for command in (shadow, promote, rollback, drop_shadow):
        command.add_argument("--endpoint-name", type=endpoint_name, default=settings.DEFAULT_ENDPOINT_NAME,
                             help="default: %(default)s")
    for command in (promote, rollback):
        command.add_argument("--threshold-parameter", default=None, metavar="NAME",
                             help="the stack's routing-threshold SSM parameter (its RoutingThresholdParameterName "
                                  "output): set back to the default, since the new model has no certificate yet")
    args = parser.parse_args(argv)
    if args.mode == "cloud" and args.max_instances < args.min_instances:
        parser.error("--max-instances must be at least --min-instances")
    return args


def positive_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.mode == "local":
            model_dir = ensure_local_model(args.model_dir, args.data_dir, parse_hyperparameters(args.hyperparameter),
                                           retrain=args.retrain)
            metrics = model_artifacts.read_json(model_dir, model_artifacts.METRICS_FILE)
            print(f"model directory: {model_dir}")
            print(json.dumps({key: metrics.get(key) for key in ("temperature", "training_seconds")}))
        elif args.mode == "cloud":
            run_cloud(args)
        else:
            run_rollout(args)
    except (LaunchError, stage_data.StagingError, rollout.RolloutError) as error:
        print(f"launch: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # botocore/SageMaker errors: say what failed without a traceback
        if type(error).__module__.split(".")[0] in ("botocore", "boto3", "sagemaker"):
            print(f"launch: {type(error).__name__}: {' '.join(str(error).split())}", file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
