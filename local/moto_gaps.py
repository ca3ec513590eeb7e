"""Where moto 5.2.5 falls short of AWS for this project's deployment rehearsal: each gap bridged here.

`bridged()` patches moto while the stand-in (local/aws.py) or a test runs; nothing else in the
project works around moto. Each bridge says what AWS does and what upstream change would make it
unnecessary, and tests/local/test_moto_gaps.py checks that the gap is still there in moto as
installed (so a moto upgrade that fixes it fails that test and the bridge can go).
"""
import copy
import json
import logging
import os
import re
import time
import uuid
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta, timezone
from typing import Iterator
from unittest import mock


def _errors_only(validate):
    """ValidateTemplate: AWS rejects a template only for errors. moto runs cfn-lint and rejects on any
    match, warnings included, so the step-functions plugin's W3005 (a redundant DependsOn) fails every
    deploy. Upstream fix: keep only cfn-lint matches whose rule id starts with "E"."""
    def validate_template_cfn_lint(template: str) -> list:
        return [match for match in validate(template) if match.rule.id.startswith("E")]
    return validate_template_cfn_lint


def _any_sub_variable_name(clean_json):
    """Fn::Sub with a variable map: AWS accepts any alphanumeric variable name. moto substitutes them
    with string.Template, whose names cannot start with a digit, so the step-functions plugin's
    hex-hash names (e.g. ${02a4043d...}) are left in and then looked up as resources (KeyError,
    HTTP 500). Upstream fix: substitute each ${name} of the map by plain replacement."""
    def clean(resource_json, resources_map):
        sub = resource_json.get("Fn::Sub") if isinstance(resource_json, dict) else None
        if isinstance(sub, list) and len(sub) == 2 and isinstance(sub[1], dict):
            template, variables = sub
            for name, value in variables.items():
                template = template.replace("${" + name + "}", str(clean(value, resources_map)))
            resource_json = {**resource_json, "Fn::Sub": template}
        return clean_json(resource_json, resources_map)
    return clean


def _outputs_refreshed(execute_change_set):
    """ExecuteChangeSet: AWS gives the stack the outputs of the template it applied. moto keeps the
    outputs the stack was created with (none, for osls's first empty template), so osls fails reading
    them after a deploy. Upstream fix: re-create the output map in execute_change_set, as update_stack does."""
    def execute(backend, change_set_name, stack_name=None):
        execute_change_set(backend, change_set_name, stack_name)
        change_set = backend.change_sets.get(change_set_name) or next(
            change_set for change_set in backend.change_sets.values() if change_set.change_set_name == change_set_name)
        stack = backend.stacks[change_set.stack_id]
        stack._parse_template()
        stack.output_map = stack._create_output_map()
    return execute


def _exports_registered(apply):
    """UpdateStack and ExecuteChangeSet: AWS lists the exports a stack's new template declares, and
    deleting the stack removes them. moto registers exports only at CreateStack, so the export osls's
    update template adds (the deployment bucket's name) is unknown to it and `sls remove` fails with
    a KeyError (HTTP 500) half-way through DeleteStack. Upstream fix: re-register the stack's
    exports in update_stack and execute_change_set, as create_stack does."""
    def apply_and_register(backend, *args, **kwargs):
        result = apply(backend, *args, **kwargs)
        declared = {export.name: export for stack in backend.stacks.values() for export in stack.exports}
        for name in [name for name in backend.exports if name not in declared]:
            del backend.exports[name]
        backend.exports.update(declared)
        return result
    return apply_and_register


def _named_execution(start_execution):
    """StartExecution without a name: AWS names the execution with a fresh UUID. moto names it "None",
    so a second unnamed execution of a state machine (the second `sls invoke stepf`) fails with
    ExecutionAlreadyExists. Upstream fix: default the name to str(uuid.uuid4())."""
    def start(backend, state_machine_arn, name=None, execution_input=None, *args, **kwargs):
        return start_execution(backend, state_machine_arn, name or str(uuid.uuid4()), execution_input, *args, **kwargs)
    return start


