"""The deployment as `sls package` builds it, offline: template, state machine, roles and zips."""
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import settings
from local import deployment
from local.aws import DUMMY_CREDENTIALS

ASL_STATES = json.loads(settings.STATE_MACHINE_FILE.read_text())["States"]

pytestmark = pytest.mark.skipif(shutil.which("npx") is None,
                                reason="npx (Node.js) is not installed: bin/setup installs the Serverless CLI with npm")

ROOT = settings.PROJECT_ROOT
FUNCTION_HANDLERS = {"serializeImage": "handlers/serialize_image.py", "classifyImage": "handlers/classify_image.py",
                     "filterConfidence": "handlers/filter_confidence.py", "monitorModel": "handlers/monitor_model.py",
                     "assembleDataset": "handlers/assemble_dataset.py",
                     "registerChallenger": "handlers/register_challenger.py",
                     "deployChallenger": "handlers/deploy_challenger.py",
                     "compareVariants": "handlers/compare_variants.py",
                     "promoteChallenger": "handlers/promote_challenger.py",
                     "handOverBaseline": "handlers/hand_over_baseline.py",
                     "reviewPage": "handlers/review_page.py",
                     "prepareOnboarding": "handlers/prepare_onboarding.py",
                     "onboardChunk": "handlers/onboard_chunk.py",
                     "reportOnboarding": "handlers/report_onboarding.py"}
# The functions the classify-vehicle state machine calls (the monitor runs on its own schedule).
WORKFLOW_FUNCTIONS = ("serializeImage", "classifyImage", "filterConfidence")
SHARED_FILES = {"settings.py", "handlers/__init__.py", "handlers/errors.py", "handlers/support.py"}
# The photo decoder goes only where photos are decoded; Pillow comes from the layer.
FUNCTION_EXTRA_FILES = {"serializeImage": {"imaging/__init__.py", "imaging/photo.py"},
                        # The routing rule, shared with the fleet onboarding (handlers/routing_rule.py), and
                        # the threshold in force, read at run time (an SSM parameter).
                        "filterConfidence": {"handlers/routing_rule.py", "handlers/routing_threshold.py"},
                        # The monitor's plain-Python core: no numpy, no plotting, no report.
                        "monitorModel": {f"monitoring/{name}.py" for name in (
                            "__init__", "baseline", "capture_format", "certificate_watch", "checks", "drift",
                            "estimates", "features", "formatting", "ground_truth", "monitor", "storage",
                            "threshold_store")},
                        "assembleDataset": {"handlers/retraining_errors.py", "training/__init__.py", "training/dataset.py",
                                            *(f"monitoring/{name}.py" for name in (
                                                "__init__", "capture_format", "ground_truth", "storage"))},
                        "registerChallenger": {"handlers/retraining_errors.py", "monitoring/__init__.py",
                                               "monitoring/storage.py"},
                        # The rollout: plain boto3 (training/rollout.py), and the comparison's plain-Python core.
                        "deployChallenger": {"training/__init__.py", "training/rollout.py"},
                        "promoteChallenger": {"training/__init__.py", "training/rollout.py", "monitoring/__init__.py",
                                              "monitoring/threshold_store.py"},
                        "compareVariants": {"handlers/rollout_errors.py", *(f"monitoring/{name}.py" for name in (
                            "__init__", "capture_format", "certificate", "compare", "estimates", "features",
                            "formatting", "ground_truth", "storage"))},
                        # The fleet onboarding: its core, and the chunk function the per-photo path's code.
                        "prepareOnboarding": {"handlers/onboarding.py", "handlers/onboarding_errors.py"},
                        "reportOnboarding": {"handlers/onboarding.py", "handlers/onboarding_errors.py"},
                        "onboardChunk": {"handlers/onboarding.py", "handlers/onboarding_errors.py",
                                         "handlers/routing_rule.py", "handlers/routing_threshold.py",
                                         "handlers/serialize_image.py", "handlers/classify_image.py",
                                         "imaging/__init__.py", "imaging/photo.py"},
                        "handOverBaseline": {"training/__init__.py", "training/rollout.py",
                                             *(f"monitoring/{name}.py" for name in ("__init__", "baseline", "storage"))},
                        # The review page: its app, page and instruction photos, and the ground-truth writer.
                        "reviewPage": {"reviewing/__init__.py", "reviewing/app.py", "reviewing/desk.py",
                                       *(f"reviewing/static/{name}" for name in ("index.html", "review.css", "review.js")),
                                       *(f"reviewing/static/examples/{name}.jpg" for name in (
                                           "dark", "document", "noise", "sideways", "upright")),
                                       *(f"monitoring/{name}.py" for name in (
                                           "__init__", "capture_format", "ground_truth", "storage"))}}
MAX_ZIP_BYTES = 50 * 1024
# Step Functions' CloudWatch Logs delivery API takes no resource ARN: AWS documents "*" for these.
LOG_DELIVERY_ACTIONS = {"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                        "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                        "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"}
LAMBDA_LOG_ACTIONS = {"logs:CreateLogStream", "logs:CreateLogGroup", "logs:PutLogEvents", "logs:TagResource"}
# X-Ray takes no resource ARN either: what active tracing needs in a function's role, and a state machine's.
LAMBDA_TRACING_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
STATE_MACHINE_TRACING_ACTIONS = LAMBDA_TRACING_ACTIONS | {"xray:GetSamplingRules", "xray:GetSamplingTargets"}
DUMMY_LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:vehicle-routing-dev-function"


