"""SageMaker data-capture records: the one place that builds and parses them, and names their files.

A real endpoint with data capture on writes one JSON object per line, and the local endpoint
(local/endpoint.py) writes the same through this module, so monitoring reads both alike:

    {"captureData": {
        "endpointInput":  {"observedContentType": "image/png", "mode": "INPUT",
                           "data": "<base64>", "encoding": "BASE64"},
        "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                           "data": "[0.03, 0.97]", "encoding": "JSON"}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceId": "<caller's id>",
                       "inferenceTime": "2026-11-25T14:05:09Z"},
     "eventVersion": "0"}

Files live under {prefix}/{endpoint}/{variant}/yyyy/mm/dd/hh/{mm-ss-mmm}-{uuid}.jsonl (UTC hour
of the inference). JSON and CSV bodies are kept as text; any other content type (images) is
base64-encoded, as SageMaker does when the type is in neither of its configured lists.
"""
import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

EVENT_VERSION = "0"
INPUT_MODE = "INPUT"
OUTPUT_MODE = "OUTPUT"
ENCODING_JSON = "JSON"
ENCODING_CSV = "CSV"
ENCODING_BASE64 = "BASE64"
# SageMaker's own defaults for DataCaptureConfig's json_content_types / csv_content_types.
JSON_CONTENT_TYPES = ("application/json",)
CSV_CONTENT_TYPES = ("text/csv",)
CAPTURE_FILE_SUFFIX = ".jsonl"
INFERENCE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class MalformedCaptureRecord(ValueError):
    """A line that is not a data-capture record this module can read (the reader counts these)."""


@dataclass(frozen=True)
class CaptureRecord:
    """One captured inference, decoded: bodies as bytes, whatever encoding they were stored in."""

    event_id: str
    inference_id: Optional[str]
    inference_time: datetime
    input_content_type: Optional[str]
    input_body: Optional[bytes]
    output_content_type: Optional[str]
    output_body: Optional[bytes]

    @property
    def join_key(self) -> str:
        """The id ground truth is matched on: inferenceId when the caller gave one, else eventId."""
        return self.inference_id or self.event_id


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def encoding_for(content_type: str) -> str:
    """The capture encoding SageMaker uses for a body of this content type."""
    media_type = _media_type(content_type)
    if media_type in JSON_CONTENT_TYPES:
        return ENCODING_JSON
    if media_type in CSV_CONTENT_TYPES:
        return ENCODING_CSV
    return ENCODING_BASE64


def encode_payload(body: bytes, content_type: str, mode: str) -> dict:
    """The endpointInput / endpointOutput object for one body (mode is INPUT_MODE or OUTPUT_MODE)."""
    encoding = encoding_for(content_type)
    if encoding == ENCODING_BASE64:
        data = base64.b64encode(body).decode("ascii")
    else:
        try:
            data = body.decode("utf-8")
        except UnicodeDecodeError:  # a mislabelled binary body is still captured, losslessly
            encoding, data = ENCODING_BASE64, base64.b64encode(body).decode("ascii")
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


