"""Run the real state machine and the real handlers offline, inside moto.

moto's Step Functions interpreter executes statemachine/classify_vehicle.asl.json as it is. moto's
Lambda would run each function in a Docker container; `handlers_in_process()` replaces that one
step (`moto.awslambda.models.LambdaFunction._invoke_lambda`, the seam ARCHITECTURE.md names) with a
call to the handler in this process. Everything else (Lambda's API, the Step Functions Retry/Catch
matching on Lambda's `errorType`) is moto's. Function keys, handler paths, timeouts, environment
and the state machine's name come from serverless.yml, so nothing here repeats the deployment.

Each moto function behaves like one warm Lambda container: its handler module is imported once,
on first invocation, with the function's environment applied, and that container serves one
invocation at a time (other functions run meanwhile). The handlers read their configuration and
create their clients at import, so that is when the environment must be in place; it is applied
by setting the function's own variables and afterwards restoring exactly those, never by
replacing os.environ, because other threads (boto3 clients of concurrent executions) read their
region and credentials from it at any moment.

Typical use (the local run):

    from local.workflow import local_workflow

    with local_workflow(environment={"ENDPOINT_NAME": "vehicle-classifier",
                                     "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": "http://127.0.0.1:8080"}) as workflow:
        s3 = boto3.client("s3")                 # moto S3, inside the same mock
        s3.create_bucket(Bucket=workflow.images_bucket)
        s3.put_object(Bucket=workflow.images_bucket, Key="a.png", Body=png_bytes)
        result = workflow.run({"s3_bucket": workflow.images_bucket, "s3_key": "a.png"})
        result.status    # "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "ABORTED"
        result.output    # the decoded output on success, e.g. {"label": ..., "route": "near", ...}
        result.error     # on failure: the error name, e.g. "ConfidenceBelowThreshold"
        result.cause     # on failure: Lambda's error payload (JSON text with errorMessage)

Callers already inside `mock_aws(config=MOTO_CONFIG)` use `handlers_in_process()` and `deploy()`
directly. AWS credentials and region come from the process environment (dummy values are fine).
Handlers log their decisions as JSON lines on stdout through the `vehicle_routing.decisions`
logger; raise its level to silence them.
"""
import importlib.util
import io
import json
import logging
import os
import re
import threading
import time
import traceback
import uuid
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Iterator
from unittest import mock

import boto3
import yaml

import settings

SERVERLESS_FILE = settings.PROJECT_ROOT / "serverless.yml"
STATE_MACHINE_KEY = "classifyVehicle"          # stepFunctions.stateMachines key in serverless.yml
DEFAULT_STAGE = "dev"
# moto runs state machine definitions only when asked to; without it executions just "succeed".
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}}
ROLE_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
     "Action": "sts:AssumeRole"}]})
FINISHED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
MOTO_INTERPRETER_LOGGER = "moto.stepfunctions.parser.asl.component.eval_component"


# --- serverless.yml, resolved to local values ------------------------------------------------------
@dataclass(frozen=True)
class FunctionSpec:
    key: str              # the function's key in serverless.yml, as the ASL's Fn::GetAtt names it
    name: str             # the deployed name: {service}-{stage}-{key}
    handler: str          # "handlers/serialize_image.handler"
    runtime: str
    timeout: int
    environment: dict


@dataclass(frozen=True)
class ServiceSpec:
    functions: tuple
    state_machine_name: str
    images_bucket: str


_VARIABLE = re.compile(r"\$\{([^${}]+)\}")
_FILE_SOURCE = re.compile(r"file\((?P<path>[^)]+)\):(?P<key>\w+)")


def read_service(stage: str = DEFAULT_STAGE, serverless_file: Path = SERVERLESS_FILE) -> ServiceSpec:
    """The functions, state machine name and images bucket serverless.yml declares, with its
    variables resolved as `sls package` would for `stage` with default params."""
    config = yaml.safe_load(serverless_file.read_text())
    base = serverless_file.parent

    def resolve(value):
        if not isinstance(value, str):
            return value
        while _VARIABLE.search(value):  # inner variables first, so params may use ${sls:stage}
            value = _VARIABLE.sub(lambda match: str(resolve_variable(match.group(1))), value)
        return value

    def resolve_variable(expression: str):
        source, _, fallback = (part.strip() for part in expression.partition(","))
        fallback = fallback.strip("'\"")
        if source == "self:service":
            return config["service"]
        if source == "sls:stage":
            return stage
        if source.startswith("param:"):
            return resolve(config["params"]["default"][source.removeprefix("param:")])
        file_source = _FILE_SOURCE.fullmatch(source)
        if file_source:
            path = base / file_source["path"]
            if not path.exists():
                return fallback
            return json.loads(path.read_text()).get(file_source["key"], fallback)
        raise ValueError(f"serverless.yml uses ${{{expression}}}, which local/workflow.py cannot "
                         f"resolve; teach read_service() that variable source")

    provider = config["provider"]
    functions = tuple(
        FunctionSpec(key=key, name=f"{config['service']}-{stage}-{key}", handler=spec["handler"],
                     runtime=spec.get("runtime", provider["runtime"]),
                     timeout=int(spec.get("timeout", provider.get("timeout", 6))),
                     environment={name: str(resolve(value)) for name, value in
                                  {**provider.get("environment", {}), **spec.get("environment", {})}.items()})
        for key, spec in config["functions"].items())
    machine = config["stepFunctions"]["stateMachines"][STATE_MACHINE_KEY]
    return ServiceSpec(functions=functions, state_machine_name=resolve(machine["name"]),
                       images_bucket=resolve(config["params"]["default"]["imagesBucket"]))


