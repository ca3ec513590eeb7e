import base64
import json
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from PIL import Image

from monitoring import ground_truth
from monitoring.ground_truth import MalformedGroundTruth

WHEN = datetime(2026, 11, 25, 14, 30, tzinfo=timezone.utc)


def _image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), "red").save(path)
    return path


def test_build_ground_truth_record_has_model_quality_monitor_fields():
    assert ground_truth.build_ground_truth_record("inf-1", "motorcycle") == {
        "groundTruthData": {"data": "motorcycle", "encoding": "CSV"},
        "eventMetadata": {"eventId": "inf-1"},
        "eventVersion": "0",
    }


@pytest.mark.parametrize("inference_id, label", [("inf-1", "car"), ("", "bicycle"), ("inf-1", "7")],
                         ids=["unknown-class", "empty-id", "index-out-of-range"])
def test_build_ground_truth_record_rejects_bad_input(inference_id, label):
    with pytest.raises(ValueError):
        ground_truth.build_ground_truth_record(inference_id, label)


def test_write_ground_truth_writes_one_hourly_file_that_reads_back(tmp_path):
    path = Path(ground_truth.write_ground_truth({"a": "bicycle", "b": "motorcycle"}, tmp_path, when=WHEN))

    assert path.parent == tmp_path / "2026" / "11" / "25" / "14"
    assert path.suffix == ".jsonl"
    assert [ground_truth.parse_ground_truth_line(line) for line in path.read_text().splitlines()] == [
        ("a", "bicycle"), ("b", "motorcycle")]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_write_ground_truth_to_s3_uses_the_same_layout(aws_credentials):
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="labels")

        uri = ground_truth.write_ground_truth({"a": "bicycle"}, "s3://labels/ground-truth", when=WHEN, s3_client=s3)

        key = uri.removeprefix("s3://labels/")
        assert key.startswith("ground-truth/2026/11/25/14/") and key.endswith(".jsonl")
        body = s3.get_object(Bucket="labels", Key=key)["Body"].read()
    assert ground_truth.parse_ground_truth_line(body) == ("a", "bicycle")


@pytest.mark.parametrize("data, encoding, expected", [
    ("motorcycle", "CSV", "motorcycle"),
    ("1", "CSV", "motorcycle"),
    ("bicycle,extra column", "CSV", "bicycle"),
    ('"bicycle"', "JSON", "bicycle"),
    ('{"label": "motorcycle"}', "JSON", "motorcycle"),
    (0, "JSON", "bicycle"),
    (base64.b64encode(b"motorcycle").decode(), "BASE64", "motorcycle"),
], ids=["csv-name", "csv-index", "csv-row", "json-string", "json-object", "json-number", "base64"])
def test_parse_ground_truth_line_decodes_every_encoding(data, encoding, expected):
    line = json.dumps({"groundTruthData": {"data": data, "encoding": encoding},
                       "eventMetadata": {"eventId": "inf-9"}, "eventVersion": "0"})

    assert ground_truth.parse_ground_truth_line(line) == ("inf-9", expected)


@pytest.mark.parametrize("line", [
    "{broken",
    json.dumps({"groundTruthData": {"data": "bicycle"}}),
    json.dumps({"groundTruthData": {"data": "truck", "encoding": "CSV"}, "eventMetadata": {"eventId": "x"}}),
    json.dumps({"groundTruthData": {"data": "!!", "encoding": "BASE64"}, "eventMetadata": {"eventId": "x"}}),
    json.dumps({"groundTruthData": {"data": "bicycle", "encoding": "XML"}, "eventMetadata": {"eventId": "x"}}),
    json.dumps({"groundTruthData": {"data": "bicycle", "encoding": "CSV"}, "eventMetadata": {"eventId": ""}}),
], ids=["not-json", "no-event-id", "unknown-class", "bad-base64", "unknown-encoding", "empty-event-id"])
def test_parse_ground_truth_line_rejects_malformed_lines(line):
    with pytest.raises(MalformedGroundTruth):
        ground_truth.parse_ground_truth_line(line)


