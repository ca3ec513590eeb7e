"""An AWS stand-in on 127.0.0.1, so the user's own `sls deploy` and `sls invoke stepf` run offline.

    python -m local.aws [--port 4599] [--model-dir artifacts/model]

It is moto's server (S3, CloudFormation, IAM, Lambda, Step Functions, Logs, SNS, EventBridge, SQS,
...) with what this project needs on top:
  - Step Functions executes state machine definitions (moto's interpreter, switched on);
  - a Lambda invocation runs the deployed handler in this process (local/workflow.py's seam), with
    the function's own environment plus the stand-in's endpoints and dummy credentials;
  - the SageMaker runtime API is served by the local endpoint (local/endpoint.py) with the trained
    model, under any endpoint name (a deployment names the one it uses);
  - the moto gaps met on the way are bridged in local/moto_gaps/, each with a test.

Only endpoints and credentials differ from AWS: the printed `export` lines point the AWS SDKs (the
`sls` CLI, the AWS CLI, boto3) at it. Ctrl-C or SIGTERM stops it.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Optional

import settings

logger = logging.getLogger(__name__)

DEFAULT_PORT = 4599
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
DEFAULT_REGION = "us-east-1"
# Warm containers per function when a run scales out (the stand-in CLI, the fleet onboarding and its
# benchmarks): as many as onboardFleet runs chunks at once (onboardMaxConcurrency).
STAND_IN_LAMBDA_CONTAINERS = 4
# The execution role the stand-in's own endpoint records name (moto checks no IAM).
STAND_IN_SAGEMAKER_ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
# moto runs state machine definitions only when asked to; without it executions just "succeed".
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}}


class StandInError(Exception):
    """Something the person starting the stand-in can fix; printed without a traceback."""


def deployed_endpoint_name() -> str:
    """The endpoint name serverless.yml deploys with by default: training/launch.py's, else the default."""
    try:
        return json.loads(settings.ENDPOINT_NAME_FILE.read_text())["endpoint_name"]
    except (OSError, ValueError, KeyError, TypeError):
        return settings.DEFAULT_ENDPOINT_NAME


def client_environment(url: str, region: str = DEFAULT_REGION) -> dict:
    """What an AWS SDK (or the `sls` CLI) needs to talk to the stand-in instead of AWS."""
    return {"AWS_ENDPOINT_URL": url, **DUMMY_CREDENTIALS, "AWS_REGION": region, "AWS_DEFAULT_REGION": region}


