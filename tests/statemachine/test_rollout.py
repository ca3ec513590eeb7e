"""deployChallenger and promoteChallenger as deployed, run by moto's interpreter with the handlers in
process: an approval deploys the shadow; the comparison on checked drivers decides; a promotion
goes through a canary and is rolled back when an alarm fires."""
import hashlib
import io
import json
import tarfile
import time
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

import settings
from local import deployment, moto_gaps
from local.aws import MOTO_CONFIG
from local.workflow import handlers_in_process
from monitoring import capture_format, ground_truth
from tests.statemachine.conftest import STAGE, Subscriber

BUCKET = f"{settings.SERVICE_NAME}-{STAGE}-monitoring"
GROUP = f"{settings.SERVICE_NAME}-{STAGE}"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
NOW = datetime.now(timezone.utc)


def archive(baseline_version: str) -> bytes:
    """A model.tar.gz holding only what the rollout reads: the baseline."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as handle:
        for name, body in (("statistics.json", json.dumps({"version": baseline_version})), ("constraints.json", "{}")):
            info = tarfile.TarInfo(f"baseline/{name}")
            info.size = len(body.encode())
            handle.addfile(info, io.BytesIO(body.encode()))
    return buffer.getvalue()


class Stack:
    def __init__(self, deployed, endpoint_name):
        self.deployed, self.endpoint_name = deployed, endpoint_name
        self.sagemaker, self.s3 = boto3.client("sagemaker"), boto3.client("s3")
        self.bus = Subscriber(deployed.outputs["DecisionBusName"])

    def machine(self, output):
        return self.deployed.workflow(output=output)

    def register(self, name: str) -> str:
        key = f"models/{name}/model.tar.gz"
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=archive(name))
        # What it was trained on (training.dataset's manifest): photos the comparison must leave out.
        trained = {"sha256": hashlib.sha256(b"photo-driver-0").hexdigest(), "channel": "reviewed"}
        self.s3.put_object(Bucket=BUCKET, Key=f"datasets/{name}/manifest.jsonl", Body=json.dumps(trained).encode())
        return self.sagemaker.create_model_package(
            ModelPackageGroupName=GROUP, ModelApprovalStatus="PendingManualApproval",
            CustomerMetadataProperties={settings.MODEL_PACKAGE_DATASET_PROPERTY: f"s3://{BUCKET}/datasets/{name}"},
            InferenceSpecification={"Containers": [{"Image": "mxnet-inference", "ModelDataUrl": f"s3://{BUCKET}/{key}"}],
                                    "SupportedContentTypes": ["image/png"],
                                    "SupportedResponseMIMETypes": ["application/json"]})["ModelPackageArn"]

    def executions(self, output) -> list:
        client = boto3.client("stepfunctions")
        return client.list_executions(stateMachineArn=self.deployed.outputs[output])["executions"]

    def wait_for_execution(self, output, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.executions(output)
            if runs:
                return self.machine(output).wait(runs[0]["executionArn"], timeout)
            time.sleep(0.05)
        raise AssertionError(f"nothing started {output}")

    def capture(self, answers: dict, labels: dict) -> None:
        """answers: {variant: [(inference id, probabilities)]}, captured as the endpoint would; labels:
        what people answered."""
        for variant, rows in answers.items():
            lines = "".join(capture_format.to_jsonl_line(capture_format.build_capture_record(
                f"photo-{inference_id}".encode(), "image/png", json.dumps(probabilities).encode(), "application/json",
                inference_id=inference_id, inference_time=NOW)) for inference_id, probabilities in rows)
            self.s3.put_object(Bucket=BUCKET, Key=capture_format.capture_key(
                f"{settings.CAPTURE_PREFIX}", self.endpoint_name, variant, NOW), Body=lines.encode())
        ground_truth.write_ground_truth(labels, f"s3://{BUCKET}/ground-truth", when=NOW, s3_client=self.s3)

    def endpoint(self) -> dict:
        return self.sagemaker.describe_endpoint(EndpointName=self.endpoint_name)


@pytest.fixture
def stack(monkeypatch, packaged_service):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    # No parameter cache: each test reads the routing threshold as it is at that moment.
    fast = {settings.ENV_POLL_SECONDS: "1", settings.ENV_CANARY_WAIT_SECONDS: "1", "POWERTOOLS_PARAMETERS_MAX_AGE": "0"}
    with mock_aws(config=MOTO_CONFIG), moto_gaps.bridged(), handlers_in_process(fast):
        deployed = deployment.deploy(packaged_service, STAGE)
        functions = boto3.client("lambda")
        endpoint_name = functions.get_function_configuration(
            FunctionName=f"{GROUP}-promoteChallenger")["Environment"]["Variables"][settings.ENV_ENDPOINT_NAME]
        s3, sagemaker = boto3.client("s3"), boto3.client("sagemaker")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="models/champion/model.tar.gz", Body=archive("champion"))
        sagemaker.create_model(ModelName="champion", ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": "mxnet-inference", "ModelDataUrl": f"s3://{BUCKET}/models/champion/model.tar.gz"})
        sagemaker.create_endpoint_config(EndpointConfigName="champion", ProductionVariants=[{
            "VariantName": settings.DEFAULT_VARIANT_NAME, "ModelName": "champion", "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}])
        sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName="champion")
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        yield Stack(deployed, endpoint_name)


def in_shadow(stack) -> str:
    package = stack.register("challenger")
    stack.sagemaker.update_model_package(ModelPackageArn=package, ModelApprovalStatus="Approved")
    result = stack.wait_for_execution("DeployChallengerStateMachineArn")
    assert result.status == "SUCCEEDED", result
    return package


def test_approving_a_package_deploys_it_as_the_shadow_and_tells_the_bus(stack):
    package = in_shadow(stack)

    config = stack.sagemaker.describe_endpoint_config(EndpointConfigName=stack.endpoint()["EndpointConfigName"])
    [shadow] = config["ShadowProductionVariants"]
    assert shadow["VariantName"] == settings.CHALLENGER_VARIANT_NAME
    model = stack.sagemaker.describe_model(ModelName=shadow["ModelName"])
    assert model["PrimaryContainer"]["ModelDataUrl"] == f"s3://{BUCKET}/models/challenger/model.tar.gz"
    assert [p["ModelName"] for p in config["ProductionVariants"]] == ["champion"]
    [event] = [e for e in stack.bus.events() if e["detail-type"] == "ChallengerInShadow"]
    assert event["detail"]["model_package_arn"] == package


def test_a_package_the_endpoint_already_serves_is_left_alone(stack):
    package = in_shadow(stack)
    configs = len(stack.sagemaker.list_endpoint_configs()["EndpointConfigs"])

    result = stack.machine("DeployChallengerStateMachineArn").run({"model_package_arn": package})

    assert result.status == "SUCCEEDED"
    assert len(stack.sagemaker.list_endpoint_configs()["EndpointConfigs"]) == configs


def wins(count):
    """Drivers the champion sent to people unsure and wrong, which the challenger gets right and sure."""
    champion = [(f"driver-{n}", [0.3, 0.7]) for n in range(count)]
    challenger = [(f"driver-{n}", [0.99, 0.01]) for n in range(count)]
    return {settings.DEFAULT_VARIANT_NAME: champion, settings.CHALLENGER_VARIANT_NAME: challenger}, \
        {f"driver-{n}": "bicycle" for n in range(count)}


def test_a_winning_challenger_is_promoted_through_a_canary_and_hands_over_its_baseline(stack):
    package = in_shadow(stack)
    stack.capture(*wins(20))

    result = stack.machine("PromoteChallengerStateMachineArn").run({}, timeout_seconds=60)

    assert result.status == "SUCCEEDED", result
    endpoint = stack.endpoint()
    config = stack.sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    [production] = config["ProductionVariants"]
    assert production["VariantName"] == settings.DEFAULT_VARIANT_NAME and not config.get("ShadowProductionVariants")
    served = stack.sagemaker.describe_model(ModelName=production["ModelName"])["PrimaryContainer"]["ModelDataUrl"]
    assert served.endswith("/models/challenger/model.tar.gz")
    baseline = stack.s3.get_object(Bucket=BUCKET, Key=f"monitoring/baseline/{stack.endpoint_name}/statistics.json")
    assert json.loads(baseline["Body"].read()) == {"version": "challenger"}
    assert stack.sagemaker.describe_model_package(ModelPackageName=package)["ModelApprovalStatus"] == "Approved"
    [event] = [e for e in stack.bus.events() if e["detail-type"] == "ChallengerPromoted"]
    assert event["detail"]["comparison"]["verdict"] == "promote"
    assert event["detail"]["comparison"]["left_out_trained_on"] == 1   # driver-0's photo trained the challenger
    # The approval event a promotion could cause never deploys the champion as its own shadow.
    assert len(stack.executions("DeployChallengerStateMachineArn")) == 1


def test_an_undecided_comparison_keeps_the_champion_and_says_so(stack):
    in_shadow(stack)
    stack.capture(*wins(2))
    before = stack.endpoint()["EndpointConfigName"]

    result = stack.machine("PromoteChallengerStateMachineArn").run({}, timeout_seconds=60)

    assert result.status == "SUCCEEDED"
    assert stack.endpoint()["EndpointConfigName"] == before
    [event] = [e for e in stack.bus.events() if e["detail-type"] == "ChallengerKept"]
    assert event["detail"]["verdict"] == "not enough evidence yet"
    assert event["detail"]["comparison"]["more_labels_to_decide"] > 0


def test_a_promotion_whose_canary_raises_an_alarm_is_rolled_back(stack):
    in_shadow(stack)
    stack.capture(*wins(20))
    shadowed = stack.endpoint()["EndpointConfigName"]
    cloudwatch = boto3.client("cloudwatch")
    machine = stack.machine("PromoteChallengerStateMachineArn")
    execution = machine.client.start_execution(stateMachineArn=machine.state_machine_arn, input="{}")["executionArn"]
    deadline = time.monotonic() + 30
    while stack.endpoint()["EndpointStatus"] != "Updating" and time.monotonic() < deadline:
        time.sleep(0.02)
    # The canary answers drivers: many go to people (an unusable-photo storm), so the share alarm fires.
    cloudwatch.put_metric_data(Namespace=f"{settings.SERVICE_NAME}/{STAGE}", MetricData=[{
        "MetricName": settings.SENT_TO_PERSON_METRIC, "Value": 1.0,
        "Dimensions": [{"Name": "EndpointName", "Value": stack.endpoint_name}]} for _ in range(10)])

    result = machine.wait(execution, 60)

    assert (result.status, result.error) == ("FAILED", "PromotionRolledBack")
    endpoint = stack.endpoint()
    assert endpoint["EndpointConfigName"] == shadowed   # as before the promotion: champion, challenger in shadow
    config = stack.sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    assert [p["ModelName"] for p in config["ProductionVariants"]] == ["champion"]
    assert "share-to-people fired" in endpoint["FailureReason"]
    assert [e["detail-type"] for e in stack.bus.events() if e["detail-type"] == "PromotionRolledBack"]
    baseline = stack.s3.list_objects_v2(Bucket=BUCKET, Prefix="monitoring/baseline/")
    assert "Contents" not in baseline   # the champion's baseline was never replaced


def test_promotion_without_a_shadow_fails_by_name(stack):
    result = stack.machine("PromoteChallengerStateMachineArn").run({})

    assert (result.status, result.error) == ("FAILED", "NoShadowVariant")


def test_a_challenger_whose_training_manifest_is_gone_is_never_compared(stack):
    in_shadow(stack)
    stack.capture(*wins(20))
    stack.s3.delete_object(Bucket=BUCKET, Key="datasets/challenger/manifest.jsonl")
    before = stack.endpoint()["EndpointConfigName"]

    result = stack.machine("PromoteChallengerStateMachineArn").run({}, timeout_seconds=60)

    # Its own training photos would have counted for it: nothing is promoted, and it says why.
    assert (result.status, result.error) == ("FAILED", "TrainingManifestMissing")
    assert "datasets/challenger/manifest.jsonl is not there" in result.cause
    assert stack.endpoint()["EndpointConfigName"] == before


PARAMETER = f"/{settings.SERVICE_NAME}/{STAGE}/routing-threshold"


def certified_threshold(threshold: float, applied_at: datetime) -> None:
    """The record `monitoring.certify --apply` leaves: a certified threshold for the champion."""
    boto3.client("ssm").put_parameter(Name=PARAMETER, Type="String", Overwrite=True, Value=json.dumps({
        "threshold": threshold, "source": "certificate", "applied_by": "operator", "applied_at": applied_at.isoformat(),
        "certificate": "s3://reports/certificate.json", "model_version": f"s3://{BUCKET}/models/champion/model.tar.gz",
        "target_precision": 0.99, "confidence": 0.95}))


def threshold_record() -> dict:
    return json.loads(boto3.client("ssm").get_parameter(Name=PARAMETER)["Parameter"]["Value"])


def judged_at(stack) -> float:
    """The threshold the deployed Check Confidence judges a driver at now."""
    answer = {"s3_bucket": "images", "s3_key": "drivers/a.jpg", "label": "bicycle", "confidence": 0.999,
              "usable": True, "unusable_reasons": [], "inference_id": "sequencer-etag"}
    response = boto3.client("lambda").invoke(FunctionName=f"{GROUP}-filterConfidence", Payload=json.dumps(answer))
    return json.loads(response["Payload"].read())["threshold"]


def test_the_stack_deploys_the_routing_threshold_at_its_conservative_default(stack):
    assert threshold_record()["threshold"] == settings.DEFAULT_THRESHOLD
    assert stack.deployed.outputs["RoutingThresholdParameterName"] == PARAMETER
    certified_threshold(0.9, NOW)
    assert judged_at(stack) == 0.9


def test_a_promotion_returns_the_routing_threshold_to_the_default_until_the_new_model_is_certified(stack):
    certified_threshold(0.9, NOW - timedelta(days=1))
    in_shadow(stack)
    stack.capture(*wins(20))

    result = stack.machine("PromoteChallengerStateMachineArn").run({}, timeout_seconds=60)

    assert result.status == "SUCCEEDED", result
    record = threshold_record()
    assert (record["threshold"], record["source"], record["set_by"]) == (settings.DEFAULT_THRESHOLD, "default",
                                                                         "promoteChallenger")
    assert "models/challenger/model.tar.gz" in record["reason"]
    assert judged_at(stack) == settings.DEFAULT_THRESHOLD


def test_a_monitor_that_finds_the_certificate_broken_returns_the_threshold_to_the_default(stack):
    from monitoring import baseline, features
    rows = [features.features_of(json.dumps([0.97, 0.03]).encode(), "application/json", settings.CLASS_NAMES)] * 60
    statistics = baseline.dataset_statistics(rows, features.feature_names(settings.CLASS_NAMES))
    for name, body in ((baseline.STATISTICS_FILE, statistics),
                       (baseline.CONSTRAINTS_FILE, baseline.suggest_constraints(statistics, {}))):
        stack.s3.put_object(Bucket=BUCKET, Key=f"monitoring/baseline/{stack.endpoint_name}/{name}",
                            Body=json.dumps(body).encode())
    certified_threshold(0.9, NOW - timedelta(minutes=30))
    # Since the certificate, 60 routed drivers audited and 6 found wrong: far more than 1% allows.
    stack.capture({settings.DEFAULT_VARIANT_NAME: [(f"driver-{n}", [0.97, 0.03]) for n in range(60)]},
                  {f"driver-{n}": "motorcycle" if n < 6 else "bicycle" for n in range(60)})

    response = boto3.client("lambda").invoke(FunctionName=f"{GROUP}-monitorModel", Payload=json.dumps({
        "start": (NOW - timedelta(minutes=30)).isoformat(), "end": (NOW + timedelta(minutes=1)).isoformat()}))

    result = json.loads(response["Payload"].read())
    assert result["threshold"] == 0.9 and result["threshold_reset"] is True, result
    record = threshold_record()
    assert (record["threshold"], record["source"], record["set_by"]) == (settings.DEFAULT_THRESHOLD, "default",
                                                                         "monitorModel")
    assert "found 6 wrong" in record["reason"]
    assert judged_at(stack) == settings.DEFAULT_THRESHOLD
