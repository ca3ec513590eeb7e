import csv
import io

import pytest

from handlers import onboarding
from handlers.onboarding_errors import InvalidManifest


def parse(*lines: str):
    return onboarding.parse_manifest("\n".join(lines) + "\n")


def test_onboarding_manifest_keeps_good_rows_and_refuses_each_bad_one_with_its_reason():
    rows, refused = parse("driver_id,s3_key", "a,fleet/a.jpg", ",fleet/x.jpg", "b,", "a,fleet/again.jpg",
                          "c,fleet/c.jpg,extra", "", "d, fleet/d.jpg ")

    assert rows == [onboarding.Row(2, "a", "fleet/a.jpg"), onboarding.Row(8, "d", "fleet/d.jpg")]
    assert [(row["line"], row["decision"], row["reason"].split(":")[0]) for row in refused] == [
        (3, "failed", "MissingDriverId"), (4, "failed", "MissingKey"), (5, "failed", "DuplicateDriver"),
        (6, "failed", "MalformedRow")]
    assert "line 2 is the one onboarded" in refused[2]["reason"]


def test_onboarding_manifest_reads_its_columns_by_name_and_a_byte_order_mark():
    rows, refused = parse("\ufeffs3_key,note,driver_id", "fleet/a.jpg,new,a")

    assert (rows, refused) == ([onboarding.Row(2, "a", "fleet/a.jpg")], [])


@pytest.mark.parametrize("text", ["", "driver,photo\na,b\n", "s3_key\nfleet/a.jpg\n"])
def test_onboarding_manifest_without_its_header_is_refused_whole(text):
    with pytest.raises(InvalidManifest, match="driver_id,s3_key"):
        onboarding.parse_manifest(text)


def test_onboarding_claim_id_is_the_same_for_the_same_driver_and_photo_only():
    row = onboarding.Row(2, "a", "fleet/a.jpg", "etag-1")

    assert onboarding.inference_id(row) == onboarding.inference_id(onboarding.Row(7, "a", "fleet/a.jpg", "etag-1"))
    assert len({onboarding.inference_id(other) for other in (row, onboarding.Row(2, "b", "fleet/a.jpg", "etag-1"),
                                                               onboarding.Row(2, "a", "fleet/a.jpg", "etag-2"))}) == 3
    assert len(onboarding.inference_id(row)) <= 64  # SageMaker's InferenceId limit


@pytest.mark.parametrize("keys, prefix", [(["fleet/a/1.jpg", "fleet/a/2.jpg"], "fleet/a/"),
                                          (["fleet/a/1.jpg", "fleet/b/2.jpg"], "fleet/"),
                                          (["fleet/ab.jpg", "fleet/ac.jpg"], "fleet/"), (["a.jpg", "b.jpg"], ""),
                                          ([], "")])
def test_onboarding_common_prefix_is_a_folder_every_key_is_below(keys, prefix):
    assert onboarding.common_prefix(keys) == prefix


def test_onboarding_report_is_in_manifest_order_and_the_summary_adds_up():
    lines = [onboarding.report_line("b", "k2", "review", "bicycle", 0.5, "ConfidenceBelowThreshold: unsure", line=3,
                                    decided_in_run="old"),
             onboarding.report_line("a", "k1", "routed", "motorcycle", 0.99, route="far", audit=True, line=2,
                                    decided_in_run="now"),
             onboarding.report_line("c", "", "failed", reason="MissingKey: line 4 names no s3_key", line=4)]

    rows = list(csv.DictReader(io.StringIO(onboarding.report_csv(lines))))
    summary = onboarding.summary("now", lines, "s3://b/report.csv")

    assert [row["driver_id"] for row in rows] == ["a", "b", "c"]
    assert tuple(rows[0]) == onboarding.REPORT_COLUMNS
    assert (rows[0]["confidence"], rows[0]["audit"], rows[0]["route"]) == ("0.990000", "true", "far")
    assert {key: summary[key] for key in ("rows", "routed", "review", "failed", "audited", "decided_earlier")} == {
        "rows": 3, "routed": 1, "review": 1, "failed": 1, "audited": 1, "decided_earlier": 1}
    assert summary["review_reasons"] == {"ConfidenceBelowThreshold": 1}
    assert summary["failed_rows"] == [{"line": 4, "driver_id": "c", "s3_key": "", "reason": "MissingKey: line 4 names no s3_key"}]


def test_onboarding_result_and_chunk_keys_are_each_others_inverse():
    chunk = onboarding.chunk_key("run-1", 7)

    assert chunk == "onboarding/runs/run-1/chunks/00007.json"
    assert onboarding.chunk_key_of_result(onboarding.result_key(chunk)) == chunk
