"""Reviewed photos become a training channel: dedup, conflicts, time split, not-a-vehicle, provenance."""
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image

import settings
from monitoring import capture_format, ground_truth
from training import dataset

START = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def photo(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (shade, 255 - shade, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def capture(root, photos_by_id: dict):
    """One capture file: each id's photo as the request, captured a minute apart in id order."""
    lines = [capture_format.to_jsonl_line(capture_format.build_capture_record(
        body, "image/png", b"[0.6, 0.4]", "application/json", inference_id=inference_id,
        inference_time=START + timedelta(minutes=number))) for number, (inference_id, body) in enumerate(photos_by_id.items())]
    path = root / capture_format.capture_key("", "ep", "AllTraffic", START)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))
    return root


@pytest.fixture
def loop(tmp_path):
    """Ten answered photos: 4 bicycles, 3 motorcycles, 1 not a vehicle, 1 photo sent twice (answered
    alike) and 1 sent twice and answered differently; a base set holding one more of them."""
    photos = {f"id-{n}": photo(n * 20) for n in range(8)}
    photos |= {"twice-a": photo(200), "twice-b": photo(200), "conflict-a": photo(220), "conflict-b": photo(220),
               "in-test": photo(240)}
    capture(tmp_path / "captures", photos)
    labels = {f"id-{n}": label for n, label in enumerate(
        ["bicycle"] * 4 + ["motorcycle"] * 3 + [settings.NOT_A_VEHICLE])}
    labels |= {"twice-a": "bicycle", "twice-b": "bicycle", "conflict-a": "bicycle", "conflict-b": "motorcycle",
               "in-test": "motorcycle"}
    ground_truth.write_ground_truth(labels, tmp_path / "truth", when=START + timedelta(hours=1),
                                    class_names=settings.REVIEW_LABELS)
    base = tmp_path / "base"
    (base / "test" / "motorcycle").mkdir(parents=True)
    (base / "test" / "motorcycle" / "m.png").write_bytes(photos["in-test"])
    (base / "train" / "bicycle").mkdir(parents=True)
    (base / "train" / "bicycle" / "other.png").write_bytes(photo(5))
    return tmp_path


def test_build_writes_every_labelled_photo_once_with_its_provenance(loop):
    document = dataset.build(loop / "truth", loop / "captures", loop / "channel", loop / "base", holdout_share=0.3)

    manifest = [json.loads(line) for line in (loop / "channel" / dataset.MANIFEST_FILE).read_text().splitlines()]
    assert len(manifest) == 9  # 8 + the photo sent twice, once
    assert sum(sum(counts.values()) for counts in document["counts"].values()) == 9
    assert all((loop / "channel" / row["file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for row in manifest)
    twice = [row for row in manifest if row["answers"] == 2]
    assert len(twice) == 1 and twice[0]["label"] == "bicycle"
    row = manifest[0]
    assert set(row) >= {"inference_id", "label", "answered_at", "photo", "inference_time", "sha256"}
    assert row["answered_at"].startswith("2026-12-01T10:") and "#" in row["photo"]


def test_build_leaves_out_conflicting_answers_and_base_test_photos_and_says_so(loop):
    document = dataset.build(loop / "truth", loop / "captures", loop / "channel", loop / "base")

    assert document["left_out"] == {dataset.CONFLICTING: 1, dataset.IN_BASE_TEST: 1}
    [conflict] = document["conflicts"]
    assert sorted(answer["label"] for answer in conflict["answers"]) == ["bicycle", "motorcycle"]


def test_build_keeps_the_newest_photos_apart_for_evaluation(loop):
    dataset.build(loop / "truth", loop / "captures", loop / "channel", loop / "base", holdout_share=0.3)

    manifest = [json.loads(line) for line in (loop / "channel" / dataset.MANIFEST_FILE).read_text().splitlines()]
    trained = [row["inference_time"] for row in manifest if row["channel"] == dataset.REVIEWED_CHANNEL]
    held = [row["inference_time"] for row in manifest if row["channel"] == dataset.HOLDOUT_CHANNEL]
    assert (len(trained), len(held)) == (6, 3)
    assert max(trained) < min(held)


def test_build_puts_not_a_vehicle_answers_in_their_own_folder(loop):
    document = dataset.build(loop / "truth", loop / "captures", loop / "channel", loop / "base", holdout_share=0)

    assert document["counts"][dataset.REVIEWED_CHANNEL][settings.NOT_A_VEHICLE] == 1
    assert len(list((loop / "channel" / dataset.REVIEWED_CHANNEL / settings.NOT_A_VEHICLE).iterdir())) == 1


def test_build_refuses_too_few_new_labels_and_missing_ground_truth_in_one_line(loop):
    with pytest.raises(dataset.DatasetError, match="only 9 new labelled photos .* fewer than the 50"):
        dataset.build(loop / "truth", loop / "captures", loop / "channel", loop / "base", min_new_labels=50)
    with pytest.raises(dataset.DatasetError, match="no ground truth at"):
        dataset.build(loop / "nothing", loop / "captures", loop / "channel")
    assert not (loop / "channel" / dataset.SUMMARY_FILE).exists()


def test_main_prints_the_counts_and_exits_2_on_bad_input(loop, capsys):
    code = dataset.main(["--ground-truth", str(loop / "truth"), "--captures", str(loop / "captures"),
                         "--output", str(loop / "channel"), "--base", str(loop / "base")])
    printed = capsys.readouterr().out
    bad = dataset.main(["--ground-truth", str(loop / "none"), "--captures", str(loop / "captures"),
                        "--output", str(loop / "channel")])

    assert code == 0 and "Channel in" in printed
    assert bad == 2 and "error: no ground truth" in capsys.readouterr().err
