"""The operators' dashboard as `sls package` builds it: every metric a widget shows is one this stack
emits or one AWS publishes for a resource of this stack, under the dimensions it is published with.

A widget that reads a metric nobody publishes draws an empty graph that looks like quiet traffic;
these tests make that a failure. What the stack emits is collected from the code: the EMF document
Check Confidence prints (run as the deployed function runs), the template's metric filters, and the
monitor's metric names.
"""
import copy
import json
import os
import re
import subprocess
import sys

import pytest

import settings
from local import metric_queries
from monitoring import checks, monitor
from monitoring.features import feature_names

ROOT = settings.PROJECT_ROOT
DASHBOARD = "OperationsDashboard"
PSEUDO_PARAMETERS = {"AWS::Region": "us-east-1", "AWS::Partition": "aws", "AWS::AccountId": "123456789012",
                     "AWS::StackName": "vehicle-routing-test"}
REFERENCE = "resource:"   # what ${LogicalId} / ${LogicalId.Attribute} becomes in the parsed body
ANY = None                # a dimension value any metric of the stack may have (a variant, an error name)

# What AWS publishes per resource type: the namespace's dimension names, the attribute of the
# resource the first dimension holds (None: its Ref), and the metric names (AWS's documentation).
AWS_PUBLISHED = {
    "AWS/States": {"dimensions": ("StateMachineArn",), "resource": ("AWS::StepFunctions::StateMachine", None),
                   "names": {"ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsAborted",
                             "ExecutionsTimedOut", "ExecutionThrottled", "ExecutionTime", "ExecutionsRedriven"}},
    "AWS/SQS": {"dimensions": ("QueueName",), "resource": ("AWS::SQS::Queue", "QueueName"),
                "names": {"ApproximateAgeOfOldestMessage", "ApproximateNumberOfMessagesDelayed",
                          "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesVisible",
                          "NumberOfEmptyReceives", "NumberOfMessagesDeleted", "NumberOfMessagesReceived",
                          "NumberOfMessagesSent", "SentMessageSize"}},
    "AWS/Lambda": {"dimensions": ("FunctionName",), "resource": ("AWS::Lambda::Function", None),
                   "names": {"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions",
                             "DeadLetterErrors", "AsyncEventsReceived", "AsyncEventAge", "AsyncEventsDropped"}},
    # The endpoint is the launcher's, not the stack's: its name is the endpointName parameter.
    "AWS/SageMaker": {"dimensions": ("EndpointName", "VariantName"), "resource": None,
                      "names": {"Invocations", "Invocation4XXErrors", "Invocation5XXErrors", "InvocationModelErrors",
                                "ModelLatency", "OverheadLatency", "InvocationsPerInstance", "ModelSetupTime"}},
}


@pytest.fixture(scope="module")
def template(packaged_service) -> dict:
    return json.loads((packaged_service / "cloudformation-template-update-stack.json").read_text())


def parsed_body(template: dict) -> dict:
    """The dashboard body as CloudFormation would substitute it, each ${LogicalId[.Attribute]} as
    "resource:LogicalId[.Attribute]" (a name the stack gives it at deployment)."""
    body = template["Resources"][DASHBOARD]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(body, str), "the body is one Fn::Sub string (no variable map)"

    def substitute(match) -> str:
        name = match[1]
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        assert name.split(".")[0] in template["Resources"], f"${{{name}}} names no resource of the stack"
        return REFERENCE + name
    return json.loads(re.sub(r"\$\{([^!}][^}]*)\}", substitute, body))


@pytest.fixture(scope="module")
def body(template) -> dict:
    return parsed_body(template)


def environment_of(template: dict, function: str) -> dict:
    return template["Resources"][function]["Properties"]["Environment"]["Variables"]


CHECK_CONFIDENCE_RUN = """
import json, sys, types
from handlers import filter_confidence
context = types.SimpleNamespace(function_name="filterConfidence", function_version="$LATEST", memory_limit_in_mb=256,
                                invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:filterConfidence",
                                aws_request_id="request-1", log_group_name="log", log_stream_name="stream")
for event in json.loads(sys.argv[1]):
    try:
        filter_confidence.handler(event, context)
    except Exception:
        pass
"""


