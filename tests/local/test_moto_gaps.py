"""Each moto gap local/moto_gaps/__init__.py bridges (CloudFormation, EventBridge, Step Functions,
SageMaker): still there in moto as installed, and bridged. The gaps of local/moto_gaps/'s other
modules, and Distributed Map's, are tested in tests/local/moto_gaps/.

A test of the first kind failing after a moto upgrade means moto fixed that gap: remove its bridge.
"""
import hashlib
import io
import json
import re
import time
import zipfile
from contextlib import nullcontext

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local import moto_gaps
from local.aws import MOTO_CONFIG
from tests.local.moto_gaps import BRIDGED, IDS, STATE_MACHINE, moto, template

@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)


def outputs_of(cloudformation, stack: str) -> dict:
    [described] = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs") or []}


TOPIC = {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "first"}}


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_validate_template_with_a_cfn_lint_warning(bridged):
    # W3005: the DependsOn is redundant, the Ref already orders the two resources.
    redundant = template({"First": TOPIC, "Second": {
        "Type": "AWS::SNS::Topic", "DependsOn": "First",
        "Properties": {"TopicName": {"Fn::Join": ["-", [{"Fn::GetAtt": ["First", "TopicName"]}, "second"]]}}}})

    with mock_aws(), moto(bridged):
        cloudformation = boto3.client("cloudformation")
        if bridged:
            assert "Parameters" in cloudformation.validate_template(TemplateBody=redundant)
        else:
            with pytest.raises(ClientError, match="dependency already enforced"):
                cloudformation.validate_template(TemplateBody=redundant)


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_fn_sub_with_a_variable_name_that_starts_with_a_digit(bridged):
    named = template({"Topic": {"Type": "AWS::SNS::Topic", "Properties": {
        "TopicName": {"Fn::Sub": ["topic-${0a1b2c}", {"0a1b2c": "from-the-map"}]}}}},
        {"Name": {"Value": {"Fn::GetAtt": ["Topic", "TopicName"]}}})

    with mock_aws(), moto(bridged):
        cloudformation = boto3.client("cloudformation")
        if bridged:
            cloudformation.create_stack(StackName="sub", TemplateBody=named)
            assert outputs_of(cloudformation, "sub") == {"Name": "topic-from-the-map"}
        else:
            with pytest.raises(KeyError, match="0a1b2c"):
                cloudformation.create_stack(StackName="sub", TemplateBody=named)


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_execute_change_set_refreshes_the_outputs(bridged):
    with mock_aws(), moto(bridged):
        cloudformation = boto3.client("cloudformation")
        cloudformation.create_stack(StackName="outputs", TemplateBody=template({"First": TOPIC}))
        cloudformation.create_change_set(
            StackName="outputs", ChangeSetName="update", ChangeSetType="UPDATE",
            TemplateBody=template({"First": TOPIC}, {"Topic": {"Value": {"Ref": "First"}}}))
        cloudformation.execute_change_set(ChangeSetName="update", StackName="outputs")

        outputs = outputs_of(cloudformation, "outputs")

    assert ("Topic" in outputs) == bridged


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
@pytest.mark.parametrize("how", ["change-set", "update-stack"])
def test_an_export_an_update_adds_is_listed_and_removed_with_the_stack(bridged, how):
    exported = {"Topic": {"Value": {"Ref": "First"}, "Export": {"Name": "the-topic"}}}
    with mock_aws(), moto(bridged):
        cloudformation = boto3.client("cloudformation")
        cloudformation.create_stack(StackName="exports", TemplateBody=template({"First": TOPIC}))
        if how == "change-set":
            cloudformation.create_change_set(StackName="exports", ChangeSetName="update", ChangeSetType="UPDATE",
                                              TemplateBody=template({"First": TOPIC}, exported))
            cloudformation.execute_change_set(ChangeSetName="update", StackName="exports")
        else:
            cloudformation.update_stack(StackName="exports", TemplateBody=template({"First": TOPIC}, exported))
        listed = [export["Name"] for export in cloudformation.list_exports()["Exports"]]

        # Plain moto's change set leaves the outputs (and so the export) out altogether: see above.
        fails_to_delete = not bridged and how == "update-stack"
        with pytest.raises(KeyError, match="the-topic") if fails_to_delete else nullcontext():
            cloudformation.delete_stack(StackName="exports")
        after = [export["Name"] for export in cloudformation.list_exports()["Exports"]]

    assert listed == (["the-topic"] if bridged else [])
    assert after == []


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_state_machine_created_by_cloudformation_is_served_by_the_executing_api(bridged):
    with mock_aws(config=MOTO_CONFIG), moto(bridged):
        boto3.client("cloudformation").create_stack(StackName="machine", TemplateBody=template({"Machine": STATE_MACHINE}))

        names = [machine["name"] for machine in boto3.client("stepfunctions").list_state_machines()["stateMachines"]]

    assert names == (["from-a-stack"] if bridged else [])


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_executions_started_without_a_name(bridged):
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    with mock_aws(config=MOTO_CONFIG), moto(bridged):
        stepfunctions = boto3.client("stepfunctions")
        arn = stepfunctions.create_state_machine(name="unnamed", definition=definition,
                                                 roleArn="arn:aws:iam::123456789012:role/states")["stateMachineArn"]
        first = stepfunctions.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
        if bridged:
            second = stepfunctions.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
            assert first != second and not first.endswith(":None")
        else:
            assert first.endswith(":None")
            with pytest.raises(ClientError, match="ExecutionAlreadyExists"):
                stepfunctions.start_execution(stateMachineArn=arn, input='{"another": "input"}')


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_ref_of_a_layer_version(bridged):
    content = io.BytesIO()
    with zipfile.ZipFile(content, "w") as archive:
        archive.writestr("python/module.py", "")
    layer = {"Type": "AWS::Lambda::LayerVersion", "Properties": {
        "LayerName": "pillow", "Content": {"S3Bucket": "artifacts", "S3Key": "layer.zip"}}}

    with mock_aws(), moto(bridged):
        boto3.client("s3").create_bucket(Bucket="artifacts")
        boto3.client("s3").put_object(Bucket="artifacts", Key="layer.zip", Body=content.getvalue())
        cloudformation = boto3.client("cloudformation")
        cloudformation.create_stack(StackName="layer", TemplateBody=template(
            {"Layer": layer}, {"Arn": {"Value": {"Ref": "Layer"}}}))

        value = outputs_of(cloudformation, "layer")["Arn"]

    if bridged:
        assert re.fullmatch(r"arn:aws:lambda:us-east-1:123456789012:layer:[\w-]+:1", value)
    else:
        assert value.startswith("<moto.awslambda.models.LayerVersion object")


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_ref_of_an_event_bus(bridged):
    with mock_aws(), moto(bridged):
        cloudformation = boto3.client("cloudformation")
        cloudformation.create_stack(StackName="bus", TemplateBody=template(
            {"Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "decisions"}}},
            {"Name": {"Value": {"Ref": "Bus"}}}))

        value = outputs_of(cloudformation, "bus")["Name"]

    assert (value == "decisions") is bridged


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_bucket_created_by_cloudformation_notifies_eventbridge(bridged):
    bucket = {"Type": "AWS::S3::Bucket", "Properties": {
        "BucketName": "photos", "NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}}}

    with mock_aws(), moto(bridged):
        boto3.client("cloudformation").create_stack(StackName="bucket", TemplateBody=template({"Bucket": bucket}))

        # (moto's GetBucketNotificationConfiguration leaves an empty EventBridgeConfiguration out: ask its backend)
        from moto.s3.models import s3_backends
        configuration = s3_backends["123456789012"]["aws"].buckets["photos"].notification_configuration

    assert (configuration is not None and configuration.event_bridge is not None) is bridged


def upload_rule_to_a_state_machine(definition: dict) -> str:
    """A bucket notifying EventBridge, and a rule starting a state machine for uploads, with AWS's template syntax."""
    s3, events, stepfunctions = boto3.client("s3"), boto3.client("events"), boto3.client("stepfunctions")
    s3.create_bucket(Bucket="photos")
    s3.put_bucket_notification_configuration(Bucket="photos", NotificationConfiguration={"EventBridgeConfiguration": {}})
    arn = stepfunctions.create_state_machine(name="on-upload", definition=json.dumps(definition),
                                             roleArn="arn:aws:iam::123456789012:role/states")["stateMachineArn"]
    events.put_rule(Name="uploads", EventPattern=json.dumps({"source": ["aws.s3"], "detail-type": ["Object Created"]}))
    events.put_targets(Rule="uploads", Targets=[{"Id": "machine", "Arn": arn, "RoleArn": "arn:aws:iam::123456789012:role/events",
                                                 "InputTransformer": {
                                                     "InputPathsMap": {"key": "$.detail.object.key",
                                                                       "etag": "$.detail.object.etag",
                                                                       "sequencer": "$.detail.object.sequencer"},
                                                     "InputTemplate": '{"key": <key>, "id": "<sequencer>-<etag>"}'}}])
    return arn


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_rule_with_a_state_machine_target_starts_an_execution_per_upload(bridged):
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    with mock_aws(config=MOTO_CONFIG), moto(bridged):
        arn = upload_rule_to_a_state_machine(definition)
        for key in ("drivers/a.png", "drivers/b.png"):
            boto3.client("s3").put_object(Bucket="photos", Key=key, Body=b"same bytes")

        executions = boto3.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"]
        inputs = [json.loads(boto3.client("stepfunctions").describe_execution(
            executionArn=execution["executionArn"])["input"]) for execution in executions]

    if not bridged:
        assert inputs == []  # moto raises NotImplementedError inside and S3 swallows it
        return
    assert sorted(execution_input["key"] for execution_input in inputs) == ["drivers/a.png", "drivers/b.png"]
    assert len({execution_input["id"] for execution_input in inputs}) == 2  # one sequencer per upload
    assert all(execution_input["id"].endswith("-" + hashlib.md5(b"same bytes").hexdigest()) for execution_input in inputs)


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_a_scheduled_rule_takes_no_events_and_leaves_the_upload_rule_its_turn(bridged):
    with mock_aws(), moto(bridged):
        s3, events, sqs = boto3.client("s3"), boto3.client("events"), boto3.client("sqs")
        s3.create_bucket(Bucket="photos")
        s3.put_bucket_notification_configuration(Bucket="photos", NotificationConfiguration={"EventBridgeConfiguration": {}})
        # Made first, as in the template: the monitor's schedule, its target a Lambda function.
        events.put_rule(Name="hourly", ScheduleExpression="rate(1 hour)")
        events.put_targets(Rule="hourly", Targets=[{"Id": "monitor", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:monitor"}])
        queue = sqs.create_queue(QueueName="uploads")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="uploads", EventPattern=json.dumps({"source": ["aws.s3"]}))
        events.put_targets(Rule="uploads", Targets=[{"Id": "queue", "Arn": queue_arn}])

        s3.put_object(Bucket="photos", Key="drivers/a.png", Body=b"photo")
        delivered = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])

    assert bool(delivered) is bridged


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_a_disabled_rule_delivers_nothing(bridged):
    with mock_aws(), moto(bridged):
        events, sqs = boto3.client("events"), boto3.client("sqs")
        queue = sqs.create_queue(QueueName="retrain")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="on-deterioration", EventPattern=json.dumps({"detail-type": ["ModelDeteriorated"]}),
                        State="DISABLED")
        events.put_targets(Rule="on-deterioration", Targets=[{"Id": "queue", "Arn": queue_arn}])

        events.put_events(Entries=[{"Source": "vehicle-routing", "DetailType": "ModelDeteriorated", "Detail": "{}"}])
        delivered = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])

    assert bool(delivered) is not bridged


