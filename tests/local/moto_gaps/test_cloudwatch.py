"""local/moto_gaps/cloudwatch.py: the metrics and logs AWS publishes for the stack's resources (and that
Powertools prints), and the CloudWatch queries that read them; each gap still in moto, and bridged.

A plain-moto test failing after a moto upgrade means moto fixed that gap: remove its bridge.
"""
import copy
import io
import json
import time
import zipfile

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local import moto_gaps
from local.aws import MOTO_CONFIG
from tests.local.moto_gaps import BRIDGED, IDS, STATE_MACHINE, finished, moto, template


def publish_sent_to_person(value: int, single: bool) -> None:
    """As a handler publishes with Powertools Metrics: flushed at the end of an invocation (what
    Metrics.log_metrics does, by the provider Metrics delegates to) or as a single metric."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    if single:
        with single_metric(name="SentToPerson", unit=MetricUnit.Count, value=value, namespace="vehicle-routing/test",
                           default_dimensions={"EndpointName": "ep"}):
            return
    provider = AmazonCloudWatchEMFProvider(namespace="vehicle-routing/test", service="")
    provider.add_dimension("EndpointName", "ep")
    provider.add_metric(name="SentToPerson", unit=MetricUnit.Count, value=value)
    provider.flush_metrics()


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_an_embedded_metric_format_line_powertools_prints_becomes_metric_values(bridged, capsys):
    with mock_aws(), moto(bridged):
        publish_sent_to_person(1, single=False)
        publish_sent_to_person(0, single=True)
        printed = capsys.readouterr().out.splitlines()
        logs = boto3.client("logs")   # what Lambda does with the lines in the cloud: log events
        logs.create_log_group(logGroupName="/aws/lambda/filter")
        logs.create_log_stream(logGroupName="/aws/lambda/filter", logStreamName="s")
        logs.put_log_events(logGroupName="/aws/lambda/filter", logStreamName="s", logEvents=[
            {"timestamp": int(time.time() * 1000), "message": line} for line in printed])
        statistics = boto3.client("cloudwatch").get_metric_statistics(
            Namespace="vehicle-routing/test", MetricName="SentToPerson", Dimensions=[{"Name": "EndpointName", "Value": "ep"}],
            StartTime=time.time() - 600, EndTime=time.time() + 600, Period=60, Statistics=["SampleCount", "Sum"])

    # moto's Logs extract nothing from the EMF log events; the bridge puts the printed values in.
    assert [json.loads(line)["SentToPerson"] for line in printed] == [[1.0], [0.0]]
    assert ([(point["SampleCount"], point["Sum"]) for point in statistics["Datapoints"]] == ([(2.0, 1.0)] if bridged else []))


def test_a_quiet_run_keeps_the_metric_values_but_prints_no_embedded_metric_format_line(capsys):
    from local.product import quiet_expected_noise

    with mock_aws(), moto_gaps.bridged(), quiet_expected_noise():
        publish_sent_to_person(1, single=False)
        metrics = boto3.client("cloudwatch").list_metrics(Namespace="vehicle-routing/test")["Metrics"]

    assert capsys.readouterr().out == ""
    assert [(m["MetricName"], m["Dimensions"]) for m in metrics] == [("SentToPerson", [{"Name": "EndpointName", "Value": "ep"}])]




def metric_names(namespace: str) -> set:
    return {metric["MetricName"] for metric in boto3.client("cloudwatch").list_metrics(Namespace=namespace)["Metrics"]}


LOG_GROUP = "/aws/vendedlogs/states/failing"
FAILING = json.dumps({"StartAt": "Report Image Not Found", "States": {
    "Report Image Not Found": {"Type": "Fail", "Error": "ImageNotFound", "Cause": "no such photo"}}})


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_a_state_machine_created_by_cloudformation_keeps_its_logging_configuration(bridged):
    machine = copy.deepcopy(STATE_MACHINE)
    machine["Properties"]["LoggingConfiguration"] = {"Level": "ERROR", "IncludeExecutionData": True, "Destinations": [
        {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": ["Logs", "Arn"]}}}]}
    with mock_aws(config=MOTO_CONFIG), moto(bridged):
        boto3.client("cloudformation").create_stack(StackName="logged", TemplateBody=template({
            "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": LOG_GROUP}}, "Machine": machine}))
        stepfunctions = boto3.client("stepfunctions")
        [listed] = stepfunctions.list_state_machines()["stateMachines"] if bridged else [None]
        if not bridged:  # (plain moto serves another backend than the one its CloudFormation fills)
            from moto.stepfunctions.models import stepfunctions_backends
            [created] = stepfunctions_backends["123456789012"]["us-east-1"].state_machines
            configuration = created.loggingConfiguration
        else:
            configuration = stepfunctions.describe_state_machine(
                stateMachineArn=listed["stateMachineArn"])["loggingConfiguration"]

    if bridged:
        assert configuration["level"] == "ERROR"
        assert configuration["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"].endswith(f"log-group:{LOG_GROUP}")
    else:
        assert configuration == {"level": "OFF"}


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_an_execution_publishes_its_metrics_and_logs_how_it_failed(bridged):
    with mock_aws(config=MOTO_CONFIG), moto(bridged):
        logs, stepfunctions = boto3.client("logs"), boto3.client("stepfunctions")
        logs.create_log_group(logGroupName=LOG_GROUP)
        group_arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{LOG_GROUP}:*"
        arn = stepfunctions.create_state_machine(
            name="failing", definition=FAILING, roleArn="arn:aws:iam::123456789012:role/states",
            loggingConfiguration={"level": "ERROR", "includeExecutionData": True,
                                  "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": group_arn}}]})["stateMachineArn"]

        finished(stepfunctions, stepfunctions.start_execution(stateMachineArn=arn, input="{}")["executionArn"])
        published = metric_names("AWS/States")
        events = logs.filter_log_events(logGroupName=LOG_GROUP)["events"]

    if not bridged:
        assert (published, events) == (set(), [])
        return
    assert published == {"ExecutionsStarted", "ExecutionsFailed", "ExecutionTime"}
    [event] = [json.loads(event["message"]) for event in events]
    assert (event["type"], event["details"]["error"], event["details"]["cause"]) == (
        "ExecutionFailed", "ImageNotFound", "no such photo")


BY_ERROR = {"MetricName": "FailedByError", "MetricNamespace": "service/stage", "MetricValue": "1", "Unit": "Count",
            "Dimensions": [{"Key": "Error", "Value": "$.details.error"}]}


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_a_metric_filter_created_by_cloudformation_exists(bridged):
    with mock_aws(), moto(bridged):
        boto3.client("cloudformation").create_stack(StackName="filtered", TemplateBody=template({
            "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": LOG_GROUP}},
            "ByError": {"Type": "AWS::Logs::MetricFilter", "Properties": {
                "LogGroupName": {"Ref": "Logs"}, "FilterPattern": '{ $.type = "ExecutionFailed" }',
                "MetricTransformations": [BY_ERROR]}}}))

        filters = boto3.client("logs").describe_metric_filters(logGroupName=LOG_GROUP)["metricFilters"]

    assert [metric_filter["metricTransformations"][0]["metricName"] for metric_filter in filters] == (
        ["FailedByError"] if bridged else [])


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_a_metric_filter_turns_matching_log_events_into_metric_values(bridged):
    with mock_aws(), moto(bridged):
        logs = boto3.client("logs")
        logs.create_log_group(logGroupName=LOG_GROUP)
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName="states")
        logs.put_metric_filter(logGroupName=LOG_GROUP, filterName="by-error", filterPattern='{ $.type = "ExecutionFailed" }',
                               metricTransformations=[{"metricName": "FailedByError", "metricNamespace": "service/stage",
                                                       "metricValue": "1", "dimensions": {"Error": "$.details.error"}}])
        now = int(time.time() * 1000)
        logs.put_log_events(logGroupName=LOG_GROUP, logStreamName="states", logEvents=[
            {"timestamp": now, "message": json.dumps({"type": "ExecutionFailed", "details": {"error": "ImageNotFound"}})},
            {"timestamp": now, "message": json.dumps({"type": "TaskFailed", "details": {"error": "States.Timeout"}})},
            {"timestamp": now, "message": json.dumps({"type": "ExecutionFailed", "details": {"error": "ImageNotFound"}})}])

        metrics = boto3.client("cloudwatch").list_metrics(Namespace="service/stage")["Metrics"]
        from moto.cloudwatch.models import cloudwatch_backends
        values = [datum.value for datum in cloudwatch_backends["123456789012"]["us-east-1"].metric_data]

    if not bridged:
        assert metrics == []
        return
    assert [(metric["MetricName"], metric["Dimensions"]) for metric in metrics] == [
        ("FailedByError", [{"Name": "Error", "Value": "ImageNotFound"}])]
    assert values == [1.0, 1.0]


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_an_invocation_publishes_lambda_metrics(bridged, monkeypatch):
    from moto.awslambda.models import LambdaFunction
    # Whatever runs the code (Docker in moto, the handlers in process in the stand-in): here, an error.
    monkeypatch.setattr(LambdaFunction, "_invoke_lambda", lambda function, event=None: ('{"errorType": "Boom"}', True, ""))
    with mock_aws(), moto(bridged):
        role = boto3.client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        content = io.BytesIO()
        with zipfile.ZipFile(content, "w") as archive:
            archive.writestr("handler.py", "def handler(event, context):\n    raise RuntimeError()\n")
        awslambda = boto3.client("lambda")
        awslambda.create_function(FunctionName="monitor", Runtime="python3.11", Role=role, Handler="handler.handler",
                                  Code={"ZipFile": content.getvalue()})

        awslambda.invoke(FunctionName="monitor", Payload=b"{}")
        metrics = boto3.client("cloudwatch").list_metrics(Namespace="AWS/Lambda")["Metrics"]
        from moto.cloudwatch.models import cloudwatch_backends
        errors = [datum.value for datum in cloudwatch_backends["123456789012"]["us-east-1"].metric_data
                  if datum.name == "Errors"]

    if not bridged:
        assert metrics == []
        return
    assert {(metric["MetricName"], metric["Dimensions"][0]["Value"]) for metric in metrics} == {
        ("Invocations", "monitor"), ("Errors", "monitor"), ("Duration", "monitor")}
    assert errors == [1.0]


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_a_queue_publishes_its_depth_and_the_age_of_its_oldest_message(bridged):
    with mock_aws(), moto(bridged):
        sqs = boto3.client("sqs")
        queue = sqs.create_queue(QueueName="reviews")["QueueUrl"]
        sqs.send_message(QueueUrl=queue, MessageBody="a driver")
        sqs.send_message(QueueUrl=queue, MessageBody="another driver")
        sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1)
        if bridged:
            moto_gaps.sample_queue_metrics()   # what the sampler thread does every few seconds

        from moto.cloudwatch.models import cloudwatch_backends
        sampled = {datum.name: datum.value for datum in cloudwatch_backends["123456789012"]["us-east-1"].metric_data
                   if datum.namespace == "AWS/SQS"}

    if not bridged:
        assert sampled == {}
        return
    assert sampled["ApproximateNumberOfMessagesVisible"] == 1 and sampled["ApproximateNumberOfMessagesNotVisible"] == 1
    assert 0 <= sampled["ApproximateAgeOfOldestMessage"] < 60


def latency_query(stat: str) -> dict:
    return {"Id": "latency", "MetricStat": {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": "ModelLatency",
                                                       "Dimensions": [{"Name": "EndpointName", "Value": "ep"}]},
                                            "Period": 60, "Stat": stat}}


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_get_metric_data_answers_a_percentile(bridged):
    from datetime import datetime, timedelta, timezone
    now = datetime.now(timezone.utc)
    with mock_aws(), moto(bridged):
        cloudwatch = boto3.client("cloudwatch")
        cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=[
            {"MetricName": "ModelLatency", "Dimensions": [{"Name": "EndpointName", "Value": "ep"}], "Value": float(value),
             "Timestamp": now} for value in range(1, 101)])
        if not bridged:
            with pytest.raises((ClientError, TypeError)):   # moto's answer of None cannot be serialised
                cloudwatch.get_metric_data(MetricDataQueries=[latency_query("p99")], StartTime=now - timedelta(minutes=1),
                                           EndTime=now + timedelta(minutes=1))
            return
        [result] = cloudwatch.get_metric_data(MetricDataQueries=[latency_query("p99")], StartTime=now - timedelta(minutes=1),
                                              EndTime=now + timedelta(minutes=1))["MetricDataResults"]

    assert result["Values"] == [99.0]


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_get_metric_data_answers_search_expressions_and_metric_math(bridged):
    from datetime import datetime, timedelta, timezone
    now = datetime.now(timezone.utc)
    search = ("SEARCH('{AWS/SageMaker,EndpointName,VariantName} EndpointName=\"ep\" MetricName=\"Invocations\"', "
              "'Sum', 60)")
    with mock_aws(), moto(bridged):
        cloudwatch = boto3.client("cloudwatch")
        for variant, count in (("AllTraffic", 3), ("Challenger", 1)):
            cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=[
                {"MetricName": "Invocations", "Value": 1.0, "Timestamp": now, "Dimensions": [
                    {"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": variant}]}] * count)
        production = {"Id": "production", "ReturnData": False, "MetricStat": {"Metric": {
            "Namespace": "AWS/SageMaker", "MetricName": "Invocations", "Dimensions": [
                {"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": "AllTraffic"}]},
            "Period": 60, "Stat": "Sum"}}
        results = cloudwatch.get_metric_data(StartTime=now - timedelta(minutes=1), EndTime=now + timedelta(minutes=1),
                                             MetricDataQueries=[{"Id": "variants", "Expression": search}, production,
                                                                {"Id": "share", "Expression": "100 * production / 4"}],
                                             ScanBy="TimestampAscending")["MetricDataResults"]

    answers = {(result["Id"], result["Label"]): result["Values"] for result in results}
    if bridged:
        assert answers == {("variants", "AllTraffic"): [3.0], ("variants", "Challenger"): [1.0], ("share", "share"): [75.0]}
    else:
        assert not any(answers.values())   # an expression is read as another query's Id


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_describe_alarms_tells_the_state_the_metric_puts_the_alarm_in(bridged):
    with mock_aws(), moto(bridged):
        cloudwatch = boto3.client("cloudwatch")
        cloudwatch.put_metric_alarm(AlarmName="violations", Namespace="data-metrics", MetricName="violation_count",
                                    Statistic="Maximum", Period=3600, EvaluationPeriods=1, Threshold=0.0,
                                    ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching")
        cloudwatch.put_metric_data(Namespace="data-metrics", MetricData=[{"MetricName": "violation_count", "Value": 7.0}])

        [alarm] = cloudwatch.describe_alarms(AlarmNames=["violations"])["MetricAlarms"]

    assert alarm["StateValue"] == ("ALARM" if bridged else "OK")


