import csv
import io

import pytest

from handlers import onboarding
from local import onboard
from local.product import RunError


def test_onboard_folder_drivers_are_photo_paths_below_the_folder(tmp_path):
    (tmp_path / "vans").mkdir()
    for name in ("vans/A.JPG", "b.png", "c.webp", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")

    rows = onboard.rows_of_folder(tmp_path)

    assert [(row.driver_id, row.s3_key) for row in rows] == [
        ("b.png", "onboarding/photos/b.png"), ("c.webp", "onboarding/photos/c.webp"),
        ("vans/A.JPG", "onboarding/photos/vans/A.JPG")]


def test_onboard_folder_without_photos_is_refused(tmp_path):
    with pytest.raises(RunError, match="No photos"):
        onboard.rows_of_folder(tmp_path)


def test_onboard_manifest_keeps_every_row_and_uploads_only_the_files_found(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    manifest = tmp_path / "fleet.csv"
    manifest.write_text("driver_id,s3_key\nD1,a.jpg\nD2,missing.jpg\n,a.jpg\nD3,\n")

    rows = onboard.rows_of_manifest(manifest)
    staged = list(csv.reader(io.StringIO(onboard.manifest_text(rows))))

    assert [(row.driver_id, row.s3_key, row.photo) for row in rows] == [
        ("D1", "onboarding/photos/a.jpg", tmp_path / "a.jpg"), ("D2", "onboarding/photos/missing.jpg", None),
        ("", "onboarding/photos/a.jpg", tmp_path / "a.jpg"), ("D3", "", None)]
    assert staged[0] == list(onboarding.MANIFEST_COLUMNS) and len(staged) == 5


def test_onboard_manifest_without_its_header_is_refused(tmp_path):
    manifest = tmp_path / "fleet.csv"
    manifest.write_text("driver,photo\nD1,a.jpg\n")

    with pytest.raises(RunError, match="driver_id,s3_key"):
        onboard.rows_of_manifest(manifest)


def test_onboard_summary_lines_say_the_counts_and_the_failed_rows():
    summary = {"rows": 3, "routed": 1, "audited": 0, "review": 1, "failed": 1, "events_published": 2,
               "decided_earlier": 0, "review_reasons": {"UnusableImage": 1},
               "failed_rows": [{"line": 4, "driver_id": "", "reason": "MissingDriverId: line 4 names no driver_id"}]}

    lines = onboard.summary_lines(summary)

    assert lines[0].startswith("3 drivers: 1 routed (0 of them also audited), 1 sent to a person, 1 failed")
    assert lines[1] == "Sent to a person because: UnusableImage 1"
    assert lines[2] == "  failed, line 4 (no driver): MissingDriverId: line 4 names no driver_id"
