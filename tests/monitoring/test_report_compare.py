"""The report's side-by-side section: a shadow captured beside the champion is compared, with
thumbnails of the checked drivers the two decide differently about."""
import hashlib
import io
import json
from datetime import timedelta

import pytest
from PIL import Image

import settings
from monitoring import capture_format, ground_truth, report
from monitoring.captures import captured_variants, read_captures
from monitoring.report_compare import thumbnail
from tests.monitoring.conftest import ENDPOINT, START

CHAMPION, CHALLENGER = settings.DEFAULT_VARIANT_NAME, settings.CHALLENGER_VARIANT_NAME


def png(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def write_variant(root, variant, answers):
    """answers: (inference id, photo, probabilities) captured for one variant."""
    lines = [capture_format.to_jsonl_line(capture_format.build_capture_record(
        photo, "image/png", json.dumps(probabilities).encode(), "application/json", inference_id=inference_id,
        inference_time=START + timedelta(seconds=n))) for n, (inference_id, photo, probabilities) in enumerate(answers)]
    path = root / capture_format.capture_key("", ENDPOINT, variant, START)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))


@pytest.fixture
def shadowed(tmp_path):
    """12 drivers answered by both: the first 4 the champion calls motorcycle unsure (0.6) where the
    challenger says bicycle surely (0.99), and people say bicycle; the rest both route alike."""
    champion, challenger, labels = [], [], {}
    for n in range(12):
        photo, inference_id = png((20 * n, 100, 200)), f"driver-{n:02d}"
        if n < 4:
            champion.append((inference_id, photo, [0.4, 0.6]))
            challenger.append((inference_id, photo, [0.99, 0.01]))
            labels[inference_id] = "bicycle"
        else:
            champion.append((inference_id, photo, [0.98, 0.02]))
            challenger.append((inference_id, photo, [0.97, 0.03]))
    champion.append(("champion-only", png((0, 0, 0)), [0.99, 0.01]))
    captures = tmp_path / "captures"
    write_variant(captures, CHAMPION, champion)
    write_variant(captures, CHALLENGER, challenger)
    ground_truth.write_ground_truth(labels, tmp_path / "truth", when=START)
    return captures, tmp_path / "truth"


def test_variant_folders_are_read_from_the_capture_layout(shadowed):
    captures, _ = shadowed

    assert captured_variants(captures) == [CHAMPION, CHALLENGER]
    assert len(read_captures(captures, variant=CHALLENGER)) == 12
    assert len(read_captures(captures)) == 25
    assert capture_format.variant_of("bucket/prefix/endpoint/AllTraffic/2026/11/25/09/00-00-000-x.jsonl") == CHAMPION
    assert capture_format.variant_of("somewhere/else.jsonl") is None


def test_a_captured_shadow_makes_the_report_the_champions_with_a_side_by_side_section(shadowed, tmp_path):
    captures, truth = shadowed

    result = report.build_report(captures, truth, output_dir=tmp_path / "report")

    summary = result.summary
    assert summary["records"] == 13   # the champion's answers only: the shadow's never count as production's
    comparison = summary["comparison"]
    assert comparison["pairs"] == 12 and comparison["checked"] == 4
    assert (comparison["challenger_better"], comparison["champion_better"]) == (4, 0)
    assert (comparison["routed_right_gained"], comparison["routed_right_lost"]) == (4, 0)
    assert [row["inference_id"] for row in comparison["checked_disagreements"]] == [f"driver-{n:02d}" for n in range(4)]
    page = result.html_path.read_text()
    assert "Champion and challenger" in page
    assert page.count('class="case"') == 4
    assert "person: bicycle<br>champion: motorcycle 0.60, to a person (wrong)" in page
    assert f"<strong>{comparison['verdict']}" in page and f"</strong>: {comparison['reason']}." in page
    assert json.loads(result.summary_path.read_text())["comparison"]["verdict"] == comparison["verdict"]


def test_the_section_can_be_left_out_and_a_required_one_fails_clearly_without_pairs(shadowed, tmp_path):
    captures, truth = shadowed
    without = report.build_report(captures, truth, output_dir=tmp_path / "without", compare_variants=False)
    assert "comparison" not in without.summary and "Champion and challenger" not in without.html_path.read_text()

    with pytest.raises(report.NothingToCompare, match="answered by both"):
        report.build_report(captures, truth, output_dir=tmp_path / "missing", compare_variants=True,
                            challenger="NoSuchVariant")
    assert not (tmp_path / "missing").exists()


def test_photos_the_challenger_was_trained_on_leave_the_comparison(shadowed, tmp_path):
    captures, truth = shadowed
    manifest = tmp_path / "manifest.jsonl"
    trained = [hashlib.sha256(png((20 * n, 100, 200))).hexdigest() for n in range(2)]
    manifest.write_text("".join(json.dumps({"sha256": digest, "channel": "reviewed"}) + "\n" for digest in trained))

    comparison = report.build_report(captures, truth, output_dir=tmp_path / "report",
                                     exclude_manifest=str(manifest)).summary["comparison"]

    assert comparison["pairs"] == 10 and comparison["left_out_trained_on"] == 2
    assert comparison["challenger_better"] == 2


def test_main_compares_and_prints_the_table(shadowed, tmp_path, capsys):
    captures, truth = shadowed

    assert report.main(["--captures", str(captures), "--ground-truth", str(truth), "--compare",
                        "--output-dir", str(tmp_path / "report"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "the challenger routes right 4 checked drivers the champion does not, the champion 0" in out
    assert "Class named right where the two differ: challenger 4, champion 0" in out
    assert report.main(["--captures", str(captures), "--compare", "--challenger", "Nobody",
                        "--output-dir", str(tmp_path / "other"), "--no-progress"]) == 2
    assert "answered by both AllTraffic and Nobody" in capsys.readouterr().err


def test_thumbnails_are_small_pngs_and_bytes_that_are_no_photo_get_none():
    uri = thumbnail(png((1, 2, 3)))

    assert uri.startswith("data:image/png;base64,")
    assert thumbnail(b"not a photo") is None