def emitted_by_check_confidence(template: dict) -> list:
    """(namespace, metric name, {dimension: value}) of each EMF document Check Confidence prints for
    a driver it routes and one it sends to a person, run with the deployed function's environment."""
    variables = {name: value for name, value in environment_of(template, "FilterConfidenceLambdaFunction").items()
                 if isinstance(value, str)}
    answer = {"s3_bucket": "images", "s3_key": "drivers/photo.jpg", "label": settings.CLASS_NAMES[0],
              "usable": True, "unusable_reasons": [], "inference_id": "sequencer-etag"}
    events = [{**answer, "confidence": 0.999}, {**answer, "confidence": 0.51}]
    run = subprocess.run([sys.executable, "-c", CHECK_CONFIDENCE_RUN, json.dumps(events)], cwd=ROOT, text=True,
                         capture_output=True, timeout=120,
                         env={**os.environ, **variables, "AWS_DEFAULT_REGION": "us-east-1"})
    emitted = []
    for line in run.stdout.splitlines():
        document = json.loads(line) if line.startswith("{") else {}
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            for dimension_names in directive["Dimensions"]:
                emitted += [(directive["Namespace"], metric["Name"], {name: document[name] for name in dimension_names})
                            for metric in directive["Metrics"]]
    assert emitted, f"Check Confidence printed no EMF document:\n{run.stdout}\n{run.stderr}"
    return emitted


@pytest.fixture(scope="module")
def emitted(template) -> list:
    """Every metric this stack emits itself: (namespace, name, {dimension: value or ANY})."""
    metrics = emitted_by_check_confidence(template)
    for metric_filter in [resource["Properties"] for resource in template["Resources"].values()
                          if resource["Type"] == "AWS::Logs::MetricFilter"]:
        metrics += [(item["MetricNamespace"], item["MetricName"], {entry["Key"]: ANY for entry in item.get("Dimensions", [])})
                    for item in metric_filter["MetricTransformations"]]
    monitor_variables = environment_of(template, "MonitorModelLambdaFunction")
    dimensions = {"Endpoint": monitor_variables[settings.ENV_ENDPOINT_NAME],
                  "MonitoringSchedule": monitor_variables[settings.ENV_MONITORING_SCHEDULE]}
    names = [monitor.ITEM_COUNT_METRIC, monitor.VIOLATION_COUNT_METRIC, checks.PRECISION_METRIC,
             checks.LABEL_FREE_PRECISION_METRIC, monitor.CERTIFICATE_AUDITS_METRIC, monitor.CERTIFICATE_WRONG_METRIC,
             monitor.CERTIFICATE_ALLOWED_METRIC,
             *(f"{monitor.DRIFT_METRIC_PREFIX}{feature}" for feature in feature_names(settings.CLASS_NAMES))]
    metrics += [(monitor_variables[settings.ENV_METRICS_NAMESPACE], name, dimensions) for name in names]
    return metrics


def endpoint_name(template: dict) -> str:
    return environment_of(template, "ClassifyImageLambdaFunction")[settings.ENV_ENDPOINT_NAME]


def aws_dimension_problem(template: dict, namespace: str, dimension: str, value) -> str:
    """Why a dimension value names no resource of this stack ('' when it does)."""
    spec = AWS_PUBLISHED[namespace]
    if namespace == "AWS/SageMaker":
        return "" if dimension == "VariantName" or value == endpoint_name(template) else f"{value!r} is not the endpoint"
    resource_type, attribute = spec["resource"]
    reference = value[len(REFERENCE):] if isinstance(value, str) and value.startswith(REFERENCE) else None
    logical, _, given = (reference or "").partition(".")
    if reference is None or template["Resources"].get(logical, {}).get("Type") != resource_type or (given or None) != attribute:
        return f"{dimension}={value!r} is not the {attribute or 'Ref'} of a {resource_type} of this stack"
    return ""


def metric_problems(template: dict, emitted: list, namespace: str, name: str, dimensions: dict,
                    where: str) -> list:
    """Why nobody publishes this metric under these dimensions ([] when someone does). In
    `dimensions`, ANY stands for a dimension a SEARCH leaves open."""
    if namespace in AWS_PUBLISHED:
        spec = AWS_PUBLISHED[namespace]
        problems = [] if name in spec["names"] else [f"{where}: AWS publishes no {name} in {namespace}"]
        if set(dimensions) != set(spec["dimensions"]):
            return problems + [f"{where}: {namespace} {name} is published by {spec['dimensions']}, not {sorted(dimensions)}"]
        problems += [f"{where}: {why}" for dimension, value in dimensions.items() if value is not ANY
                     for why in [aws_dimension_problem(template, namespace, dimension, value)] if why]
        return problems
    candidates = [known for (known_namespace, known_name, known) in emitted
                  if (known_namespace, known_name) == (namespace, name) and set(known) == set(dimensions)]
    if not any(all(expected is ANY or value is ANY or value == expected for value, expected in
                   ((dimensions[key], known[key]) for key in known)) for known in candidates):
        return [f"{where}: nobody emits {namespace} {name} with dimensions {dimensions}"]
    return []


