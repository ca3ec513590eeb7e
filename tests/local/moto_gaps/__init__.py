"""What the tests of local/moto_gaps/ share: each gap tested twice, in plain moto and bridged."""
import json
import time
from contextlib import nullcontext

from local import moto_gaps

BRIDGED = [False, True]
IDS = ["plain-moto", "bridged"]


def moto(bridged: bool):
    return moto_gaps.bridged() if bridged else nullcontext()


def template(resources: dict, outputs: dict | None = None) -> str:
    return json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources, "Outputs": outputs or {}})


STATE_MACHINE = {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
    "StateMachineName": "from-a-stack", "RoleArn": "arn:aws:iam::123456789012:role/states",
    "DefinitionString": json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})}}


def finished(stepfunctions, execution_arn: str) -> dict:
    """The execution's description once it is no longer running (10 s at most)."""
    for _ in range(200):
        described = stepfunctions.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise AssertionError("the execution kept running")
