"""Distributed Map (onboardFleet, statemachine/onboard_fleet.asl.json): moto's gaps designed around.

Not bridged by a patch but designed around, in the state machine itself: these notice when moto
closes each gap, so that the design can use what AWS offers (docs/onboarding.md, "moto's gaps").
"""
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.aws import MOTO_CONFIG
from tests.local.moto_gaps import finished


def distributed_map(**extra) -> dict:
    """A Distributed Map over a JSON list in S3, each child passing its item on."""
    processor = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": extra.pop("execution_type", "STANDARD")},
                 "StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}
    return {"StartAt": "Map", "States": {"Map": {
        "Type": "Map", "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON"},
                                      "Parameters": {"Bucket": "items", "Key": "items.json"}},
        "MaxConcurrency": 2, "ItemProcessor": processor, "End": True, **extra}}}


def run_distributed_map(definition: dict) -> dict:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="items")
    s3.put_object(Bucket="items", Key="items.json", Body=json.dumps([{"n": n} for n in range(5)]).encode())
    stepfunctions = boto3.client("stepfunctions")
    arn = stepfunctions.create_state_machine(name="map", definition=json.dumps(definition),
                                             roleArn="arn:aws:iam::123456789012:role/states")["stateMachineArn"]
    return finished(stepfunctions, stepfunctions.start_execution(stateMachineArn=arn, name="run", input="{}")["executionArn"])


def test_a_distributed_map_reads_its_items_from_s3_and_runs_a_child_each():
    """What onboardFleet relies on, in moto as installed."""
    with mock_aws(config=MOTO_CONFIG):
        description = run_distributed_map(distributed_map())

    assert description["status"] == "SUCCEEDED"
    assert json.loads(description["output"]) == [{"n": n} for n in range(5)]


def test_an_item_batcher_is_not_parsed_so_a_first_step_writes_the_chunks():
    """AWS batches items with ItemBatcher (MaxItemsPerBatch); moto's ASL grammar has no such field.
    onboardFleet's Prepare Onboarding writes chunk files instead. Upstream fix: ItemBatcher in
    moto's ASL parser."""
    with mock_aws(config=MOTO_CONFIG), pytest.raises(ClientError, match="ASLParserException.*ItemBatcher"):
        run_distributed_map(distributed_map(ItemBatcher={"MaxItemsPerBatch": 2}))


def test_an_express_child_type_is_not_parsed_so_offline_stages_run_standard_children():
    """AWS runs a Distributed Map's children as EXPRESS (billed by duration) or STANDARD executions;
    moto's grammar knows only STANDARD. serverless.yml's onboardChildExecutionType is EXPRESS for
    dev and prod, STANDARD elsewhere. Upstream fix: EXPRESS in moto's ExecutionType."""
    with mock_aws(config=MOTO_CONFIG), pytest.raises(ClientError, match="ASLParserException.*EXPRESS"):
        run_distributed_map(distributed_map(execution_type="EXPRESS"))


def test_a_result_writer_writes_a_manifest_without_result_files_so_children_write_their_own():
    """AWS writes the children's results to S3 (ResultWriter) in SUCCEEDED/FAILED/PENDING files;
    moto writes only a manifest whose file lists are empty. onboardFleet's children write their
    chunk's results themselves. Upstream fix: result files in moto's ResultWriter."""
    definition = distributed_map(ResultWriter={"Resource": "arn:aws:states:::s3:putObject",
                                               "Parameters": {"Bucket": "items", "Prefix": "results"}})
    with mock_aws(config=MOTO_CONFIG):
        description = run_distributed_map(definition)
        keys = [item["Key"] for item in boto3.client("s3").list_objects_v2(Bucket="items", Prefix="results")["Contents"]]
        written = json.loads(boto3.client("s3").get_object(Bucket="items", Key=keys[0])["Body"].read())

    assert description["status"] == "SUCCEEDED"
    assert len(keys) == 1 and keys[0].endswith("/manifest.json")
    assert written["ResultFiles"] == {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