def test_s3_event_as_aws_sends_it_names_the_etag_and_orders_uploads():
    first = moto_gaps.as_s3_sends_it({"detail": {"object": {"key": "a", "eTag": "abc", "sequencer": "617f08299329d189"}}})
    second = moto_gaps.as_s3_sends_it({"detail": {"object": {"key": "a", "eTag": "abc", "sequencer": "617f08299329d189"}}})

    assert first["detail"]["object"]["etag"] == "abc" and "eTag" not in first["detail"]["object"]
    assert first["detail"]["object"]["sequencer"] < second["detail"]["object"]["sequencer"]


@pytest.mark.parametrize("template_text, expected", [
    ('{"key": <key>}', {"key": 'drivers/a "b".png'}),
    ('{"text": "photo <key> arrived"}', {"text": 'photo drivers/a "b".png arrived'}),
    ('{"size": <size>, "missing": <missing>}', {"size": 42, "missing": None}),
    ('"<key>"', 'drivers/a "b".png'),
], ids=["string-outside-quotes", "string-inside-quotes", "number-and-missing", "plain-string-template"])
def test_render_input_template_quotes_as_eventbridge_does(template_text, expected):
    event = {"detail": {"object": {"key": 'drivers/a "b".png', "size": 42}}}
    paths = {"key": "$.detail.object.key", "size": "$.detail.object.size", "missing": "$.detail.nothing"}

    assert json.loads(moto_gaps.render_input_template(template_text, paths, event)) == expected


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_a_training_job_runs_instead_of_completing_at_once(bridged):
    with mock_aws(), moto(bridged):
        s3, sagemaker = boto3.client("s3"), boto3.client("sagemaker")
        s3.create_bucket(Bucket="jobs")
        s3.put_object(Bucket="jobs", Key="data/a.png", Body=b"a")
        sagemaker.create_training_job(
            TrainingJobName="job", RoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
            AlgorithmSpecification={"TrainingImage": "image", "TrainingInputMode": "File"},
            HyperParameters={"sagemaker_program": "train.py", "sagemaker_submit_directory": "s3://jobs/missing.tar.gz"},
            InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": "s3://jobs/data"}}}],
            OutputDataConfig={"S3OutputPath": "s3://jobs/models"},
            ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
            StoppingCondition={"MaxRuntimeInSeconds": 60})
        first = sagemaker.describe_training_job(TrainingJobName="job")["TrainingJobStatus"]
        for _ in range(100):
            described = sagemaker.describe_training_job(TrainingJobName="job")
            if described["TrainingJobStatus"] != "InProgress":
                break
            time.sleep(0.05)

    if not bridged:
        assert first == "Completed"  # nothing ran, yet no error: a pipeline would register nothing real
        return
    assert first == "InProgress"
    assert described["TrainingJobStatus"] == "Failed"  # it really looked for its code, which is not there
    assert "NoSuchKey" in described["FailureReason"]


