"""The capture writer: SageMaker's layout, whole lines, local directories and S3 prefixes."""
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import boto3
import pytest
from moto import mock_aws

import settings
from local.capture import CaptureWriter
from local.endpoint import Invocation
from monitoring import capture_format, storage

ENDPOINT_NAME = "capture-endpoint"
VARIANT_NAME = "AllTraffic"


def invocation(number: int, when: datetime = datetime(2026, 11, 25, 14, 5, tzinfo=timezone.utc)) -> Invocation:
    return Invocation(endpoint_name=ENDPOINT_NAME, variant_name=VARIANT_NAME, inference_id=f"id-{number}",
                      event_id=f"event-{number}", inference_time=when, request_body=b"\x89PNG" + bytes([number]),
                      request_content_type="image/png", response_body=b"[0.25, 0.75]",
                      response_content_type="application/json")


def read_records(destination: str, s3_client=None):
    return [capture_format.parse_capture_line(line)
            for _, line in storage.iter_jsonl_lines(destination, s3_client)]


def test_capture_writer_files_records_by_endpoint_variant_and_hour(tmp_path):
    writer = CaptureWriter(str(tmp_path), ENDPOINT_NAME, VARIANT_NAME)
    writer.submit(invocation(1, datetime(2026, 11, 25, 14, 59, tzinfo=timezone.utc)))
    writer.submit(invocation(2, datetime(2026, 11, 25, 15, 0, tzinfo=timezone.utc)))

    writer.close()

    directories = sorted(path.parent.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*.jsonl"))
    assert directories == [f"{ENDPOINT_NAME}/{VARIANT_NAME}/2026/11/25/14",
                           f"{ENDPOINT_NAME}/{VARIANT_NAME}/2026/11/25/15"]
    assert [record.inference_id for record in read_records(str(tmp_path))] == ["id-1", "id-2"]


def test_capture_writer_starts_a_new_file_past_the_size_limit(tmp_path):
    writer = CaptureWriter(str(tmp_path), ENDPOINT_NAME, VARIANT_NAME, max_file_bytes=1)

    for number in range(3):
        writer.submit(invocation(number))
        writer.flush()
    writer.close()

    files = list(tmp_path.rglob("*.jsonl"))
    assert len(files) == 3
    assert all(path.read_bytes().count(b"\n") == 1 and path.read_bytes().endswith(b"\n") for path in files)


def test_capture_writer_uploads_to_an_s3_prefix():
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="captures")
        writer = CaptureWriter("s3://captures/datacapture", ENDPOINT_NAME, VARIANT_NAME, s3_client=s3)
        for number in range(5):
            writer.submit(invocation(number))

        writer.close()

        keys = [item["Key"] for item in s3.list_objects_v2(Bucket="captures")["Contents"]]
        records = read_records("s3://captures/datacapture", s3)
    assert all(key.startswith(f"datacapture/{ENDPOINT_NAME}/{VARIANT_NAME}/2026/11/25/14/") for key in keys)
    assert sorted(record.inference_id for record in records) == [f"id-{number}" for number in range(5)]


def test_capture_writer_refuses_records_after_close(tmp_path):
    writer = CaptureWriter(str(tmp_path), ENDPOINT_NAME, VARIANT_NAME)
    writer.close()

    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(invocation(1))


def test_capture_writer_rejects_an_s3_uri_without_bucket():
    with pytest.raises(ValueError, match="bucket"):
        CaptureWriter("s3:///prefix", ENDPOINT_NAME, VARIANT_NAME)


CRASHING_WRITER = """
import sys
from datetime import datetime, timezone
import settings
from local.capture import CaptureWriter
from tests.local.test_capture import invocation
writer = CaptureWriter(sys.argv[1], "crash-endpoint", "AllTraffic", max_file_bytes=20_000)
number = 0
while True:
    writer.submit(invocation(number % 256, datetime.now(timezone.utc)))
    number += 1
    if number == 200:
        print("writing", flush=True)
"""


def _lines_written(directory) -> int:
    return sum(path.read_bytes().count(b"\n") for path in directory.rglob("*.jsonl"))


@pytest.mark.slow
def test_capture_writer_killed_mid_write_leaves_only_whole_records(tmp_path):
    writer = subprocess.Popen([sys.executable, "-c", CRASHING_WRITER, str(tmp_path)], cwd=settings.PROJECT_ROOT,
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "writing\n"
    # Kill only once more than 200 records reached the files, so the kill lands mid-stream on a
    # slow machine too (a fixed sleep let a busy writer thread fall behind the count below).
    deadline = time.monotonic() + 20
    while _lines_written(tmp_path) <= 200 and time.monotonic() < deadline:
        time.sleep(0.05)

    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=10)

    files = list(tmp_path.rglob("*.jsonl"))
    assert files and all(path.read_bytes().endswith(b"\n") for path in files if path.stat().st_size)
    assert len(read_records(str(tmp_path))) > 200