# --- The seam: moto Lambda invokes run the handler in this process --------------------------------
class InProcessLambda:
    """Replacement for LambdaFunction._invoke_lambda: one warm 'container' (module) per function."""

    def __init__(self):
        self._modules: dict[str, ModuleType] = {}
        self._containers: dict[str, threading.Lock] = {}
        self._containers_lock = threading.Lock()
        # Two functions importing at once must not interleave their environments.
        self._environment_lock = threading.Lock()

    def __call__(self, function, event=None) -> tuple[str, bool, str]:
        """(payload JSON, errored, logs) as moto expects; on an exception the payload is Lambda's
        error payload, so Step Functions sees the exception's class name as the error name."""
        if isinstance(event, (str, bytes)):
            event = json.loads(event or "{}")
        with self._container(function.function_arn):
            try:
                handler = self._handler(function)
                return json.dumps(handler(event if event is not None else {}, None)), False, ""
            except Exception as error:  # noqa: BLE001 - Lambda reports every exception the same way
                payload = {"errorMessage": str(error), "errorType": type(error).__name__,
                           "stackTrace": traceback.format_tb(error.__traceback__)}
                return json.dumps(payload), True, ""

    def _container(self, function_arn: str) -> threading.Lock:
        """The lock that lets one warm container serve one invocation at a time, as Lambda's do."""
        with self._containers_lock:
            return self._containers.setdefault(function_arn, threading.Lock())

    def _handler(self, function):
        """The handler, its module imported on first use (the cold start); the caller holds the
        function's container lock, so each module is imported once."""
        module_path, _, function_name = function.handler.rpartition(".")
        if function.function_arn not in self._modules:
            source = settings.PROJECT_ROOT / f"{module_path}.py"
            spec = importlib.util.spec_from_file_location(f"lambda_{function.function_name}", source)
            module = importlib.util.module_from_spec(spec)
            with self._environment_lock, applied_environment(function.environment_vars):
                spec.loader.exec_module(module)
            self._modules[function.function_arn] = module
        return getattr(self._modules[function.function_arn], function_name)


@contextmanager
def applied_environment(variables: dict) -> Iterator[None]:
    """Set these variables in os.environ, then put back exactly those as they were.

    Unlike mock.patch.dict, which clears and refills the whole of os.environ on exit, this never
    touches another variable, so a thread reading AWS_DEFAULT_REGION meanwhile always finds it.
    """
    absent = object()
    previous = {name: os.environ.get(name, absent) for name in variables}
    try:
        for name, value in variables.items():
            os.environ[name] = str(value)
        yield
    finally:
        for name, value in previous.items():
            if value is absent:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def handlers_in_process() -> Iterator[InProcessLambda]:
    """While active, every moto Lambda invocation runs the function's handler in this process."""
    from moto.awslambda.models import LambdaFunction
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    seam = InProcessLambda()

    def invoke(function, event=None):
        return seam(function, event)

    with mock.patch.object(LambdaFunction, "_invoke_lambda", invoke), \
            mock.patch.object(lambda_eval_utils, "boto_client_for", shared_clients(lambda_eval_utils.boto_client_for)):
        yield seam


def shared_clients(boto_client_for):
    """moto's interpreter makes a new boto3 Lambda client for every Task state it runs (with fixed
    dummy credentials, whatever the state's), which was an eighth of an execution's CPU time here;
    boto3 clients are thread-safe, so one per region and service serves every execution."""
    clients = {}
    lock = threading.Lock()

    def client_for(region: str, service: str, state_credentials=None):
        with lock:
            if (region, service) not in clients:
                clients[region, service] = boto_client_for(region=region, service=service,
                                                           state_credentials=state_credentials)
            return clients[region, service]

    return client_for


# --- Deployment into moto and execution -----------------------------------------------------------
@dataclass(frozen=True)
class ExecutionResult:
    arn: str
    status: str
    output: dict | None
    error: str | None
    cause: str | None

    @property
    def error_message(self) -> str | None:
        """The handler's message when the cause is Lambda's error payload, else the cause itself."""
        if self.cause is None:
            return None
        try:
            return json.loads(self.cause)["errorMessage"]
        except (ValueError, KeyError, TypeError):
            return self.cause


