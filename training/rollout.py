"""A challenger's way to production: in shadow first, then promoted with a canary, rolled back on alarms.

Plain boto3 against the SageMaker API (the launcher's `shadow`, `promote` and `rollback` commands),
so it runs the same against AWS and the stand-in (python -m local.aws), whose SageMaker API
serves the variants on the local endpoint.

  shadow    a new endpoint config: the production variants as they are, plus the challenger as a
            shadow variant that gets a copy of `share` percent of the requests; data capture as
            it was (both variants captured, each under its own folder)
  promote   the shadow's model becomes the production variant (same variant name, so capture and
            alarms carry on), deployed blue/green with a canary step and automatic rollback on
            the endpoint's alarms; the previous config is kept in the endpoint's tags
  rollback  back to that previous config, in one call

The champion's config is never deleted, so every version stays listed and can come back.
"""
import time
from dataclasses import dataclass
from typing import List, Optional

import settings

CHALLENGER_VARIANT = settings.CHALLENGER_VARIANT_NAME
APPROVED = "Approved"
PREVIOUS_CONFIG_TAG = "vehicle-routing:previous-endpoint-config"
MODEL_PACKAGE_TAG = settings.CHALLENGER_PACKAGE_TAG
DATASET_TAG = settings.CHALLENGER_DATASET_TAG
DEFAULT_CANARY_PERCENT = 10
DEFAULT_CANARY_WAIT_SECONDS = 600
DEFAULT_TERMINATION_WAIT_SECONDS = 300


class RolloutError(Exception):
    """The endpoint is not in a state the step asks for (one line, no traceback)."""


@dataclass
class Challenger:
    model_data: str
    image: str
    role_arn: str
    model_package_arn: Optional[str] = None
    dataset_uri: Optional[str] = None


class EndpointBusy(RolloutError):
    """The endpoint is being updated: a new deployment must wait for it to be InService."""


def _stamp() -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime())


def described(sagemaker, endpoint_name: str) -> tuple:
    """(DescribeEndpoint, DescribeEndpointConfig of the config it serves); RolloutError for no endpoint."""
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except sagemaker.exceptions.ClientError as error:
        raise RolloutError(f"no endpoint {endpoint_name!r}: {error.response['Error'].get('Message', error)}") from None
    return endpoint, sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])


def challenger_from_package(sagemaker, model_package_arn: str, role_arn: str) -> Challenger:
    package = sagemaker.describe_model_package(ModelPackageName=model_package_arn)
    [container] = package["InferenceSpecification"]["Containers"][:1]
    dataset = (package.get("CustomerMetadataProperties") or {}).get(settings.MODEL_PACKAGE_DATASET_PROPERTY) or None
    return Challenger(container["ModelDataUrl"], container["Image"], role_arn, model_package_arn, dataset)


def serving_model_data(sagemaker, endpoint_name: str) -> List[str]:
    """The ModelDataUrl of every model the endpoint serves now, production and shadow."""
    _, config = described(sagemaker, endpoint_name)
    variants = config["ProductionVariants"] + (config.get("ShadowProductionVariants") or [])
    return [sagemaker.describe_model(ModelName=variant["ModelName"])["PrimaryContainer"]["ModelDataUrl"]
            for variant in variants]


def _require_in_service(endpoint: dict) -> None:
    if endpoint["EndpointStatus"] != "InService":
        raise EndpointBusy(f"{endpoint['EndpointName']} is {endpoint['EndpointStatus']}: wait until it is InService")


def _production_variants(config: dict) -> List[dict]:
    keep = ("VariantName", "ModelName", "InitialInstanceCount", "InstanceType", "InitialVariantWeight")
    return [{key: variant[key] for key in keep if key in variant} for variant in config["ProductionVariants"]]


def _config_arguments(config: dict) -> dict:
    return {"DataCaptureConfig": config["DataCaptureConfig"]} if config.get("DataCaptureConfig") else {}


