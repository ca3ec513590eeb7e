import json
import math
import re
import subprocess
import sys
from datetime import timedelta

import boto3
import numpy as np
import pytest
from moto import mock_aws

import settings
from monitoring import capture_format, estimates, ground_truth, report
from monitoring.report import NothingToReport
from tests.monitoring.conftest import START, capture_line, write_capture_file

# (confidence of "bicycle", right?): wrong at 0.6 and 0.8, as in test_metrics.
LABELLED = [(0.99, True), (0.6, False), (0.9, True), (0.7, True), (0.95, True), (0.8, False)]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def labelled_run(tmp_path):
    """Six labelled captures plus one without ground truth; returns (captures dir, ground-truth dir)."""
    lines = [capture_line([confidence, round(1 - confidence, 2)], inference_id=f"inf-{number}", seconds=number)
             for number, (confidence, _) in enumerate(LABELLED)]
    lines.append(capture_line([0.97, 0.03], inference_id="unlabelled", seconds=10))
    write_capture_file(tmp_path / "captures", lines)
    labels = {f"inf-{number}": "bicycle" if right else "motorcycle" for number, (_, right) in enumerate(LABELLED)}
    ground_truth.write_ground_truth(labels, tmp_path / "ground-truth", when=START)
    return tmp_path / "captures", tmp_path / "ground-truth"


def test_analyse_counts_coverage_over_every_usable_inference_and_estimates_precision_by_stratum(labelled_run):
    captures, truth = labelled_run

    _, summary = report.analyse(captures, truth, threshold=0.92)

    assert (summary["records"], summary["labelled"], summary["unlabelled"]) == (7, 6, 1)
    assert summary["accuracy"] == pytest.approx(4 / 6)
    assert summary["below_threshold"] == 4  # 0.6, 0.7, 0.8, 0.9; the unlabelled 0.97 is above
    assert summary["confusion_matrix"] == [[4, 0], [2, 0]]
    at = summary["at_threshold"]
    # 0.99, 0.95 and the unlabelled 0.97 are accepted: counted, labels or not.
    assert (at["accepted"], at["usable"], at["coverage"]) == (3, 7, pytest.approx(3 / 7))
    # 2 of the 3 accepted are checked, both right: the third may be either (2 or 3 right of 3). Two
    # checks are far fewer than a point estimate needs: only the interval is given, and why.
    assert at["precision_accepted"] is None
    assert at["precision_interval"] == [pytest.approx(2 / 3), 1.0]
    assert at["precision_evidence"] == {"informative": False, "minimum_checks": estimates.MINIMUM_CHECKS, "checks": 2,
                                        "of": 3, "of_what": "routed drivers", "more_checks": estimates.MINIMUM_CHECKS - 2,
                                        "more_drivers": math.ceil((estimates.MINIMUM_CHECKS - 2) * 3 / 2)}
    # Two audits certify nothing: the report opens with that, and recommends no threshold.
    assert summary["certificate"]["certified"] is False and summary["certificate"]["threshold"] is None
    assert summary["sentences"][0] == summary["certificate"]["answer"]
    assert summary["sentences"][0].startswith("Not yet certified")
    assert not any("recommend" in sentence for sentence in summary["sentences"])
    assert summary["coverage_at_target_precision"] is None
    assert summary["coverage_at_target_precision_interval"][0] <= 4 / 7 <= summary["coverage_at_target_precision_interval"][1]
    assert any(sentence.startswith(
        "At 0.92, 42.9% of the usable drivers are routed without a person (3 of 7, counted). Right among them, audited: "
        "between 66.7% and 100.0% (95% interval from only 2 checked of 3 routed drivers; a point estimate needs "
        f"{estimates.MINIMUM_CHECKS} checks: {estimates.MINIMUM_CHECKS - 2} more, about ") for sentence in summary["sentences"])


def test_analyse_with_full_labels_gives_exact_figures(labelled_run, tmp_path):
    captures, _ = labelled_run
    labels = {f"inf-{number}": "bicycle" if right else "motorcycle" for number, (_, right) in enumerate(LABELLED)}
    ground_truth.write_ground_truth(labels | {"unlabelled": "motorcycle"}, tmp_path / "all", when=START)

    _, summary = report.analyse(captures, tmp_path / "all", threshold=0.92)

    at = summary["at_threshold"]
    assert at["precision_accepted"] == pytest.approx(2 / 3)  # 0.97 is wrong; every driver checked: exact
    assert at["precision_interval"] == [pytest.approx(2 / 3), pytest.approx(2 / 3)]
    assert at["precision_text"] == "66.7% (exact: all 3 drivers checked)"
    assert summary["coverage_at_target_precision_interval"] == [summary["coverage_at_target_precision"]] * 2


