import base64
import json
from collections import Counter

import boto3
import numpy as np
import pytest
from moto import mock_aws

from monitoring import captures, storage
from monitoring.captures import NO_LABEL, UnusableOutput
from tests.monitoring.conftest import capture_line, write_capture_file


@pytest.mark.parametrize("body, content_type, expected", [
    (b"[0.2, 0.8]", "application/json", [0.2, 0.8]),
    (b"[[0.2, 0.8]]", "application/json", [0.2, 0.8]),
    (b'{"probabilities": [0.6, 0.4]}', "application/json", [0.6, 0.4]),
    (b"0.2,0.8", "text/csv", [0.2, 0.8]),
    (b"0.2,0.8\n", "text/csv; charset=utf-8", [0.2, 0.8]),
    (b"[0.2, 0.8]", "application/octet-stream", [0.2, 0.8]),
], ids=["json-list", "json-nested", "json-object", "csv", "csv-charset", "unlabelled-type"])
def test_parse_probabilities_reads_json_and_csv(body, content_type, expected):
    assert captures.parse_probabilities(body, content_type, 2) == expected


@pytest.mark.parametrize("body", [b"[0.1, 0.2, 0.7]", b"[1.5, -0.5]", b"[\"a\", \"b\"]", b"{}", b"nan,nan", b""],
                         ids=["wrong-count", "out-of-range", "not-numbers", "no-probabilities", "nan", "empty"])
def test_parse_probabilities_rejects_other_bodies(body):
    with pytest.raises(UnusableOutput):
        captures.parse_probabilities(body, "application/json", 2)


def test_read_captures_decodes_json_csv_and_base64_outputs(tmp_path):
    base64_line = json.loads(capture_line([0.9, 0.1], inference_id="b64", seconds=2))
    output = base64_line["captureData"]["endpointOutput"]
    output.update(data=base64.b64encode(b"[0.9, 0.1]").decode(), encoding="BASE64")
    write_capture_file(tmp_path, [
        capture_line([0.3, 0.7], inference_id="json", seconds=1),
        json.dumps(base64_line),
        capture_line([0.45, 0.55], inference_id="csv", seconds=0, response_content_type="text/csv"),
    ])

    result = captures.read_captures(tmp_path)

    assert result.inference_ids == ["csv", "json", "b64"]  # sorted by inference time
    assert result.probabilities.tolist() == [[0.45, 0.55], [0.3, 0.7], [0.9, 0.1]]
    assert result.confidences.tolist() == [0.55, 0.7, 0.9]
    assert result.predictions.tolist() == [1, 1, 0]
    assert result.files == 1 and not result.skipped


def test_read_captures_skips_and_counts_malformed_lines(tmp_path):
    no_output = json.loads(capture_line([0.5, 0.5], seconds=3))
    del no_output["captureData"]["endpointOutput"]
    write_capture_file(tmp_path, [
        capture_line([0.2, 0.8], inference_id="good-1"),
        "{ this is not json",
        json.dumps({"captureData": {}, "eventMetadata": {}}),
        "   ",
        json.dumps(no_output),
        capture_line([0.1, 0.2, 0.7], seconds=4),
        capture_line([0.6, 0.4], inference_id="good-2", seconds=5),
    ])

    result = captures.read_captures(tmp_path)

    assert result.inference_ids == ["good-1", "good-2"]
    assert result.skipped == Counter({"malformed line": 2, "no endpoint output": 1,
                                      "output is not class probabilities": 1})
    assert result.skipped_lines == 4


def test_read_captures_reads_every_hour_folder(tmp_path):
    write_capture_file(tmp_path, [capture_line([0.2, 0.8], inference_id="later", seconds=7200)], seconds=7200)
    write_capture_file(tmp_path, [capture_line([0.2, 0.8], inference_id="earlier")])

    result = captures.read_captures(tmp_path)

    assert result.inference_ids == ["earlier", "later"]
    assert result.files == 2
    assert result.times[1] - result.times[0] == 7200


