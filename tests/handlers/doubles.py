"""Inputs and cloud doubles for the handler and state machine tests.

A handler traced as Lambda runs it with active tracing runs in a fresh Python (`invoke_traced`):
Powertools' Tracer and the X-Ray SDK configure themselves once per process. `XRayDaemon` is the
daemon beside the function, receiving its segment documents over UDP.

What the tests need from moto beyond its defaults:
moto's sagemaker-runtime decodes request bodies as UTF-8, so a binary image would fail inside moto
rather than reach its (configurable) endpoint results; `MotoEndpoint` keeps the body raw, records
every request, and can answer with the errors the real service sends. Shared with
tests/statemachine, which runs the same endpoint double behind the real state machine.
"""
import base64
import io
import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass

import requests
from botocore.awsrequest import AWSResponse
from PIL import Image
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.exceptions import JsonRESTError
from moto.sagemakerruntime.models import SageMakerRuntimeBackend
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

import settings

MOTO_ENDPOINT_RESULTS_URL = "http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results"


class SageMakerRuntimeError(JsonRESTError):
    """An error as sagemaker-runtime sends it: a code, a message and the code's modeled fields."""

    def __init__(self, code: str, message: str, status: int = 400, **fields):
        super().__init__(code, message)
        self.code = status
        self.description = json.dumps({"__type": code, "message": message, **fields})


@dataclass
class EndpointRequest:
    endpoint_name: str
    content_type: str
    accept: str
    inference_id: str
    body: bytes


class MotoEndpoint:
    """moto's sagemaker-runtime with binary bodies, a request log and injectable errors."""

    def __init__(self, monkeypatch):
        self.requests: list[EndpointRequest] = []
        self._errors: list[SageMakerRuntimeError] = []
        original_setup, original_invoke = SageMakerRuntimeResponse.setup_class, SageMakerRuntimeBackend.invoke_endpoint
        endpoint = self

        def setup_class(response, request, full_url=None, headers=None, use_raw_body=None):
            original_setup(response, request, full_url, headers, use_raw_body=True)
            endpoint.requests.append(EndpointRequest(
                endpoint_name=response.path.split("/")[2],
                content_type=response.headers.get("Content-Type"),
                accept=response.headers.get("Accept"),
                inference_id=response.headers.get("X-Amzn-SageMaker-Inference-Id"),
                body=response.raw_body))
            # moto keys its answers by a JSON text that includes the body: latin-1 maps bytes 1:1.
            response.body = response.raw_body.decode("latin-1")

        def invoke_endpoint(backend, *args, **kwargs):
            if endpoint._errors:
                raise endpoint._errors.pop(0)
            return original_invoke(backend, *args, **kwargs)

        monkeypatch.setattr(SageMakerRuntimeResponse, "setup_class", setup_class)
        monkeypatch.setattr(SageMakerRuntimeBackend, "invoke_endpoint", invoke_endpoint)

    def answer(self, *bodies: str, content_type: str = settings.ASSESSMENT_CONTENT_TYPE) -> None:
        """Queue the endpoint's next answers, in order (moto's documented results API)."""
        results = [{"Body": body, "ContentType": content_type} for body in bodies]
        requests.post(MOTO_ENDPOINT_RESULTS_URL,
                      json={"account_id": DEFAULT_ACCOUNT_ID, "results": results}).raise_for_status()

    def fail(self, *errors: SageMakerRuntimeError) -> None:
        """The next invocations fail with these errors, in order, before answers resume."""
        self._errors.extend(errors)


class _RawBody:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_):
        yield self._body


def answer_s3_with_error(client, operation: str, status: int, code: str, message: str) -> list:
    """Make `client`'s `operation` calls get this S3 XML error instead of reaching moto.
    Returns the list of HTTP requests answered so (one per attempt, retries included)."""
    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
    answered = []

    def error_response(request, **_):
        answered.append(request)
        return AWSResponse(request.url, status, {"Content-Type": "application/xml"}, _RawBody(body))

    client.meta.events.register_first(f"before-send.s3.{operation}", error_response)
    return answered


def assessment(*probabilities, reasons=(), codes=()) -> str:
    """The endpoint's assessment of a picture, as training/inference.py answers it (codes: the reasons'
    codes; a picture called not_two_wheeler has little two-wheeler mass)."""
    return json.dumps({"probabilities": list(probabilities), "classes": list(settings.CLASS_NAMES),
                       "usable": not reasons, "unusable_reasons": list(reasons), "unusable_codes": list(codes),
                       "two_wheeler_mass": 0.1 if "not_two_wheeler" in codes else 0.9, "two_wheeler_limit": 0.5})


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def image_bytes(image_format: str, size=(32, 32), color="blue") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, image_format)
    return buffer.getvalue()


def printed(capsys) -> tuple[list, list]:
    """What handlers printed, as their log group would hold it: the decision lines (Powertools'
    Logger) and the Embedded Metric Format documents (Powertools' Metrics), each in order."""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" not in line], [line for line in lines if "_aws" in line]


# The header Step Functions passes a traced Task's Lambda: the function's segments join that trace.
TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"
TRACE_HEADER = f"Root={TRACE_ID};Parent=53995c3f42cd8ad8;Sampled=1"
_INVOKE = """
import json, sys
from types import SimpleNamespace
from local.workflow import LambdaContext
from handlers import {module} as function
context = LambdaContext.of(SimpleNamespace(function_name="traced", version="$LATEST", memory_size=256, timeout=60,
                                           function_arn="arn:aws:lambda:us-east-1:123456789012:function:traced"))
try:
    print(json.dumps({{"result": function.handler(json.loads(sys.argv[1]), context)}}))
except Exception as error:
    print(json.dumps({{"error": type(error).__name__}}))
"""


class XRayDaemon:
    """The X-Ray daemon beside a Lambda function: segment documents arrive over UDP."""

    def __init__(self):
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._socket.getsockname()[1]}"

    def documents(self) -> list[dict]:
        """What arrived so far: each datagram is a JSON header line, then one segment document."""
        self._socket.settimeout(0.5)
        received = []
        try:
            while True:
                received.append(json.loads(self._socket.recv(65535).decode().split("\n", 1)[1]))
        except socket.timeout:
            return received

    def close(self) -> None:
        self._socket.close()


def invoke_traced(module: str, event: dict, daemon: XRayDaemon, **environment) -> dict:
    """Invoke handlers/<module>.py as Lambda does with active tracing: in a task root, with the trace
    header of the state machine's Task and the daemon's address. {"result": ...} or {"error": name}."""
    lambda_environment = {"LAMBDA_TASK_ROOT": str(settings.PROJECT_ROOT), "_X_AMZN_TRACE_ID": TRACE_HEADER,
                          "AWS_XRAY_DAEMON_ADDRESS": daemon.address, "AWS_LAMBDA_FUNCTION_NAME": "traced",
                          settings.ENV_POWERTOOLS_SERVICE_NAME: settings.SERVICE_NAME,
                          "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                          "AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": str(settings.PROJECT_ROOT)}
    completed = subprocess.run([sys.executable, "-c", _INVOKE.format(module=module), json.dumps(event)],
                               env={**os.environ, **lambda_environment, **environment}, cwd=settings.PROJECT_ROOT,
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def subsegments(documents: list[dict]) -> dict:
    """The documents' subsegments by name, nested ones included."""
    found, pending = {}, list(documents)
    while pending:
        document = pending.pop()
        found[document["name"]] = document
        pending.extend(document.get("subsegments", []))
    return found
