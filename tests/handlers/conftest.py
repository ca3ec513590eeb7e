import importlib

import boto3
import pytest
from moto import mock_aws

import settings
from tests.handlers.doubles import MotoEndpoint, image_bytes

HANDLER_SETTINGS = (settings.ENV_ENDPOINT_NAME, settings.ENV_IMAGES_BUCKET, settings.ENV_THRESHOLD, settings.ENV_AUDIT_RATE, settings.ENV_CLASS_NAMES,
                    settings.ENV_MAX_IMAGE_BYTES, settings.ENV_MAX_IMAGE_MEGAPIXELS,
                    settings.ENV_MAX_IMAGE_SIDE, settings.ENV_SAGEMAKER_RUNTIME_URL)


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    for name in HANDLER_SETTINGS:  # each test states the settings it relies on
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield


@pytest.fixture
def load_handler(aws, monkeypatch):
    """Import a handler module afresh, as a new Lambda container would, with these settings."""
    def load(module_name: str, **environment):
        for name, value in environment.items():
            monkeypatch.setenv(name, str(value))
        return importlib.reload(importlib.import_module(f"handlers.{module_name}"))
    return load


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