def _layer_version_arn(layer_version) -> str:
    """Ref of an AWS::Lambda::LayerVersion: AWS gives its version ARN. moto's LayerVersion has no
    physical_resource_id, so Ref yields the object itself (osls then prints its repr as the layer).
    Upstream fix: LayerVersion.physical_resource_id returning self.arn."""
    return layer_version.arn


def _bucket_notifications_applied(create_from_cloudformation_json):
    """AWS::S3::Bucket: AWS applies its NotificationConfiguration. moto's CloudFormation applies only
    BucketEncryption and Tags, so a bucket the stack creates never tells EventBridge of uploads.
    Upstream fix: put_bucket_notification_configuration from the resource's properties."""
    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        bucket = create_from_cloudformation_json.__func__(cls, resource_name, cloudformation_json, account_id,
                                                          region_name, **kwargs)
        notifications = cloudformation_json.get("Properties", {}).get("NotificationConfiguration", {})
        if notifications.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled") in (True, "true"):
            from moto.s3.models import s3_backends
            from moto.utilities.utils import get_partition
            s3_backends[account_id][get_partition(region_name)].put_bucket_notification_configuration(
                bucket.name, {"EventBridgeConfiguration": {}})
        return bucket
    return classmethod(create)


def render_input_template(template: str, paths_map: dict, event: dict) -> str:
    """An EventBridge input transformer as AWS applies it: each <name> becomes the value its JSON path
    finds in the event, JSON-encoded where it stands outside a string of the template (a string value
    gains its quotes) and as bare text inside one (escaped for JSON); a path that finds nothing gives
    null (or an empty text)."""
    from jsonpath_ng.ext import parse

    values = {}
    for name, path in paths_map.items():
        matches = parse(path).find(event)
        values[name] = matches[0].value if matches else None
    rendered, inside_string, index = [], False, 0
    while index < len(template):
        character = template[index]
        if character == "\\" and inside_string:
            rendered.append(template[index:index + 2])
            index += 2
            continue
        if character == '"':
            inside_string = not inside_string
        elif character == "<":
            end = template.find(">", index)
            name = template[index + 1:end] if end > 0 else None
            if name in values:
                value = values[name]
                if inside_string:
                    text = value if isinstance(value, str) else ("" if value is None else json.dumps(value))
                    rendered.append(json.dumps(text)[1:-1])
                else:
                    rendered.append(json.dumps(value))
                index = end + 1
                continue
        rendered.append(character)
        index += 1
    return "".join(rendered)


def as_s3_sends_it(event: dict) -> dict:
    """An S3 "Object Created" event as AWS shapes it. moto's names the ETag "eTag" (the field name of
    S3's own notifications, not of its EventBridge events, which say "etag") and gives every upload
    the sequencer 617f08299329d189, so no rule can tell two uploads apart by it. Upstream fix: "etag",
    and a sequencer that grows with each write. Fixed in place: moto hands the same event to each rule."""
    obj = event.get("detail", {}).get("object", {})
    if "eTag" in obj:
        obj["etag"] = obj.pop("eTag")
        obj["sequencer"] = f"{time.time_ns():018X}"
    return event


def _rules_take_only_their_events(send_to_targets):
    """Two ways a rule takes events AWS never gives it, both in moto's Rule.send_to_targets:
    - a rule with a ScheduleExpression and no EventPattern runs only on its schedule; moto's empty
      pattern matches every event, so each upload also went to the monitor's schedule rule, whose
      Lambda target moto cannot deliver to, and the error ended S3's notification loop before the
      upload rule's turn;
    - a DISABLED rule delivers nothing; moto delivers anyway, so a ModelDeteriorated event started
      retrainModel although retrainOnDeterioration was off.
    Upstream fix: Rule.send_to_targets returns for a disabled rule and for one without a pattern."""
    def send(rule, original_event, transform_input=True):
        if rule.state == "DISABLED" or (rule.scheduled_expression and not rule.event_pattern.get_pattern()):
            return
        return send_to_targets(rule, original_event, transform_input)
    return send