def deploy_shadow(sagemaker, endpoint_name: str, challenger: Challenger, share: float) -> str:
    """The challenger as the endpoint's shadow variant, sent `share` percent of the requests; returns
    the new endpoint config's name."""
    if not 0 < share <= 100:
        raise RolloutError(f"the shadow's share must be in (0, 100] percent, got {share}")
    endpoint, config = described(sagemaker, endpoint_name)
    _require_in_service(endpoint)
    production = _production_variants(config)
    stamp = _stamp()
    model_name = f"{endpoint_name}-challenger-{stamp}"[:63]
    # The package and dataset travel as tags of the model: `promote` marks that version approved,
    # and the comparison leaves out the photos the dataset trained it on.
    tag_values = {MODEL_PACKAGE_TAG: challenger.model_package_arn, DATASET_TAG: challenger.dataset_uri}
    tags = [{"Key": key, "Value": value} for key, value in tag_values.items() if value]
    tags = {"Tags": tags} if tags else {}
    sagemaker.create_model(ModelName=model_name, ExecutionRoleArn=challenger.role_arn,
                           PrimaryContainer={"Image": challenger.image, "ModelDataUrl": challenger.model_data}, **tags)
    weight = sum(variant.get("InitialVariantWeight", 1.0) for variant in production)
    shadow = {"VariantName": CHALLENGER_VARIANT, "ModelName": model_name,
              "InitialInstanceCount": production[0].get("InitialInstanceCount", 1),
              "InstanceType": production[0]["InstanceType"], "InitialVariantWeight": weight * share / 100}
    name = f"{endpoint_name}-shadow-{stamp}"[:63]
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=production,
                                     ShadowProductionVariants=[shadow], **_config_arguments(config))
    sagemaker.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=name)
    return name


def deployment_config(alarm_names: List[str], canary_percent: int = DEFAULT_CANARY_PERCENT,
                      wait_seconds: int = DEFAULT_CANARY_WAIT_SECONDS) -> dict:
    """Blue/green with a canary step, rolled back by any of the alarms."""
    return {"BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": wait_seconds,
                                                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": canary_percent}},
                "TerminationWaitInSeconds": DEFAULT_TERMINATION_WAIT_SECONDS},
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in alarm_names]}}


def promote(sagemaker, endpoint_name: str, alarm_names: List[str], canary_percent: int = DEFAULT_CANARY_PERCENT,
            wait_seconds: int = DEFAULT_CANARY_WAIT_SECONDS) -> dict:
    """Make the shadow's model the production variant; returns {"config", "previous", "model_data",
    "model_package_arn"}."""
    endpoint, config = described(sagemaker, endpoint_name)
    shadows = config.get("ShadowProductionVariants") or []
    if not shadows:
        raise RolloutError(f"{endpoint_name} has no shadow variant to promote: deploy one with `shadow` first")
    _require_in_service(endpoint)
    production = _production_variants(config)
    champion = production[0]
    promoted = {**champion, "ModelName": shadows[0]["ModelName"]}
    name = f"{endpoint_name}-promoted-{_stamp()}"[:63]
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[promoted] + production[1:],
                                     **_config_arguments(config))
    previous = _champion_config(sagemaker, config, endpoint["EndpointConfigName"])
    sagemaker.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=name,
                              DeploymentConfig=deployment_config(alarm_names, canary_percent, wait_seconds))
    sagemaker.add_tags(ResourceArn=endpoint["EndpointArn"], Tags=[{"Key": PREVIOUS_CONFIG_TAG, "Value": previous}])
    model = sagemaker.describe_model(ModelName=promoted["ModelName"])
    package = tags_of(sagemaker, model["ModelArn"]).get(MODEL_PACKAGE_TAG)
    # Approving an approved package again would tell EventBridge of an approval (deployChallenger).
    if package and sagemaker.describe_model_package(ModelPackageName=package).get("ModelApprovalStatus") != APPROVED:
        sagemaker.update_model_package(ModelPackageArn=package, ModelApprovalStatus=APPROVED)
    return {"config": name, "previous": previous, "model_data": model["PrimaryContainer"]["ModelDataUrl"],
            "model_package_arn": package}