def test_build_report_writes_pngs_summary_and_a_self_contained_page(labelled_run, tmp_path):
    captures, truth = labelled_run

    result = report.build_report(captures, truth, output_dir=tmp_path / "out")

    assert set(result.plot_paths) == set(report.PLOT_FILES)
    assert all(path.read_bytes().startswith(PNG_SIGNATURE) for path in result.plot_paths.values())
    page = result.html_path.read_text()
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', page)) == len(report.PLOT_FILES)
    assert re.findall(r'(?:src|href)="(?!data:)', page) == []  # nothing the page would fetch
    certificate = json.loads((tmp_path / "out" / report.CERTIFICATE_FILE).read_text())
    assert json.loads(result.summary_path.read_text())["certificate"] == certificate
    assert certificate["certified"] is False and certificate["missing_checks"]["clean_checks"] > 0
    assert f'<p class="verdict alarm" id="answer">{certificate["answer"]}' in page.replace("&#x27;", "'")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        [*report.PLOT_FILES.values(), report.HTML_FILE, report.SUMMARY_FILE, report.CERTIFICATE_FILE])


def test_build_report_without_ground_truth_shows_only_confidence(labelled_run, tmp_path):
    captures, _ = labelled_run

    result = report.build_report(captures, None, threshold=0.92, output_dir=tmp_path / "out")

    assert list(result.plot_paths) == ["confidence_over_time"]
    assert "accuracy" not in result.summary
    assert result.summary["share_below_threshold"] == pytest.approx(4 / 7)
    assert any(sentence.startswith("No ground truth was given") for sentence in result.summary["sentences"])


def test_analyse_says_when_no_ground_truth_matches(labelled_run, tmp_path):
    captures, _ = labelled_run
    ground_truth.write_ground_truth({"someone-else": "bicycle"}, tmp_path / "other-truth", when=START)

    _, summary = report.analyse(captures, tmp_path / "other-truth")

    assert summary["labelled"] == 0
    assert any(sentence.startswith("No ground truth matched") for sentence in summary["sentences"])


def test_analyse_opens_with_the_certificate_when_enough_clean_audits_prove_the_promise(tmp_path):
    # 400 routed drivers, every one audited and right; 50 below the threshold reviewed, 10 of them wrong.
    lines = ([capture_line([0.99, 0.01], inference_id=f"routed-{n}", seconds=n) for n in range(400)]
             + [capture_line([0.8, 0.2], inference_id=f"reviewed-{n}", seconds=500 + n) for n in range(50)])
    write_capture_file(tmp_path / "captures", lines)
    labels = {f"routed-{n}": "bicycle" for n in range(400)} | {f"reviewed-{n}": "motorcycle" if n < 10 else "bicycle"
                                                               for n in range(50)}
    ground_truth.write_ground_truth(labels, tmp_path / "truth", when=START)

    result = report.build_report(tmp_path / "captures", tmp_path / "truth", threshold=0.95, output_dir=tmp_path / "out")

    cert = result.summary["certificate"]
    assert cert["certified"] is True and cert["threshold"] == 0.95 and cert["routed_share"] == pytest.approx(400 / 450)
    assert result.summary["sentences"][0].startswith("Certified: at least 99.0% of routed drivers right, with 95.0% "
                                                     "confidence, at threshold 0.95, which routes 88.9%")
    page = result.html_path.read_text()
    assert "<th>Certified threshold</th><td>0.95, routing 88.9% of usable drivers" in page


def test_build_report_counts_skipped_lines_in_the_summary(tmp_path):
    write_capture_file(tmp_path / "captures", [capture_line([0.2, 0.8], inference_id="a"), "garbage", "{}"])

    result = report.build_report(tmp_path / "captures", output_dir=tmp_path / "out")

    assert result.summary["skipped_capture_lines"] == {"malformed line": 2}
    assert "2 capture lines could not be used and were skipped (2 malformed line)." in result.summary["sentences"]


@pytest.mark.parametrize("lines, message", [([], "0 capture files"), (["garbage", "{}"], "2 unusable lines")],
                         ids=["empty", "only-malformed"])