def _training_jobs_run(create_training_job, s3_client_factory):
    """CreateTrainingJob: SageMaker runs the job's script on its channels. moto records the job as
    Completed at once and runs nothing. Bridged by local/training_jobs.py, which runs it here under
    SageMaker's contract (no upstream fix: moto has no compute)."""
    import copy
    import inspect
    signature = inspect.signature(create_training_job)

    def create(backend, *args, **kwargs):
        from local.training_jobs import TrainingJobRunner
        requested = signature.bind(backend, *args, **kwargs).arguments
        # moto also replaces the job's MetricDefinitions with a sample of its own: keep the caller's.
        definitions = copy.deepcopy((requested.get("algorithm_specification") or {}).get("MetricDefinitions", []))
        created = create_training_job(backend, *args, **kwargs)
        job = backend.training_jobs[requested["training_job_name"]]
        job.algorithm_specification["MetricDefinitions"] = definitions
        TrainingJobRunner(job, s3_client_factory).start()
        return created
    return create


def _shadow_variants_kept(create_endpoint_config):
    """CreateEndpointConfig: AWS keeps ShadowProductionVariants beside ProductionVariants. moto drops
    them. Upstream fix: a shadow_production_variants field on FakeEndpointConfig."""
    def create(response):
        result = create_endpoint_config(response)
        shadows = response._get_param("ShadowProductionVariants") or []
        backend = response.sagemaker_backend
        backend.validate_production_variants(shadows)
        if shadows:  # AWS leaves the key out of a config without shadows; an empty list is not the same answer
            backend.endpoint_configs[response._get_param("EndpointConfigName")].shadow_production_variants = shadows
        return result
    return create


