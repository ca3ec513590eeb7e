"""The deterioration monitor end to end on synthetic traffic: baseline, window, checks, files, metrics."""
import json
import random
import subprocess
import sys
from datetime import timedelta

import boto3
import pytest
from moto import mock_aws

import settings
from monitoring import baseline, capture_format, checks, estimates, features, ground_truth, monitor
from tests.monitoring.conftest import ENDPOINT, START, VARIANT


def answer(rng: random.Random, brightness=120.0, motorcycle_share=0.5, sharpness=60.0, contrast=50.0,
           unusable_share=0.0, unusable_code="too_dark", two_wheeler=(8.0, 2.0)) -> dict:
    """An assessment answer as the endpoint gives it, its features drawn from fixed distributions
    (two_wheeler: the beta distribution of the two-wheeler mass)."""
    confidence = 0.5 + 0.5 * rng.betavariate(5, 0.7)
    motorcycle = rng.random() < motorcycle_share
    usable = rng.random() >= unusable_share
    return {"probabilities": [1 - confidence, confidence] if motorcycle else [confidence, 1 - confidence],
            "classes": list(settings.CLASS_NAMES), "usable": usable,
            "unusable_reasons": [] if usable else [unusable_code.replace("_", " ")],
            "unusable_codes": [] if usable else [unusable_code],
            "input_statistics": {"brightness": rng.gauss(brightness, 30), "contrast": abs(rng.gauss(contrast, 12)),
                                 "sharpness": abs(rng.gauss(sharpness, 15)), "colourfulness": abs(rng.gauss(30, 10))},
            "two_wheeler_mass": rng.betavariate(*two_wheeler), "two_wheeler_limit": 0.5}


def rows(answers) -> list:
    return [features.features_of(json.dumps(a).encode(), settings.ASSESSMENT_CONTENT_TYPE, settings.CLASS_NAMES)
            for a in answers]


@pytest.fixture
def baseline_dir(tmp_path):
    """A baseline of 100 validation-like answers, as training writes it."""
    rng = random.Random(1)
    statistics = baseline.dataset_statistics(rows(answer(rng) for _ in range(100)),
                                             features.feature_names(settings.CLASS_NAMES))
    constraints = baseline.suggest_constraints(statistics, {"unusable_reason": ["none", "too_dark", "not_two_wheeler"]})
    directory = tmp_path / "baseline"
    directory.mkdir()
    (directory / baseline.STATISTICS_FILE).write_text(json.dumps(statistics))
    (directory / baseline.CONSTRAINTS_FILE).write_text(json.dumps(constraints))
    return directory


def write_window(root, answers, prefix="", ids=None):
    """Capture files of these answers, one inference a second from START, in SageMaker's layout."""
    lines = []
    for number, body in enumerate(answers):
        lines.append(capture_format.to_jsonl_line(capture_format.build_capture_record(
            b"\x89PNG", "image/png", json.dumps(body).encode(), settings.ASSESSMENT_CONTENT_TYPE,
            inference_id=ids[number] if ids else f"id-{number}", inference_time=START + timedelta(seconds=number))))
    path = root / capture_format.capture_key(prefix, ENDPOINT, VARIANT, START)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))
    return root


@pytest.mark.parametrize("seed", [11, 12, 13], ids=["seed-11", "seed-12", "seed-13"])
def test_monitor_raises_nothing_on_a_window_of_in_distribution_traffic(tmp_path, baseline_dir, seed):
    rng = random.Random(seed)
    captures = write_window(tmp_path / "captures", [answer(rng) for _ in range(300)])

    result = monitor.run(captures, baseline_dir, tmp_path / "out")

    assert result.verdict.enough_data and len(result.verdict.drift) == 10
    assert result.violations == {"violations": []}
    assert "No violations: the window looks like the baseline." in result.lines


@pytest.mark.parametrize("shift, feature", [
    ({"brightness": 60.0}, "brightness"),
    ({"sharpness": 25.0}, "sharpness"),
    ({"contrast": 25.0, "brightness": 170.0}, "contrast"),
    ({"motorcycle_share": 0.85}, "predicted_class"),
    ({"unusable_share": 0.3}, "usable"),
    ({"two_wheeler": (2.0, 8.0)}, "two_wheeler_mass"),
], ids=["darker", "blurred", "washed-out", "class-mix", "unusable", "fewer-two-wheelers"])
def test_monitor_raises_a_drift_violation_for_a_real_shift_in_a_window_of_200(tmp_path, baseline_dir, shift, feature):
    rng = random.Random(5)
    captures = write_window(tmp_path / "captures", [answer(rng, **shift) for _ in range(200)])

    result = monitor.run(captures, baseline_dir, tmp_path / "out")

    drifted = {v["feature_name"] for v in result.violations["violations"]
               if v["constraint_check_type"] == checks.DRIFT_CHECK}
    assert feature in drifted
    written = json.loads((tmp_path / "out" / baseline.VIOLATIONS_FILE).read_text())
    assert written == result.violations
    assert all(set(v) >= {"feature_name", "constraint_check_type", "description"} for v in written["violations"])


