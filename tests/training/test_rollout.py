"""Shadow, promote and rollback against moto's SageMaker API with the stand-in's bridges (what the
local endpoint is told to serve is recorded by the bridge's listener)."""
import io
import json
import tarfile

import boto3
import pytest
from moto import mock_aws

from local import moto_gaps
from training import rollout

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
ENDPOINT = "vehicle-classifier"


@pytest.fixture
def sagemaker(dummy_aws_credentials):
    served = []
    with mock_aws(), moto_gaps.bridged(endpoint_listener=lambda name, change: served.append(change)):
        client = boto3.client("sagemaker")
        client.create_model(ModelName="champion", ExecutionRoleArn=ROLE,
                            PrimaryContainer={"Image": "mxnet-inference", "ModelDataUrl": "s3://models-bucket/champion.tar.gz"})
        client.create_endpoint_config(
            EndpointConfigName="first", ProductionVariants=[{
                "VariantName": "AllTraffic", "ModelName": "champion", "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}],
            DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                               "DestinationS3Uri": "s3://models-bucket/data-capture",
                               "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]})
        client.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="first")
        client.create_model_package_group(ModelPackageGroupName="group")
        package = client.create_model_package(
            ModelPackageGroupName="group", ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={"Containers": [{"Image": "mxnet-inference", "ModelDataUrl": "s3://models-bucket/challenger.tar.gz"}],
                                    "SupportedContentTypes": ["image/png"], "SupportedResponseMIMETypes": ["application/json"]})
        yield client, served, package["ModelPackageArn"]


def test_shadow_keeps_production_and_adds_the_challenger_at_its_share_with_capture_on(sagemaker):
    client, served, package = sagemaker

    name = rollout.deploy_shadow(client, ENDPOINT, rollout.challenger_from_package(client, package, ROLE), share=25)

    config = client.describe_endpoint_config(EndpointConfigName=name)
    [shadow] = config["ShadowProductionVariants"]
    assert [v["ModelName"] for v in config["ProductionVariants"]] == ["champion"]
    assert (shadow["VariantName"], shadow["InitialVariantWeight"]) == (rollout.CHALLENGER_VARIANT, 0.25)
    assert config["DataCaptureConfig"]["EnableCapture"] is True
    assert client.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == name
    assert served[-1]["containers"][shadow["ModelName"]]["ModelDataUrl"] == "s3://models-bucket/challenger.tar.gz"


def test_promote_serves_the_challenger_under_the_production_name_approves_it_and_rollback_undoes_it(sagemaker):
    client, served, package = sagemaker
    rollout.deploy_shadow(client, ENDPOINT, rollout.challenger_from_package(client, package, ROLE), share=100)

    promoted = rollout.promote(client, ENDPOINT, ["ep-5xx", "ep-latency"], wait_seconds=1)

    assert client.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "Updating"   # the canary
    assert rollout.wait_for_deployment(client, ENDPOINT, promoted["config"], poll_seconds=0.1) == (True, "")
    config = client.describe_endpoint_config(EndpointConfigName=promoted["config"])
    assert [(v["VariantName"], client.describe_model(ModelName=v["ModelName"])["PrimaryContainer"]["ModelDataUrl"])
            for v in config["ProductionVariants"]] == [("AllTraffic", "s3://models-bucket/challenger.tar.gz")]
    assert not config.get("ShadowProductionVariants")
    assert promoted["model_data"] == "s3://models-bucket/challenger.tar.gz" and promoted["model_package_arn"] == package
    assert client.describe_model_package(ModelPackageName=package)["ModelApprovalStatus"] == "Approved"

    back = rollout.rollback(client, ENDPOINT)

    assert client.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == back == promoted["previous"]
    restored = client.describe_endpoint_config(EndpointConfigName=back)
    assert [v["ModelName"] for v in restored["ProductionVariants"]] == ["champion"]
    assert not restored.get("ShadowProductionVariants")


def test_the_deployment_config_is_a_canary_rolled_back_by_every_alarm():
    config = rollout.deployment_config(["a", "b"], canary_percent=10, wait_seconds=600)

    routing = config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert (routing["Type"], routing["CanarySize"], routing["WaitIntervalInSeconds"]) == (
        "CANARY", {"Type": "CAPACITY_PERCENT", "Value": 10}, 600)
    assert config["AutoRollbackConfiguration"]["Alarms"] == [{"AlarmName": "a"}, {"AlarmName": "b"}]


@pytest.mark.parametrize("step, message", [
    (lambda client: rollout.promote(client, ENDPOINT, []), "has no shadow variant to promote"),
    (lambda client: rollout.rollback(client, ENDPOINT), "never promoted"),
    (lambda client: rollout.drop_shadow(client, ENDPOINT), "has no shadow variant to take down"),
    (lambda client: rollout.deploy_shadow(client, "nowhere", rollout.Challenger("s3://x", "i", ROLE), 10), "no endpoint"),
], ids=["promote-without-shadow", "rollback-without-promotion", "drop-without-shadow", "unknown-endpoint"])
def test_steps_out_of_order_say_so_in_one_line(sagemaker, step, message):
    client, _, _ = sagemaker

    with pytest.raises(rollout.RolloutError, match=message):
        step(client)


def test_launch_shadow_promote_and_rollback_commands_drive_the_endpoint(sagemaker, capsys, tiny_model_dir):
    from monitoring import baseline
    from training import archives, launch
    client, _, package = sagemaker
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="models-bucket")
    s3.put_object(Bucket="models-bucket", Key="challenger.tar.gz", Body=archives.model_archive(tiny_model_dir))

    shadowed = launch.main(["shadow", "--model-package", package, "--role", ROLE, "--share", "50"])
    promoted = launch.main(["promote", "--alarm", "model-deteriorated", "--canary-wait-seconds", "1",
                            "--baseline-uri", "s3://models-bucket/monitoring/baseline"])
    out = capsys.readouterr().out
    rolled = launch.main(["rollback"])

    assert (shadowed, promoted, rolled) == (0, 0, 0)
    published = s3.get_object(Bucket="models-bucket", Key=f"monitoring/baseline/{baseline.STATISTICS_FILE}")["Body"].read()
    assert published == (tiny_model_dir / baseline.BASELINE_DIR / baseline.STATISTICS_FILE).read_bytes()
    assert "shadows 50% of its requests" in out and "(canary 10% for 1 s" in out
    assert "serves s3://models-bucket/challenger.tar.gz on all its traffic" in out
    assert "vehicle-classifier-AllTraffic-invocation-5xx" in out and "model-deteriorated" in out
    alarms = boto3.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert {alarm["MetricName"] for alarm in alarms} == {"Invocation5XXErrors", "ModelLatency"}
    assert "is back on" in capsys.readouterr().out


def test_launch_drop_shadow_leaves_production_and_capture_as_they_were(sagemaker, capsys):
    from training import launch
    client, served, package = sagemaker
    rollout.deploy_shadow(client, ENDPOINT, rollout.challenger_from_package(client, package, ROLE), share=100)

    dropped = launch.main(["drop-shadow"])

    config = client.describe_endpoint_config(EndpointConfigName=client.describe_endpoint(
        EndpointName=ENDPOINT)["EndpointConfigName"])
    assert dropped == 0 and "serves its production variants alone" in capsys.readouterr().out
    assert "ShadowProductionVariants" not in config
    assert [v["ModelName"] for v in config["ProductionVariants"]] == ["champion"]
    assert config["DataCaptureConfig"]["EnableCapture"] is True
    assert served[-1]["shadow"] == [] and list(served[-1]["containers"]) == ["champion"]


def model_archive(tmp_path, files: dict) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            path = tmp_path / name.replace("/", "_")
            path.write_text(text)
            archive.add(path, arcname=name)
    return buffer.getvalue()


def test_hand_over_baseline_publishes_both_files_or_says_in_one_line_that_the_model_has_none(
        dummy_aws_credentials, tmp_path):
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="models-bucket")
        s3.put_object(Bucket="models-bucket", Key="old/model.tar.gz",
                      Body=model_archive(tmp_path, {"classes.json": "[]", "baseline/statistics.json": "{}"}))
        s3.put_object(Bucket="models-bucket", Key="new/model.tar.gz", Body=model_archive(tmp_path, {
            "baseline/statistics.json": json.dumps({"version": 0.0}), "baseline/constraints.json": "{}"}))

        with pytest.raises(rollout.RolloutError, match="has no baseline/constraints.json"):
            rollout.hand_over_baseline(s3, "s3://models-bucket/old/model.tar.gz", "s3://models-bucket/baseline/ep")
        assert "Contents" not in s3.list_objects_v2(Bucket="models-bucket", Prefix="baseline/")
        published = rollout.hand_over_baseline(s3, "s3://models-bucket/new/model.tar.gz", "s3://models-bucket/baseline/ep")

        assert published == ["statistics.json", "constraints.json"]
        body = s3.get_object(Bucket="models-bucket", Key="baseline/ep/statistics.json")["Body"].read()
        assert json.loads(body) == {"version": 0.0}


def test_a_promotion_an_alarm_rolls_back_is_reported_as_not_held(sagemaker):
    client, _, package = sagemaker
    rollout.deploy_shadow(client, ENDPOINT, rollout.challenger_from_package(client, package, ROLE), share=100)
    cloudwatch = boto3.client("cloudwatch")
    [alarm] = [name for name in rollout.ensure_alarms(cloudwatch, ENDPOINT, "AllTraffic") if name.endswith("5xx")]

    promoted = rollout.promote(client, ENDPOINT, [alarm], wait_seconds=1)
    cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=[{
        "MetricName": "Invocation5XXErrors", "Value": 1.0,
        "Dimensions": [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": "AllTraffic"}]}])
    held, why = rollout.wait_for_deployment(client, ENDPOINT, promoted["config"], poll_seconds=0.1)

    assert not held and f"alarm {alarm} fired" in why
    assert client.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] != promoted["config"]
