"""The seam that runs deployed Lambda handlers in this process, and running state machine executions.

moto's Step Functions interpreter executes the deployed state machine as it is. moto's Lambda would
run each function in a Docker container; `handlers_in_process()` replaces that one step
(`moto.awslambda.models.LambdaFunction._invoke_lambda`, the seam ARCHITECTURE.md names) with a
call to the handler in this process. Everything else (Lambda's API, the Step Functions Retry/Catch
matching on Lambda's `errorType`) is moto's. What is deployed (functions, handlers, environment,
the state machine with its function ARNs) comes from the CloudFormation template `sls package`
generates (local/deployment.py), never from reading serverless.yml here.

Each deployed function behaves like warm Lambda containers per code and environment: a container's
handler module is imported on its first invocation with the function's environment applied (plus
the `overrides` of the world it runs in: endpoint URLs, credentials, region), and a container serves
one invocation at a time. A redeploy with other code or another environment gets new containers, as
on AWS. A function has a fixed number of containers (the room this machine has, where Lambda would
start more up to the account's concurrency): an invocation that finds them all busy waits a moment
for one, and is then throttled as Lambda throttles a function at its concurrency limit (HTTP 429,
TooManyRequestsException), which the state machine retries.

The handlers read their configuration and create their clients at import, so that is when the
environment must be in place; it is applied by setting those variables and afterwards restoring
exactly those, never by replacing os.environ, because other threads read their region and
credentials from it at any moment.

Handlers log their decisions as JSON lines on stdout through their Powertools Logger, the Python
logger named after the service (settings.SERVICE_NAME); disable it to silence them. Each invocation
gets a Lambda context as Lambda gives one (name, ARN, memory, a request id, time left).
"""
import importlib.util
import json
import os
import threading
import time
import traceback
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Iterator
from unittest import mock

from moto.awslambda.exceptions import LambdaClientError

import settings

FINISHED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
# How long an invocation waits for a busy function's container before it is throttled: long enough
# for a handful of concurrent executions to take turns, short against the Task states' timeouts.
THROTTLE_AFTER_SECONDS = 5.0


class Throttled(LambdaClientError):
    """What Lambda answers an invocation beyond a function's concurrency (Step Functions names it
    Lambda.TooManyRequestsException, and retries it)."""
    code = 429

    def __init__(self, function_name: str, containers: int):
        super().__init__("TooManyRequestsException",
                         f"Rate Exceeded: all {containers} containers of {function_name} are busy")


# --- The seam: moto Lambda invokes run the handler in this process --------------------------------
class InProcessLambda:
    """Replacement for LambdaFunction._invoke_lambda: one warm 'container' (module) per function,
    code and environment."""

    def __init__(self, overrides: dict | None = None, containers: int = 1,
                 throttle_after_seconds: float = THROTTLE_AFTER_SECONDS):
        self._overrides = dict(overrides or {})
        self._modules: dict[tuple, ModuleType] = {}
        # Up to `containers` warm containers per function serve invocations at once, as Lambda scales
        # a function out; an invocation takes the lowest free one, so sequential calls stay warm.
        self._containers = max(1, int(containers))
        self._throttle_after_seconds = throttle_after_seconds
        self.throttled: Counter = Counter()   # invocations throttled so far, by function name
        self._free: dict[tuple, list] = {}
        self._containers_lock = threading.Condition()
        # Two functions importing at once must not interleave their environments.
        self._environment_lock = threading.Lock()

    def __call__(self, function, event=None) -> tuple[str, bool, str]:
        """(payload JSON, errored, logs) as moto expects; on an exception the payload is Lambda's
        error payload, so Step Functions sees the exception's class name as the error name."""
        if isinstance(event, (str, bytes)):
            event = json.loads(event or "{}")
        environment = {**(function.environment_vars or {}), **self._overrides}
        container = (function.function_arn, function.code_sha_256, tuple(sorted(environment.items())))
        with self._container(container, function.function_name) as index:
            try:
                handler = self._handler(function, (*container, index), environment)
                return json.dumps(handler(event if event is not None else {}, LambdaContext.of(function))), False, ""
            except Exception as error:  # noqa: BLE001 - Lambda reports every exception the same way
                payload = {"errorMessage": str(error), "errorType": type(error).__name__,
                           "stackTrace": traceback.format_tb(error.__traceback__)}
                return json.dumps(payload), True, ""

    @contextmanager
    def _container(self, container: tuple, function_name: str) -> Iterator[int]:
        """A warm container of this function, serving this one invocation, as Lambda's do; Throttled
        when none frees up in time."""
        with self._containers_lock:
            free = self._free.setdefault(container, list(range(self._containers)))
            if not self._containers_lock.wait_for(lambda: free, timeout=self._throttle_after_seconds):
                self.throttled[function_name] += 1
                raise Throttled(function_name, self._containers)
            index = min(free)
            free.remove(index)
        try:
            yield index
        finally:
            with self._containers_lock:
                free.append(index)
                self._containers_lock.notify()

    def _handler(self, function, container: tuple, environment: dict):
        """The handler, its module imported on first use (the cold start); the caller holds the
        container's lock, so each module is imported once per container."""
        module_path, _, function_name = function.handler.rpartition(".")
        if container not in self._modules:
            source = settings.PROJECT_ROOT / f"{module_path}.py"
            spec = importlib.util.spec_from_file_location(f"lambda_{function.function_name}", source)
            module = importlib.util.module_from_spec(spec)
            with self._environment_lock, applied_environment(environment), own_handler_modules():
                spec.loader.exec_module(module)
            self._modules[container] = module
        return getattr(self._modules[container], function_name)