def test_read_captures_of_an_empty_directory_is_empty(tmp_path):
    result = captures.read_captures(tmp_path)

    assert len(result) == 0 and result.probabilities.shape == (0, 2) and result.confidences.size == 0


def test_read_captures_of_a_missing_directory_says_so(tmp_path):
    with pytest.raises(storage.LocationNotFound, match="no such directory"):
        captures.read_captures(tmp_path / "missing")


def test_attach_ground_truth_joins_on_inference_id_then_event_id(tmp_path):
    write_capture_file(tmp_path, [
        capture_line([0.2, 0.8], inference_id="inf-1", event_id="evt-1"),
        capture_line([0.9, 0.1], event_id="evt-2", seconds=1),                       # no inferenceId
        capture_line([0.9, 0.1], inference_id="inf-3", event_id="evt-3", seconds=2),  # labelled by eventId
        capture_line([0.3, 0.7], inference_id="inf-4", event_id="evt-4", seconds=3),  # no ground truth
    ])
    labels = {"inf-1": "motorcycle", "evt-2": "motorcycle", "evt-3": "bicycle", "evt-1": "bicycle"}

    result = captures.attach_ground_truth(captures.read_captures(tmp_path), labels)

    assert result.true_labels.tolist() == [1, 1, 0, NO_LABEL]
    assert result.ground_truth_records == 4


def test_read_ground_truth_counts_malformed_lines_and_later_files_win(tmp_path):
    first = tmp_path / "2026" / "11" / "25" / "09" / "a.jsonl"
    second = tmp_path / "2026" / "11" / "25" / "10" / "b.jsonl"
    for path in (first, second):
        path.parent.mkdir(parents=True)
    record = {"groundTruthData": {"data": "bicycle", "encoding": "CSV"}, "eventMetadata": {"eventId": "x"},
              "eventVersion": "0"}
    first.write_text(json.dumps(record) + "\nnot json\n")
    record["groundTruthData"]["data"] = "motorcycle"
    second.write_text(json.dumps(record) + "\n")

    labels, skipped = captures.read_ground_truth(tmp_path)

    assert labels == {"x": "motorcycle"}
    assert skipped == Counter({"malformed line": 1})


def test_read_captures_from_s3_pages_through_the_prefix(aws_credentials, tmp_path):
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="capture-bucket")
        for number in range(5):
            s3.put_object(Bucket="capture-bucket",
                          Key=f"data-capture/ep/AllTraffic/2026/11/25/09/{number:02d}.jsonl",
                          Body=capture_line([0.1 * number, 1 - 0.1 * number], inference_id=f"i{number}",
                                            seconds=number) + "garbage\n")
        s3.put_object(Bucket="capture-bucket", Key="data-capture/ep/AllTraffic/readme.txt", Body=b"ignored")
        s3.put_object(Bucket="capture-bucket", Key="data-capture-old/x.jsonl", Body=capture_line([1, 0]))

        listed = list(storage.list_jsonl("s3://capture-bucket/data-capture", s3, page_size=2))
        result = captures.read_captures("s3://capture-bucket/data-capture/", s3_client=s3)

    assert len(listed) == 5 and all("/data-capture/ep/" in uri for uri in listed)
    assert result.inference_ids == ["i0", "i1", "i2", "i3", "i4"]
    assert result.skipped == Counter({"malformed line": 5})
    assert np.allclose(result.confidences, [1.0, 0.9, 0.8, 0.7, 0.6])


def test_read_captures_from_an_empty_s3_prefix_is_empty(aws_credentials):
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="capture-bucket")

        result = captures.read_captures("s3://capture-bucket/nothing-here", s3_client=s3)

    assert len(result) == 0


def test_parse_s3_requires_a_bucket():
    with pytest.raises(ValueError, match="no bucket"):
        storage.parse_s3("s3:///prefix")