def wait_for_deployment(sagemaker, endpoint_name: str, config_name: str, poll_seconds: float = 15,
                        timeout_seconds: float = 7200, on_poll=None) -> tuple:
    """Wait until the endpoint is InService again after a guarded update: (True, "") when it serves
    config_name, (False, why) when SageMaker rolled it back or the update failed."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
        status = endpoint["EndpointStatus"]
        if status == "InService":
            if endpoint["EndpointConfigName"] == config_name:
                return True, ""
            return False, endpoint.get("FailureReason") or f"the endpoint is back on {endpoint['EndpointConfigName']}"
        if status in ("Failed", "UpdateRollbackFailed"):
            return False, f"{status}: {endpoint.get('FailureReason') or 'no reason given'}"
        if time.monotonic() > deadline:
            raise RolloutError(f"{endpoint_name} is still {status} after {timeout_seconds:.0f} s")
        if on_poll is not None:
            on_poll(status)
        time.sleep(poll_seconds)


def tags_of(sagemaker, arn: str) -> dict:
    return {tag["Key"]: tag["Value"] for tag in sagemaker.list_tags(ResourceArn=arn).get("Tags", [])}


def _champion_config(sagemaker, config: dict, config_name: str) -> str:
    """The config serving the champion alone: the shadow config's production variants, kept as a
    config of their own, so a rollback serves exactly them (without the shadow)."""
    name = f"{config_name[:40]}-champion-{_stamp()}"[:63]
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=_production_variants(config),
                                     **_config_arguments(config))
    return name


def drop_shadow(sagemaker, endpoint_name: str) -> str:
    """Take a kept shadow down (it costs instances and reviews nothing): the endpoint serves its
    production variants alone, captured as before; returns the new config's name."""
    endpoint, config = described(sagemaker, endpoint_name)
    if not config.get("ShadowProductionVariants"):
        raise RolloutError(f"{endpoint_name} has no shadow variant to take down")
    _require_in_service(endpoint)
    name = _champion_config(sagemaker, config, endpoint["EndpointConfigName"])
    sagemaker.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=name)
    return name


def rollback(sagemaker, endpoint_name: str) -> str:
    """Back to the config the last promotion replaced; returns its name."""
    endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    previous = tags_of(sagemaker, endpoint["EndpointArn"]).get(PREVIOUS_CONFIG_TAG)
    if not previous:
        raise RolloutError(f"{endpoint_name} was never promoted by this tool: there is nothing to roll back to")
    sagemaker.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=previous)
    return previous


def hand_over_baseline(s3_client, model_data_uri: str, baseline_uri: str) -> List[str]:
    """Copy baseline/statistics.json and constraints.json out of a trained model.tar.gz to where the
    scheduled monitor reads them (the champion's baseline); RolloutError when the model has none."""
    import io
    import tarfile

    from monitoring import baseline, storage
    archive_bytes = storage.read_bytes(model_data_uri, s3_client)
    target = storage.parse_s3(baseline_uri)
    with tarfile.open(fileobj=io.BytesIO(archive_bytes), mode="r:gz") as archive:
        members = {}
        for name in (baseline.STATISTICS_FILE, baseline.CONSTRAINTS_FILE):
            try:
                member = archive.extractfile(f"{baseline.BASELINE_DIR}/{name}")
            except KeyError:
                member = None
            if member is None:
                raise RolloutError(f"{model_data_uri} has no {baseline.BASELINE_DIR}/{name}: the model was trained "
                                   "before the monitoring baseline; train it again")
            members[name] = member.read()
    for name, body in members.items():  # both or neither: the monitor never reads half a baseline
        s3_client.put_object(Bucket=target.bucket, Key=target.key(name), Body=body)
    return list(members)


LATENCY_ALARM_MICROSECONDS = 1_000_000   # ModelLatency is in microseconds: a second per photo
ALARM_PERIOD_SECONDS = 60


def ensure_alarms(cloudwatch, endpoint_name: str, variant_name: str) -> List[str]:
    """The endpoint's own rollback alarms (created or updated): invocation 5XX errors, and model
    latency; returns their names."""
    dimensions = [{"Name": "EndpointName", "Value": endpoint_name}, {"Name": "VariantName", "Value": variant_name}]
    alarms = {
        f"{endpoint_name}-{variant_name}-invocation-5xx": dict(
            MetricName="Invocation5XXErrors", Statistic="Sum", Threshold=0.0,
            AlarmDescription="The endpoint answered server errors: roll back a deployment in progress."),
        f"{endpoint_name}-{variant_name}-model-latency": dict(
            MetricName="ModelLatency", ExtendedStatistic="p99", Threshold=float(LATENCY_ALARM_MICROSECONDS),
            AlarmDescription="The model takes over a second per photo: roll back a deployment in progress."),
    }
    for name, settings in alarms.items():
        cloudwatch.put_metric_alarm(AlarmName=name, Namespace="AWS/SageMaker", Dimensions=dimensions,
                                    Period=ALARM_PERIOD_SECONDS, EvaluationPeriods=2,
                                    ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching",
                                    **settings)
    return list(alarms)
