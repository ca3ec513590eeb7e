"""A local stand-in for a SageMaker real-time endpoint: the SageMaker runtime API on 127.0.0.1.

It serves the model through training/inference.py's own model_fn and transform_fn, so what answers
here is what the SageMaker MXNet container would run. boto3's sagemaker-runtime client reaches it
through AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, and errors are shaped like the real service's so
botocore raises the same exceptions (ValidationError for an unknown endpoint, ModelError with
OriginalStatusCode/OriginalMessage when the model rejects the input).

    python -m local.endpoint --model-dir artifacts/model --port 8080 --capture artifacts/captures
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import queue
import re
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Optional

import settings

logger = logging.getLogger(__name__)
# waitress warns whenever a request waits for a free thread, which bursts of clients make routine.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)

INVOCATIONS_PATH = re.compile(r"^/endpoints/(?P<name>[^/]+)/invocations$")
HEALTH_PATH = "/ping"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
DEFAULT_ACCEPT = "application/json"
# SageMaker rejects request bodies above 6 MB with a ValidationError before the model sees them.
MAX_REQUEST_BYTES = 6 * 1024 * 1024
# SageMaker's limit on the InferenceId header.
MAX_INFERENCE_ID_LENGTH = 64
# Python object representations ("<_io.BytesIO object at 0x7f...>") say nothing to a client.
OBJECT_REPR = re.compile(r"<([\w.]+) object at 0x[0-9a-fA-F]+>")
# moto's default account: errors name it the way the real service names the caller's account.
LOCAL_ACCOUNT_ID = "123456789012"
SERVER_THREADS = 8
LOOP_TIMEOUT_SECONDS = 0.5
# Rows per coalesced forward pass: past ~32 a CPU gains little per image and latency grows.
MAX_BATCH = 32
OMP_WAIT_POLICY_VARIABLE = "OMP_WAIT_POLICY"
OMP_THREADS_VARIABLE = "OMP_NUM_THREADS"


class EndpointError(Exception):
    """An error the endpoint answers with, in the rest-json shape botocore parses."""

    def __init__(self, http_status: int, error_type: str, message: str, **fields):
        super().__init__(message)
        self.http_status = http_status
        self.error_type = error_type
        self.message = message
        self.fields = fields

    def body(self) -> bytes:
        fields = {name: readable(value) if isinstance(value, str) else value for name, value in self.fields.items()}
        return json.dumps({"ErrorCode": self.error_type, "Message": readable(self.message), **fields}).encode()


def readable(message: str) -> str:
    """The message with Python object representations replaced by what the object is."""
    return OBJECT_REPR.sub(lambda match: f"the {match.group(1).rsplit('.', 1)[-1]}", message)


def model_error(endpoint_name: str, original_status: int, original_message: str) -> EndpointError:
    """What SageMaker returns when the container answers with a non-2xx status."""
    kind = "client" if 400 <= original_status < 500 else "server"
    return EndpointError(
        424, "ModelError",
        f'Received {kind} error ({original_status}) from primary with message "{original_message}". '
        f"See the local endpoint's log for more information.",
        ErrorCode=f"{kind.upper()}_ERROR_FROM_MODEL",
        OriginalStatusCode=original_status,
        OriginalMessage=original_message,
        LogStreamArn=f"arn:aws:logs:local:{LOCAL_ACCOUNT_ID}:log-group:/aws/sagemaker/Endpoints/{endpoint_name}",
    )


@dataclass(frozen=True)
class Invocation:
    """One request and its answer, as data capture records them."""
    endpoint_name: str
    variant_name: str
    inference_id: Optional[str]
    event_id: str
    inference_time: datetime
    request_body: bytes
    request_content_type: str
    response_body: bytes
    response_content_type: str


def status_of(exc: Exception) -> Optional[int]:
    """The HTTP status training/inference.py attaches to input errors (None for a crash)."""
    for attribute in ("http_status", "status_code", "status"):
        value = getattr(exc, attribute, None)
        if isinstance(value, int):
            return value
    return None


class _PendingForward:
    def __init__(self, pixels):
        self.pixels = pixels          # the caller's NDArray, NCHW
        self.rows = pixels.shape[0]
        self.outputs = None
        self.error: Optional[BaseException] = None
        self.done = threading.Event()


class BatchingNetwork:
    """Stands in for the model's network (NCHW pixels -> its outputs) and coalesces concurrent calls.

    MXNet 1.x's Gluon front end is not thread-safe, so one forward pass runs at a time, under a
    lock. A request queues its pixels, then whoever holds the lock runs everything queued as one
    batch: a lone request runs at once in its own thread, and requests that arrive during a
    forward pass go through together in the next, which is how 8 concurrent clients get more
    images per second out of 2 cores than one forward pass each.

    Pixels and outputs stay MXNet NDArrays: a lone request's array goes to the network as it is,
    and each caller gets its rows of each output as a view. (Copying them through numpy and back
    cost as much time per request as the forward pass, each copy waiting on MXNet's engine.)
    """

    def __init__(self, network, max_batch: int = MAX_BATCH):
        self._network = network
        self._max_batch = max_batch
        self._queue: queue.Queue = queue.Queue()
        self._forward_lock = threading.Lock()

    def __call__(self, batch):
        pending = _PendingForward(batch)
        self._queue.put(pending)
        while not pending.done.is_set():
            with self._forward_lock:
                if not pending.done.is_set():
                    self._forward_queued()
        if pending.error is not None:
            raise pending.error
        return pending.outputs

    def _forward_queued(self) -> None:
        """One forward pass over what is queued (up to max_batch rows); the caller holds the lock."""
        import mxnet as mx
        group, rows = [], 0
        while rows < self._max_batch:
            try:
                pending = self._queue.get_nowait()
            except queue.Empty:
                break
            group.append(pending)
            rows += pending.rows
        if not group:
            return
        try:
            inputs = group[0].pixels if len(group) == 1 else mx.nd.concat(*(p.pixels for p in group), dim=0)
            outputs = self._network(inputs)
            outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
            for output in outputs:
                output.wait_to_read()  # MXNet runs asynchronously: a failure surfaces here, under the lock
        except BaseException as exc:  # every waiter learns of it, none hangs
            for pending in group:
                pending.error = exc
                pending.done.set()
            return
        offset = 0
        for pending in group:
            rows = [output[offset:offset + pending.rows] for output in outputs] if len(group) > 1 else outputs
            pending.outputs = rows if len(rows) > 1 else rows[0]
            offset += pending.rows
            pending.done.set()


class InferenceModel:
    """The model behind the endpoint, loaded and called through training/inference.py.

    Request threads run transform_fn itself (decoding, validation, calibration, the JSON answer);
    only the network inside the loaded model is swapped for a BatchingNetwork around it.
    """

    def __init__(self, model_dir: Path):
        from training import inference  # MXNet loads only when a model is served
        self._inference = inference
        loaded = inference.model_fn(str(model_dir))
        self._model = dataclasses.replace(loaded, network=BatchingNetwork(loaded.network))

    def transform(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        payload, response_content_type = self._inference.transform_fn(self._model, body, content_type, accept)
        if isinstance(payload, str):
            payload = payload.encode()
        return payload, response_content_type


class EndpointApp:
    """The WSGI application: routing, SageMaker's headers and error shapes, data capture, and the
    endpoint's production and shadow variants (local/variants.py)."""

    def __init__(self, model, endpoint_name: str, variant_name: str = settings.DEFAULT_VARIANT_NAME,
                 on_invocation: Optional[Callable[[Invocation], None]] = None,
                 variants: Optional[list] = None, shadow=None):
        from local.variants import ProductionVariant, ShadowCaller, VariantRouter
        self.router = VariantRouter(variants or [ProductionVariant(variant_name, model)])
        self.model = self.router.variants[0].model
        self.endpoint_name = endpoint_name
        self.variant_name = self.router.variants[0].name
        self.on_invocation = on_invocation
        self.shadow = ShadowCaller(shadow, self._shadow_answered) if shadow is not None else None
        self.metrics = None   # local.endpoint_metrics.EndpointMetrics: what SageMaker publishes per variant

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        request_id = str(uuid.uuid4())
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            return self._respond(start_response, "200 OK", b"", {"Content-Type": "text/plain"})
        match = INVOCATIONS_PATH.match(path)
        try:
            if not match or method != "POST":
                raise EndpointError(404, "UnknownOperationException",
                                    f"No operation matches {method} {path}.")
            status, body, headers = self._invoke(match.group("name"), environ)
        except EndpointError as error:
            logger.info("%s %s -> %s: %s", method, path, error.error_type, error.message)
            status = f"{error.http_status} {error.error_type}"
            body = error.body()
            headers = {"Content-Type": "application/json", "x-amzn-ErrorType": error.error_type}
        headers["x-amzn-RequestId"] = request_id
        return self._respond(start_response, status, body, headers)

    def _invoke(self, endpoint_name: str, environ: dict) -> tuple[str, bytes, dict]:
        if endpoint_name != self.endpoint_name:
            raise EndpointError(400, "ValidationError",
                                f"Endpoint {endpoint_name} of account {LOCAL_ACCOUNT_ID} not found.")
        body = read_body(environ)
        content_type = environ.get("CONTENT_TYPE") or DEFAULT_CONTENT_TYPE
        accept = environ.get("HTTP_ACCEPT") or DEFAULT_ACCEPT
        inference_id = environ.get("HTTP_X_AMZN_SAGEMAKER_INFERENCE_ID")
        if inference_id is not None and not 1 <= len(inference_id) <= MAX_INFERENCE_ID_LENGTH:
            raise EndpointError(400, "ValidationError",
                                f"1 validation error detected: Value '{inference_id}' at 'inferenceId' failed to "
                                f"satisfy constraint: Member must have length less than or equal to "
                                f"{MAX_INFERENCE_ID_LENGTH}")
        custom_attributes = environ.get("HTTP_X_AMZN_SAGEMAKER_CUSTOM_ATTRIBUTES")
        from local.variants import UnknownVariant
        try:
            variant = self.router.choose(environ.get("HTTP_X_AMZN_SAGEMAKER_TARGET_VARIANT"))
        except UnknownVariant as error:
            raise EndpointError(400, "ValidationError", str(error)) from None
        inference_time = datetime.now(timezone.utc)
        started = time.perf_counter()
        try:
            payload, response_content_type = variant.model.transform(body, content_type, accept)
        except Exception as exc:  # the container's answer to bad input, or its crash
            status = status_of(exc)
            if status is None:
                logger.exception("The model failed on a %s request", content_type)
                error = model_error(endpoint_name, 500, f"{type(exc).__name__}: {exc}")
            else:
                error = model_error(endpoint_name, status, getattr(exc, "message", None) or str(exc))
            # SageMaker counts the model's own status: a crash is a 5XX even though the caller gets 424.
            self._measured(variant.name, status or 500, None)
            raise error from exc
        self._measured(variant.name, 200, (time.perf_counter() - started) * 1e6)
        if self.on_invocation is not None:
            self.on_invocation(Invocation(
                endpoint_name=endpoint_name, variant_name=variant.name,
                inference_id=inference_id, event_id=str(uuid.uuid4()), inference_time=inference_time,
                request_body=body, request_content_type=content_type,
                response_body=payload, response_content_type=response_content_type))
        shadow = self.shadow
        if shadow is not None:  # after the answer exists: the copy can neither delay nor change it
            shadow.submit((endpoint_name, inference_id, inference_time, body, content_type, shadow.shadow.name), body,
                          content_type, accept)
        headers = {"Content-Type": response_content_type,
                   "x-Amzn-Invoked-Production-Variant": variant.name}
        if custom_attributes is not None:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = custom_attributes
        return "200 OK", payload, headers

    def _measured(self, variant_name: str, status: int, latency_microseconds) -> None:
        metrics = self.metrics
        if metrics is not None:
            metrics.record(variant_name, status, latency_microseconds)

    def serve(self, router, shadow=None) -> None:
        """Switch to other variants (the stand-in's UpdateEndpoint): requests already running finish on
        the variants they chose; the old shadow finishes its copies on its own threads."""
        from local.variants import ShadowCaller
        previous = self.shadow
        self.shadow = ShadowCaller(shadow, self._shadow_answered) if shadow is not None else None
        self.router = router
        self.model, self.variant_name = router.variants[0].model, router.variants[0].name
        if previous is not None:
            threading.Thread(target=previous.close, name="retired-shadow", daemon=True).start()

    def _shadow_answered(self, context, payload: bytes, response_content_type: str) -> None:
        endpoint_name, inference_id, inference_time, body, content_type, variant_name = context
        if self.on_invocation is not None:
            self.on_invocation(Invocation(
                endpoint_name=endpoint_name, variant_name=variant_name, inference_id=inference_id,
                event_id=str(uuid.uuid4()), inference_time=inference_time, request_body=body,
                request_content_type=content_type, response_body=payload,
                response_content_type=response_content_type))

    @staticmethod
    def _respond(start_response, status: str, body: bytes, headers: dict) -> list[bytes]:
        headers = {**headers, "Content-Length": str(len(body))}
        start_response(status, list(headers.items()))
        return [body]


def read_body(environ: dict) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise EndpointError(400, "ValidationError", "Content-Length is not a number.") from None
    if length > MAX_REQUEST_BYTES:
        raise EndpointError(400, "ValidationError",
                            f"Request body of {length} bytes exceeds the {MAX_REQUEST_BYTES} byte limit.")
    return environ["wsgi.input"].read(length) if length else b""


class PortInUse(RuntimeError):
    pass


class ModelMismatch(ValueError):
    """A model whose outputs the workflow would read in the wrong order."""


class EndpointServer:
    """A waitress server for an EndpointApp on 127.0.0.1, run in a background thread."""

    def __init__(self, app: EndpointApp, port: int = 0, host: str = settings.LOCAL_ENDPOINT_HOST,
                 threads: int = SERVER_THREADS):
        from waitress.server import create_server
        try:
            self._server = create_server(app, host=host, port=port, threads=threads,
                                         ident="local-sagemaker-endpoint",
                                         channel_timeout=60)
        except OSError as exc:
            raise PortInUse(f"Cannot listen on {host}:{port}: {exc.strerror or exc}. "
                            f"Choose another --port, or 0 for any free port.") from exc
        self.app = app
        self.host = host
        self.port = self._server.effective_port
        self._thread: Optional[threading.Thread] = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "EndpointServer":
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name="local-endpoint", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        # waitress's own run() only stops on KeyboardInterrupt; closing its sockets from another
        # thread makes select() fail, so this loop checks a flag and closes them itself.
        from waitress import wasyncore
        socket_map = self._server._map
        while not self._stopping.is_set():
            wasyncore.loop(timeout=LOOP_TIMEOUT_SECONDS, map=socket_map, count=1)
        self._server.task_dispatcher.shutdown()
        wasyncore.close_all(socket_map)

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        self._server.trigger.pull_trigger()  # wakes select() at once
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> "EndpointServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def serve(model_dir: Path, endpoint_name: str, port: int = 0, capture_destination: Optional[str] = None,
          variant_name: str = settings.DEFAULT_VARIANT_NAME,
          extra_listener: Optional[Callable[[Invocation], None]] = None, s3_client=None):
    """Loads the model and returns (server, capture writer or None), the server not started yet.
    s3_client, when given, is the one an s3:// capture destination is written with.

    extra_listener, when given, also sees every answered invocation (after capture has it).
    Raises FileNotFoundError for a missing model, ModelMismatch for a model whose class order is
    not the workflow's, and PortInUse for a busy port.
    """
    from local.capture import CaptureWriter
    require_model_dir(model_dir)
    capture = (CaptureWriter(capture_destination, endpoint_name, variant_name, s3_client=s3_client)
               if capture_destination else None)
    listeners = [listener for listener in (capture.submit if capture else None, extra_listener) if listener]

    def on_invocation(invocation: Invocation) -> None:
        for listener in listeners:
            listener(invocation)

    app = EndpointApp(InferenceModel(model_dir), endpoint_name, variant_name, on_invocation=on_invocation if listeners else None)
    try:
        server = EndpointServer(app, port=port)
    except PortInUse:
        if capture is not None:
            capture.close()
        raise
    return server, capture