class StandIn:
    """moto's server with the project's additions, in this process; use as a context manager."""

    def __init__(self, port: int = DEFAULT_PORT, host: str = settings.LOCAL_ENDPOINT_HOST,
                 model_dir: Optional[Path] = None, endpoint_name: Optional[str] = None,
                 capture_dir=None, region: str = DEFAULT_REGION, extra_listener=None,
                 monitoring_bucket: Optional[str] = None, data_dir: Optional[Path] = None,
                 lambda_containers: int = 1):
        self.host, self.requested_port, self.region = host, port, region
        self.model_dir, self.capture_dir = model_dir, capture_dir
        # Created at start, as training/launch.py's S3 prefix exists before `sls deploy` in the cloud:
        # the endpoint captures into it, and the model's baseline is uploaded where the monitor reads it.
        self.monitoring_bucket = monitoring_bucket
        self.data_dir = data_dir
        # Warm containers per function serving invocations at once (Lambda scales out; 1 keeps the
        # handlers one at a time, as the offline run measures them).
        self.lambda_containers = lambda_containers
        self._endpoint_server = None
        self.lambdas = None              # the in-process Lambda seam (its throttle counts), once started
        self._models_by_url: dict = {}   # ModelDataUrl -> the model served for it (UpdateEndpoint)
        self.endpoint_name = endpoint_name or deployed_endpoint_name()
        self._extra_listener = extra_listener
        self.capture = None
        self.endpoint_url: Optional[str] = None
        self.port: Optional[int] = None
        self._stack = ExitStack()
        self._server = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client_environment(self) -> dict:
        return client_environment(self.url, self.region)

    def __enter__(self) -> "StandIn":
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self._stack.close()

    def _start(self) -> None:
        from werkzeug.serving import make_server
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

        from local import moto_gaps
        from local.workflow import handlers_in_process

        quiet_expected_warnings()
        try:
            self._server = make_server(self.host, self.requested_port, DomainDispatcherApplication(create_backend_app),
                                       threaded=True, request_handler=MotoRequestHandler)
        except (OSError, SystemExit) as error:  # werkzeug exits when the port is taken
            raise StandInError(f"Cannot listen on {self.host}:{self.requested_port}: the port is in use. "
                               f"Is a stand-in already running? Choose another --port.") from error
        self.port = self._server.server_address[1]
        thread = threading.Thread(target=self._server.serve_forever, name="aws-stand-in", daemon=True)
        thread.start()
        self._stack.callback(thread.join, 10)
        self._stack.callback(self._server.shutdown)
        # moto's Step Functions interpreter calls Lambda through the server at localhost:MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.port)
        self._stack.enter_context(moto_gaps.bridged(self.s3_client, self._serve_endpoint_change,
                                                    before_alarm_evaluation=self._flush_endpoint_metrics))
        overrides = self.client_environment()
        if self.model_dir is not None:
            overrides[settings.ENV_SAGEMAKER_RUNTIME_URL] = self._start_endpoint()
        self.lambdas = self._stack.enter_context(handlers_in_process(overrides, self.lambda_containers))
        # A fresh AWS each time: moto keeps its state per process, and a stand-in started before in
        # this process (the offline run in a test session, say) must leave nothing behind.
        self._post("/moto-api/reset", {})
        self._post("/moto-api/config", MOTO_CONFIG)
        if self.monitoring_bucket:
            self._prepare_monitoring_bucket()

    def client(self, service: str):
        """A boto3 client of this stand-in, for the stand-in's own calls."""
        import boto3
        return boto3.client(service, endpoint_url=self.url, region_name=self.region,
                            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])

    def s3_client(self):
        return self.client("s3")

    @property
    def endpoint_app(self):
        """The local endpoint's WSGI application (its variants, its shadow), once it serves."""
        return self._endpoint_server.app if self._endpoint_server is not None else None

    def baseline_uri(self) -> str:
        return f"s3://{self.monitoring_bucket}/{settings.MONITORING_PREFIX}/baseline/{self.endpoint_name}"

    def _prepare_monitoring_bucket(self) -> None:
        """What training/launch.py leaves in S3 before `sls deploy`: the model's baseline, the model
        serving now (the retraining's parent), the training code, and the staged base data."""
        from training import archives
        from monitoring import baseline
        s3 = self.s3_client()
        s3.create_bucket(Bucket=self.monitoring_bucket)
        s3.put_object(Bucket=self.monitoring_bucket, Key=settings.SOURCE_CODE_KEY,
                      Body=archives.source_archive(settings.PROJECT_ROOT))
        if self.model_dir is not None:
            source = Path(self.model_dir) / baseline.BASELINE_DIR
            for name in (baseline.STATISTICS_FILE, baseline.CONSTRAINTS_FILE):
                if (source / name).is_file():
                    s3.upload_file(str(source / name), self.monitoring_bucket,
                                   f"{settings.MONITORING_PREFIX}/baseline/{self.endpoint_name}/{name}")
            s3.put_object(Bucket=self.monitoring_bucket, Key=settings.CURRENT_MODEL_KEY,
                          Body=archives.model_archive(Path(self.model_dir)))
            self._register_endpoint()
        if self.data_dir is not None and Path(self.data_dir, "train").is_dir():
            weights = sorted(Path(self.data_dir, settings.PRETRAINED_CHANNEL).glob("*.params"))
            # The real-photo channel's files are links to the read-only originals: their bytes are uploaded.
            real = sorted(p for p in Path(self.data_dir, settings.REAL_CHANNEL).rglob("*") if p.is_file())
            for path in dict.fromkeys(sorted(Path(self.data_dir).rglob("*.png")) + weights + real):
                s3.upload_file(str(path), self.monitoring_bucket,
                               f"{settings.DATA_PREFIX}/{path.relative_to(self.data_dir).as_posix()}")

    def _start_endpoint(self) -> str:
        from local.endpoint import ModelMismatch, PortInUse, serve
        try:
            server, capture = serve(self.model_dir, self.endpoint_name, port=0,
                                    capture_destination=str(self.capture_dir) if self.capture_dir else None,
                                    extra_listener=self._extra_listener, s3_client=self._capture_s3_client())
        except (FileNotFoundError, ModelMismatch, PortInUse) as error:
            raise StandInError(str(error)) from error
        if capture is not None:
            self._stack.callback(capture.close)
            self.capture = capture
        from local.endpoint_metrics import EndpointMetrics
        server.app.metrics = EndpointMetrics(self.client("cloudwatch"), self.endpoint_name)
        self._stack.callback(server.app.metrics.close)
        server.start()
        self._stack.callback(server.stop)
        self._endpoint_server = server
        self.endpoint_url = server.url
        return server.url

    def _flush_endpoint_metrics(self) -> None:
        """The endpoint's metric values recorded so far, into CloudWatch (before alarms are evaluated)."""
        app = self.endpoint_app
        if app is not None and app.metrics is not None:
            app.metrics.flush()

    def _serve_endpoint_change(self, endpoint_name: str, change: dict) -> None:
        """CreateEndpoint or UpdateEndpoint for the endpoint this stand-in serves: serve that config's
        production variants (by weight) and shadow variant, each model fetched from its ModelDataUrl."""
        from local.variants import ProductionVariant, ShadowVariant, VariantRouter
        if endpoint_name != self.endpoint_name or self.endpoint_app is None:
            return
        production = [ProductionVariant(variant["VariantName"], self._model_at(change["containers"][variant["ModelName"]]),
                                        float(variant.get("InitialVariantWeight", 1.0)))
                      for variant in change["production"]]
        shadow = None
        if change["shadow"]:
            variant = change["shadow"][0]
            total = sum(v.weight for v in production) or 1.0
            share = min(100.0, 100.0 * float(variant.get("InitialVariantWeight", 1.0)) / total)
            shadow = ShadowVariant(variant["VariantName"], self._model_at(change["containers"][variant["ModelName"]]),
                                   share)
        self.endpoint_app.serve(VariantRouter(production), shadow)

    def _model_at(self, container: dict):
        """The served model of a container's ModelDataUrl (model.tar.gz in the stand-in's S3), loaded once."""
        import tarfile
        import tempfile

        from local.endpoint import InferenceModel, require_model_dir
        from monitoring import storage
        url = container.get("ModelDataUrl") or ""
        cache = self._models_by_url
        if url not in cache:
            if not url.startswith("s3://"):
                raise ValueError(f"the model's ModelDataUrl {url!r} is not an s3:// model.tar.gz")
            location = storage.parse_s3(url)
            archive = self.s3_client().get_object(Bucket=location.bucket, Key=location.prefix)["Body"]
            directory = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="variant-model-")))
            with tarfile.open(fileobj=archive, mode="r|gz") as handle:
                handle.extractall(directory, filter="data")
            require_model_dir(directory)
            cache[url] = InferenceModel(directory)
        return cache[url]

    def _register_endpoint(self) -> None:
        """The served endpoint as SageMaker knows it (model, config with data capture, endpoint), as
        training/launch.py leaves it in the cloud: so `launch shadow`, `promote` and `rollback` find it."""
        sagemaker = self.client("sagemaker")
        model_name = f"{self.endpoint_name}-current"
        model_data = f"s3://{self.monitoring_bucket}/{settings.CURRENT_MODEL_KEY}"
        if self.endpoint_app is not None:  # that archive is the model already served: no second load
            self._models_by_url[model_data] = self.endpoint_app.model
        sagemaker.create_model(ModelName=model_name, ExecutionRoleArn=STAND_IN_SAGEMAKER_ROLE, PrimaryContainer={
            "Image": "mxnet-inference", "ModelDataUrl": model_data})
        capture = ({"DataCaptureConfig": {"EnableCapture": True, "InitialSamplingPercentage": 100,
                                          "DestinationS3Uri": str(self.capture_dir),
                                          "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}}
                   if self.capture_dir and str(self.capture_dir).startswith("s3://") else {})
        sagemaker.create_endpoint_config(EndpointConfigName=model_name, ProductionVariants=[{
            "VariantName": settings.DEFAULT_VARIANT_NAME, "ModelName": model_name, "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}], **capture)
        sagemaker.create_endpoint(EndpointName=self.endpoint_name, EndpointConfigName=model_name)

    def _capture_s3_client(self):
        from monitoring import storage
        return self.s3_client() if self.capture_dir and storage.is_s3(str(self.capture_dir)) else None

    def _post(self, path: str, document: dict) -> None:
        request = urllib.request.Request(f"{self.url}{path}", data=json.dumps(document).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()


def _not_a_skipped_resource_type(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("No Moto CloudFormation support for")


# moto's interpreter logs, as an ERROR with the state's whole repr, every execution that ends in a
# Fail state (each driver sent to a person) and every IsPresent choice on an absent field.
MOTO_STATE_EVALUATION_LOGGER = "moto.stepfunctions.parser.asl.component.eval_component"
EXPECTED_EVALUATION_ERRORS = ("Exception=FailureEventException", "Exception=NoSuchJsonPathError")


def _not_an_expected_evaluation_error(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith(EXPECTED_EVALUATION_ERRORS)


def quiet_expected_warnings() -> None:
    """werkzeug logs every request; moto warns of every resource type its CloudFormation skips (the
    alarms and the bucket policy: docs/offline.md lists what the rehearsal does not prove), and logs
    workflow outcomes the execution history already tells (see above)."""
    import warnings
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("moto").addFilter(_not_a_skipped_resource_type)  # a filter is added once
    logging.getLogger(MOTO_STATE_EVALUATION_LOGGER).addFilter(_not_an_expected_evaluation_error)
    warnings.filterwarnings("ignore", message="Tried to parse AWS::", category=UserWarning)


def export_lines(environment: dict) -> list[str]:
    return [f"export {name}={value}" for name, value in environment.items()]


def _stop_as_on_ctrl_c(signum, frame) -> None:
    """A service manager (or a test) stops the stand-in with SIGTERM: shut down as on Ctrl-C."""
    raise KeyboardInterrupt


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.aws",
        description="An AWS stand-in on 127.0.0.1 (moto's server, with Step Functions executing, Lambda running "
                    "the deployed handlers in this process and SageMaker runtime served by the local endpoint), "
                    "so `npx sls deploy --stage local` and `npx sls invoke stepf` run offline. Paste the printed "
                    "export lines into another terminal. Ctrl-C stops it.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="TCP port on 127.0.0.1; 0 picks a free one (default: %(default)s)")
    parser.add_argument("--model-dir", type=Path, default=settings.ARTIFACTS_DIR / "model",
                        help="trained model the SageMaker runtime API serves (default: %(default)s; "
                             "train one with `python -m local.run`)")
    parser.add_argument("--no-model", action="store_true",
                        help="serve no model (deploys work; executions then fail with EndpointUnavailable)")
    parser.add_argument("--endpoint-name", default=None,
                        help="the endpoint name the SageMaker runtime API answers to (default: the one serverless.yml "
                             f"deploys with: {settings.ENDPOINT_NAME_FILE.name}'s, else {settings.DEFAULT_ENDPOINT_NAME})")
    parser.add_argument("--capture", default=f"s3://{settings.LOCAL_MONITORING_BUCKET}/{settings.CAPTURE_PREFIX}",
                        metavar="DIR_OR_S3_URI",
                        help="where the endpoint writes data-capture records: a local directory, or an s3:// prefix in "
                             "the stand-in (default: %(default)s, where the deployed monitorModel reads them)")
    parser.add_argument("--data-dir", type=Path, default=settings.ARTIFACTS_DIR / "data",
                        help="the staged CIFAR images the retraining pipeline's jobs train on, uploaded to the monitoring "
                             "bucket at start (default: %(default)s; skipped when not staged)")
    parser.add_argument("--region", default=DEFAULT_REGION, help="region to print in the exports (default: %(default)s)")
    parser.add_argument("--lambda-containers", type=int, default=STAND_IN_LAMBDA_CONTAINERS, metavar="N",
                        help="warm containers per function, each serving one invocation at a time; one that finds "
                             "them all busy is throttled (429 TooManyRequestsException) and the state machines retry "
                             "it, as on Lambda at a concurrency limit (default: %(default)s, as many as onboardFleet "
                             "runs chunks at once)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if not 1 <= args.lambda_containers <= 64:
        parser.error("--lambda-containers must be between 1 and 64")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _stop_as_on_ctrl_c)
    model_dir = None if args.no_model else args.model_dir
    try:
        with StandIn(args.port, model_dir=model_dir, endpoint_name=args.endpoint_name, capture_dir=args.capture,
                     region=args.region, monitoring_bucket=settings.LOCAL_MONITORING_BUCKET,
                     data_dir=args.data_dir, lambda_containers=args.lambda_containers) as stand_in:
            print(f"AWS stand-in listening on {stand_in.url}")
            if model_dir:
                print(f"SageMaker endpoint {stand_in.endpoint_name!r} served by {stand_in.endpoint_url} with {model_dir} "
                      f"(captures in {args.capture}; baseline in {stand_in.baseline_uri()})")
            print("In another terminal:")
            for line in export_lines(stand_in.client_environment()):
                print(f"  {line}")
            print("Ready. Ctrl-C stops it.", flush=True)
            while True:
                time.sleep(3600)
    except StandInError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopped.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