def _endpoint_changes_served(endpoint_listener, before_alarm_evaluation=None):
    """CreateEndpoint and UpdateEndpoint: AWS deploys the endpoint config's variants. moto records a
    created endpoint and has no UpdateEndpoint at all. Bridged: UpdateEndpoint switches the
    endpoint to the new config, and both tell endpoint_listener (the stand-in's local endpoint)
    which variants to serve. Upstream fix: SageMakerModelBackend.update_endpoint.

    With a DeploymentConfig's BlueGreenUpdatePolicy (deployment guardrails), as SageMaker does: the
    endpoint is Updating while the canary (CanarySize, or the first LinearStepSize; all of it for
    ALL_AT_ONCE) of each production variant's traffic goes to the new config's model under the same
    variant name, for WaitIntervalInSeconds; then the AutoRollbackConfiguration alarms are
    evaluated over that interval (local/alarm_evaluation.py: moto never evaluates alarms). One in
    ALARM rolls back to the old config, with the alarm in FailureReason; otherwise all traffic
    moves. Either way the endpoint ends InService."""
    import threading

    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow

    def tell(name: str, change: dict) -> None:
        if endpoint_listener is None:
            return
        try:
            endpoint_listener(name, change)
        except Exception as error:  # noqa: BLE001 - the caller hears why, as SageMaker would say it
            from moto.sagemaker.exceptions import ValidationError
            raise ValidationError(message=f"Could not deploy the endpoint config to {name}: {error}") from error

    def describe(backend, config_name: str) -> dict:
        config = backend.endpoint_configs[config_name]
        models = {variant["ModelName"]: backend.describe_model(variant["ModelName"]).primary_container
                  for variant in config.production_variants + getattr(config, "shadow_production_variants", [])}
        return {"production": config.production_variants,
                "shadow": getattr(config, "shadow_production_variants", []), "containers": models}

    def switch(endpoint, backend, config_name: str) -> None:
        config = backend.describe_endpoint_config(config_name)
        endpoint.endpoint_config_name = config_name
        endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
        endpoint.last_modified_time = utcnow()

    def update_endpoint(response):
        backend = response.sagemaker_backend
        name, config_name = response._get_param("EndpointName"), response._get_param("EndpointConfigName")
        if name not in backend.endpoints:
            from moto.sagemaker.exceptions import ValidationError
            raise ValidationError(message=f"Could not find endpoint \"{name}\".")
        backend.describe_endpoint_config(config_name)  # ValidationError for an unknown config
        endpoint = backend.endpoints[name]
        deployment = response._get_param("DeploymentConfig") or {}
        if deployment.get("BlueGreenUpdatePolicy"):
            guarded_update(response, endpoint, backend, config_name, deployment)
        else:
            tell(name, describe(backend, config_name))
            switch(endpoint, backend, config_name)
        return ActionResult({"EndpointArn": endpoint.arn})

    def guarded_update(response, endpoint, backend, config_name: str, deployment: dict) -> None:
        from moto.cloudwatch.models import cloudwatch_backends
        from local import alarm_evaluation

        if endpoint.endpoint_status != "InService":
            from moto.sagemaker.exceptions import ValidationError
            raise ValidationError(message=f"Cannot update in-progress endpoint \"{endpoint.endpoint_name}\".")
        name, old_config = endpoint.endpoint_name, endpoint.endpoint_config_name
        old, new = describe(backend, old_config), describe(backend, config_name)
        routing = deployment["BlueGreenUpdatePolicy"].get("TrafficRoutingConfiguration") or {}
        share = canary_share(routing)
        wait = float(routing.get("WaitIntervalInSeconds", 0)) if share < 1 else 0.0
        tell(name, {"production": [{**variant, "InitialVariantWeight": float(variant.get("InitialVariantWeight", 1.0))
                                    * weight} for variants, weight in ((old["production"], 1 - share),
                                                                       (new["production"], share))
                                   for variant in variants],
                    "shadow": [], "containers": {**old["containers"], **new["containers"]}})
        endpoint.endpoint_status = "Updating"
        endpoint.failure_reason = None
        alarms = [alarm["AlarmName"] for alarm in
                  (deployment.get("AutoRollbackConfiguration") or {}).get("Alarms", [])]
        cloudwatch = cloudwatch_backends[response.current_account][response.region]
        started = utcnow()

        def finish() -> None:
            if before_alarm_evaluation is not None:
                before_alarm_evaluation()
            fired = alarm_evaluation.breached(cloudwatch, alarms, started, utcnow())
            try:
                if fired:
                    tell(name, old)
                    endpoint.failure_reason = ("Rolled back: " + "; ".join(f"alarm {alarm} fired ({why})"
                                                                           for alarm, why in fired))[:1024]
                else:
                    tell(name, new)
                    switch(endpoint, backend, config_name)
            except Exception as error:  # noqa: BLE001 - as SageMaker says it: in the endpoint's state
                endpoint.failure_reason = str(error)[:1024]
                endpoint.endpoint_status = "UpdateRollbackFailed" if fired else "Failed"
                return
            endpoint.endpoint_status = "InService"

        timer = threading.Timer(wait, finish)
        timer.daemon = True
        timer.start()

    def created(create_endpoint):
        def create(response):
            result = create_endpoint(response)
            tell(response._get_param("EndpointName"),
                 describe(response.sagemaker_backend, response._get_param("EndpointConfigName")))
            return result
        return create
    return update_endpoint, created


def canary_share(routing: dict) -> float:
    """The share of traffic a blue/green deployment's first step gives the new fleet (0 to 1)."""
    kind = routing.get("Type", "ALL_AT_ONCE")
    if kind == "ALL_AT_ONCE":
        return 1.0
    size = routing.get("CanarySize" if kind == "CANARY" else "LinearStepSize") or {}
    value = float(size.get("Value", 100))
    # INSTANCE_COUNT: the stand-in serves one instance per variant, so any count is all of it.
    return 1.0 if size.get("Type") == "INSTANCE_COUNT" else min(1.0, max(0.0, value / 100))