def widget_problems(template: dict, emitted: list, body: dict) -> list:
    """Everything a widget shows that nobody publishes, or that cannot be drawn."""
    problems = []
    alarms = {name for name, resource in template["Resources"].items() if resource["Type"] == "AWS::CloudWatch::Alarm"}
    for widget in body["widgets"]:
        properties = widget.get("properties", {})
        where = f"widget {properties.get('title', widget['type'])!r}"
        if widget["type"] == "alarm":
            listed = [arn.split(":alarm:")[-1] for arn in properties["alarms"]]
            problems += [f"{where}: {name!r} is not an alarm of this stack" for name in listed
                         if not (name.startswith(REFERENCE) and name[len(REFERENCE):] in alarms)]
            continue
        if widget["type"] != "metric":
            continue
        if properties.get("region") != PSEUDO_PARAMETERS["AWS::Region"]:
            problems.append(f"{where}: its region must be the stack's (${{AWS::Region}})")
        try:
            queries = metric_queries.widget_queries(properties)
        except metric_queries.MetricQueryError as error:
            problems.append(f"{where}: {error}")
            continue
        ids = {query.id for query in queries}
        for query in queries:
            if query.metric is not None:
                metric = query.metric
                dimensions = {item["Name"]: item["Value"] for item in metric["Dimensions"]}
                problems += metric_problems(template, emitted, metric["Namespace"], metric["MetricName"], dimensions, where)
            elif metric_queries.is_search(query.expression):
                search = metric_queries.parse_search(query.expression)
                if search.metric_name is None:
                    problems.append(f"{where}: a SEARCH without MetricName=\"...\" draws whatever matches")
                    continue
                dimensions = {name: search.dimension_terms.get(name, ANY) for name in search.dimension_names}
                problems += metric_problems(template, emitted, search.namespace, search.metric_name, dimensions, where)
            else:
                problems += [f"{where}: {query.expression!r} reads {missing!r}, which the widget does not query"
                             for missing in sorted(metric_queries.referenced_ids(query.expression) - ids)]
    return problems


def test_dashboard_shows_only_metrics_this_stack_emits_or_aws_publishes_for_its_resources(template, emitted, body):
    assert widget_problems(template, emitted, body) == []


def widget_titled(body: dict, words: str) -> dict:
    [widget] = [widget for widget in body["widgets"] if words in widget.get("properties", {}).get("title", "")]
    return widget