def test_monitor_counts_the_pictures_that_are_not_two_wheelers_by_their_reason(tmp_path, baseline_dir):
    rng = random.Random(10)
    answers = [answer(rng, unusable_share=0.3, unusable_code="not_two_wheeler") for _ in range(200)]
    captures = write_window(tmp_path / "captures", answers)

    result = monitor.run(captures, baseline_dir, tmp_path / "out")

    statistics = json.loads((tmp_path / "out" / baseline.STATISTICS_FILE).read_text())
    buckets = {bucket["value"]: bucket["count"] for bucket in baseline.features_by_name(statistics)[
        "unusable_reason"]["string_statistics"]["distribution"]["categorical"]["buckets"]}
    expected = sum(not body["usable"] for body in answers)
    assert buckets == {"none": 200 - expected, "not_two_wheeler": expected} and expected > 0
    # A known reason, more often than in the baseline: drift of the usable share, no domain violation.
    kinds = {(v["feature_name"], v["constraint_check_type"]) for v in result.violations["violations"]}
    assert ("usable", checks.DRIFT_CHECK) in kinds
    assert ("unusable_reason", checks.VALUES_CHECK) not in kinds


def test_monitor_says_not_enough_data_for_a_small_window(tmp_path, baseline_dir):
    rng = random.Random(2)
    captures = write_window(tmp_path / "captures", [answer(rng, brightness=40.0) for _ in range(20)])

    result = monitor.run(captures, baseline_dir, tmp_path / "out")

    assert not result.verdict.enough_data and result.violations == {"violations": []}
    assert any(line.startswith("Not enough data: 20 inferences, fewer than the 50") for line in result.lines)
    assert json.loads((tmp_path / "out" / baseline.STATISTICS_FILE).read_text())["dataset"]["item_count"] == 20


def test_monitor_window_keeps_only_inferences_between_start_and_end(tmp_path, baseline_dir):
    rng = random.Random(3)
    captures = write_window(tmp_path / "captures", [answer(rng) for _ in range(100)])

    result = monitor.run(captures, baseline_dir, tmp_path / "out", start=START + timedelta(seconds=10),
                         end=START + timedelta(seconds=70))

    assert result.verdict.items == 60


def test_monitor_statistics_follow_model_monitor_shapes(tmp_path, baseline_dir):
    rng = random.Random(4)
    captures = write_window(tmp_path / "captures", [answer(rng) for _ in range(60)])

    monitor.run(captures, baseline_dir, tmp_path / "out")

    statistics = json.loads((tmp_path / "out" / baseline.STATISTICS_FILE).read_text())
    by_name = baseline.features_by_name(statistics)
    confidence = by_name["confidence"]["numerical_statistics"]
    assert (statistics["version"], statistics["dataset"]["item_count"]) == (0.0, 60)
    assert confidence["common"] == {"num_present": 60, "num_missing": 0}
    assert sum(bucket["count"] for bucket in confidence["distribution"]["kll"]["buckets"]) == 60
    assert len(confidence["distribution"]["kll"]["sketch"]["data"][0]) == 60
    assert by_name["predicted_class"]["inferred_type"] == "String"
    assert sum(b["count"] for b in by_name["predicted_class"]["string_statistics"]["distribution"]["categorical"]
               ["buckets"]) == 60


def test_monitor_flags_values_outside_the_domain_and_missing_fields(tmp_path, baseline_dir):
    rng = random.Random(6)
    answers = [answer(rng) for _ in range(100)]
    for body in answers[:10]:
        body.update(usable=False, unusable_codes=["something_new"], unusable_reasons=["?"])
    for body in answers[10:30]:
        del body["input_statistics"]
    captures = write_window(tmp_path / "captures", answers)

    result = monitor.run(captures, baseline_dir, tmp_path / "out")

    kinds = {(v["feature_name"], v["constraint_check_type"]) for v in result.violations["violations"]}
    assert ("unusable_reason", checks.VALUES_CHECK) in kinds
    assert ("brightness", checks.COMPLETENESS_CHECK) in kinds