def decode_payload(payload: dict) -> bytes:
    """The original body bytes of an endpointInput / endpointOutput object.

    Raises MalformedCaptureRecord when the object, its encoding or its data is unusable.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), str):
        raise MalformedCaptureRecord("capture payload has no text 'data'")
    encoding = str(payload.get("encoding", "")).upper()
    data = payload["data"]
    if encoding == ENCODING_BASE64:
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as error:
            raise MalformedCaptureRecord(f"invalid BASE64 data: {error}") from None
    if encoding in (ENCODING_JSON, ENCODING_CSV):
        return data.encode("utf-8")
    raise MalformedCaptureRecord(f"unknown capture encoding {payload.get('encoding')!r}")


def format_inference_time(when: datetime) -> str:
    """UTC timestamp text as in eventMetadata.inferenceTime (naive datetimes are taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime(INFERENCE_TIME_FORMAT)


def parse_inference_time(text: str) -> datetime:
    """An aware UTC datetime from inferenceTime text ('...Z', fractional seconds or an offset)."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        raise MalformedCaptureRecord(f"unreadable inferenceTime {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


def build_capture_record(
    request_body: bytes,
    request_content_type: str,
    response_body: bytes,
    response_content_type: str,
    inference_id: Optional[str] = None,
    event_id: Optional[str] = None,
    inference_time: Optional[datetime] = None,
) -> dict:
    """A data-capture record (a dict ready for to_jsonl_line) for one request and its response.

    event_id defaults to a fresh UUID and inference_time to now; inference_id is the caller's
    InferenceId (the X-Amzn-SageMaker-Inference-Id header) and is omitted when not given.
    """
    metadata = {"eventId": event_id or str(uuid.uuid4())}
    if inference_id:
        metadata["inferenceId"] = inference_id
    metadata["inferenceTime"] = format_inference_time(inference_time or datetime.now(timezone.utc))
    return {
        "captureData": {
            "endpointInput": encode_payload(request_body, request_content_type, INPUT_MODE),
            "endpointOutput": encode_payload(response_body, response_content_type, OUTPUT_MODE),
        },
        "eventMetadata": metadata,
        "eventVersion": EVENT_VERSION,
    }


def to_jsonl_line(record: dict) -> str:
    """One line of a capture file, newline included."""
    return json.dumps(record, separators=(",", ":")) + "\n"


def parse_capture_line(line, decode_input: bool = True) -> CaptureRecord:
    """Decode one line (str or bytes) of a capture file.

    A record may hold only the input or only the output (capture mode Input or Output); the
    missing side is None. decode_input=False leaves input_body None, for readers that need only
    the output (the image is most of the line). Raises MalformedCaptureRecord when unusable.
    """
    try:
        record = json.loads(line)
    except (ValueError, TypeError) as error:
        raise MalformedCaptureRecord(f"not JSON: {error}") from None
    if not isinstance(record, dict):
        raise MalformedCaptureRecord("not a JSON object")
    capture = record.get("captureData")
    metadata = record.get("eventMetadata")
    if not isinstance(capture, dict) or not isinstance(metadata, dict):
        raise MalformedCaptureRecord("missing captureData or eventMetadata")
    event_id = metadata.get("eventId")
    if not isinstance(event_id, str) or not event_id:
        raise MalformedCaptureRecord("missing eventMetadata.eventId")
    endpoint_input = capture.get("endpointInput")
    endpoint_output = capture.get("endpointOutput")
    if endpoint_input is None and endpoint_output is None:
        raise MalformedCaptureRecord("captureData has neither endpointInput nor endpointOutput")
    if not all(isinstance(side, (dict, type(None))) for side in (endpoint_input, endpoint_output)):
        raise MalformedCaptureRecord("endpointInput / endpointOutput is not an object")
    inference_id = metadata.get("inferenceId")
    return CaptureRecord(
        event_id=event_id,
        inference_id=str(inference_id) if inference_id else None,
        inference_time=parse_inference_time(metadata.get("inferenceTime")),
        input_content_type=endpoint_input.get("observedContentType") if endpoint_input else None,
        input_body=decode_payload(endpoint_input) if decode_input and endpoint_input is not None else None,
        output_content_type=endpoint_output.get("observedContentType") if endpoint_output else None,
        output_body=decode_payload(endpoint_output) if endpoint_output is not None else None,
    )


def hour_path(when: datetime) -> str:
    """The yyyy/mm/dd/hh part of capture and ground-truth paths, in UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y/%m/%d/%H")


# .../yyyy/mm/dd/hh/mm-ss-mmm-<uuid>.jsonl: the hour from the folders, the rest from the file name.
_TIME_IN_PATH = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/(\d{2})/(?:(\d{2})-(\d{2})-(\d{3})-)?[^/]*$")


def time_of_path(location: str) -> Optional[datetime]:
    """When a capture or ground-truth file was started, read from its path (SageMaker's layout and
    capture_file_name); the hour alone for other file names; None outside the layout."""
    match = _TIME_IN_PATH.search(str(location).replace("\\", "/"))
    if not match:
        return None
    year, month, day, hour = (int(part) for part in match.groups()[:4])
    minute, second, millisecond = (int(part) if part else 0 for part in match.groups()[4:])
    return datetime(year, month, day, hour, minute, second, millisecond * 1000, tzinfo=timezone.utc)


def variant_of(location: str) -> Optional[str]:
    """The variant folder of a capture file: the folder above yyyy/mm/dd/hh/file; None outside the
    layout."""
    parts = str(location).replace("\\", "/").split("/")
    return parts[-6] if len(parts) >= 6 and time_of_path(location) else None


def capture_file_name(when: datetime) -> str:
    """A unique file name in SageMaker's style: minute-second-millisecond-uuid.jsonl."""
    when = when.astimezone(timezone.utc) if when.tzinfo else when
    return f"{when:%M-%S}-{when.microsecond // 1000:03d}-{uuid.uuid4()}{CAPTURE_FILE_SUFFIX}"


def capture_partition(prefix: str, endpoint_name: str, variant_name: str, when: datetime) -> str:
    """{prefix}/{endpoint}/{variant}/yyyy/mm/dd/hh: the folder a capture record of `when` goes to.

    prefix may be empty (the path then starts at the endpoint name).
    """
    parts = [prefix.strip("/")] if prefix.strip("/") else []
    return "/".join(parts + [endpoint_name, variant_name, hour_path(when)])


def capture_key(prefix: str, endpoint_name: str, variant_name: str, when: datetime,
                file_name: Optional[str] = None) -> str:
    """{prefix}/{endpoint}/{variant}/yyyy/mm/dd/hh/{file}: an S3 key, or a path below a local dir.

    file_name defaults to a fresh capture_file_name(when).
    """
    return f"{capture_partition(prefix, endpoint_name, variant_name, when)}/{file_name or capture_file_name(when)}"
