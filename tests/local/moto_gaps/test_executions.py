"""local/moto_gaps/executions.py: moto still parses a definition at every execution and makes a client
for every Task state, and bridged it does each once, with executions that still run right.

A plain-moto test failing after a moto upgrade means moto fixed that gap: remove its bridge.
"""
import json
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import boto3
import pytest
from moto import mock_aws
from moto.stepfunctions.parser.asl.parse import asl_parser

from local import moto_gaps
from local.aws import MOTO_CONFIG
from tests.local.moto_gaps import BRIDGED, IDS, finished, moto

# A Pass and a retried, caught DynamoDB Task: paths, a retrier's per-execution attempt count, a client.
DEFINITION = json.dumps({"StartAt": "Shape", "States": {
    "Shape": {"Type": "Pass", "Parameters": {"key.$": "$.key"}, "Next": "Read"},
    "Read": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem",
             "Parameters": {"TableName": "claims", "Key": {"id": {"S.$": "$.key"}}},
             "Retry": [{"ErrorEquals": ["DynamoDB.ResourceNotFoundException"], "MaxAttempts": 0}],
             "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Done"}],
             "ResultPath": "$.found", "Next": "Done"},
    "Done": {"Type": "Succeed"}}})


def run_executions(count: int, with_table: bool) -> list:
    stepfunctions = boto3.client("stepfunctions")
    if with_table:
        boto3.client("dynamodb").create_table(
            TableName="claims", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        boto3.client("dynamodb").put_item(TableName="claims", Item={"id": {"S": "k1"}, "label": {"S": "bicycle"}})
    arn = stepfunctions.create_state_machine(name="m", definition=DEFINITION,
                                             roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]

    def run(number: int) -> dict:
        execution = stepfunctions.start_execution(stateMachineArn=arn, name=f"e{number}",
                                                input=json.dumps({"key": f"k{number}"}))
        return json.loads(finished(stepfunctions, execution["executionArn"]).get("output") or "null")

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(run, range(count)))


def counting(target, name: str):
    calls = []
    original = getattr(target, name)

    def counted(*args, **kwargs):
        calls.append(name)
        return original(*args, **kwargs)
    return calls, mock.patch.object(target, name, counted)


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_a_definition_is_parsed_once_for_all_its_executions_only_when_bridged(bridged):
    parses, counting_parses = counting(asl_parser.AmazonStateLanguageParser, "parse")
    with mock_aws(config=MOTO_CONFIG), moto(bridged), counting_parses:
        outputs = run_executions(6, with_table=True)

    assert outputs[1]["found"]["Item"]["label"] == {"S": "bicycle"} and "Item" not in outputs[2]["found"]
    # CreateStateMachine validates the definition by parsing it once; then each execution, or only the first.
    assert len(parses) == (2 if bridged else 1 + 6)


def test_a_shared_program_keeps_each_executions_retries_and_failures_its_own():
    with mock_aws(config=MOTO_CONFIG), moto_gaps.bridged():
        outputs = run_executions(8, with_table=False)  # no table: every Read fails, and is caught

    assert [output["error"]["Error"] for output in outputs] == ["DynamoDB.ResourceNotFoundException"] * 8
    assert [output["key"] for output in outputs] == [f"k{number}" for number in range(8)]


@pytest.mark.parametrize("bridged", BRIDGED, ids=IDS)
def test_task_states_share_one_client_per_region_and_service_only_when_bridged(bridged):
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_dynamodb

    with moto(bridged):
        clients = [module.boto_client_for(region=region, service=service, state_credentials=None)
                   for module, region, service in [(lambda_eval_utils, "us-east-1", "lambda"),
                                                   (lambda_eval_utils, "us-east-1", "lambda"),
                                                   (state_task_service_dynamodb, "us-east-1", "dynamodb"),
                                                   (state_task_service_dynamodb, "us-east-1", "dynamodb"),
                                                   (lambda_eval_utils, "eu-west-1", "lambda")]]

    assert (clients[0] is clients[1], clients[2] is clients[3]) == (bridged, bridged)
    assert clients[4] is not clients[0] and clients[4].meta.region_name == "eu-west-1"
