"""monitoring.certify end to end: capture and ground-truth files in, the certificate JSON out, and
--apply against moto's SSM and SageMaker."""
import json
import random
import subprocess
import sys

import boto3
import pytest
from moto import mock_aws

import settings
from monitoring import certify, ground_truth, threshold_store
from tests.monitoring.conftest import START, capture_line, write_capture_file


def traffic(tmp_path, drivers: int, audited_share: float, wrong_audits: int = 0, seed: int = 5):
    """Captures of `drivers` usable answers (60% routed at 0.95), every driver below 0.95 reviewed
    and right or wrong as a confused model would be, `audited_share` of the routed ones audited,
    the first `wrong_audits` of those found wrong."""
    rng = random.Random(seed)
    lines, labels, audits = [], {}, 0
    for number in range(drivers):
        confidence = rng.uniform(0.951, 0.9999) if rng.random() < 0.6 else rng.uniform(0.55, 0.949)
        inference_id = f"id-{number}"
        lines.append(capture_line([confidence, 1 - confidence], inference_id=inference_id, seconds=number * 60))
        if confidence < 0.95:
            labels[inference_id] = "bicycle" if rng.random() < confidence else "motorcycle"
        elif rng.random() < audited_share:
            labels[inference_id] = "motorcycle" if audits < wrong_audits else "bicycle"
            audits += 1
    write_capture_file(tmp_path / "captures", lines)
    ground_truth.write_ground_truth(labels, tmp_path / "truth", when=START)
    return tmp_path / "captures", tmp_path / "truth"


def run(tmp_path, captures, truth, *more) -> tuple:
    output = tmp_path / "out" / "certificate.json"
    status = certify.main(["--captures", str(captures), "--ground-truth", str(truth), "--output", str(output), *more])
    return status, json.loads(output.read_text())


def test_few_audits_say_not_yet_with_the_clean_checks_missing_and_the_days_at_this_traffic(tmp_path, capsys):
    captures, truth = traffic(tmp_path, 600, audited_share=0.05)

    status, cert = run(tmp_path, captures, truth)

    assert status == 0
    assert cert["certified"] is False and cert["threshold"] is None and cert["routed_share"] is None
    assert (cert["target_precision"], cert["confidence"]) == (0.99, 0.95)
    audited = cert["checks"]["audited"]
    assert 0 < audited["checked"] < 100 and audited["drivers"] > 300
    missing = cert["missing_checks"]
    assert missing["clean_checks"] == missing["checks_needed"] - audited["checked"]
    # 600 drivers a minute apart: the pile took 599 minutes; the missing audits take proportionally long.
    routed_per_day = audited["drivers"] / (599 / 1440)
    assert missing["days"] == pytest.approx(missing["routed_drivers"] / routed_per_day, rel=0.01)
    printed = capsys.readouterr().out
    assert printed.startswith("Not yet certified") and f"{missing['clean_checks']} more clean audits" in printed


def test_enough_clean_audits_certify_and_the_json_names_the_model_window_and_strata(tmp_path, capsys):
    captures, truth = traffic(tmp_path, 1000, audited_share=1.0)

    status, cert = run(tmp_path, captures, truth, "--model-version", "s3://models/champion/model.tar.gz")

    assert status == 0 and cert["certified"] is True and cert["missing_checks"] is None
    # 615 clean audits leave room for a few reviewed drivers just below 0.95: the band is a census.
    strata = cert["checks"]
    assert 0.5 <= cert["threshold"] < 1
    assert cert["routed_share"] * cert["usable_drivers"] == pytest.approx(
        strata["audited"]["drivers"] + strata["reviewed"]["drivers"])
    assert cert["model_version"] == "s3://models/champion/model.tar.gz"
    assert cert["window"]["first_inference"].startswith("2026-11-25T09:00")
    assert set(strata) == {"audited", "reviewed"} and strata["audited"]["wrong"] == 0
    assert capsys.readouterr().out.startswith(f"Certified: at least 99.0% of routed drivers right, with 95.0% "
                                              f"confidence, at threshold {cert['threshold']:g}")