def test_labels_from_image_folder_takes_the_class_from_the_folder(tmp_path):
    bike = _image(tmp_path / "bicycle" / "a.png")
    moto = _image(tmp_path / "motorcycle" / "b.png")
    _image(tmp_path / "truck" / "c.png")
    (tmp_path / "bicycle" / "notes.txt").write_text("not an image")

    assert ground_truth.labels_from_image_folder(tmp_path) == {str(bike): "bicycle", str(moto): "motorcycle"}


def test_labels_for_images_maps_inference_ids_to_folder_classes(tmp_path):
    bike = _image(tmp_path / "test" / "bicycle" / "a.png")
    moto = _image(tmp_path / "test" / "motorcycle" / "b.png")

    assert ground_truth.labels_for_images({"id-1": bike, "id-2": str(moto)}) == {
        "id-1": "bicycle", "id-2": "motorcycle"}


def test_labels_for_images_refuses_an_image_outside_a_class_folder(tmp_path):
    stray = _image(tmp_path / "unsorted" / "a.png")

    with pytest.raises(MalformedGroundTruth, match="unsorted"):
        ground_truth.labels_for_images({"id-1": stray})


def test_labels_for_images_uses_a_manifest_when_given(tmp_path):
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text('{"source-ref": "s3://images/x.png", "label": "motorcycle"}\n\n'
                        '{"source-ref": "s3://images/y.png", "label": 0}\n')

    labels = ground_truth.labels_from_manifest(manifest)

    assert labels == {"s3://images/x.png": "motorcycle", "s3://images/y.png": "bicycle"}
    assert ground_truth.labels_for_images({"id-1": "s3://images/y.png"}, labels) == {"id-1": "bicycle"}
    with pytest.raises(MalformedGroundTruth, match="no label"):
        ground_truth.labels_for_images({"id-2": "s3://images/z.png"}, labels)


def test_labels_from_manifest_names_the_bad_line(tmp_path):
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text('{"source-ref": "a.png", "label": "bicycle"}\n{"source-ref": "b.png", "label": "car"}\n')

    with pytest.raises(MalformedGroundTruth, match="line 2"):
        ground_truth.labels_from_manifest(manifest)


def test_main_writes_ground_truth_the_report_reader_joins(tmp_path, capsys):
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"inference_id": "inf-1", "label": "bicycle"}\n\n{"inference_id": "inf-2", "label": 1}\n')

    exit_code = ground_truth.main([str(labels), "--output", str(tmp_path / "truth")])

    assert exit_code == 0
    written = list((tmp_path / "truth").rglob("*.jsonl"))
    assert len(written) == 1
    assert [ground_truth.parse_ground_truth_line(line) for line in written[0].read_text().splitlines()] == [
        ("inf-1", "bicycle"), ("inf-2", "motorcycle")]
    assert "wrote 2 ground-truth records" in capsys.readouterr().out


@pytest.mark.parametrize("content, message", [
    ('{"inference_id": "inf-1", "label": "scooter"}\n', "labels.jsonl, line 1: unknown label 'scooter'"),
    ('{"inference_id": "inf-1"}\n', "labels.jsonl, line 1: 'label' (expected"),
    ('not json\n', "labels.jsonl, line 1: Expecting value"),
    ('{"inference_id": "", "label": "bicycle"}\n', "inference_id must be non-empty"),
    ('\n', "holds no labels"),
], ids=["unknown-label", "missing-label", "not-json", "empty-id", "empty-file"])
def test_main_rejects_bad_label_files_and_writes_nothing(tmp_path, capsys, content, message):
    labels = tmp_path / "labels.jsonl"
    labels.write_text(content)

    exit_code = ground_truth.main([str(labels), "--output", str(tmp_path / "truth")])

    assert exit_code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "truth").exists()