def endpoint_with_two_models(sagemaker):
    for name in ("champion", "challenger"):
        sagemaker.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
                               PrimaryContainer={"Image": "image", "ModelDataUrl": f"s3://models/{name}/model.tar.gz"})
    variant = {"VariantName": "AllTraffic", "ModelName": "champion", "InitialInstanceCount": 1,
               "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}
    sagemaker.create_endpoint_config(EndpointConfigName="one", ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName="ep", EndpointConfigName="one")
    shadow = {**variant, "VariantName": "Challenger", "ModelName": "challenger", "InitialVariantWeight": 0.5}
    sagemaker.create_endpoint_config(EndpointConfigName="shadowed", ProductionVariants=[variant],
                                     ShadowProductionVariants=[shadow])


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_an_endpoint_config_keeps_its_shadow_variants(bridged):
    with mock_aws(), moto(bridged):
        sagemaker = boto3.client("sagemaker")
        endpoint_with_two_models(sagemaker)

        described = sagemaker.describe_endpoint_config(EndpointConfigName="shadowed")
        without = sagemaker.describe_endpoint_config(EndpointConfigName="one")

    assert bool(described.get("ShadowProductionVariants")) is bridged
    assert "ShadowProductionVariants" not in without   # as AWS answers for a config without shadows


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_update_endpoint_switches_the_config_and_tells_the_listener(bridged):
    heard = []
    with mock_aws(), (moto_gaps.bridged(endpoint_listener=lambda *change: heard.append(change)) if bridged
                      else nullcontext()):
        sagemaker = boto3.client("sagemaker")
        endpoint_with_two_models(sagemaker)
        try:
            sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="shadowed")
        except NotImplementedError as error:  # in process; moto's server answers 500
            outcome = str(error)
        else:
            outcome = sagemaker.describe_endpoint(EndpointName="ep")["EndpointConfigName"]

    if not bridged:
        assert "update_endpoint action has not been implemented" in outcome
        return
    assert outcome == "shadowed"
    assert [name for name, _ in heard] == ["ep", "ep"]  # created, then updated
    change = heard[-1][1]
    assert [v["VariantName"] for v in change["shadow"]] == ["Challenger"]
    assert change["containers"]["challenger"]["ModelDataUrl"] == "s3://models/challenger/model.tar.gz"