def sls(*arguments, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """An `sls` command that needs no AWS at all (print)."""
    return deployment.sls(*arguments, environment=DUMMY_CREDENTIALS, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def package_dir(packaged_service) -> Path:
    """`sls package --stage test` (tests/conftest.py), as deployments build it."""
    return packaged_service


@pytest.fixture(scope="module")
def template(package_dir) -> dict:
    return json.loads((package_dir / "cloudformation-template-update-stack.json").read_text())


def resources_of_type(template: dict, resource_type: str) -> dict:
    return {name: resource for name, resource in template["Resources"].items() if resource["Type"] == resource_type}


def validate_asl(definition_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["npx", "--no-install", "asl-validator", "--json-path", str(definition_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def packaged_definition(template: dict, machine: str, directory: Path) -> tuple[str, dict, subprocess.CompletedProcess]:
    """(the packaged state machine's ASL with dummy ARNs for its references, the references, asl-validator's run on it)."""
    text, references = template["Resources"][machine]["Properties"]["DefinitionString"]["Fn::Sub"]
    for placeholder, reference in references.items():
        text = text.replace("${" + placeholder + "}", DUMMY_LAMBDA_ARN if "Fn::GetAtt" in reference else "resource-name")
    (directory / f"{machine}.json").write_text(text)
    return text, references, validate_asl(directory / f"{machine}.json")


def test_package_template_passes_cfn_lint(package_dir):
    cfn_lint = Path(sys.executable).with_name("cfn-lint")

    linted = subprocess.run([str(cfn_lint), str(package_dir / "cloudformation-template-update-stack.json")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert (linted.returncode, linted.stdout) == (0, ""), linted.stdout + linted.stderr


def with_default_params(definition: Path, directory: Path) -> Path:
    """The ASL file with each ${param:NAME} as serverless.yml's default value (a number stays a number)."""
    import yaml
    defaults = yaml.safe_load((ROOT / "serverless.yml").read_text())["params"]["default"]
    text = re.sub(r'"\$\{param:(\w+)\}"', lambda match: json.dumps(defaults[match.group(1)]), definition.read_text())
    resolved = directory / definition.name
    resolved.write_text(text)
    return resolved


@pytest.mark.parametrize("definition", sorted((ROOT / "statemachine").glob("*.asl.json")), ids=lambda path: path.name)
def test_package_state_machine_file_passes_asl_validator(definition, tmp_path):
    validated = validate_asl(with_default_params(definition, tmp_path))

    assert validated.returncode == 0, validated.stdout + validated.stderr


@pytest.mark.parametrize("machine, functions", [
    ("DeployChallengerStateMachine", ["DeployChallengerLambdaFunction"]),
    ("PromoteChallengerStateMachine", ["CompareVariantsLambdaFunction", "HandOverBaselineLambdaFunction",
                                       "PromoteChallengerLambdaFunction"])])
def test_package_rollout_state_machines_pass_asl_validator_and_call_only_their_functions(template, tmp_path, machine,
                                                                                           functions):
    definition = template["Resources"][machine]["Properties"]["DefinitionString"]
    text, references = definition["Fn::Sub"] if isinstance(definition, dict) else (definition, {})
    for placeholder, reference in references.items():
        text = text.replace("${" + placeholder + "}", DUMMY_LAMBDA_ARN if "Fn::GetAtt" in reference else "resource-name")
    (tmp_path / "definition.json").write_text(text)

    validated = validate_asl(tmp_path / "definition.json")

    assert validated.returncode == 0, validated.stdout + validated.stderr
    called = sorted(reference["Fn::GetAtt"][0] for reference in references.values()
                    if "Fn::GetAtt" in reference and reference["Fn::GetAtt"][0].endswith("LambdaFunction"))
    assert called == functions
    assert "${param:" not in text  # the endpoint name the promotion reads is resolved at packaging


def test_package_deploy_challenger_starts_on_an_approved_package_of_the_services_group(template):
    [rule] = [resource for resource in resources_of_type(template, "AWS::Events::Rule").values()
              if any(target["Arn"] == {"Ref": "DeployChallengerStateMachine"}
                     for target in resource["Properties"]["Targets"])]

    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.sagemaker"] and pattern["detail-type"] == ["SageMaker Model Package State Change"]
    assert pattern["detail"] == {"ModelPackageGroupName": ["vehicle-routing-test"], "ModelApprovalStatus": ["Approved"]}


def test_package_promotion_is_rolled_back_by_errors_latency_and_the_share_sent_to_people(template):
    environment = template["Resources"]["PromoteChallengerLambdaFunction"]["Properties"]["Environment"]["Variables"]
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm")

    assert environment["ROLLBACK_ALARMS"] == {"Fn::Join": [",", [{"Ref": "EndpointServerErrorsAlarm"},
                                                                 {"Ref": "EndpointModelLatencyAlarm"},
                                                                 {"Ref": "ShareToPeopleAlarm"}]]}
    share = alarms["ShareToPeopleAlarm"]["Properties"]
    assert (share["MetricName"], share["Statistic"]) == (settings.SENT_TO_PERSON_METRIC, "Average")
    check = template["Resources"]["FilterConfidenceLambdaFunction"]["Properties"]["Environment"]["Variables"]
    assert share["Namespace"] == check[settings.ENV_POWERTOOLS_METRICS_NAMESPACE]
    assert alarms["EndpointServerErrorsAlarm"]["Properties"]["MetricName"] == "Invocation5XXErrors"
    assert alarms["EndpointModelLatencyAlarm"]["Properties"]["ExtendedStatistic"] == "p99"


def test_package_embedded_state_machine_passes_asl_validator(template, tmp_path):
    machine = template["Resources"]["ClassifyVehicleStateMachine"]
    text, references = machine["Properties"]["DefinitionString"]["Fn::Sub"]
    for placeholder, reference in references.items():  # what CloudFormation substitutes on deployment
        text = text.replace("${" + placeholder + "}", DUMMY_LAMBDA_ARN if "Fn::GetAtt" in reference else "resource-name")
    (tmp_path / "definition.json").write_text(text)

    validated = validate_asl(tmp_path / "definition.json")

    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert sorted(reference["Fn::GetAtt"][0] for reference in references.values() if "Fn::GetAtt" in reference) == sorted(
        f"{key[0].upper()}{key[1:]}LambdaFunction" for key in WORKFLOW_FUNCTIONS)
    assert sorted(reference["Ref"] for reference in references.values() if "Ref" in reference) == [
        "DecisionBus", "ReviewQueue", "UploadClaimsTable"]


def test_package_state_machine_logs_alarms_and_outputs_its_arn(template):
    machine_id = "ClassifyVehicleStateMachine"
    machine = template["Resources"][machine_id]
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm").values()
    log_groups = resources_of_type(template, "AWS::Logs::LogGroup").values()

    assert machine["Properties"]["LoggingConfiguration"]["Level"] == "ERROR"
    assert {alarm["Properties"]["MetricName"] for alarm in alarms} >= {"ExecutionsFailedUnexpectedly",
                                                                      "ExecutionsTimedOut"}
    assert "ExecutionsFailed" not in {alarm["Properties"]["MetricName"] for alarm in alarms}  # fires on every review
    assert all(log_group["Properties"].get("RetentionInDays") for log_group in log_groups)
    assert template["Outputs"]["ClassifyVehicleStateMachineArn"]["Value"] == {"Ref": machine_id}


def test_package_unexpected_failures_alarm_counts_every_failure_but_the_two_that_ask_a_person(template):
    [metric_filter] = [metric_filter for metric_filter in resources_of_type(template, "AWS::Logs::MetricFilter").values()
                       if metric_filter["Properties"]["MetricTransformations"][0]["MetricName"]
                       == "ExecutionsFailedUnexpectedly"]
    pattern = metric_filter["Properties"]["FilterPattern"]
    [transformation] = metric_filter["Properties"]["MetricTransformations"]
    [alarm] = [alarm["Properties"] for alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").values()
               if alarm["Properties"]["MetricName"] == transformation["MetricName"]]
    excluded = set(re.findall(r'\$\.details\.error != "(\w+)"', pattern))
    # The Fail states a driver reaches after the model's doubt put them in front of a person ...
    rejections = ASL_STATES["Which Rejection?"]
    by_design = {ASL_STATES[choice["Next"]]["Error"] for choice in rejections["Choices"]}
    by_design.add(ASL_STATES[rejections["Default"]]["Error"])
    # ... and the photos the decoder refuses: the driver's doing, not the system's.
    refusals = {"NotAnImage", "ImageTooLarge", "ImageTooManyPixels"}

    assert '($.type = "ExecutionFailed")' in pattern
    assert by_design == {"ConfidenceBelowThreshold", "UnusableImage"}
    assert excluded == by_design | refusals
    assert metric_filter["Properties"]["LogGroupName"] == {"Ref": "ClassifyVehicleLogGroup"}
    assert alarm["Namespace"] == transformation["MetricNamespace"] and alarm["Threshold"] == 0
    assert alarm["AlarmActions"] == [{"Ref": "WorkflowAlarmTopic"}]


@pytest.mark.parametrize("function_key", FUNCTION_HANDLERS, ids=list(FUNCTION_HANDLERS))
def test_package_zip_holds_only_settings_and_its_handler(package_dir, function_key):
    archive = package_dir / f"{function_key}.zip"

    names = set(zipfile.ZipFile(archive).namelist())

    assert names == SHARED_FILES | {FUNCTION_HANDLERS[function_key]} | FUNCTION_EXTRA_FILES.get(function_key, set())
    assert archive.stat().st_size < MAX_ZIP_BYTES
    assert not any(name.startswith(("boto3/", "botocore/", "PIL/")) for name in names)


def layer_pins() -> dict:
    """handlers/requirements.txt: {distribution: version} of what the layer holds."""
    lines = (ROOT / "handlers" / "requirements.txt").read_text().splitlines()
    return dict(line.split("#")[0].strip().split("==") for line in lines if "==" in line and not line.startswith("#"))


def test_package_layer_holds_exactly_its_pins_built_for_the_functions_platform_and_python(package_dir, template):
    [(layer_id, layer)] = resources_of_type(template, "AWS::Lambda::LayerVersion").items()
    archive = zipfile.ZipFile(package_dir / Path(layer["Properties"]["Content"]["S3Key"]).name)
    names = archive.namelist()
    distributions = {name.split("/")[1].removesuffix(".dist-info").rsplit("-", 1)[0].lower().replace("_", "-"):
                     name.split("/")[1].removesuffix(".dist-info").rsplit("-", 1)[1]
                     for name in names if name.count("/") == 2 and name.endswith(".dist-info/METADATA")}

    assert distributions == layer_pins()  # --no-deps: no botocore or jmespath, which the runtime has
    assert "python/PIL/_imaging.cpython-311-aarch64-linux-gnu.so" in names
    assert any(name.startswith("python/wrapt/") and name.endswith("aarch64-linux-gnu.so") for name in names)
    for distribution, version in (("pillow", layer_pins()["pillow"]), ("wrapt", layer_pins()["wrapt"])):
        wheel = archive.read(f"python/{distribution}-{version}.dist-info/WHEEL").decode()
        assert "Tag: cp311-cp311-manylinux2014_aarch64" in wheel or "Tag: cp311-cp311-manylinux_2_17_aarch64" in wheel
    assert not any(name.startswith(("python/boto3/", "python/botocore/", "python/numpy/")) for name in names)
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.11"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    functions = resources_of_type(template, "AWS::Lambda::Function")
    assert all(function["Properties"]["Layers"] == [{"Ref": layer_id}] for function in functions.values())
    assert all(function["Properties"]["Architectures"] == ["arm64"] for function in functions.values())


def test_package_layer_skips_the_plugins_static_cache_while_the_plugin_links_it_without_waiting(package_dir):
    # serverless-python-requirements links .serverless/pythonRequirements.zip to its static cache
    # without awaiting the link, so a later `sls deploy` could open the zip before it existed (ENOENT;
    # its PR #862). When an upgrade awaits the link, this fails: the static cache can go back on.
    layer_code = (ROOT / "node_modules" / "serverless-python-requirements" / "lib" / "layer.js").read_text()
    state = json.loads((package_dir / "serverless-state.json").read_text())

    assert "fse.symlink(zipCachePath, targetZipPath" in layer_code and "await fse.symlink" not in layer_code
    assert state["service"]["custom"]["pythonRequirements"]["useStaticCache"] is False


def test_package_layer_pins_agree_with_the_project_so_offline_runs_what_the_functions_run():
    project_pins = (ROOT / "requirements.txt").read_text().splitlines()

    assert all(f"{distribution}=={version}" in {line.split("#")[0].strip() for line in project_pins}
               for distribution, version in layer_pins().items())


def statements_of(role: dict) -> list[dict]:
    return [statement for policy in role["Properties"].get("Policies", [])
            for statement in policy["PolicyDocument"]["Statement"]]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def statement_by_action(role: dict) -> dict:
    """Each action the role grants, with the statement that grants it."""
    return {action: statement for statement in statements_of(role) for action in as_list(statement["Action"])}


def test_package_no_role_grants_wildcard_actions_or_resources(template):
    for name, role in resources_of_type(template, "AWS::IAM::Role").items():
        for statement in statements_of(role):
            actions = set(as_list(statement["Action"]))
            assert not any(action == "*" or action.endswith(":*") for action in actions), (name, statement)
            if "*" in as_list(statement["Resource"]) and actions == {"cloudwatch:PutMetricData"}:
                # PutMetricData takes no resource ARN: the condition keeps it to one namespace.
                assert statement["Condition"]["StringEquals"]["cloudwatch:namespace"], (name, statement)
            elif "*" in as_list(statement["Resource"]) and actions == {"ecr:GetAuthorizationToken"}:
                assert name in ("SageMakerTrainingRole", "SageMakerModelRole")  # no resource ARN; pulls are scoped
            elif "*" in as_list(statement["Resource"]):
                assert actions <= LOG_DELIVERY_ACTIONS | STATE_MACHINE_TRACING_ACTIONS, (name, statement)


@pytest.mark.parametrize("function_key, actions", [
    ("serializeImage", {"s3:GetObject", "s3:ListBucket"}),
    ("classifyImage", {"sagemaker:InvokeEndpoint"}),
    ("filterConfidence", {"ssm:GetParameter"}),
    ("monitorModel", {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "cloudwatch:PutMetricData", "events:PutEvents",
                      "ssm:GetParameter", "ssm:PutParameter"}),
    ("assembleDataset", {"s3:ListBucket", "s3:GetObject", "s3:PutObject"}),
    ("registerChallenger", {"s3:GetObject", "s3:PutObject", "sagemaker:DescribeModelPackageGroup",
                            "sagemaker:CreateModelPackageGroup", "sagemaker:CreateModelPackage"}),
    ("deployChallenger", {"sagemaker:DescribeModelPackage", "sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpoint",
                          "sagemaker:DescribeEndpointConfig", "sagemaker:CreateEndpointConfig", "sagemaker:DescribeModel",
                          "sagemaker:CreateModel", "sagemaker:AddTags", "iam:PassRole"}),
    ("compareVariants", {"s3:ListBucket", "s3:GetObject"}),
    ("promoteChallenger", {"sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpoint", "sagemaker:AddTags",
                           "sagemaker:DescribeEndpointConfig", "sagemaker:CreateEndpointConfig", "sagemaker:DescribeModel",
                           "sagemaker:ListTags", "sagemaker:DescribeModelPackage", "sagemaker:UpdateModelPackage",
                           "ssm:PutParameter"}),
    ("handOverBaseline", {"s3:GetObject", "s3:PutObject"}),
    ("reviewPage", {"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                    "sqs:SendMessage", "s3:GetObject", "s3:ListBucket", "s3:PutObject"}),
    ("prepareOnboarding", {"s3:ListBucket", "s3:GetObject", "s3:PutObject"}),
    ("onboardChunk", {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "sagemaker:InvokeEndpoint", "dynamodb:PutItem",
                      "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "events:PutEvents",
                      "sqs:SendMessage", "ssm:GetParameter"}),
    ("reportOnboarding", {"s3:ListBucket", "s3:GetObject", "s3:PutObject"}),
], ids=list(FUNCTION_HANDLERS))
def test_package_each_function_role_grants_only_what_it_needs(template, function_key, actions):
    function = template["Resources"][f"{function_key[0].upper()}{function_key[1:]}LambdaFunction"]
    role = template["Resources"][function["Properties"]["Role"]["Fn::GetAtt"][0]]

    granted = {action for statement in statements_of(role) for action in as_list(statement["Action"])}

    assert granted - LAMBDA_LOG_ACTIONS - LAMBDA_TRACING_ACTIONS == actions
    assert not any("*" in as_list(statement["Resource"]) for statement in statements_of(role)
                   if set(as_list(statement["Action"])) not in ({"cloudwatch:PutMetricData"}, LAMBDA_TRACING_ACTIONS))


def test_package_monitor_reads_the_capture_and_baseline_and_writes_only_its_reports(template):
    role = template["Resources"]["MonitorModelIamRoleLambdaExecution"]
    by_action = statement_by_action(role)

    def arns(action):
        return ["".join(part for part in resource["Fn::Join"][1] if isinstance(part, str))
                for resource in as_list(by_action[action]["Resource"])]

    bucket = "vehicle-routing-test-monitoring"
    endpoint = template["Resources"]["MonitorModelLambdaFunction"]["Properties"]["Environment"]["Variables"][
        settings.ENV_ENDPOINT_NAME]
    assert arns("s3:GetObject") == [f"arn::s3:::{bucket}/{settings.CAPTURE_PREFIX}/{endpoint}/*",
                                    f"arn::s3:::{bucket}/{settings.MONITORING_PREFIX}/baseline/{endpoint}/*",
                                    f"arn::s3:::{bucket}/ground-truth/*"]
    assert arns("s3:PutObject") == [f"arn::s3:::{bucket}/{settings.MONITORING_PREFIX}/reports/*"]
    assert by_action["events:PutEvents"]["Resource"] == {"Fn::GetAtt": ["DecisionBus", "Arn"]}


def test_package_schedules_the_monitor_and_alarms_on_its_violations(template):
    rules = resources_of_type(template, "AWS::Events::Rule")
    [schedule] = [rule for rule in rules.values() if rule["Properties"].get("ScheduleExpression") == "rate(1 hour)"]
    alarm = template["Resources"]["ModelDeterioratedAlarm"]["Properties"]
    variables = template["Resources"]["MonitorModelLambdaFunction"]["Properties"]["Environment"]["Variables"]

    assert schedule["Properties"]["ScheduleExpression"] == "rate(1 hour)"
    from monitoring import monitor
    assert variables[settings.ENV_METRICS_NAMESPACE] == monitor.DEFAULT_METRICS_NAMESPACE  # the CLI's default too
    assert (alarm["Namespace"], alarm["MetricName"]) == (variables[settings.ENV_METRICS_NAMESPACE], "violation_count")
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
        "Endpoint": variables[settings.ENV_ENDPOINT_NAME], "MonitoringSchedule": variables[settings.ENV_MONITORING_SCHEDULE]}
    assert alarm["AlarmActions"] == [{"Ref": "WorkflowAlarmTopic"}]


def test_package_lambda_runtime_and_environment(template):
    functions = resources_of_type(template, "AWS::Lambda::Function")
    environment = {name: function["Properties"].get("Environment", {}).get("Variables", {})
                   for name, function in functions.items()}
    endpoint_file = settings.ENDPOINT_NAME_FILE
    expected_endpoint = (json.loads(endpoint_file.read_text())["endpoint_name"] if endpoint_file.exists()
                         else settings.DEFAULT_ENDPOINT_NAME)

    # Every function's Powertools names the service as settings does (the offline run mutes that logger).
    powertools = {settings.ENV_POWERTOOLS_SERVICE_NAME: settings.SERVICE_NAME}

    assert all(re.fullmatch(r"python3\.1[1-9]", function["Properties"]["Runtime"]) for function in functions.values())
    assert all(variables.items() >= powertools.items() for variables in environment.values())
    assert environment["ClassifyImageLambdaFunction"] == {settings.ENV_ENDPOINT_NAME: expected_endpoint, **powertools}
    assert float(environment["FilterConfidenceLambdaFunction"][settings.ENV_THRESHOLD]) == settings.DEFAULT_THRESHOLD
    assert float(environment["FilterConfidenceLambdaFunction"][settings.ENV_AUDIT_RATE]) == settings.DEFAULT_AUDIT_RATE
    # Empty photo limits: the handler falls back to imaging/photo.py's defaults, defined once.
    assert environment["SerializeImageLambdaFunction"] == {
        settings.ENV_IMAGES_BUCKET: "vehicle-routing-test-images", settings.ENV_MAX_IMAGE_BYTES: "",
        settings.ENV_MAX_IMAGE_MEGAPIXELS: "", settings.ENV_MAX_IMAGE_SIDE: "", **powertools}


def test_package_traces_every_function_and_every_state_machine_with_the_permissions_x_ray_needs(template):
    functions = resources_of_type(template, "AWS::Lambda::Function")
    machines = resources_of_type(template, "AWS::StepFunctions::StateMachine")

    def granted(role_arn: dict) -> set:
        role = template["Resources"][role_arn["Fn::GetAtt"][0]]
        return {action for statement in statements_of(role) for action in as_list(statement["Action"])}

    assert len(machines) == 5  # classify, retrain, deploy, promote, onboard
    assert all(function["Properties"]["TracingConfig"] == {"Mode": "Active"} for function in functions.values())
    assert all(machine["Properties"]["TracingConfiguration"] == {"Enabled": True} for machine in machines.values())
    assert all(granted(function["Properties"]["Role"]) >= LAMBDA_TRACING_ACTIONS for function in functions.values())
    assert all(granted(machine["Properties"]["RoleArn"]) >= STATE_MACHINE_TRACING_ACTIONS for machine in machines.values())


@pytest.fixture(scope="module")
def service_copy(tmp_path_factory) -> Path:
    """The service alone in a directory, so the endpoint file can be there or not."""
    directory = tmp_path_factory.mktemp("service")
    for name in ("serverless.yml", "package.json", "settings.py"):
        shutil.copy(ROOT / name, directory / name)
    shutil.copytree(ROOT / "statemachine", directory / "statemachine")
    shutil.copytree(ROOT / "handlers", directory / "handlers", ignore=shutil.ignore_patterns("__pycache__"))
    (directory / "node_modules").symlink_to(ROOT / "node_modules")
    (directory / "training").mkdir()
    return directory


@pytest.mark.slow
@pytest.mark.parametrize("written, expected", [(None, settings.DEFAULT_ENDPOINT_NAME),
                                               ("vehicles-2026-11-25", "vehicles-2026-11-25")],
                         ids=["no-endpoint-file", "endpoint-file"])
def test_package_endpoint_name_comes_from_the_launchers_file_else_the_default(service_copy, written, expected):
    endpoint_file = service_copy / settings.ENDPOINT_NAME_FILE.relative_to(ROOT)
    endpoint_file.unlink(missing_ok=True)
    if written:
        endpoint_file.write_text(json.dumps({"endpoint_name": written}))

    printed = sls("print", "--format", "json", cwd=service_copy).stdout

    config = json.loads(printed[printed.index("{"):])
    assert config["functions"]["classifyImage"]["environment"][settings.ENV_ENDPOINT_NAME] == expected


@pytest.mark.slow
def test_package_endpoint_name_parameter_overrides_the_file(service_copy):
    (service_copy / settings.ENDPOINT_NAME_FILE.relative_to(ROOT)).write_text(json.dumps({"endpoint_name": "from-file"}))

    printed = sls("print", "--format", "json", "--param=endpointName=from-command-line", cwd=service_copy).stdout

    config = json.loads(printed[printed.index("{"):])
    assert config["functions"]["classifyImage"]["environment"][settings.ENV_ENDPOINT_NAME] == "from-command-line"


# --- the operations loop in the template -------------------------------------------------------------

# An "Object Created" event as S3 sends it to EventBridge (the shape of AWS's documented example).
S3_OBJECT_CREATED = {
    "version": "0", "id": "c9888434-815d-c6f4-9fc2-4dd7bdeccaaf", "detail-type": "Object Created",
    "source": "aws.s3", "account": "123456789012", "time": "2026-11-26T13:09:50Z", "region": "us-east-1",
    "resources": ["arn:aws:s3:::vehicle-routing-test-images"],
    "detail": {"version": "0", "bucket": {"name": "vehicle-routing-test-images"},
               "object": {"key": "drivers/2026-11-26/driver 7 \"front\".jpg", "size": 3104233,
                          "etag": "4af981f98d22a0b9979da24b259e5e42-12",
                          "version-id": "uhggCJ2_B6gU2JaXWXebnXFDstO0ID6G", "sequencer": "0064D3901D00059242"},
               "request-id": "XRRTKJXSZQCWNQR1", "requester": "123456789012", "source-ip-address": "203.0.113.7",
               "reason": "PutObject"}}


@pytest.fixture(scope="module")
def upload_rule(template) -> dict:
    [rule] = [rule for rule in resources_of_type(template, "AWS::Events::Rule").values()
              if rule["Properties"].get("Name") == "vehicle-routing-test-photo-uploaded"]
    return rule["Properties"]


def with_key(event: dict, key: str = None, bucket: str = None, detail_type: str = None) -> dict:
    changed = json.loads(json.dumps(event))
    if key is not None:
        changed["detail"]["object"]["key"] = key
    if bucket is not None:
        changed["detail"]["bucket"]["name"] = bucket
    if detail_type is not None:
        changed["detail-type"] = detail_type
    return changed


@pytest.mark.parametrize("event, matches", [
    (S3_OBJECT_CREATED, True),
    (with_key(S3_OBJECT_CREATED, key="profiles/driver-7.jpg"), False),
    (with_key(S3_OBJECT_CREATED, key="archive/drivers/driver-7.jpg"), False),
    (with_key(S3_OBJECT_CREATED, bucket="another-bucket"), False),
    (with_key(S3_OBJECT_CREATED, detail_type="Object Deleted"), False),
], ids=["photo-under-drivers", "other-prefix", "drivers-not-at-the-start", "other-bucket", "deleted"])
def test_package_upload_rule_matches_photos_created_under_drivers_only(upload_rule, event, matches):
    """Matched by moto's EventBridge pattern matcher, the one that routes uploads in the stand-in
    (its TestEventPattern API is not implemented)."""
    from moto.events.models import EventPattern

    assert EventPattern.load(json.dumps(upload_rule["EventPattern"])).matches_event(event) is matches


def test_package_upload_rule_gives_the_workflow_its_input(upload_rule, template):
    from local.moto_gaps import render_input_template

    [target] = upload_rule["Targets"]
    transformer = target["InputTransformer"]

    execution_input = json.loads(render_input_template(transformer["InputTemplate"], transformer["InputPathsMap"],
                                                       S3_OBJECT_CREATED))

    assert execution_input == {"s3_bucket": "vehicle-routing-test-images",
                               "s3_key": "drivers/2026-11-26/driver 7 \"front\".jpg",
                               "inference_id": "0064D3901D00059242-4af981f98d22a0b9979da24b259e5e42-12"}
    assert len(execution_input["inference_id"]) <= 64
    assert target["Arn"] == {"Ref": "ClassifyVehicleStateMachine"}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["UploadDeadLetterQueue", "Arn"]}


def test_package_state_machine_role_may_only_invoke_its_functions_claim_publish_and_queue(template):
    role = template["Resources"]["ClassifyVehicleStateMachineRole"]

    granted = {action: statement["Resource"] for statement in statements_of(role) for action in as_list(statement["Action"])}

    assert set(granted) - LOG_DELIVERY_ACTIONS - STATE_MACHINE_TRACING_ACTIONS == {
        "lambda:InvokeFunction", "dynamodb:PutItem", "events:PutEvents", "sqs:SendMessage"}
    assert granted["sqs:SendMessage"] == [{"Fn::GetAtt": ["ReviewQueue", "Arn"]}]
    assert granted["dynamodb:PutItem"] == [{"Fn::GetAtt": ["UploadClaimsTable", "Arn"]}]
    [bus] = granted["events:PutEvents"]
    assert bus["Fn::Sub"][1] == {"eventBus": {"Ref": "DecisionBus"}}
    assert {resource["Fn::GetAtt"][0] for resource in granted["lambda:InvokeFunction"] if "Fn::GetAtt" in resource} == {
        f"{key[0].upper()}{key[1:]}LambdaFunction" for key in WORKFLOW_FUNCTIONS}


def test_package_upload_rule_role_may_only_start_the_state_machine(template, upload_rule):
    role = template["Resources"][upload_rule["Targets"][0]["RoleArn"]["Fn::GetAtt"][0]]

    assert statements_of(role) == [{"Effect": "Allow", "Action": ["states:StartExecution"],
                                    "Resource": {"Ref": "ClassifyVehicleStateMachine"}}]


def test_package_upload_dead_letter_queue_takes_only_the_upload_rules_events(template, upload_rule):
    [policy] = [resource["Properties"] for resource in resources_of_type(template, "AWS::SQS::QueuePolicy").values()
                if resource["Properties"]["Queues"] == [{"Ref": "UploadDeadLetterQueue"}]]
    [statement] = policy["PolicyDocument"]["Statement"]
    rule_arn = statement["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Join"][1]

    assert statement["Principal"] == {"Service": "events.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"
    assert rule_arn[-1] == f":rule/{upload_rule['Name']}"
    assert upload_rule["Targets"][0]["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["UploadDeadLetterQueue", "Arn"]}


def test_package_alarms_when_a_driver_lands_in_a_dead_letter_queue(template):
    alarms = resources_of_type(template, "AWS::CloudWatch::Alarm").values()
    watched = {alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]: alarm["Properties"] for alarm in alarms
               if alarm["Properties"].get("Namespace") == "AWS/SQS"}

    assert set(watched) == {"UploadDeadLetterQueue", "ReviewDeadLetterQueue"}
    assert all(alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
               and alarm["AlarmActions"] == [{"Ref": "WorkflowAlarmTopic"}] for alarm in watched.values())


def test_package_review_queue_is_encrypted_with_a_dead_letter_queue(template):
    queues = resources_of_type(template, "AWS::SQS::Queue")
    review = queues["ReviewQueue"]["Properties"]

    assert all(queue["Properties"]["SqsManagedSseEnabled"] is True for queue in queues.values())
    assert review["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["ReviewDeadLetterQueue", "Arn"]}
    assert 86400 <= int(review["MessageRetentionPeriod"]) <= 14 * 86400


def test_package_images_bucket_is_created_only_when_asked_private_encrypted_and_notifying(template):
    bucket = template["Resources"]["ImagesBucket"]
    properties = bucket["Properties"]

    assert bucket["Condition"] == "CreateImagesBucket"
    assert template["Conditions"]["CreateImagesBucket"] == {"Fn::Equals": [{"Ref": "CreateImagesBucket"}, "true"]}
    assert template["Parameters"]["CreateImagesBucket"]["Default"] == "false"
    assert properties["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    assert all(properties["PublicAccessBlockConfiguration"].values())
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    [rule] = properties["LifecycleConfiguration"]["Rules"]
    assert (rule["Prefix"], rule["Status"]) == ("drivers/", "Enabled") and rule["ExpirationInDays"] > 0


def test_package_outputs_name_the_bus_the_queue_and_the_rule(template):
    assert {"DecisionBusName", "ReviewQueueUrl", "PhotoUploadedRuleName", "ImagesBucketName",
            "ClassifyVehicleStateMachineArn"} <= set(template["Outputs"])
    assert template["Outputs"]["ReviewQueueUrl"]["Value"] == {"Ref": "ReviewQueue"}


def test_package_retrain_model_state_machine_passes_asl_validator_and_calls_its_two_functions(template, tmp_path):
    text, references, validated = packaged_definition(template, "RetrainModelStateMachine", tmp_path)

    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert sorted(reference["Fn::GetAtt"][0] for reference in references.values()) == [
        "AssembleDatasetLambdaFunction", "RegisterChallengerLambdaFunction", "SageMakerTrainingRole"]
    resources = {state["Resource"] for state in json.loads(text)["States"].values() if "Resource" in state}
    assert {"arn:aws:states:::aws-sdk:sagemaker:createTrainingJob",
            "arn:aws:states:::aws-sdk:sagemaker:describeTrainingJob"} <= resources


def test_package_retrain_role_may_invoke_its_functions_run_its_jobs_and_pass_only_the_training_role(template):
    machine = template["Resources"]["RetrainModelStateMachine"]["Properties"]
    role = template["Resources"]["RetrainModelStateMachineRole"]
    granted = statement_by_action(role)

    assert machine["RoleArn"] == {"Fn::GetAtt": ["RetrainModelStateMachineRole", "Arn"]}
    # Describing the endpoint, its config and model finds the parent: the model served now.
    assert set(granted) - STATE_MACHINE_TRACING_ACTIONS == {
        "lambda:InvokeFunction", "sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "iam:PassRole",
        "sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"}
    assert granted["iam:PassRole"]["Resource"] == {"Fn::GetAtt": ["SageMakerTrainingRole", "Arn"]}
    assert granted["iam:PassRole"]["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    job_arn = "".join(part for part in granted["sagemaker:CreateTrainingJob"]["Resource"]["Fn::Join"][1]
                      if isinstance(part, str))
    assert job_arn.endswith(":training-job/retrain-*")
    training = template["Resources"]["SageMakerTrainingRole"]
    assert training["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "sagemaker.amazonaws.com"}


def test_package_retraining_starts_by_hand_on_a_schedule_or_on_deterioration_only_when_asked(template):
    rules = resources_of_type(template, "AWS::Events::Rule").values()
    to_retrain = [rule["Properties"] for rule in rules
                  if any(target["Arn"] == {"Ref": "RetrainModelStateMachine"} for target in rule["Properties"]["Targets"])]

    by_kind = {("schedule" if "ScheduleExpression" in rule else "deterioration"): rule for rule in to_retrain}
    assert by_kind["schedule"]["State"] == "DISABLED" and by_kind["deterioration"]["State"] == "DISABLED"
    assert by_kind["deterioration"]["EventPattern"]["detail-type"] == [settings.MODEL_DETERIORATED]
    assert by_kind["deterioration"]["EventBusName"] == {"Ref": "DecisionBus"}


def test_package_review_page_role_reaches_only_its_queue_the_photos_and_the_ground_truth(template):
    role = template["Resources"][template["Resources"]["ReviewPageLambdaFunction"]["Properties"]["Role"]["Fn::GetAtt"][0]]
    by_actions = {frozenset(as_list(statement["Action"])): statement for statement in statements_of(role)}

    queue = by_actions[frozenset({"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage",
                                  "sqs:GetQueueAttributes"})]
    assert queue["Resource"] == {"Fn::GetAtt": ["ReviewQueue", "Arn"]}
    assert by_actions[frozenset({"sqs:SendMessage"})]["Resource"] == {"Fn::GetAtt": ["ReviewDeadLetterQueue", "Arn"]}
    photos = json.dumps(by_actions[frozenset({"s3:GetObject"})]["Resource"])
    assert "vehicle-routing-test-images/drivers/*" in photos
    ground_truth = json.dumps(by_actions[frozenset({"s3:GetObject", "s3:PutObject"})]["Resource"])
    assert "vehicle-routing-test-monitoring/ground-truth/*" in ground_truth


def test_package_review_api_needs_a_cognito_token_except_for_the_page_itself(template):
    [(authorizer_id, authorizer)] = resources_of_type(template, "AWS::ApiGatewayV2::Authorizer").items()
    routes = {route["Properties"]["RouteKey"]: route["Properties"]
              for route in resources_of_type(template, "AWS::ApiGatewayV2::Route").values()}
    function = template["Resources"]["ReviewPageLambdaFunction"]["Properties"]

    assert authorizer["Properties"]["AuthorizerType"] == "JWT"
    assert authorizer["Properties"]["IdentitySource"] == ["$request.header.Authorization"]
    assert authorizer["Properties"]["JwtConfiguration"]["Audience"] == [{"Ref": "ReviewerUserPoolClient"}]
    assert "ReviewerUserPool" in json.dumps(authorizer["Properties"]["JwtConfiguration"]["Issuer"])
    assert routes["ANY /api/{path+}"]["AuthorizationType"] == "JWT"
    assert routes["ANY /api/{path+}"]["AuthorizerId"] == {"Ref": authorizer_id}
    assert set(routes) == {"GET /", "GET /static/{path+}", "ANY /api/{path+}"}
    assert all(routes[key].get("AuthorizationType", "NONE") == "NONE" for key in ("GET /", "GET /static/{path+}"))
    assert function["Environment"]["Variables"]["USER_POOL_CLIENT_ID"] == {"Ref": "ReviewerUserPoolClient"}
    pool = template["Resources"]["ReviewerUserPool"]["Properties"]
    client = template["Resources"]["ReviewerUserPoolClient"]["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert client["GenerateSecret"] is False and "ALLOW_USER_PASSWORD_AUTH" in client["ExplicitAuthFlows"]
def test_package_onboard_fleet_passes_asl_validator_with_a_bounded_distributed_map_calling_its_three_functions(
        template, tmp_path):
    text, references, validated = packaged_definition(template, "OnboardFleetStateMachine", tmp_path)

    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert sorted(reference["Fn::GetAtt"][0] for reference in references.values()) == [
        "OnboardChunkLambdaFunction", "PrepareOnboardingLambdaFunction", "ReportOnboardingLambdaFunction"]
    chunks = json.loads(text)["States"]["Onboard Chunks"]
    # Always a bound: with none, moto starts a thread per item, and AWS up to 10,000 children at the endpoint.
    assert isinstance(chunks["MaxConcurrency"], int) and 1 <= chunks["MaxConcurrency"] <= 100
    assert chunks["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert "ItemBatcher" not in chunks  # the chunks are files Prepare Onboarding writes (moto cannot parse it)


def test_package_onboard_fleet_role_may_invoke_its_functions_read_its_chunks_and_run_its_children(template):
    machine = template["Resources"]["OnboardFleetStateMachine"]["Properties"]
    role = template["Resources"]["OnboardFleetStateMachineRole"]
    granted = statement_by_action(role)

    assert machine["RoleArn"] == {"Fn::GetAtt": ["OnboardFleetStateMachineRole", "Arn"]}
    assert set(granted) - STATE_MACHINE_TRACING_ACTIONS == {
        "lambda:InvokeFunction", "s3:GetObject", "states:StartExecution", "states:DescribeExecution",
        "states:StopExecution"}
    own = "".join(part for part in granted["states:StartExecution"]["Resource"]["Fn::Join"][1] if isinstance(part, str))
    assert own.endswith(":stateMachine:vehicle-routing-test-onboard-fleet")
    reads = "".join(part for part in granted["s3:GetObject"]["Resource"]["Fn::Join"][1] if isinstance(part, str))
    assert reads.endswith(":s3:::vehicle-routing-test-images/onboarding/runs/*")


def test_package_onboarding_prefix_is_not_one_the_upload_rule_starts_executions_for(template):
    from handlers import onboarding
    [rule] = [rule for rule in resources_of_type(template, "AWS::Events::Rule").values()
              if rule["Properties"].get("EventPattern", {}).get("source") == ["aws.s3"]]
    prefixes = [entry["prefix"] for entry in rule["Properties"]["EventPattern"]["detail"]["object"]["key"]]

    assert not any(onboarding.ONBOARDING_PREFIX.startswith(prefix) or prefix.startswith(onboarding.ONBOARDING_PREFIX)
                   for prefix in prefixes)
@pytest.mark.parametrize("function_key, actions", [("filterConfidence", ["ssm:GetParameter"]),
                                                   ("onboardChunk", ["ssm:GetParameter"]),
                                                   ("monitorModel", ["ssm:GetParameter", "ssm:PutParameter"]),
                                                   ("promoteChallenger", ["ssm:PutParameter"])])
def test_package_only_the_routing_threshold_parameter_is_read_or_set(template, function_key, actions):
    function = template["Resources"][f"{function_key[0].upper()}{function_key[1:]}LambdaFunction"]
    role = template["Resources"][function["Properties"]["Role"]["Fn::GetAtt"][0]]
    [statement] = [statement for statement in statements_of(role) if str(statement["Action"]).startswith("['ssm:")
                   or str(statement["Action"]).startswith("ssm:")]

    assert as_list(statement["Action"]) == actions
    assert {"Ref": "RoutingThresholdParameter"} in statement["Resource"]["Fn::Join"][1]
    assert function["Properties"]["Environment"]["Variables"][settings.ENV_THRESHOLD_PARAMETER] == {
        "Ref": "RoutingThresholdParameter"}
    parameter = template["Resources"]["RoutingThresholdParameter"]["Properties"]
    assert json.loads(parameter["Value"])["threshold"] == settings.DEFAULT_THRESHOLD
