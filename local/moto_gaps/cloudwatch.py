"""The moto gaps of CloudWatch, bridged: the metrics AWS publishes for the stack's resources (AWS/States,
AWS/Lambda, AWS/SQS), the Embedded Metric Format lines the handlers print, metric filters on the
execution log, and GetMetricData's percentiles, SEARCH and math, which the operators' dashboard
reads. local/moto_gaps/__init__.py's bridged() applies them with the rest;
tests/local/moto_gaps/test_cloudwatch.py checks each gap is still there in moto as installed.
"""
import json
import logging
import os
import re
import time
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta, timezone
from typing import Iterator, Optional
from unittest import mock

# The modules whose `print` writes Powertools Metrics' EMF documents (Metrics.flush_metrics, single_metric).
POWERTOOLS_EMF_MODULES = ("aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch",
                          "aws_lambda_powertools.metrics.base")


class EmbeddedMetricsToCloudWatch:
    """A line of a Lambda's log in CloudWatch Embedded Metric Format: AWS turns it into metric values
    (Powertools Metrics prints one per invocation that adds any: Check Confidence's SentToPerson).
    Here handlers run in this process (local/workflow.py), what they print reaches no log group, and
    moto's CloudWatch Logs never read EMF anyway. So while bridged, the `print` of Powertools' EMF
    modules is this: it puts each document's values into moto's CloudWatch, then prints the line as
    Powertools would, unless `printing` is off (local.product.quiet_expected_noise). Upstream fix:
    EMF extraction in moto's logs backend."""

    printing = True  # for the whole process: a run's console is quiet or not

    def __call__(self, text: str, *args, **kwargs) -> None:
        try:
            put_embedded_metrics(json.loads(text))
        except Exception:  # noqa: BLE001 - a log line must never fail the handler that wrote it
            logging.getLogger(__name__).exception("could not put the EMF line's values in CloudWatch: %.300s", text)
        if type(self).printing:
            print(text, *args, **kwargs)


def put_embedded_metrics(document: dict) -> None:
    """An EMF document's values, as CloudWatch Logs extracts them: each metric under each of the
    directive's dimension sets, a list of values as that many values."""
    from moto.core import DEFAULT_ACCOUNT_ID

    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    metadata = document["_aws"]
    when = datetime.fromtimestamp(metadata["Timestamp"] / 1000, timezone.utc)
    for directive in metadata["CloudWatchMetrics"]:
        for names in directive["Dimensions"]:
            dimensions = {name: str(document[name]) for name in names}
            _put_metrics(DEFAULT_ACCOUNT_ID, region, directive["Namespace"], [
                _datum(metric["Name"], value, dimensions, when, metric.get("Unit"))
                for metric in directive["Metrics"] for value in _as_list(document[metric["Name"]])])


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


# --- CloudWatch figures AWS publishes for the stack's resources, and the queries that read them -----
# The operators' dashboard (serverless.yml) reads metrics AWS publishes for its state machines,
# functions and queues, a metric filter on the execution log, and GetMetricData's SEARCH and math.
# moto publishes none of those metrics and answers neither kind of expression; the bridges below
# publish them as AWS does, so the stand-in's CloudWatch holds what the cloud's would
# (local/operations_page.py draws the dashboard from it).

def _put_metrics(account_id: str, region: str, namespace: str, data: list) -> None:
    from moto.cloudwatch.models import cloudwatch_backends
    cloudwatch_backends[account_id][region].put_metric_data(namespace, [
        {**datum, "Timestamp": moto_time(datum["Timestamp"])} for datum in data])


