import base64
import json
from datetime import datetime, timedelta, timezone

import pytest

from monitoring import capture_format
from monitoring.capture_format import MalformedCaptureRecord

WHEN = datetime(2026, 11, 25, 14, 5, 9, 123456, tzinfo=timezone.utc)


@pytest.mark.parametrize("content_type, body, encoding, data", [
    ("image/png", b"\x89PNG\x00\xff", "BASE64", base64.b64encode(b"\x89PNG\x00\xff").decode()),
    ("application/json", b"[0.25, 0.75]", "JSON", "[0.25, 0.75]"),
    ("text/csv", b"0.25,0.75", "CSV", "0.25,0.75"),
    ("application/json; charset=utf-8", b"[1, 0]", "JSON", "[1, 0]"),
    ("application/json", b"\xff\xfe not utf-8", "BASE64", base64.b64encode(b"\xff\xfe not utf-8").decode()),
], ids=["image-base64", "json", "csv", "json-with-charset", "mislabelled-binary-base64"])
def test_encode_payload_uses_sagemaker_encoding(content_type, body, encoding, data):
    payload = capture_format.encode_payload(body, content_type, capture_format.OUTPUT_MODE)

    assert payload == {"observedContentType": content_type, "mode": "OUTPUT", "data": data, "encoding": encoding}
    assert capture_format.decode_payload(payload) == body


def test_build_capture_record_has_sagemaker_fields():
    record = capture_format.build_capture_record(b"img", "image/png", b"[0.1, 0.9]", "application/json",
                                                 inference_id="inf-1", event_id="evt-1", inference_time=WHEN)

    assert record == {
        "captureData": {
            "endpointInput": {"observedContentType": "image/png", "mode": "INPUT",
                              "data": base64.b64encode(b"img").decode(), "encoding": "BASE64"},
            "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                               "data": "[0.1, 0.9]", "encoding": "JSON"},
        },
        "eventMetadata": {"eventId": "evt-1", "inferenceId": "inf-1", "inferenceTime": "2026-11-25T14:05:09Z"},
        "eventVersion": "0",
    }


def test_build_capture_record_without_inference_id_omits_it_and_invents_an_event_id():
    first = capture_format.build_capture_record(b"a", "image/png", b"[1, 0]", "application/json")
    second = capture_format.build_capture_record(b"a", "image/png", b"[1, 0]", "application/json")

    assert "inferenceId" not in first["eventMetadata"]
    assert first["eventMetadata"]["eventId"] != second["eventMetadata"]["eventId"]


def test_parse_capture_line_round_trips_a_built_record():
    line = capture_format.to_jsonl_line(capture_format.build_capture_record(
        b"\x89PNG", "image/png", b"[0.1, 0.9]", "application/json", inference_id="inf-1", event_id="evt-1",
        inference_time=WHEN))

    record = capture_format.parse_capture_line(line)

    assert line.endswith("\n") and line.count("\n") == 1
    assert record == capture_format.CaptureRecord(
        event_id="evt-1", inference_id="inf-1", inference_time=WHEN.replace(microsecond=0),
        input_content_type="image/png", input_body=b"\x89PNG",
        output_content_type="application/json", output_body=b"[0.1, 0.9]")
    assert record.join_key == "inf-1"


def test_parse_capture_line_without_input_decoding_skips_the_image():
    line = capture_format.to_jsonl_line(capture_format.build_capture_record(
        b"\x89PNG", "image/png", b"[0.1, 0.9]", "application/json", event_id="evt-1"))

    record = capture_format.parse_capture_line(line.encode(), decode_input=False)

    assert record.input_body is None and record.output_body == b"[0.1, 0.9]"
    assert record.join_key == "evt-1"


def test_parse_capture_line_accepts_output_only_capture():
    line = json.dumps({"captureData": {"endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT",
                                                          "data": "0.3,0.7", "encoding": "CSV"}},
                       "eventMetadata": {"eventId": "e", "inferenceTime": "2026-11-25T14:05:09.250Z"},
                       "eventVersion": "0"})

    record = capture_format.parse_capture_line(line)

    assert record.input_body is None and record.output_body == b"0.3,0.7"
    assert record.inference_time == datetime(2026, 11, 25, 14, 5, 9, 250000, tzinfo=timezone.utc)


def _line(**changes):
    record = capture_format.build_capture_record(b"a", "image/png", b"[1, 0]", "application/json",
                                                 event_id="e", inference_time=WHEN)
    for path, value in changes.items():
        target = record
        *parents, last = path.split("__")
        for parent in parents:
            target = target[parent]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return json.dumps(record)


@pytest.mark.parametrize("line", [
    "not json at all",
    "[1, 2, 3]",
    _line(captureData=None),
    _line(eventMetadata__eventId=None),
    _line(eventMetadata__inferenceTime="yesterday"),
    _line(eventMetadata__inferenceTime=None),
    _line(captureData__endpointOutput__encoding="ROT13"),
    _line(captureData__endpointOutput__data=None),
    _line(captureData__endpointInput__data="***not base64***"),
    _line(captureData__endpointOutput="a string"),
    json.dumps({"captureData": {}, "eventMetadata": {"eventId": "e", "inferenceTime": "2026-11-25T14:05:09Z"}}),
], ids=["not-json", "not-object", "no-capture-data", "no-event-id", "bad-time", "no-time", "unknown-encoding",
        "no-data", "bad-base64", "payload-not-object", "neither-input-nor-output"])
