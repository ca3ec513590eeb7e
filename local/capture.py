"""Data capture for the local endpoint, the way SageMaker writes it.

Every invocation becomes one JSON line built by monitoring/capture_format.py (the one definition of
the record and of the {prefix}/{endpoint}/{variant}/yyyy/mm/dd/hh/ layout), below a local directory
or an s3://bucket/prefix.

One writer thread owns the files, so concurrent requests never interleave: request threads only put
records on a queue. Locally each batch of whole lines goes out in one os.write on an O_APPEND file,
so a crash leaves whole lines only; a file is closed at the hour boundary or past a size limit.
S3 cannot append, so there a batch of lines becomes one object per flush, as SageMaker uploads.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from local.endpoint import Invocation
from monitoring import capture_format, storage

logger = logging.getLogger(__name__)

# SageMaker uploads captured data every few minutes; locally, a second keeps the report fresh.
DEFAULT_FLUSH_SECONDS = 1.0
# Start a new local file past this size, so no file grows without bound within an hour.
MAX_LOCAL_FILE_BYTES = 16 * 1024 * 1024
_STOP = object()


class LocalSink:
    """Appends whole lines to files below a local directory."""

    def __init__(self, root: Path, max_file_bytes: int = MAX_LOCAL_FILE_BYTES):
        self.root = Path(root)
        self.max_file_bytes = max_file_bytes
        self._open: dict[str, tuple[int, int]] = {}  # partition -> (fd, bytes written)

    def write(self, partition: str, lines: list[str], when: datetime) -> None:
        fd, size = self._open.get(partition, (None, 0))
        if fd is not None and size >= self.max_file_bytes:
            os.close(fd)
            fd = None
        if fd is None:
            for stale in [key for key in self._open if key != partition]:  # the hour has moved on
                os.close(self._open.pop(stale)[0])
            directory = self.root / partition
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(directory / capture_format.capture_file_name(when), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            size = 0
        data = "".join(lines).encode()
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        self._open[partition] = (fd, size + len(data))

    def close(self) -> None:
        for fd, _ in self._open.values():
            os.close(fd)
        self._open.clear()


class S3Sink:
    """Uploads each batch of lines as one new object below s3://bucket/prefix."""

    def __init__(self, bucket: str, prefix: str, s3_client=None):
        import boto3
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.s3 = s3_client or boto3.client("s3")

    def write(self, partition: str, lines: list[str], when: datetime) -> None:
        key = "/".join(part for part in (self.prefix, partition, capture_format.capture_file_name(when)) if part)
        self.s3.put_object(Bucket=self.bucket, Key=key, Body="".join(lines).encode(),
                           ContentType="application/jsonl")

    def close(self) -> None:
        pass


def sink_for(destination: str, s3_client=None, max_file_bytes: int = MAX_LOCAL_FILE_BYTES):
    """A sink for a local directory or an s3://bucket/prefix (ValueError when it names no bucket)."""
    if storage.is_s3(destination):
        target = storage.parse_s3(destination)
        return S3Sink(target.bucket, target.prefix, s3_client)
    return LocalSink(Path(destination), max_file_bytes)


class CaptureWriter:
    """Turns invocations into capture lines on one background thread.

    submit() never blocks on I/O; flush() returns once everything submitted before it is written;
    close() flushes and stops the thread.
    """

    def __init__(self, destination: str, endpoint_name: str, variant_name: str,
                 flush_seconds: float = DEFAULT_FLUSH_SECONDS, s3_client=None,
                 max_file_bytes: int = MAX_LOCAL_FILE_BYTES):
        self.destination = destination
        self.endpoint_name = endpoint_name
        self.variant_name = variant_name
        self.flush_seconds = flush_seconds
        self._sink = sink_for(destination, s3_client, max_file_bytes)
        self._queue: queue.Queue = queue.Queue()
        self._pending: dict[str, list[str]] = defaultdict(list)
        self._pending_since: Optional[float] = None
        self._flush_requests: list[threading.Event] = []
        self.records_written = 0
        self.write_errors = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)
        self._thread.start()

    def submit(self, invocation: Invocation) -> None:
        if self._closed:
            raise RuntimeError("The capture writer is closed.")
        self._queue.put(invocation)

    def flush(self, timeout: float = 30) -> bool:
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float = 30) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._sink.close()

    def _run(self) -> None:
        while True:
            wait = self.flush_seconds if self._pending_since is not None else None
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                self._write_pending()
                continue
            items = [item]
            while True:  # drain whatever else is waiting, to write it in one go
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = False
            for item in items:
                if item is _STOP:
                    stop = True
                elif isinstance(item, threading.Event):
                    self._flush_requests.append(item)
                else:
                    self._add(item)
            if self._flush_requests or stop or isinstance(self._sink, LocalSink) or \
                    time.monotonic() - (self._pending_since or 0) >= self.flush_seconds:
                self._write_pending()
            for event in self._flush_requests:
                event.set()
            self._flush_requests.clear()
            if stop:
                return

    def _add(self, invocation: Invocation) -> None:
        try:
            line = capture_format.to_jsonl_line(capture_format.build_capture_record(
                request_body=invocation.request_body,
                request_content_type=invocation.request_content_type,
                response_body=invocation.response_body,
                response_content_type=invocation.response_content_type,
                inference_id=invocation.inference_id,
                event_id=invocation.event_id,
                inference_time=invocation.inference_time))
            partition = capture_format.capture_partition(
                "", invocation.endpoint_name, invocation.variant_name, invocation.inference_time)
        except Exception:
            self.write_errors += 1
            logger.exception("Could not build a capture record; it is skipped")
            return
        self._pending[partition].append(line)
        if self._pending_since is None:
            self._pending_since = time.monotonic()

    def _write_pending(self) -> None:
        now = datetime.now(timezone.utc)
        for partition in list(self._pending):
            lines = self._pending[partition]
            try:
                self._sink.write(partition, lines, now)
            except Exception:
                self.write_errors += 1
                logger.exception("Could not write %d capture records to %s; retrying on the next flush",
                                 len(lines), self.destination)
                continue
            self.records_written += len(lines)
            del self._pending[partition]
        self._pending_since = time.monotonic() if self._pending else None