class _AlarmResource:
    """AWS::CloudWatch::Alarm: AWS creates the alarm, and Ref gives its name. moto's CloudFormation
    skips the type ("No Moto CloudFormation support"), so a stack's alarms do not exist and Ref is
    None: nothing can watch them or roll a deployment back on them. Bridged for single-metric
    alarms. Upstream fix: Alarm as a CloudFormationModel."""

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.cloudwatch.models import cloudwatch_backends
        properties = cloudformation_json.get("Properties", {})
        name = properties.get("AlarmName") or resource_name
        return cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=name, namespace=properties.get("Namespace"), metric_name=properties.get("MetricName"),
            comparison_operator=properties["ComparisonOperator"],
            evaluation_periods=int(properties["EvaluationPeriods"]), period=int(properties.get("Period", 60)),
            threshold=float(properties["Threshold"]), statistic=properties.get("Statistic"),
            description=properties.get("AlarmDescription", ""), dimensions=properties.get("Dimensions", []),
            alarm_actions=properties.get("AlarmActions", []), extended_statistic=properties.get("ExtendedStatistic"),
            datapoints_to_alarm=properties.get("DatapointsToAlarm"), unit=properties.get("Unit"),
            treat_missing_data=properties.get("TreatMissingData"))

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id,
                                        region_name):
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        from moto.cloudwatch.models import cloudwatch_backends
        name = cloudformation_json.get("Properties", {}).get("AlarmName") or resource_name
        cloudwatch_backends[account_id][region_name].alarms.pop(name, None)


def _alarms_created(resource_class_from_type):
    def resource_class(resource_type: str):
        return _AlarmResource if resource_type == "AWS::CloudWatch::Alarm" else resource_class_from_type(resource_type)
    return resource_class


def _sdk_results_serialisable(eval_service_task):
    """An aws-sdk task's result: Step Functions hands on the API's answer as JSON, timestamps as
    text. moto's interpreter keeps botocore's datetime objects in the state, which then fail its own
    DescribeExecution ("datetime is not JSON serializable"). Upstream fix: serialise the response in
    StateTaskServiceAwsSdk._eval_service_task."""
    def as_json(value):
        if isinstance(value, dict):
            return {key: as_json(item) for key, item in value.items()}
        if isinstance(value, list):
            return [as_json(item) for item in value]
        return value.isoformat() if isinstance(value, datetime) else value

    def evaluate(task, env, *args, **kwargs):
        eval_service_task(task, env, *args, **kwargs)
        env.stack.append(as_json(env.stack.pop()))
    return evaluate


MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"


def _model_package_changes_told(create_model_package, update_model_package):
    """CreateModelPackage and UpdateModelPackage: SageMaker puts a "SageMaker Model Package State
    Change" event (source aws.sagemaker, the package as its detail) on the default bus, which is what
    starts deployChallenger on an approval; and UpdateModelPackage keeps the
    CustomerMetadataProperties it does not name. moto puts no event, and sets the properties to
    None on every update. Upstream fix: events from the model package backend; properties merged."""
    def tell(backend, arn: str) -> None:
        from moto.events.models import events_backends
        package = backend.model_packages[backend.model_package_name_mapping.get(arn, arn)]
        detail = {"ModelPackageGroupName": package.model_package_group_name, "ModelPackageArn": package.arn,
                  "ModelPackageVersion": package.model_package_version,
                  "ModelApprovalStatus": package.model_approval_status,
                  "ModelPackageStatus": package.model_package_status,
                  "InferenceSpecification": package.inference_specification,
                  "CustomerMetadataProperties": package.customer_metadata_properties or {}}
        events_backends[backend.account_id][backend.region_name].put_events([{
            "Source": "aws.sagemaker", "DetailType": MODEL_PACKAGE_STATE_CHANGE, "EventBusName": "default",
            "Resources": [package.arn], "Detail": json.dumps(detail, default=str)}])

    def create(backend, *args, **kwargs):
        arn = create_model_package(backend, *args, **kwargs)
        tell(backend, arn)
        return arn

    def update(backend, model_package_arn, model_approval_status, approval_description, customer_metadata_properties,
               *args, **kwargs):
        package = backend.model_packages.get(backend.model_package_name_mapping.get(model_package_arn, model_package_arn))
        if package is not None and customer_metadata_properties is None:
            customer_metadata_properties = package.customer_metadata_properties
        arn = update_model_package(backend, model_package_arn, model_approval_status, approval_description,
                                   customer_metadata_properties, *args, **kwargs)
        tell(backend, arn)
        return arn
    return create, update


