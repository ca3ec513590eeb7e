import importlib
import sys
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

import settings
from local.workflow import LambdaContext
from tests.handlers.doubles import MotoEndpoint, XRayDaemon, image_bytes

HANDLER_SETTINGS = (settings.ENV_ENDPOINT_NAME, settings.ENV_IMAGES_BUCKET, settings.ENV_THRESHOLD, settings.ENV_AUDIT_RATE, settings.ENV_CLASS_NAMES,
                    settings.ENV_THRESHOLD_PARAMETER, "POWERTOOLS_PARAMETERS_MAX_AGE",
                    settings.ENV_MAX_IMAGE_BYTES, settings.ENV_MAX_IMAGE_MEGAPIXELS,
                    settings.ENV_MAX_IMAGE_SIDE, settings.ENV_SAGEMAKER_RUNTIME_URL)


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    for name in HANDLER_SETTINGS:  # each test states the settings it relies on
        monkeypatch.delenv(name, raising=False)
    # What every deployed function has (serverless.yml): Powertools' service, and Check Confidence's
    # metrics namespace.
    monkeypatch.setenv(settings.ENV_POWERTOOLS_SERVICE_NAME, settings.SERVICE_NAME)
    monkeypatch.setenv(settings.ENV_POWERTOOLS_METRICS_NAMESPACE, "vehicle-routing/test")
    with mock_aws():
        yield


class CurrentStdout:
    """A stream that is whatever sys.stdout is when written to (capsys replaces it for each test)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def load_handler(aws, monkeypatch):
    """Import a handler module afresh, as a new Lambda container would, with these settings. Its
    Powertools Logger writes to the stdout of the test (capsys reads it): one Python logger serves
    every handler in this process, and it would keep the stdout of the test that first made it."""
    def load(module_name: str, **environment):
        for name, value in environment.items():
            monkeypatch.setenv(name, str(value))
        module = importlib.reload(importlib.import_module(f"handlers.{module_name}"))
        module.logger.logger_handler.stream = CurrentStdout()
        return module
    return load


@pytest.fixture
def lambda_context():
    """The context Lambda passes a handler (Powertools' Logger reads it), as the in-process seam makes it."""
    return LambdaContext.of(SimpleNamespace(
        function_name="vehicle-routing-test-function", version="$LATEST", memory_size=256, timeout=60,
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:vehicle-routing-test-function"))


@pytest.fixture
def images_bucket(aws):
    name = "driver-photos"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def endpoint(aws, monkeypatch):
    return MotoEndpoint(monkeypatch)


@pytest.fixture
def png():
    return image_bytes("PNG")


@pytest.fixture
def jpeg():
    return image_bytes("JPEG")


@pytest.fixture
def breaking_off_server():
    """An HTTP server that answers 200 with a Content-Length it never delivers: the download (of a
    photo from S3, of an answer from the endpoint) breaks off half-way."""
    import http.server
    import threading

    class BreakingOff(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"\x89PNG\r\n\x1a\n" + bytes(100))
            self.wfile.flush()
            self.close_connection = True

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BreakingOff)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def answering_server():
    """An HTTP server that answers every request 200 with `answer["body"]` as `answer["content_type"]`
    (S3's GetObject, the endpoint's InvokeEndpoint, as far as a client pointed at it knows); the
    fixture is that dict, with the server's "url"."""
    import http.server
    import threading

    answer = {"body": b"", "content_type": "application/octet-stream"}

    class Answering(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", answer["content_type"])
            self.send_header("Content-Length", str(len(answer["body"])))
            self.end_headers()
            self.wfile.write(answer["body"])

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answering)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    answer["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield answer
    server.shutdown()
    server.server_close()


@pytest.fixture
def xray_daemon():
    daemon = XRayDaemon()
    yield daemon
    daemon.close()
