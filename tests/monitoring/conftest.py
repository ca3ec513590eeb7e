"""Synthetic capture and ground-truth files, written by the tests themselves."""
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitoring import capture_format

START = datetime(2026, 11, 25, 9, 0, 0, tzinfo=timezone.utc)
ENDPOINT = "vehicle-classifier"
VARIANT = "AllTraffic"
PNG_BYTES = b"\x89PNG\r\n\x1a\n fake image bytes"


def capture_line(probabilities, inference_id=None, seconds=0, response_content_type="application/json",
                 event_id=None) -> str:
    """One capture line whose response states these probabilities, in the response's own format."""
    if response_content_type == "text/csv":
        body = ",".join(str(p) for p in probabilities).encode()
    else:
        body = json.dumps(probabilities).encode()
    return capture_format.to_jsonl_line(capture_format.build_capture_record(
        PNG_BYTES, "image/png", body, response_content_type, inference_id=inference_id, event_id=event_id,
        inference_time=START + timedelta(seconds=seconds)))


def write_capture_file(root: Path, lines, seconds=0) -> Path:
    """A capture file at SageMaker's path below root, for the hour START + seconds falls in."""
    path = root / capture_format.capture_key("", ENDPOINT, VARIANT, START + timedelta(seconds=seconds))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line if line.endswith("\n") else line + "\n" for line in lines))
    return path


@pytest.fixture
def aws_credentials(monkeypatch):
    """Dummy credentials so boto3 under moto never looks for real ones."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