@dataclass(frozen=True)
class Workflow:
    state_machine_arn: str
    function_arns: dict          # function key -> moto function ARN
    images_bucket: str           # the stage's default imagesBucket param (not created here)
    # Made once by deploy(): boto3 clients are thread-safe, and creating one per run would read
    # region and credentials from the environment on every concurrent run.
    client: object = field(repr=False, compare=False)

    def run(self, event: dict, timeout_seconds: float = 120.0, name: str | None = None) -> ExecutionResult:
        """Start an execution with `event` as input and wait until it finishes."""
        client = self.client
        # Always named: moto 5.2 names unnamed executions "None", so a second one would clash.
        execution_arn = client.start_execution(
            stateMachineArn=self.state_machine_arn, input=json.dumps(event),
            name=name or uuid.uuid4().hex)["executionArn"]
        deadline = time.monotonic() + timeout_seconds
        while True:
            description = client.describe_execution(executionArn=execution_arn)
            if description["status"] in FINISHED:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {execution_arn} still {description['status']} "
                                   f"after {timeout_seconds} s")
            time.sleep(0.02)
        output = description.get("output")
        return ExecutionResult(arn=execution_arn, status=description["status"],
                               output=json.loads(output) if output else None,
                               error=description.get("error"), cause=description.get("cause"))


def deploy(environment: dict | None = None, stage: str = DEFAULT_STAGE,
           state_machine_file: Path = settings.STATE_MACHINE_FILE) -> Workflow:
    """Create serverless.yml's functions and the state machine from the ASL file in moto.

    `environment` is added to every function's environment from serverless.yml (e.g. ENDPOINT_NAME
    and AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME for a local endpoint, THRESHOLD). Call it inside
    `mock_aws(config=MOTO_CONFIG)` and `handlers_in_process()`; `local_workflow()` does all three.
    """
    service = read_service(stage)
    role_arn = boto3.client("iam").create_role(
        RoleName=f"{service.state_machine_name}-local", AssumeRolePolicyDocument=ROLE_POLICY)["Role"]["Arn"]
    lambda_client = boto3.client("lambda")
    code = _code_zip()
    function_arns = {}
    for function in service.functions:
        created = lambda_client.create_function(
            FunctionName=function.name, Runtime=function.runtime, Role=role_arn,
            Handler=function.handler, Code={"ZipFile": code}, Timeout=function.timeout,
            Environment={"Variables": {**function.environment, **(environment or {})}})
        function_arns[function.key] = created["FunctionArn"]
    definition = _with_function_arns(json.loads(state_machine_file.read_text()), function_arns)
    stepfunctions = boto3.client("stepfunctions")
    state_machine_arn = stepfunctions.create_state_machine(
        name=service.state_machine_name, definition=json.dumps(definition), roleArn=role_arn)["stateMachineArn"]
    return Workflow(state_machine_arn=state_machine_arn, function_arns=function_arns,
                    images_bucket=service.images_bucket, client=stepfunctions)


@contextmanager
def local_workflow(environment: dict | None = None, stage: str = DEFAULT_STAGE) -> Iterator[Workflow]:
    """moto with state machine execution on, handlers in process, and the workflow deployed."""
    from moto import mock_aws

    # moto logs every failed execution as an ERROR with a dump of its interpreter's state; here a
    # failure is an ordinary outcome, reported by Workflow.run with its error name and cause.
    interpreter_log = logging.getLogger(MOTO_INTERPRETER_LOGGER)
    level = interpreter_log.level
    interpreter_log.setLevel(logging.CRITICAL)
    try:
        with mock_aws(config=MOTO_CONFIG), handlers_in_process():
            yield deploy(environment, stage)
    finally:
        interpreter_log.setLevel(level)


def _with_function_arns(node, function_arns: dict):
    """The definition with each {"Fn::GetAtt": [key, "Arn"]} replaced by that function's ARN,
    as CloudFormation does on deployment."""
    if isinstance(node, dict):
        if set(node) == {"Fn::GetAtt"}:
            key, attribute = node["Fn::GetAtt"]
            if attribute != "Arn" or key not in function_arns:
                raise ValueError(f"the state machine refers to {node}, but serverless.yml declares "
                                 f"only the functions {sorted(function_arns)}")
            return function_arns[key]
        return {name: _with_function_arns(value, function_arns) for name, value in node.items()}
    if isinstance(node, list):
        return [_with_function_arns(value, function_arns) for value in node]
    return node


def _code_zip() -> bytes:
    """A zip of the handlers, as the deployment has; moto stores it, the seam runs the files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(settings.PROJECT_ROOT / "settings.py", "settings.py")
        for source in sorted((settings.PROJECT_ROOT / "handlers").glob("*.py")):
            archive.write(source, f"handlers/{source.name}")
    return buffer.getvalue()

