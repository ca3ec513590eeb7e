"""Where moto 5.2.5 falls short of AWS for this project's deployment rehearsal: each gap bridged here.

`bridged()` patches moto while the stand-in (local/aws.py) or a test runs; nothing else in the
project works around moto. Each bridge says what AWS does and what upstream change would make it
unnecessary, and tests/local/test_moto_gaps.py checks that the gap is still there in moto as
installed (so a moto upgrade that fixes it fails that test and the bridge can go).
"""
import uuid
from contextlib import ExitStack, contextmanager
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


@contextmanager
def bridged() -> Iterator[None]:
    from moto.awslambda import models as awslambda_models
    from moto.cloudformation import models as cloudformation_models
    from moto.cloudformation import parsing
    from moto.stepfunctions import models as stepfunctions_models
    from moto.stepfunctions.parser import models as stepfunctions_parser

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(
            cloudformation_models, "validate_template_cfn_lint",
            _errors_only(cloudformation_models.validate_template_cfn_lint)))
        stack.enter_context(mock.patch.object(parsing, "clean_json", _any_sub_variable_name(parsing.clean_json)))
        backend = cloudformation_models.CloudFormationBackend
        stack.enter_context(mock.patch.object(backend, "execute_change_set",
                                              _outputs_refreshed(backend.execute_change_set)))
        # State machines created by CloudFormation: AWS has one Step Functions service. moto creates
        # them in its plain backend, while its API, once state machines execute, serves the parser
        # backend, so `sls invoke stepf` finds no state machine. Upstream fix: create them through
        # responses.get_backend(), as the API does.
        stack.enter_context(mock.patch.object(stepfunctions_models, "stepfunctions_backends",
                                              stepfunctions_parser.stepfunctions_parser_backends))
        stack.enter_context(mock.patch.object(awslambda_models.LayerVersion, "physical_resource_id",
                                              property(_layer_version_arn), create=True))
        parser_backend = stepfunctions_parser.StepFunctionsParserBackend
        stack.enter_context(mock.patch.object(parser_backend, "start_execution",
                                              _named_execution(parser_backend.start_execution)))
        yield