def _default_s3_client():
    import boto3
    return boto3.client("s3")


def _state_machine_targets_delivered(send_to_targets):
    """A rule whose target is a state machine: AWS starts an execution (named by a fresh UUID) with the
    event, transformed by the target's InputTransformer. moto delivers to log groups, archives, SQS,
    buses and API destinations only (NotImplementedError otherwise), and does not transform the
    events S3 sends. Upstream fix: a "states" branch in Rule.send_to_targets."""
    def send(rule, original_event, transform_input=True):
        from moto.stepfunctions.responses import get_backend
        from moto.utilities.arns import parse_arn

        if not transform_input and original_event.get("source") == "aws.s3":  # moto's S3 notification
            original_event = as_s3_sends_it(original_event)
        if not rule.event_pattern.matches_event(original_event):
            return
        machines = [target for target in rule.targets if parse_arn(target["Arn"]).service == "states"]
        if len(machines) < len(rule.targets):
            others = copy.copy(rule)
            others.targets = [target for target in rule.targets if target not in machines]
            send_to_targets(others, original_event, transform_input)
        for target in machines:
            transformer = target.get("InputTransformer")
            execution_input = (render_input_template(transformer["InputTemplate"], transformer.get("InputPathsMap", {}),
                                                     original_event)
                               if transformer else json.dumps(original_event, default=str))
            arn = parse_arn(target["Arn"])
            get_backend(arn.account, arn.region).start_execution(target["Arn"], str(uuid.uuid4()), execution_input)
    return send