def moto_time(moment: datetime) -> datetime:
    """moto keeps metric times as naive UTC (its API parses them so) and compares them with naive
    start and end times: an aware one makes GetMetricData fail."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def _datum(name: str, value: float, dimensions: dict, when: datetime, unit: Optional[str] = "Count") -> dict:
    return {"MetricName": name, "Value": float(value), "Unit": unit, "Timestamp": when,
            "Dimensions": [{"Name": key, "Value": text} for key, text in dimensions.items()]}


STATES_NAMESPACE = "AWS/States"
EXECUTION_ENDINGS = {"SUCCEEDED": "ExecutionsSucceeded", "FAILED": "ExecutionsFailed",
                     "ABORTED": "ExecutionsAborted", "TIMED_OUT": "ExecutionsTimedOut"}
# Step Functions' execution log events of a level (HistoryEventType names, as the log lines say them).
EXECUTION_END_EVENTS = {"FAILED": "ExecutionFailed", "ABORTED": "ExecutionAborted", "TIMED_OUT": "ExecutionTimedOut",
                        "SUCCEEDED": "ExecutionSucceeded"}
LOGGED_AT_LEVEL = {"ALL": set(EXECUTION_END_EVENTS.values()),
                   "ERROR": {"ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"},
                   "FATAL": {"ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}, "OFF": set()}


def _execution_metrics_and_logs(start, terminated):
    """Executions: Step Functions publishes ExecutionsStarted, ExecutionsSucceeded/Failed/Aborted/
    TimedOut and ExecutionTime (ms) by StateMachineArn in AWS/States, and writes the execution's
    events at the state machine's logging level to its log group. moto publishes nothing, and its
    interpreter never opens the logging session it has (its Execution gets None). Bridged: the
    metrics, and the execution's final event as Step Functions logs it ({"type", "details": {"error",
    "cause"}, "execution_arn", "event_timestamp", ...}), the one the stack's metric filters read.
    Upstream fix: metrics from the parser's Execution, and a CloudWatchLoggingSession per execution."""
    def started(execution):
        start(execution)
        when = execution.start_date
        _put_metrics(execution.account_id, execution.region_name, STATES_NAMESPACE, [
            _datum("ExecutionsStarted", 1, {"StateMachineArn": execution.state_machine_arn}, when)])

    def ended(communication):
        terminated(communication)
        execution = communication.execution
        try:
            status = getattr(execution.exec_status, "value", execution.exec_status)
            when, arn = execution.stop_date, execution.state_machine_arn
            milliseconds = (execution.stop_date - execution.start_date).total_seconds() * 1000
            _put_metrics(execution.account_id, execution.region_name, STATES_NAMESPACE, [
                _datum(EXECUTION_ENDINGS[status], 1, {"StateMachineArn": arn}, when),
                _datum("ExecutionTime", milliseconds, {"StateMachineArn": arn}, when, "Milliseconds")])
            _log_execution_end(execution, status)
        except Exception as error:  # noqa: BLE001 - a lost metric or log line never changes how an execution ended
            logging.getLogger(__name__).warning("Execution %s: metrics or log not put: %s", execution.exec_arn, error)
    return started, ended


def _log_execution_end(execution, status: str) -> None:
    from moto.logs.models import logs_backends
    from moto.utilities.arns import parse_arn

    configuration = getattr(execution.state_machine, "loggingConfiguration", None) or {}
    event_type = EXECUTION_END_EVENTS[status]
    if event_type not in LOGGED_AT_LEVEL.get(configuration.get("level", "OFF"), set()):
        return
    for destination in configuration.get("destinations", []):
        group_arn = parse_arn(destination["cloudWatchLogsLogGroup"]["logGroupArn"])
        group = group_arn.resource_id.split("log-group:")[-1].split(":")[0]
        backend = logs_backends[group_arn.account][group_arn.region]
        stream = f"states/{execution.state_machine_arn}"
        if stream not in backend.groups[group].streams:
            backend.create_log_stream(group, stream)
        details = {"error": execution.error, "cause": execution.cause} if status != "SUCCEEDED" else {}
        line = {"id": "0", "type": event_type, "details": details, "previous_event_id": "0",
                "event_timestamp": str(int(execution.stop_date.timestamp() * 1000)),
                "execution_arn": execution.exec_arn}
        backend.put_log_events(group, stream, [{"timestamp": int(execution.stop_date.timestamp() * 1000),
                                                "message": json.dumps(line)}])