def wait_in_service(sagemaker, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sagemaker.describe_endpoint(EndpointName="ep")
        if described["EndpointStatus"] == "InService":
            return described
        time.sleep(0.05)
    raise AssertionError("the endpoint stayed Updating")


def canary(alarm: str, wait_seconds: int = 1) -> dict:
    return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
                "Type": "CANARY", "WaitIntervalInSeconds": wait_seconds,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 25}}},
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]}}


@pytest.mark.parametrize("errors, outcome", [(0, "promoted"), (3, "rolled back")])
def test_a_guarded_update_serves_a_canary_then_moves_all_traffic_or_rolls_back_on_an_alarm(errors, outcome):
    heard = []
    with mock_aws(), moto_gaps.bridged(endpoint_listener=lambda *change: heard.append(change)):
        sagemaker, cloudwatch = boto3.client("sagemaker"), boto3.client("cloudwatch")
        endpoint_with_two_models(sagemaker)
        sagemaker.create_endpoint_config(EndpointConfigName="promoted", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": "challenger", "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}])
        dimensions = [{"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": "AllTraffic"}]
        cloudwatch.put_metric_alarm(AlarmName="ep-5xx", Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors",
                                    Dimensions=dimensions, Statistic="Sum", Period=60, EvaluationPeriods=1,
                                    Threshold=0.0, ComparisonOperator="GreaterThanThreshold",
                                    TreatMissingData="notBreaching")

        sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="promoted", DeploymentConfig=canary("ep-5xx"))
        during = sagemaker.describe_endpoint(EndpointName="ep")
        if errors:
            cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=[
                {"MetricName": "Invocation5XXErrors", "Dimensions": dimensions, "Value": 1.0} for _ in range(errors)])
        after = wait_in_service(sagemaker)
        alarm = cloudwatch.describe_alarms(AlarmNames=["ep-5xx"])["MetricAlarms"][0]

    assert (during["EndpointStatus"], during["EndpointConfigName"]) == ("Updating", "one")
    canary_step = heard[1][1]["production"]
    assert [(v["ModelName"], v["InitialVariantWeight"]) for v in canary_step] == [("champion", 0.75), ("challenger", 0.25)]
    assert {v["VariantName"] for v in canary_step} == {"AllTraffic"}   # blue and green under one variant name
    if outcome == "promoted":
        assert after["EndpointConfigName"] == "promoted" and alarm["StateValue"] == "OK"
        assert [v["ModelName"] for v in heard[-1][1]["production"]] == ["challenger"]
    else:
        assert after["EndpointConfigName"] == "one" and alarm["StateValue"] == "ALARM"
        assert "alarm ep-5xx fired (Sum of 3 values" in after["FailureReason"]
        assert [v["ModelName"] for v in heard[-1][1]["production"]] == ["champion"]