def test_a_second_run_carries_the_looks_on_and_looks_again_only_when_the_audits_grew(tmp_path):
    captures, truth = traffic(tmp_path, 1000, audited_share=1.0, wrong_audits=8)

    _, first = run(tmp_path, captures, truth)
    _, second = run(tmp_path, captures, truth)
    _, restarted = run(tmp_path, captures, truth, "--restart")

    assert first["looked"] and not first["certified"] and first["looks"]["count"] == 1
    assert not second["looked"] and second["looks"]["count"] == 1
    assert second["missing_checks"]["mistakes_seen"] == 8  # every audited mistake so far, not only the look's
    assert restarted["looked"] and restarted["looks"]["count"] == 1


@pytest.fixture
def served(aws_credentials):
    with mock_aws():
        sagemaker, ssm = boto3.client("sagemaker"), boto3.client("ssm")
        sagemaker.create_model(ModelName="champion", ExecutionRoleArn="arn:aws:iam::123456789012:role/m",
                               PrimaryContainer={"Image": "mxnet", "ModelDataUrl": "s3://models/champion.tar.gz"})
        sagemaker.create_endpoint_config(EndpointConfigName="config", ProductionVariants=[{
            "VariantName": settings.DEFAULT_VARIANT_NAME, "ModelName": "champion", "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large"}])
        sagemaker.create_endpoint(EndpointName=settings.DEFAULT_ENDPOINT_NAME, EndpointConfigName="config")
        threshold_store.reset(ssm, "/vehicle-routing/test/routing-threshold", "deployed", "the stack")
        yield ssm


def test_apply_sets_the_threshold_with_who_and_which_certificate_for_the_model_served(tmp_path, served, capsys):
    captures, truth = traffic(tmp_path, 1000, audited_share=1.0)

    status, cert = run(tmp_path, captures, truth, "--endpoint-name", settings.DEFAULT_ENDPOINT_NAME, "--apply",
                       "--parameter-name", "/vehicle-routing/test/routing-threshold", "--applied-by", "operator-ann")

    assert status == 0, capsys.readouterr().err
    record = threshold_store.read(served, "/vehicle-routing/test/routing-threshold")
    assert record["threshold"] == cert["threshold"] and record["source"] == "certificate"
    assert record["applied_by"] == "operator-ann" and record["model_version"] == "s3://models/champion.tar.gz"
    assert record["certificate"].endswith("certificate.json") and record["applied_at"]


@pytest.mark.parametrize("case", ["not-certified", "another-model"])
def test_apply_refuses_a_certificate_that_is_not_for_the_model_served(tmp_path, served, capsys, case):
    captures, truth = traffic(tmp_path, 1000 if case == "another-model" else 300, audited_share=1.0)
    version = ["--model-version", "s3://models/challenger.tar.gz"] if case == "another-model" else []

    status, _ = run(tmp_path, captures, truth, "--endpoint-name", settings.DEFAULT_ENDPOINT_NAME, "--apply",
                    "--parameter-name", "/vehicle-routing/test/routing-threshold", *version)

    assert status == 2
    assert ("certifies nothing" if case == "not-certified" else "serves s3://models/champion.tar.gz") in \
        capsys.readouterr().err
    assert threshold_store.read(served, "/vehicle-routing/test/routing-threshold")["threshold"] == 0.95


def test_module_runs_from_the_command_line_with_help():
    completed = subprocess.run([sys.executable, "-m", "monitoring.certify", "--help"], cwd=settings.PROJECT_ROOT,
                               capture_output=True, text=True, timeout=60)

    assert completed.returncode == 0 and "--threshold-now" in completed.stdout and "--apply" in completed.stdout