def test_build_report_with_nothing_usable_raises_a_clear_error(tmp_path, lines, message):
    (tmp_path / "captures").mkdir()
    if lines:
        write_capture_file(tmp_path / "captures", lines)

    with pytest.raises(NothingToReport, match=message):
        report.build_report(tmp_path / "captures", output_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_analyse_reads_captures_and_ground_truth_from_s3(aws_credentials):
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="report-bucket")
        s3.put_object(Bucket="report-bucket", Key="capture/ep/AllTraffic/2026/11/25/09/a.jsonl",
                      Body=capture_line([0.2, 0.8], inference_id="a") + capture_line([0.6, 0.4], inference_id="b"))
        ground_truth.write_ground_truth({"a": "motorcycle", "b": "motorcycle"}, "s3://report-bucket/ground-truth",
                                        when=START, s3_client=s3)

        _, summary = report.analyse("s3://report-bucket/capture", "s3://report-bucket/ground-truth", s3_client=s3)

    assert summary["labelled"] == 2 and summary["accuracy"] == 0.5


def test_main_writes_the_report_and_prints_the_sentences(labelled_run, tmp_path, capsys):
    captures, truth = labelled_run

    code = report.main(["--captures", str(captures), "--ground-truth", str(truth), "--threshold", "0.92",
                        "--output-dir", str(tmp_path / "out"), "--no-progress"])

    out = capsys.readouterr().out
    assert code == 0
    assert "At 0.92, 42.9% of the usable drivers are routed without a person" in out
    assert f"Report: {tmp_path / 'out' / report.HTML_FILE}" in out
    assert (tmp_path / "out" / "threshold_curves.png").read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.parametrize("make_input, code, message", [
    (lambda root: root / "missing", 2, "error: no such directory"),
    (lambda root: root, 1, "Nothing to report: No captured inferences found"),
], ids=["missing-directory", "empty-directory"])
def test_main_reports_bad_input_without_a_traceback(tmp_path, capsys, make_input, code, message):
    assert report.main(["--captures", str(make_input(tmp_path)), "--output-dir", str(tmp_path / "out")]) == code

    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("argument", ["--threshold=1.5", "--threshold=high", "--target-precision=-0.1"],
                         ids=["above-one", "not-a-number", "negative"])
def test_main_rejects_bad_fractions(argument, capsys):
    with pytest.raises(SystemExit) as exit_info:
        report.parse_args([argument])

    assert exit_info.value.code == 2 and "error:" in capsys.readouterr().err


def test_module_runs_from_the_command_line_with_help():
    completed = subprocess.run([sys.executable, "-m", "monitoring.report", "--help"], cwd=settings.PROJECT_ROOT,
                               capture_output=True, text=True, timeout=60)

    assert completed.returncode == 0
    assert "--ground-truth" in completed.stdout and "--target-precision" in completed.stdout


def assessment_line(confidence: float, inference_id: str, seconds: int, usable: bool = True) -> str:
    """A capture of the assessment the workflow asks the endpoint for."""
    body = json.dumps({"probabilities": [confidence, round(1 - confidence, 4)], "classes": list(settings.CLASS_NAMES),
                       "usable": usable, "unusable_reasons": [] if usable else ["nearly uniform"]}).encode()
    return capture_format.to_jsonl_line(capture_format.build_capture_record(
        b"\x89PNG\r\n\x1a\n", "image/png", body, settings.ASSESSMENT_CONTENT_TYPE, inference_id=inference_id,
        inference_time=START + timedelta(seconds=seconds)))


@pytest.fixture
def loop_run(tmp_path):
    """What the review loop leaves: 40 routed drivers (confidence 0.99) of which 2 audited (1 wrong),
    4 rejected ones (0.6) all reviewed, and 1 unusable photo a reviewer found shows no vehicle."""
    lines = [assessment_line(0.99, f"routed-{n}", n) for n in range(40)]
    lines += [assessment_line(0.6, f"rejected-{n}", 40 + n) for n in range(4)]
    lines.append(assessment_line(0.99, "blank", 50, usable=False))
    write_capture_file(tmp_path / "captures", lines)
    labels = {"routed-0": "bicycle", "routed-1": "motorcycle", "rejected-0": "bicycle", "rejected-1": "bicycle",
              "rejected-2": "motorcycle", "rejected-3": "motorcycle", "blank": settings.NOT_A_VEHICLE}
    ground_truth.write_ground_truth(labels, tmp_path / "truth", when=START, class_names=settings.REVIEW_LABELS)
    return tmp_path / "captures", tmp_path / "truth"