def test_a_canary_share_follows_the_traffic_routing_type():
    assert moto_gaps.canary_share({"Type": "ALL_AT_ONCE"}) == 1.0
    assert moto_gaps.canary_share({"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}}) == 0.1
    assert moto_gaps.canary_share({"Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 30}}) == 0.3


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_approving_a_model_package_tells_eventbridge_and_keeps_its_properties(bridged):
    with mock_aws(), moto(bridged):
        sqs, events, sagemaker = boto3.client("sqs"), boto3.client("events"), boto3.client("sagemaker")
        queue = sqs.create_queue(QueueName="approvals")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="approved", EventPattern=json.dumps({
            "source": ["aws.sagemaker"], "detail-type": [moto_gaps.MODEL_PACKAGE_STATE_CHANGE],
            "detail": {"ModelApprovalStatus": ["Approved"]}}))
        events.put_targets(Rule="approved", Targets=[{"Id": "queue", "Arn": arn}])
        sagemaker.create_model_package_group(ModelPackageGroupName="group")
        package = sagemaker.create_model_package(
            ModelPackageGroupName="group", ModelApprovalStatus="PendingManualApproval",
            CustomerMetadataProperties={"dataset_uri": "s3://bucket/datasets/run"},
            InferenceSpecification={"Containers": [{"Image": "image", "ModelDataUrl": "s3://models/c/model.tar.gz"}],
                                    "SupportedContentTypes": ["image/png"], "SupportedResponseMIMETypes": ["application/json"]}
        )["ModelPackageArn"]

        sagemaker.update_model_package(ModelPackageArn=package, ModelApprovalStatus="Approved")
        described = sagemaker.describe_model_package(ModelPackageName=package)
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])

    if not bridged:
        assert messages == [] and "CustomerMetadataProperties" not in described
        return
    [message] = messages
    detail = json.loads(message["Body"])["detail"]
    assert (detail["ModelPackageArn"], detail["ModelApprovalStatus"]) == (package, "Approved")
    assert described["CustomerMetadataProperties"] == {"dataset_uri": "s3://bucket/datasets/run"}


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_an_alarm_created_by_cloudformation_exists_and_its_ref_is_its_name(bridged):
    alarm = {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmName": "ep-5xx", "Namespace": "AWS/SageMaker", "MetricName": "Invocation5XXErrors", "Statistic": "Sum",
        "Period": 60, "EvaluationPeriods": 1, "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold",
        "Dimensions": [{"Name": "EndpointName", "Value": "ep"}]}}
    with mock_aws(), moto(bridged):
        cloudformation = boto3.client("cloudformation")
        cloudformation.create_stack(StackName="alarms", TemplateBody=template(
            {"Alarm": alarm}, {"AlarmName": {"Value": {"Ref": "Alarm"}}}))
        alarms = boto3.client("cloudwatch").describe_alarms()["MetricAlarms"]
        outputs = outputs_of(cloudformation, "alarms")

    if not bridged:
        assert alarms == []
        return
    assert [(a["AlarmName"], a["MetricName"], a["Threshold"]) for a in alarms] == [("ep-5xx", "Invocation5XXErrors", 0.0)]
    assert outputs["AlarmName"] == "ep-5xx"


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_an_sdk_task_whose_answer_has_timestamps_can_be_described(bridged):
    definition = json.dumps({"StartAt": "List", "States": {"List": {
        "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:listBuckets", "Parameters": {}, "End": True}}})
    with mock_aws(config=MOTO_CONFIG), moto(bridged):
        boto3.client("s3").create_bucket(Bucket="with-a-creation-date")
        stepfunctions = boto3.client("stepfunctions")
        arn = stepfunctions.create_state_machine(name="sdk", definition=definition,
                                                 roleArn="arn:aws:iam::123456789012:role/states")["stateMachineArn"]
        execution = stepfunctions.start_execution(stateMachineArn=arn, name="one", input="{}")["executionArn"]
        deadline = time.monotonic() + 10
        while True:
            try:
                described = stepfunctions.describe_execution(executionArn=execution)
            except TypeError as error:   # in process: moto's own serialisation fails
                described = {"status": "unreadable", "error": str(error)}
            if described["status"] != "RUNNING" or time.monotonic() > deadline:
                break
            time.sleep(0.05)

    if not bridged:
        assert "not JSON serializable" in described["error"]
        return
    [bucket] = json.loads(described["output"])["Buckets"]
    assert bucket["Name"] == "with-a-creation-date" and isinstance(bucket["CreationDate"], str)