def _logging_configuration_kept(create_from_cloudformation_json, update_from_cloudformation_json):
    """AWS::StepFunctions::StateMachine's LoggingConfiguration: AWS logs executions to it. moto's
    CloudFormation drops the property (every state machine it creates logs nothing). Bridged: the
    configuration, in the API's shape. Upstream fix: pass loggingConfiguration in both methods."""
    def api_shape(properties: dict) -> dict:
        logging_properties = properties.get("LoggingConfiguration")
        if not logging_properties:
            return {"level": "OFF"}
        return {"level": logging_properties.get("Level", "OFF"),
                "includeExecutionData": logging_properties.get("IncludeExecutionData") in (True, "true"),
                "destinations": [{"cloudWatchLogsLogGroup": {
                    "logGroupArn": destination["CloudWatchLogsLogGroup"]["LogGroupArn"]}}
                    for destination in logging_properties.get("Destinations", [])]}

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        machine = create_from_cloudformation_json.__func__(cls, resource_name, cloudformation_json, account_id,
                                                           region_name, **kwargs)
        machine.loggingConfiguration = api_shape(cloudformation_json.get("Properties", {}))
        return machine

    def update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        machine = update_from_cloudformation_json.__func__(cls, original_resource, new_resource_name,
                                                           cloudformation_json, account_id, region_name)
        machine.loggingConfiguration = api_shape(cloudformation_json.get("Properties", {}))
        return machine
    return classmethod(create), classmethod(update)