def _event_bus_name(event_bus) -> str:
    """Ref of an AWS::Events::EventBus: AWS gives its name. moto's EventBus has no
    physical_resource_id, so Ref yields the object and putEvents to it finds no bus.
    Upstream fix: EventBus.physical_resource_id returning self.name."""
    return event_bus.name


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
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    backend = cloudwatch_backends[DEFAULT_ACCOUNT_ID][os.environ.get("AWS_DEFAULT_REGION", "us-east-1")]
    metadata = document["_aws"]
    # Naive UTC, as moto keeps the timestamps PutMetricData gives it (GetMetricStatistics compares them).
    when = datetime.fromtimestamp(metadata["Timestamp"] / 1000, timezone.utc).replace(tzinfo=None)
    for directive in metadata["CloudWatchMetrics"]:
        for names in directive["Dimensions"]:
            dimensions = [{"Name": name, "Value": str(document[name])} for name in names]
            backend.put_metric_data(directive["Namespace"], [
                {"MetricName": metric["Name"], "Value": float(value), "Unit": metric.get("Unit"),
                 "Dimensions": dimensions, "Timestamp": when}
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


def _datum(name: str, value: float, dimensions: dict, when: datetime, unit: str = "Count") -> dict:
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


@contextmanager
def bridged(s3_client_factory=_default_s3_client, endpoint_listener=None,
            before_alarm_evaluation=None) -> Iterator[None]:
    """Every bridge below, while active; s3_client_factory makes the S3 client training jobs read
    their channels and write their models with (in the stand-in, one for its own URL);
    endpoint_listener(endpoint name, {"production", "shadow", "containers"}) hears of every endpoint
    created or updated; before_alarm_evaluation() runs before a canary's alarms are evaluated (the
    stand-in puts the endpoint's last metric values in)."""
    from moto.awslambda import models as awslambda_models
    from moto.cloudformation import models as cloudformation_models
    from moto.cloudformation import parsing
    from moto.events import models as events_models
    from moto.s3 import models as s3_models
    from moto.stepfunctions import models as stepfunctions_models
    from moto.stepfunctions.parser import models as stepfunctions_parser

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(
            cloudformation_models, "validate_template_cfn_lint",
            _errors_only(cloudformation_models.validate_template_cfn_lint)))
        stack.enter_context(mock.patch.object(parsing, "clean_json", _any_sub_variable_name(parsing.clean_json)))
        stack.enter_context(mock.patch.object(parsing, "resource_class_from_type",
                                              _alarms_created(parsing.resource_class_from_type)))
        from moto.cloudwatch import models as cloudwatch_models
        stack.enter_context(mock.patch.object(cloudwatch_models.Alarm, "physical_resource_id",
                                              property(lambda alarm: alarm.name), create=True))
        stack.enter_context(mock.patch.object(cloudwatch_models.Alarm, "is_created", lambda alarm: True, create=True))
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
            state_task_service_aws_sdk as aws_sdk_task)
        sdk_task = aws_sdk_task.StateTaskServiceAwsSdk
        stack.enter_context(mock.patch.object(sdk_task, "_eval_service_task",
                                              _sdk_results_serialisable(sdk_task._eval_service_task)))
        backend = cloudformation_models.CloudFormationBackend
        stack.enter_context(mock.patch.object(backend, "execute_change_set",
                                              _exports_registered(_outputs_refreshed(backend.execute_change_set))))
        stack.enter_context(mock.patch.object(backend, "update_stack", _exports_registered(backend.update_stack)))
        # State machines created by CloudFormation: AWS has one Step Functions service. moto creates
        # them in its plain backend, while its API, once state machines execute, serves the parser
        # backend, so `sls invoke stepf` finds no state machine. Upstream fix: create them through
        # responses.get_backend(), as the API does.
        stack.enter_context(mock.patch.object(stepfunctions_models, "stepfunctions_backends",
                                              stepfunctions_parser.stepfunctions_parser_backends))
        stack.enter_context(mock.patch.object(awslambda_models.LayerVersion, "physical_resource_id",
                                              property(_layer_version_arn), create=True))
        stack.enter_context(mock.patch.object(events_models.EventBus, "physical_resource_id",
                                              property(_event_bus_name), create=True))
        stack.enter_context(mock.patch.object(s3_models.FakeBucket, "create_from_cloudformation_json",
                                              _bucket_notifications_applied(
                                                  s3_models.FakeBucket.create_from_cloudformation_json)))
        stack.enter_context(mock.patch.object(events_models.Rule, "send_to_targets", _rules_take_only_their_events(
            _state_machine_targets_delivered(events_models.Rule.send_to_targets))))
        from moto.sagemaker import models as sagemaker_models
        from moto.sagemaker import responses as sagemaker_responses
        sagemaker_api = sagemaker_responses.SageMakerResponse
        stack.enter_context(mock.patch.object(sagemaker_api, "create_endpoint_config",
                                              _shadow_variants_kept(sagemaker_api.create_endpoint_config)))
        update_endpoint, created = _endpoint_changes_served(endpoint_listener, before_alarm_evaluation)
        stack.enter_context(mock.patch.object(sagemaker_api, "update_endpoint", update_endpoint, create=True))
        stack.enter_context(mock.patch.object(sagemaker_api, "create_endpoint", created(sagemaker_api.create_endpoint)))
        sagemaker_backend = sagemaker_models.SageMakerModelBackend
        create_package, update_package = _model_package_changes_told(sagemaker_backend.create_model_package,
                                                                     sagemaker_backend.update_model_package)
        stack.enter_context(mock.patch.object(sagemaker_backend, "create_model_package", create_package))
        stack.enter_context(mock.patch.object(sagemaker_backend, "update_model_package", update_package))
        stack.enter_context(mock.patch.object(sagemaker_backend, "create_training_job", _training_jobs_run(
            sagemaker_backend.create_training_job, s3_client_factory)))
        for module in POWERTOOLS_EMF_MODULES:
            stack.enter_context(mock.patch(f"{module}.print", EmbeddedMetricsToCloudWatch(), create=True))
        parser_backend = stepfunctions_parser.StepFunctionsParserBackend
        stack.enter_context(mock.patch.object(parser_backend, "start_execution",
                                              _named_execution(parser_backend.start_execution)))
        _bridge_cloudwatch_figures(stack)
        yield


def _bridge_cloudwatch_figures(stack: ExitStack) -> None:
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