def test_parse_capture_line_rejects_malformed_records(line):
    with pytest.raises(MalformedCaptureRecord):
        capture_format.parse_capture_line(line)


@pytest.mark.parametrize("text, expected", [
    ("2026-11-25T14:05:09Z", datetime(2026, 11, 25, 14, 5, 9, tzinfo=timezone.utc)),
    ("2026-11-25T14:05:09.5Z", datetime(2026, 11, 25, 14, 5, 9, 500000, tzinfo=timezone.utc)),
    ("2026-11-25T15:05:09+01:00", datetime(2026, 11, 25, 14, 5, 9, tzinfo=timezone.utc)),
    ("2026-11-25T14:05:09", datetime(2026, 11, 25, 14, 5, 9, tzinfo=timezone.utc)),
], ids=["zulu", "fraction", "offset", "naive-is-utc"])
def test_parse_inference_time_reads_utc(text, expected):
    assert capture_format.parse_inference_time(text) == expected


def test_capture_key_follows_sagemaker_layout():
    key = capture_format.capture_key("/data-capture/", "my-endpoint", "AllTraffic", WHEN)

    directory, _, file_name = key.rpartition("/")
    assert directory == "data-capture/my-endpoint/AllTraffic/2026/11/25/14"
    assert file_name.startswith("05-09-123-") and file_name.endswith(".jsonl")


def test_capture_key_uses_the_utc_hour_and_allows_an_empty_prefix():
    local_time = WHEN.astimezone(timezone(timedelta(hours=-5)))  # 09:05 in UTC-5

    key = capture_format.capture_key("", "ep", "v", local_time, file_name="f.jsonl")

    assert key == "ep/v/2026/11/25/14/f.jsonl"


def test_capture_file_name_is_unique():
    assert capture_format.capture_file_name(WHEN) != capture_format.capture_file_name(WHEN)


# Lines written by hand in the shape SageMaker's data capture writes (field order, compact
# separators, the CSV example of the Model Monitor guide and an image request with an InferenceId),
# not by build_capture_record: a drift of the builder from SageMaker's format must not be hidden
# by the parser agreeing with it.
SAGEMAKER_CSV_LINE = (
    '{"captureData":{"endpointInput":{"observedContentType":"text/csv","mode":"INPUT",'
    '"data":"132,25,113.2,96","encoding":"CSV"},"endpointOutput":{"observedContentType":'
    '"text/csv; charset=utf-8","mode":"OUTPUT","data":"0.01076381653547287","encoding":"CSV"}},'
    '"eventMetadata":{"eventId":"feca1ab1-8025-47e3-8f6a-99e3fdd7b8d9","inferenceTime":"2019-11-22T08:24:40Z"},'
    '"eventVersion":"0"}')
SAGEMAKER_IMAGE_LINE = (
    '{"captureData":{"endpointInput":{"observedContentType":"image/png","mode":"INPUT",'
    '"data":"iVBORw0KGgo=","encoding":"BASE64"},"endpointOutput":{"observedContentType":'
    '"application/json","mode":"OUTPUT","data":"[0.9731, 0.0269]","encoding":"JSON"}},'
    '"eventMetadata":{"eventId":"3f1c2b7e-0d5a-4c1e-9b8a-2f6d7e8a9b0c","inferenceId":"driver-42",'
    '"inferenceTime":"2026-11-25T14:05:09.812Z"},"eventVersion":"0"}')


@pytest.mark.parametrize("line, join_key, input_body, output_body, when", [
    (SAGEMAKER_CSV_LINE, "feca1ab1-8025-47e3-8f6a-99e3fdd7b8d9", b"132,25,113.2,96", b"0.01076381653547287",
     datetime(2019, 11, 22, 8, 24, 40, tzinfo=timezone.utc)),
    (SAGEMAKER_IMAGE_LINE, "driver-42", b"\x89PNG\r\n\x1a\n", b"[0.9731, 0.0269]",
     datetime(2026, 11, 25, 14, 5, 9, 812000, tzinfo=timezone.utc)),
], ids=["csv-model-monitor-example", "image-with-inference-id"])
def test_parse_capture_line_reads_lines_in_sagemakers_own_shape(line, join_key, input_body, output_body, when):
    record = capture_format.parse_capture_line(line)

    assert (record.join_key, record.input_body, record.output_body, record.inference_time) == (
        join_key, input_body, output_body, when)


def test_build_capture_record_writes_what_sagemaker_writes_for_an_image_request():
    record = capture_format.build_capture_record(
        request_body=b"\x89PNG\r\n\x1a\n", request_content_type="image/png",
        response_body=b"[0.9731, 0.0269]", response_content_type="application/json",
        inference_time=datetime(2026, 11, 25, 14, 5, 9, tzinfo=timezone.utc),
        inference_id="driver-42", event_id="3f1c2b7e-0d5a-4c1e-9b8a-2f6d7e8a9b0c")

    expected = json.loads(SAGEMAKER_IMAGE_LINE)
    expected["eventMetadata"]["inferenceTime"] = "2026-11-25T14:05:09Z"
    assert record == expected