class _MetricFilterResource:
    """AWS::Logs::MetricFilter: AWS creates the filter. moto's CloudFormation skips the type ("No Moto
    CloudFormation support"). Bridged: PutMetricFilter with the resource's properties (its name the
    logical id's, as CloudFormation names it). Upstream fix: a MetricFilter CloudFormationModel."""

    def __init__(self, name: str, log_group: str):
        self.name, self.log_group = name, log_group

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.logs.models import logs_backends
        properties = cloudformation_json["Properties"]
        name = properties.get("FilterName") or resource_name
        transformations = [{"metricName": item["MetricName"], "metricNamespace": item["MetricNamespace"],
                            "metricValue": item["MetricValue"], "defaultValue": item.get("DefaultValue"),
                            "unit": item.get("Unit"), "dimensions": {entry["Key"]: entry["Value"]
                                                                      for entry in item.get("Dimensions", [])}}
                           for item in properties["MetricTransformations"]]
        logs_backends[account_id][region_name].put_metric_filter(name, properties.get("FilterPattern", ""),
                                                                 properties["LogGroupName"], transformations)
        return cls(name, properties["LogGroupName"])

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id,
                                        region_name):
        cls.delete_from_cloudformation_json(original_resource.name, {"Properties": {
            "LogGroupName": original_resource.log_group}}, account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        from moto.logs.models import logs_backends
        properties = cloudformation_json.get("Properties", {})
        logs_backends[account_id][region_name].delete_metric_filter(properties.get("FilterName") or resource_name,
                                                                    properties.get("LogGroupName"))


def _metric_filters_applied(put_log_events):
    """PutLogEvents into a group with metric filters: CloudWatch Logs turns each matching event into
    a metric value (MetricValue, or the JSON field it names, with the dimensions' JSON fields), and
    puts DefaultValue for an event that does not match. moto stores filters and applies none.
    Bridged for JSON filter patterns (local/log_filters.py); a pattern it cannot read is skipped
    with a warning. Upstream fix: metric filter evaluation in LogsBackend.put_log_events."""
    def put(backend, log_group_name, log_stream_name, log_events):
        from local import log_filters
        result = put_log_events(backend, log_group_name, log_stream_name, log_events)
        for metric_filter in backend.filters.get_matching_filters(log_group_name=log_group_name):
            try:
                matcher = log_filters.compile_pattern(metric_filter["filterPattern"])
            except log_filters.FilterPatternError as error:
                logging.getLogger(__name__).warning("Metric filter %s not applied: %s", metric_filter["filterName"], error)
                continue
            for event in log_events:
                when = datetime.fromtimestamp(event["timestamp"] / 1000, timezone.utc)
                for transformation in metric_filter["metricTransformations"]:
                    datum = log_filters.metric_value(matcher, transformation, event["message"])
                    if datum is not None:
                        value, dimensions = datum
                        _put_metrics(backend.account_id, backend.region_name, transformation["metricNamespace"], [
                            _datum(transformation["metricName"], value, dimensions, when,
                                   transformation.get("unit") or "None")])
        return result
    return put


LAMBDA_NAMESPACE = "AWS/Lambda"


def _function_metrics(invoke):
    """An invocation: Lambda publishes Invocations, Errors (a function error) and Duration (ms) by
    FunctionName in AWS/Lambda. moto publishes none. Upstream fix: metrics from LambdaFunction.invoke."""
    def invoked(function, body, request_headers, response_headers):
        started = time.perf_counter()
        try:
            return invoke(function, body, request_headers, response_headers)
        finally:
            errored = response_headers.get("x-amz-function-error") is not None
            when, dimensions = datetime.now(timezone.utc), {"FunctionName": function.function_name}
            _put_metrics(function.account_id, function.region, LAMBDA_NAMESPACE, [
                _datum("Invocations", 1, dimensions, when), _datum("Errors", int(errored), dimensions, when),
                _datum("Duration", (time.perf_counter() - started) * 1000, dimensions, when, "Milliseconds")])
    return invoked


SQS_NAMESPACE = "AWS/SQS"
# SQS samples its queues once a minute; the stand-in more often, for runs of a few minutes.
QUEUE_SAMPLE_SECONDS = 5.0


def sample_queue_metrics() -> None:
    """One sample of every queue, as SQS publishes them by QueueName in AWS/SQS:
    ApproximateNumberOfMessagesVisible, ApproximateNumberOfMessagesNotVisible and
    ApproximateAgeOfOldestMessage (seconds)."""
    from moto.sqs.models import sqs_backends

    now = datetime.now(timezone.utc)
    for account_id, regions in list(sqs_backends.items()):
        for region, backend in list(regions.items()):
            for queue in list(backend.queues.values()):
                messages = list(queue._messages)
                oldest = min((message.sent_timestamp for message in messages if message.sent_timestamp), default=None)
                dimensions = {"QueueName": queue.name}
                data = [_datum("ApproximateNumberOfMessagesVisible", queue.approximate_number_of_messages, dimensions, now),
                        _datum("ApproximateNumberOfMessagesNotVisible",
                               queue.approximate_number_of_messages_not_visible, dimensions, now)]
                if oldest is not None:
                    data.append(_datum("ApproximateAgeOfOldestMessage", now.timestamp() - oldest / 1000, dimensions,
                                       now, "Seconds"))
                _put_metrics(account_id, region, SQS_NAMESPACE, data)


@contextmanager
def _queue_metrics_sampled(interval: float = QUEUE_SAMPLE_SECONDS) -> Iterator[None]:
    """Queues: SQS publishes their depth and the age of their oldest message every minute. moto
    publishes nothing. Bridged: a sampler thread while the bridges are on, and a last sample on the
    way out. Upstream fix: a CloudWatchMetricProvider for SQS that keeps a history."""
    import threading

    stop = threading.Event()

    def run() -> None:
        while not stop.wait(interval):
            try:
                sample_queue_metrics()
            except Exception as error:  # noqa: BLE001 - a sample lost is a gap in a graph, never a failure
                logging.getLogger(__name__).debug("Queue metrics not sampled: %s", error)

    sampler = threading.Thread(target=run, name="queue-metrics", daemon=True)
    sampler.start()
    try:
        yield
    finally:
        stop.set()
        sampler.join(interval + 5)


def _percentiles_computed(get_statistics_for_type):
    """A percentile statistic (p99, p95.5, ...) in GetMetricData: CloudWatch computes it. moto's
    Statistics knows Sum, Average, Minimum, Maximum and SampleCount only, and answers None.
    Bridged with the nearest-rank percentile of the values (local/alarm_evaluation.py). Upstream fix:
    percentiles in Statistics.get_statistics_for_type."""
    def statistic(statistics, stat):
        from local import alarm_evaluation
        if PERCENTILE.fullmatch(stat or "") and statistics.metric_single_values_list:
            return alarm_evaluation.statistic(statistics.metric_single_values_list, stat)
        return get_statistics_for_type(statistics, stat)
    return statistic


PERCENTILE = re.compile(r"p\d+(\.\d+)?")


def _expressions_answered(get_metric_data):
    """GetMetricData with SEARCH expressions and metric math: CloudWatch answers a SEARCH with one
    result per metric it finds (each labelled, under the expression's Id), and computes the math
    over the other queries' results. moto treats an expression as the Id of another query. Bridged
    for what local/metric_queries.py understands. Upstream fix: both in CloudWatchBackend."""
    def answer(backend, queries, start_time, end_time, scan_by="TimestampAscending"):
        from local import metric_queries

        for datum in backend.metric_data:  # values put with an aware time (moto keeps them as given)
            if isinstance(datum.timestamp, datetime) and datum.timestamp.tzinfo:
                datum.timestamp = moto_time(datum.timestamp)
        stats = [dict(query, ReturnData=True) for query in queries if "MetricStat" in query]
        found = {}   # SEARCH id -> [(hidden id, label)]
        known = {(datum.namespace, datum.name, tuple(sorted((d.name, d.value) for d in datum.dimensions)))
                 for datum in backend.get_all_metrics()}
        for query in queries:
            if "Expression" in query and metric_queries.is_search(query["Expression"]):
                search = metric_queries.parse_search(query["Expression"])
                found[query["Id"]] = []
                for number, (namespace, name, dimensions) in enumerate(sorted(known)):
                    if search.matches(namespace, name, dict(dimensions)):
                        hidden = f"{query['Id']}__{number}"
                        found[query["Id"]].append((hidden, search.label_of(name, dict(dimensions))))
                        stats.append({"Id": hidden, "ReturnData": True, "MetricStat": {
                            "Metric": {"Namespace": namespace, "MetricName": name,
                                       "Dimensions": [{"Name": key, "Value": value} for key, value in dimensions]},
                            "Period": int(query.get("Period") or search.period or metric_queries.DEFAULT_PERIOD),
                            "Stat": search.stat}})
        answered = get_metric_data(backend, stats, start_time, end_time, "TimestampAscending") if stats else []
        series = {result["id"]: dict(zip(result["timestamps"], result["values"])) for result in answered}
        labels = {result["id"]: result["label"] for result in answered}
        periods = [int(query["MetricStat"]["Period"]) for query in stats] or [metric_queries.DEFAULT_PERIOD]
        grid = metric_queries.grid_of(start_time.replace(microsecond=0), end_time.replace(microsecond=0), min(periods))
        results = []
        for query in queries:
            if "Expression" in query and not metric_queries.is_search(query["Expression"]):
                series[query["Id"]] = metric_queries.evaluate(query["Expression"], series, grid)
            if query.get("ReturnData", True) in (False, "false"):
                continue
            parts = found.get(query["Id"], [(query["Id"], query.get("Label") or labels.get(query["Id"], query["Id"]))])
            for part_id, label in parts:
                points = sorted(series.get(part_id, {}).items(), reverse=scan_by == "TimestampDescending")
                results.append({"id": query["Id"], "label": label, "timestamps": [moment for moment, _ in points],
                                "values": [value for _, value in points], "status_code": "Complete"})
        return results
    return answer


def _alarms_evaluated_when_described(describe_alarms):
    """DescribeAlarms: CloudWatch evaluates each metric alarm every period, so the state it describes
    is current. moto never evaluates one (its state stays as it was put). Bridged: each single-metric
    alarm is evaluated over its last EvaluationPeriods x Period up to now (local/alarm_evaluation.py)
    before the alarms are described. Upstream fix: alarm evaluation in moto's CloudWatch."""
    def describe(response):
        from local import alarm_evaluation
        backend, now = response.cloudwatch_backend, datetime.now(timezone.utc)
        for alarm in list(backend.alarms.values()):
            if alarm.metric_data_queries or not alarm.metric_name:
                continue
            window = timedelta(seconds=int(alarm.period) * int(alarm.evaluation_periods))
            state, reason = alarm_evaluation.evaluate(alarm, backend.metric_data, now - window, now)
            if (state, reason) != (alarm.state_value, alarm.state_reason):
                alarm.update_state(reason, '{"evaluatedBy": "stand-in"}', state)
        return describe_alarms(response)
    return describe




def bridge_cloudwatch_figures(stack: ExitStack) -> None:
    """The bridges of the metrics AWS publishes and the queries that read them (see above)."""
    from moto.awslambda import models as awslambda_models
    from moto.cloudformation import parsing
    from moto.cloudwatch import models as cloudwatch_models
    from moto.cloudwatch import responses as cloudwatch_responses
    from moto.logs import models as logs_models
    from moto.stepfunctions import models as stepfunctions_models
    from moto.stepfunctions.parser.backend import execution as parser_execution

    started, ended = _execution_metrics_and_logs(parser_execution.Execution.start,
                                                 parser_execution.BaseExecutionWorkerCommunication.terminated)
    stack.enter_context(mock.patch.object(parser_execution.Execution, "start", started))
    stack.enter_context(mock.patch.object(parser_execution.BaseExecutionWorkerCommunication, "terminated", ended))
    machine = stepfunctions_models.StateMachine
    create, update = _logging_configuration_kept(machine.create_from_cloudformation_json,
                                                 machine.update_from_cloudformation_json)
    stack.enter_context(mock.patch.object(machine, "create_from_cloudformation_json", create))
    stack.enter_context(mock.patch.object(machine, "update_from_cloudformation_json", update))
    resource_class_from_type = parsing.resource_class_from_type
    stack.enter_context(mock.patch.object(parsing, "resource_class_from_type", lambda resource_type: (
        _MetricFilterResource if resource_type == "AWS::Logs::MetricFilter" else resource_class_from_type(resource_type))))
    stack.enter_context(mock.patch.object(logs_models.LogsBackend, "put_log_events",
                                          _metric_filters_applied(logs_models.LogsBackend.put_log_events)))
    stack.enter_context(mock.patch.object(awslambda_models.LambdaFunction, "invoke",
                                          _function_metrics(awslambda_models.LambdaFunction.invoke)))
    stack.enter_context(mock.patch.object(cloudwatch_models.Statistics, "get_statistics_for_type",
                                          _percentiles_computed(cloudwatch_models.Statistics.get_statistics_for_type)))
    stack.enter_context(mock.patch.object(cloudwatch_models.CloudWatchBackend, "get_metric_data",
                                          _expressions_answered(cloudwatch_models.CloudWatchBackend.get_metric_data)))
    response = cloudwatch_responses.CloudWatchResponse
    stack.enter_context(mock.patch.object(response, "describe_alarms",
                                          _alarms_evaluated_when_described(response.describe_alarms)))
    stack.enter_context(_queue_metrics_sampled())
