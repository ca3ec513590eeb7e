"""Where moto 5.2.5 falls short of AWS for this project's deployment rehearsal: each gap bridged here.

`bridged()` patches moto while the stand-in (local/aws.py) or a test runs; nothing else in the
project works around moto. Each bridge says what AWS does and what upstream change would make it
unnecessary, and a test checks that the gap is still there in moto as installed (so a moto upgrade
that fixes it fails that test and the bridge can go): tests/local/test_moto_gaps.py for the bridges
here, tests/local/moto_gaps/test_<module>.py for those of the modules beside this one (CloudWatch,
the HTTP API, SQS, JSONPath, executions), whose costs grow with a fleet or a burst.
"""
import copy
import json
import time
import uuid
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Iterator
from unittest import mock

# The CloudWatch gaps live beside the rest; the stand-in and the tests reach them through this module.
from local.moto_gaps.cloudwatch import (POWERTOOLS_EMF_MODULES, EmbeddedMetricsToCloudWatch,  # noqa: F401
                                        bridge_cloudwatch_figures, sample_queue_metrics)
from local.moto_gaps.executions import bridge_executions
from local.moto_gaps.json_paths import bridge_json_paths
from local.moto_gaps.sqs import attributes_counted_when_read


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
        from moto.sqs import models as sqs_models
        stack.enter_context(mock.patch.object(sqs_models.Queue, "attributes",
                                              attributes_counted_when_read(sqs_models.Queue.attributes)))
        bridge_json_paths(stack)
        bridge_executions(stack)
        bridge_cloudwatch_figures(stack)
        yield