@pytest.mark.parametrize("line, problem", [
    (["vehicle-routing/test", "DriversRouted", "EndpointName", "vehicle-classifier"], "nobody emits"),
    (["vehicle-routing/test", "SentToPerson", "Endpoint", "vehicle-classifier"], "nobody emits"),
    (["vehicle-routing/test", "SentToPerson", "EndpointName", "another-endpoint"], "nobody emits"),
    (["AWS/SQS", "ApproximateNumberOfMessagesVisible", "Queue", "resource:ReviewQueue.QueueName"], "published by"),
    (["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "someone-elses-queue"], "is not the QueueName"),
    (["AWS/SQS", "MessagesWaiting", "QueueName", "resource:ReviewQueue.QueueName"], "AWS publishes no"),
    (["AWS/States", "ExecutionsFailed", "StateMachineArn", "resource:ReviewQueue"], "StepFunctions::StateMachine"),
    (["AWS/SageMaker", "Invocations", "EndpointName", "another-endpoint", "VariantName", "AllTraffic"], "not the endpoint"),
    ([{"id": "drift", "expression": "SEARCH('{vehicle-routing/data-metrics,Endpoint,MonitoringSchedule} "
                                    "MetricName=\"feature_drift\"', 'Maximum', 3600)"}], "nobody emits"),
    ([{"id": "share", "expression": "100 * routed / everyone"}], "which the widget does not query"),
], ids=["unknown-metric", "wrong-dimension-name", "another-endpoint", "aws-metric-wrong-dimension",
        "queue-of-another-stack", "aws-metric-nobody-publishes", "resource-of-the-wrong-type", "sagemaker-other-endpoint",
        "search-for-a-metric-nobody-emits", "math-over-missing-ids"])
def test_dashboard_check_fails_on_a_widget_that_would_show_nothing(template, emitted, body, line, problem):
    broken = copy.deepcopy(body)
    widget_titled(broken, "Executions of classify-vehicle")["properties"]["metrics"].append(line)

    problems = widget_problems(template, emitted, broken)

    assert len(problems) >= 1 and all(problem in found for found in problems), problems


def test_dashboard_check_fails_on_an_alarm_of_no_stack(template, emitted, body):
    broken = copy.deepcopy(body)
    widget = next(widget for widget in broken["widgets"] if widget["type"] == "alarm")
    widget["properties"]["alarms"].append("arn:aws:cloudwatch:us-east-1:123456789012:alarm:someone-elses-alarm")

    assert widget_problems(template, emitted, broken) == [
        "widget 'Alarms (each notifies the workflow-alarms topic)': 'someone-elses-alarm' is not an alarm of this stack"]


def test_dashboard_is_named_from_service_and_stage_and_output(template):
    dashboard = template["Resources"][DASHBOARD]

    assert dashboard["Type"] == "AWS::CloudWatch::Dashboard"
    assert dashboard["Properties"]["DashboardName"] == "vehicle-routing-test"
    assert template["Outputs"]["OperationsDashboardName"]["Value"] == {"Ref": DASHBOARD}


def test_dashboard_alarm_widget_lists_every_alarm_of_the_stack(template, body):
    alarms = {name for name, resource in template["Resources"].items() if resource["Type"] == "AWS::CloudWatch::Alarm"}
    [widget] = [widget for widget in body["widgets"] if widget["type"] == "alarm"]

    assert sorted(arn.split(":alarm:" + REFERENCE)[-1] for arn in widget["properties"]["alarms"]) == sorted(alarms)


def test_dashboard_shows_the_drift_of_every_feature_the_monitor_judges(body):
    drift = widget_titled(body, "drift from the baseline")

    shown = {line[1] for line in drift["properties"]["metrics"]}

    assert shown == {f"{monitor.DRIFT_METRIC_PREFIX}{feature}" for feature in feature_names(settings.CLASS_NAMES)}


def test_dashboard_counts_failed_executions_by_the_error_each_fail_state_names(template, body):
    """The "how executions ended" widget reads the metric filter that counts ExecutionFailed
    events by their error: every named failure of the state machine shows as its own series."""
    [by_error] = [resource["Properties"] for resource in template["Resources"].values()
                  if resource["Type"] == "AWS::Logs::MetricFilter"
                  and resource["Properties"]["MetricTransformations"][0].get("Dimensions")]
    [transformation] = by_error["MetricTransformations"]
    ended = widget_titled(body, "How executions ended")
    searches = [metric_queries.parse_search(line[0]["expression"]) for line in ended["properties"]["metrics"]
                if isinstance(line[0], dict) and metric_queries.is_search(line[0]["expression"])]

    assert by_error["FilterPattern"] == '{ $.type = "ExecutionFailed" }'
    assert transformation["Dimensions"] == [{"Key": "Error", "Value": "$.details.error"}]
    [destination] = template["Resources"]["ClassifyVehicleStateMachine"]["Properties"]["LoggingConfiguration"][
        "Destinations"]
    assert destination["CloudWatchLogsLogGroup"]["LogGroupArn"] == {"Fn::GetAtt": ["ClassifyVehicleLogGroup", "Arn"]}
    assert by_error["LogGroupName"] == {"Ref": "ClassifyVehicleLogGroup"}
    assert [(search.metric_name, search.dimension_names, search.dimension_terms) for search in searches] == [
        (transformation["MetricName"], ("Error",), {})]


def test_dashboard_widgets_fit_the_grid_without_overlapping(body):
    taken = {}
    for widget in body["widgets"]:
        x, y, width, height = widget["x"], widget["y"], widget["width"], widget["height"]
        assert 0 <= x and x + width <= 24, widget
        for cell in ((column, row) for column in range(x, x + width) for row in range(y, y + height)):
            assert cell not in taken, (widget.get("properties", {}).get("title"), taken.get(cell))
            taken[cell] = widget.get("properties", {}).get("title", widget["type"])