def require_model_dir(model_dir: Path) -> None:
    from training import model_artifacts
    missing = [name for name in model_artifacts.REQUIRED_FILES if not (Path(model_dir) / name).is_file()]
    if missing == [model_artifacts.USABILITY_FILE]:
        raise ModelMismatch(
            f"The model in {model_dir} was trained before unusable pictures were recognised (no "
            f"{model_artifacts.USABILITY_FILE}); train it again with `python -m local.run --retrain`.")
    if missing:
        raise FileNotFoundError(
            f"No trained model in {model_dir} (missing {', '.join(missing)}). "
            f"Train one with `python -m local.run` or pass --model-dir.")
    # The endpoint answers probabilities in classes.json order and the classify handler names them
    # in settings.CLASS_NAMES order: a model with another order would route every driver wrongly.
    try:
        classes = model_artifacts.read_json(model_dir, model_artifacts.CLASSES_FILE)
    except ValueError as error:
        raise ModelMismatch(f"{Path(model_dir) / model_artifacts.CLASSES_FILE} is not valid JSON ({error}).") from error
    if classes != list(settings.CLASS_NAMES):
        raise ModelMismatch(
            f"The model in {model_dir} answers in the class order {classes} "
            f"({model_artifacts.CLASSES_FILE}), but the workflow reads the answer in the order "
            f"{list(settings.CLASS_NAMES)} (settings.CLASS_NAMES); serving it would mislabel every image. "
            f"Train it again (`python -m local.run --retrain`) or pass another --model-dir.")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.endpoint",
        description="Serve a trained model on 127.0.0.1 through the SageMaker runtime API "
                    "(POST /endpoints/NAME/invocations, GET /ping), with optional data capture. "
                    "Point boto3 at it with AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://127.0.0.1:PORT.")
    parser.add_argument("--model-dir", type=Path, default=settings.ARTIFACTS_DIR / "model",
                        help="model directory written by training/train.py (default: %(default)s)")
    parser.add_argument("--port", type=int, default=settings.LOCAL_ENDPOINT_PORT,
                        help="TCP port on 127.0.0.1; 0 picks a free one (default: %(default)s)")
    parser.add_argument("--endpoint-name", default=settings.DEFAULT_ENDPOINT_NAME,
                        help="the only endpoint name this server answers to (default: %(default)s)")
    parser.add_argument("--capture", metavar="DIR_OR_S3_URI", default=None,
                        help="write SageMaker data-capture JSONL below this local directory or "
                             "s3://bucket/prefix (default: no capture)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not 0 <= args.port <= 65535:
        print(f"error: --port must be between 0 and 65535, not {args.port}", file=sys.stderr)
        return 2
    # Before MXNet loads: one OpenMP thread per core, spinning while idle. For EfficientNet this
    # nearly halves a photo's latency and raises 8 clients' throughput (measured 2026-12-06 on 2 cores
    # at 128 px: p50 23.6 ms and 47 photos/s, against 39.3 ms and 30 with MXNet's default of one
    # thread and 43.4 ms and 37 with sleeping threads, which only paid off for the small CNN before
    # it; at 160 px, the default input, p50 33.5 ms). Spinning threads need the cores to themselves.
    os.environ.setdefault(OMP_THREADS_VARIABLE, str(os.cpu_count() or 1))
    os.environ.setdefault(OMP_WAIT_POLICY_VARIABLE, "ACTIVE")
    try:
        server, capture = serve(args.model_dir, args.endpoint_name, args.port, args.capture)
    except (FileNotFoundError, PortInUse, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    # A service manager stops the server with SIGTERM: shut down as cleanly as on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.start()
    print(f"Endpoint {args.endpoint_name} serving {args.model_dir} at {server.url} "
          f"(export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={server.url}); Ctrl-C stops it.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("Stopping.", file=sys.stderr)
    finally:
        server.stop()
        if capture is not None:
            capture.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