@dataclass(frozen=True)
class LambdaContext:
    """The context object Lambda passes a handler: what Powertools' Logger puts on each line."""
    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float = field(repr=False)

    @classmethod
    def of(cls, function) -> "LambdaContext":
        """A new invocation's context for moto's LambdaFunction."""
        return cls(function_name=function.function_name, function_version=str(function.version),
                   invoked_function_arn=function.function_arn, memory_limit_in_mb=int(function.memory_size),
                   aws_request_id=str(uuid.uuid4()), log_group_name=f"/aws/lambda/{function.function_name}",
                   log_stream_name=f"{time.strftime('%Y/%m/%d')}/[{function.version}]{uuid.uuid4().hex}",
                   deadline=time.monotonic() + float(function.timeout))

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


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
def own_handler_modules() -> Iterator[None]:
    """A function's own copies of the handler modules it imports (the fleet onboarding's chunk function
    imports serialize_image and classify_image, say). On Lambda each function is a process of its own,
    so those modules read their configuration and make their clients with that function's
    environment; in this process they would otherwise be whichever copy was imported first, under
    another function's or a test's environment. Modules without a handler (errors, support, the
    routing rule) hold no configuration and stay shared."""
    import sys

    import handlers

    def entry_points() -> dict:
        return {name: module for name, module in sys.modules.items()
                if name.startswith("handlers.") and hasattr(module, "handler")}

    shared, attributes = entry_points(), dict(vars(handlers))
    for name in shared:
        del sys.modules[name]
        vars(handlers).pop(name.rpartition(".")[2], None)
    try:
        yield
    finally:
        for name in entry_points():
            del sys.modules[name]
        sys.modules.update(shared)
        for name in [name for name in vars(handlers) if name not in attributes]:
            delattr(handlers, name)
        for name, value in attributes.items():
            setattr(handlers, name, value)


@contextmanager
def handlers_in_process(overrides: dict | None = None, containers: int = 1,
                        throttle_after_seconds: float = THROTTLE_AFTER_SECONDS) -> Iterator[InProcessLambda]:
    """While active, every moto Lambda invocation runs the function's handler in this process, with
    the function's environment plus `overrides` (the stand-in's endpoints and credentials), in up to
    `containers` warm containers per function at once; one that finds none free within
    throttle_after_seconds is throttled."""
    from moto.awslambda.models import LambdaFunction

    seam = InProcessLambda(overrides, containers, throttle_after_seconds)

    def invoke(function, event=None):
        return seam(function, event)

    with mock.patch.object(LambdaFunction, "_invoke_lambda", invoke):
        yield seam


# --- Executions ---------------------------------------------------------------------------------
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
        return message_of(self.cause)


def message_of(cause: str | None) -> str | None:
    """A failure's cause as a person reads it: the handler's message when the cause is Lambda's
    error payload, else the cause itself."""
    if cause is None:
        return None
    try:
        return json.loads(cause)["errorMessage"]
    except (ValueError, KeyError, TypeError):
        return cause


@dataclass(frozen=True)
class Workflow:
    """A deployed state machine (local/deployment.py makes one from the stack's outputs)."""
    state_machine_arn: str
    images_bucket: str           # the stack's images bucket (created by the stack or not, as deployed)
    # Made once per deployment: boto3 clients are thread-safe, and creating one per run would read
    # region and credentials from the environment on every concurrent run.
    client: object = field(repr=False, compare=False)
    decision_bus: str | None = None       # where DriverRouted and DriverNeedsReview events go
    review_queue_url: str | None = None   # review requests and audits

    def run(self, event: dict, timeout_seconds: float = 120.0, name: str | None = None) -> ExecutionResult:
        """Start an execution with `event` as input and wait until it finishes."""
        execution_arn = self.client.start_execution(
            stateMachineArn=self.state_machine_arn, input=json.dumps(event),
            name=name or uuid.uuid4().hex)["executionArn"]
        return self.wait(execution_arn, timeout_seconds)

    def wait(self, execution_arn: str, timeout_seconds: float = 120.0) -> ExecutionResult:
        """Wait until an execution (started by this process or by an upload) finishes."""
        client = self.client
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