def test_analyse_tells_audited_acceptances_from_reviewed_rejections(loop_run):
    captures, truth = loop_run

    _, summary = report.analyse(captures, truth, threshold=0.95)

    loop = summary["loop"]
    assert (loop["routed"], loop["audited_acceptances"], loop["audited_right"]) == (40, 2, 1)
    assert (loop["reviewed_rejections"], loop["reviewed_right"]) == (5, 2)
    assert (loop["reviewed_not_a_vehicle"], loop["not_a_vehicle_caught"]) == (1, 1)
    assert summary["unusable"] == 1
    at = summary["at_threshold"]
    # Each audit stands for 20 routed drivers, not for 1/auditRate: coverage is counted, 40 of 44 usable.
    assert (at["coverage"], at["precision_accepted"], at["audited"]) == (pytest.approx(40 / 44), None, 2)
    low, high = at["precision_interval"]
    assert 0 < low < 0.1 and 0.9 < high < 1  # 1 of 2 checked says little about 40: no "50.0%" anywhere
    assert not any("50.0%" in sentence for sentence in summary["sentences"])
    assert any(sentence.startswith("Audits: people checked 2 of the 40 drivers routed without a person; 1 were "
                                   "routed right.") for sentence in summary["sentences"])


def test_analyse_certifies_nothing_on_too_few_audits_and_says_what_is_missing(tmp_path):
    lines = [assessment_line(0.99, f"right-{n}", n) for n in range(30)] + [assessment_line(0.7, "wrong", 40)]
    write_capture_file(tmp_path / "captures", lines)
    labels = {f"right-{n}": "bicycle" for n in range(30)} | {"wrong": "motorcycle"}
    ground_truth.write_ground_truth(labels, tmp_path / "truth", when=START)

    _, summary = report.analyse(tmp_path / "captures", tmp_path / "truth", threshold=0.95)

    assert summary["coverage_at_target_precision"] == pytest.approx(30 / 31)
    # Every driver is labelled, but 30 audits are too few to tell 99% from 100%: no certificate, and
    # the answer says how many clean audits are missing.
    assert summary["certificate"]["certified"] is False
    missing = summary["certificate"]["missing_checks"]
    assert missing["checks_now"] == 30 and missing["clean_checks"] == missing["checks_needed"] - 30
    assert any(sentence.startswith("Coverage at 99.0% precision, estimated (threshold-free") for sentence in summary["sentences"])


def test_build_report_with_audits_shows_counted_and_estimated_figures_on_the_page(loop_run, tmp_path):
    captures, truth = loop_run

    result = report.build_report(captures, truth, threshold=0.95, output_dir=tmp_path / "out")

    page = result.html_path.read_text()
    assert "<th>Checked usable drivers right (unweighted, mostly rejected ones)</th><td>3 of 6</td>" in page
    assert "<th>Accuracy over all usable drivers, audited</th><td>between " in page
    assert "<th>Precision among accepted at 0.95, label-free</th><td>99.0% (95% interval" in page
    assert "<th>Coverage at 0.95 (counted)</th><td>90.9% (40 routed)</td>" in page
    # 1 of 2 audits wrong where confidences of 0.99 allow none: said plainly, and made to stand out.
    assert ('<li class="alarm">The audited routed drivers contradict the label-free figure: people found 1 of the 2 '
            'audited routed drivers wrong') in page


def test_without_ground_truth_the_report_still_states_what_the_confidences_expect(loop_run, tmp_path):
    captures, _ = loop_run

    result = report.build_report(captures, None, threshold=0.95, output_dir=tmp_path / "out")

    label_free = result.summary["label_free"]
    # 40 routed at 0.99 and 4 more usable at 0.6; the unusable photo never counts.
    assert label_free["precision_accepted"]["value"] == pytest.approx(0.99)
    assert label_free["precision_accepted"]["drivers"] == 40
    assert label_free["accuracy"]["value"] == pytest.approx((40 * 0.99 + 4 * 0.6) / 44)
    assert any(sentence.startswith("Label-free (no labels needed): precision among the drivers routed at 0.95, "
                                   "99.0% (95% interval") and "if calibration holds" in sentence
               for sentence in result.summary["sentences"])
    assert "<th>Precision among accepted at 0.95, label-free</th><td>99.0%" in result.html_path.read_text()