@pytest.mark.parametrize("wrong, violated", [(0, False), (1, False), (6, True)], ids=["none", "one", "six"])
def test_monitor_quality_check_is_raised_only_when_the_evidence_says_so(tmp_path, baseline_dir, wrong, violated):
    rng = random.Random(7)
    answers = [answer(rng) for _ in range(200)]
    captures = write_window(tmp_path / "captures", answers)
    routed = [n for n, body in enumerate(answers) if max(body["probabilities"]) >= 0.95][:12]
    labels = {}
    for position, number in enumerate(routed):
        predicted = settings.CLASS_NAMES[answers[number]["probabilities"].index(max(answers[number]["probabilities"]))]
        other = settings.CLASS_NAMES[1 - settings.CLASS_NAMES.index(predicted)]
        labels[f"id-{number}"] = other if position < wrong else predicted
    ground_truth.write_ground_truth(labels, tmp_path / "truth", when=START)

    result = monitor.run(captures, baseline_dir, tmp_path / "out", ground_truth=tmp_path / "truth")

    quality = [v for v in result.violations["violations"] if v["constraint_check_type"] == checks.QUALITY_CHECK]
    assert bool(quality) is violated
    assert result.verdict.quality["labelled"] == len(routed)
    if violated:
        assert quality[0]["metric_name"] == "precision_accepted"


def test_monitor_reads_s3_writes_s3_and_publishes_model_monitor_metrics(tmp_path, baseline_dir, aws_credentials):
    rng = random.Random(8)
    local = write_window(tmp_path / "captures", [answer(rng, brightness=50.0) for _ in range(120)])
    with mock_aws():
        s3, cloudwatch = boto3.client("s3"), boto3.client("cloudwatch")
        s3.create_bucket(Bucket="monitor-files")
        for path in local.rglob("*.jsonl"):
            s3.upload_file(str(path), "monitor-files", f"data-capture/{path.relative_to(local)}")
        for name in (baseline.STATISTICS_FILE, baseline.CONSTRAINTS_FILE):
            s3.upload_file(str(baseline_dir / name), "monitor-files", f"baseline/{name}")

        result = monitor.run("s3://monitor-files/data-capture", "s3://monitor-files/baseline", "s3://monitor-files/reports/h",
                             s3_client=s3, cloudwatch=cloudwatch, endpoint_name=ENDPOINT, schedule_name="hourly")

        written = json.loads(s3.get_object(Bucket="monitor-files", Key="reports/h/constraint_violations.json")["Body"].read())
        metrics = cloudwatch.list_metrics(Namespace=monitor.DEFAULT_METRICS_NAMESPACE)["Metrics"]
    assert written == result.violations and written["violations"]
    names = {metric["MetricName"] for metric in metrics}
    assert {"violation_count", "item_count", "feature_baseline_drift_brightness"} <= names
    # No ground truth was given: the label-free precision needs none, the audited one cannot be put.
    assert checks.LABEL_FREE_PRECISION_METRIC in names and checks.PRECISION_METRIC not in names
    assert any("label-free: " in line for line in result.lines)
    assert all({d["Name"]: d["Value"] for d in metric["Dimensions"]} == {"Endpoint": ENDPOINT,
                                                                      "MonitoringSchedule": "hourly"}
               for metric in metrics)


def test_main_exits_0_with_violations_and_2_for_a_missing_baseline(tmp_path, baseline_dir, capsys):
    rng = random.Random(9)
    captures = write_window(tmp_path / "captures", [answer(rng, brightness=50.0) for _ in range(200)])

    code = monitor.main(["--captures", str(captures), "--baseline", str(baseline_dir), "--output", str(tmp_path / "o")])
    out = capsys.readouterr().out
    missing = monitor.main(["--captures", str(captures), "--baseline", str(tmp_path / "none"), "--output",
                            str(tmp_path / "o")])

    assert code == 0 and "VIOLATIONS:" in out and "brightness: baseline_drift_check" in out
    assert missing == 2 and "error: no baseline at" in capsys.readouterr().err


def test_module_runs_from_the_command_line_with_help():
    completed = subprocess.run([sys.executable, "-m", "monitoring.monitor", "--help"], cwd=settings.PROJECT_ROOT,
                               capture_output=True, text=True, timeout=60)

    assert completed.returncode == 0
    for option in ("--captures", "--baseline", "--output", "--ground-truth", "--start", "--end", "--publish-metrics"):
        assert option in completed.stdout


def test_the_target_precision_is_the_one_training_reports():
    from training import model_artifacts

    assert settings.TARGET_PRECISION == model_artifacts.TARGET_PRECISION


@pytest.mark.parametrize("module", ["monitoring.monitor", "handlers.monitor_model", "training.dataset",
                                    "handlers.assemble_dataset", "handlers.register_challenger"])
def test_what_a_lambda_runs_imports_no_numpy(module):
    """The monitor's and the retraining's Lambda code must run where only boto3 is installed."""
    code = (f"import os, sys; os.environ.update({{k: 's3://b/p' for k in {sorted(_LAMBDA_SETTINGS)!r}}}); "
            f"import {module}; sys.exit('numpy' in sys.modules or 'PIL' in sys.modules)")
    env = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "PATH": "/usr/bin:/bin"}
    completed = subprocess.run([sys.executable, "-c", code], cwd=settings.PROJECT_ROOT, env=env,
                               capture_output=True, text=True, timeout=60)

    assert completed.returncode == 0, completed.stderr[-1000:] or "numpy or Pillow was imported"


_LAMBDA_SETTINGS = {settings.ENV_CAPTURE_URI, settings.ENV_BASELINE_URI, settings.ENV_REPORTS_URI,
                    settings.ENV_ENDPOINT_NAME, settings.ENV_MONITORING_SCHEDULE, settings.ENV_METRICS_NAMESPACE,
                    settings.ENV_DECISION_BUS, settings.ENV_GROUND_TRUTH_URI, settings.ENV_DATASETS_URI,
                    settings.ENV_BASE_DATA_URI, settings.ENV_TRAINING_IMAGE, settings.ENV_SOURCE_CODE_URI,
                    settings.ENV_MODELS_URI, settings.ENV_MODEL_PACKAGE_GROUP, settings.ENV_INFERENCE_IMAGE}


def test_monitor_judges_one_variant_when_a_shadow_is_captured_beside_it(tmp_path, baseline_dir):
    rng = random.Random(12)
    captures = write_window(tmp_path / "captures", [answer(rng) for _ in range(80)])
    shadow = tmp_path / "captures" / ENDPOINT / "Challenger"
    (shadow / "2026/11/25/09").mkdir(parents=True)
    (shadow / "2026/11/25/09" / "00-00-000-x.jsonl").write_text(next(
        (captures / ENDPOINT / VARIANT).rglob("*.jsonl")).read_text())

    everything = monitor.run(captures, baseline_dir, tmp_path / "all")
    production = monitor.run(captures, baseline_dir, tmp_path / "one", variant=VARIANT)

    assert (everything.verdict.items, production.verdict.items) == (160, 80)


def test_an_hourly_window_lists_only_its_own_hours_of_a_long_capture(aws_credentials):
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="capture")
        for variant in (VARIANT, "Challenger"):
            for hours in range(48):   # two days of hourly capture, one file an hour, one inference in each
                when = START + timedelta(hours=hours)
                s3.put_object(Bucket="capture", Key=capture_format.capture_key("data", ENDPOINT, variant, when),
                              Body=capture_format.to_jsonl_line(capture_format.build_capture_record(
                                  b"\x89PNG", "image/png", b"[0.9, 0.1]", "application/json",
                                  inference_id=f"{variant}-{hours}", inference_time=when)).encode())
        listed = []
        s3.meta.events.register("after-call.s3.ListObjectsV2",
                                lambda parsed, **_: listed.extend(item["Key"] for item in parsed.get("Contents", [])))
        window_start = START + timedelta(hours=40)

        window = monitor.read_window(f"s3://capture/data/{ENDPOINT}", window_start, window_start + timedelta(hours=1),
                                     s3_client=s3)
        whole = monitor.read_window(f"s3://capture/data/{ENDPOINT}", s3_client=s3)

    assert sorted(window.join_keys) == [f"{VARIANT}-40", "Challenger-40"]
    assert len(whole.join_keys) == 96
    # Each variant: its first file (is it SageMaker's layout?), then its files from 2 hours before
    # the window on (hours 38 to 47), never the 38 hours before them.
    window_listing = len(listed) - 96
    assert window_listing == 2 * (1 + 10)


def test_a_window_still_reads_capture_files_outside_sagemakers_layout(tmp_path):
    def line(inference_id):
        return capture_format.to_jsonl_line(capture_format.build_capture_record(
            b"\x89PNG", "image/png", b"[0.9, 0.1]", "application/json", inference_id=inference_id,
            inference_time=START + timedelta(minutes=5)))
    captures = tmp_path / ENDPOINT
    for hours in range(-30, 1):
        path = captures / capture_format.capture_key("", "", VARIANT, START + timedelta(hours=hours)).lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(line(f"hourly{hours}") if hours == 0 else "")
    (captures / "loose.jsonl").write_text(line("loose"))
    (captures / "exported").mkdir()
    (captures / "exported" / "batch.jsonl").write_text(line("exported"))

    window = monitor.read_window(captures, START, START + timedelta(hours=1))

    assert sorted(window.join_keys) == ["exported", "hourly0", "loose"]


def _audited_window(tmp_path, wrong: int, audited: int):
    """200 in-distribution answers; `audited` of the routed ones checked, the first `wrong` of those
    found wrong by the person."""
    rng = random.Random(14)
    answers = [answer(rng) for _ in range(200)]
    captures = write_window(tmp_path / "captures", answers)
    routed = [n for n, body in enumerate(answers) if max(body["probabilities"]) >= 0.95][:audited]
    labels = {}
    for position, number in enumerate(routed):
        predicted = settings.CLASS_NAMES[answers[number]["probabilities"].index(max(answers[number]["probabilities"]))]
        labels[f"id-{number}"] = settings.CLASS_NAMES[1 - settings.CLASS_NAMES.index(predicted)] if position < wrong \
            else predicted
    ground_truth.write_ground_truth(labels, tmp_path / "truth", when=START)
    return captures, tmp_path / "truth"


@pytest.mark.parametrize("wrong, contradicted", [(0, False), (8, True)], ids=["audits-agree", "over-confident"])
def test_monitor_raises_a_calibration_violation_when_the_audits_contradict_the_label_free_precision(
        tmp_path, baseline_dir, aws_credentials, wrong, contradicted):
    captures, truth = _audited_window(tmp_path, wrong, audited=40)
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch")

        result = monitor.run(captures, baseline_dir, tmp_path / "out", ground_truth=truth, cloudwatch=cloudwatch,
                             endpoint_name=ENDPOINT, schedule_name="hourly")

        data = cloudwatch.get_metric_data(MetricDataQueries=[
            {"Id": "violations", "MetricStat": {"Metric": {
                "Namespace": monitor.DEFAULT_METRICS_NAMESPACE, "MetricName": "violation_count",
                "Dimensions": [{"Name": "Endpoint", "Value": ENDPOINT}, {"Name": "MonitoringSchedule", "Value": "hourly"}]},
                "Period": 3600, "Stat": "Maximum"}}], StartTime=START - timedelta(days=1), EndTime=START + timedelta(days=3650))
    calibration = [v for v in result.violations["violations"] if v["constraint_check_type"] == checks.CALIBRATION_CHECK]
    written = json.loads((tmp_path / "out" / baseline.VIOLATIONS_FILE).read_text())
    assert bool(calibration) is contradicted and written == result.violations
    assert data["MetricDataResults"][0]["Values"] == [float(len(result.violations["violations"]))]
    quality = result.verdict.quality
    assert quality["calibration"]["checked"] == 40 and quality["calibration"]["wrong"] == wrong
    assert quality["label_free"]["drivers"] == quality["accepted"] and quality["label_free"]["value"] > 0.95
    if contradicted:
        assert calibration[0]["feature_name"] == checks.PRECISION_METRIC
        assert f"people found {wrong} of the 40 audited routed drivers wrong" in calibration[0]["description"]
        assert "calibration no longer holds on this traffic" in calibration[0]["description"]
        assert any(line.startswith("The audited routed drivers contradict the label-free figure") for line in result.lines)


def test_monitor_states_an_audited_precision_from_few_checks_as_its_interval_and_publishes_no_point(
        tmp_path, baseline_dir, aws_credentials):
    captures, truth = _audited_window(tmp_path, wrong=1, audited=2)
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch")

        result = monitor.run(captures, baseline_dir, tmp_path / "out", ground_truth=truth, cloudwatch=cloudwatch,
                             endpoint_name=ENDPOINT, schedule_name="hourly")

        names = {metric["MetricName"] for metric in cloudwatch.list_metrics(
            Namespace=monitor.DEFAULT_METRICS_NAMESPACE)["Metrics"]}
    line = next(line for line in result.lines if line.startswith("Precision of automatic routing"))
    # 1 right of 2 audits: never "50.0%", but the interval, the 2 checks and how many more are needed.
    assert "50.0%" not in line and result.verdict.quality["value"] is None
    assert f"95% interval from only 2 checked of {result.verdict.quality['accepted']} routed drivers; a point " \
           f"estimate needs {estimates.MINIMUM_CHECKS} checks: {estimates.MINIMUM_CHECKS - 2} more, about " in line
    assert "label-free: " in line and "if calibration holds" in line
    assert checks.PRECISION_METRIC not in names and checks.LABEL_FREE_PRECISION_METRIC in names
