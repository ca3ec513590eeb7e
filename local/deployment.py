"""The service as `sls package` builds it, deployed the way `sls deploy` deploys it.

`package()` runs the real `npx sls package` (osls + serverless-step-functions + the per-function
roles and the Pillow layer) against an AWS stand-in: osls asks CloudFormation whether the layer
changed, even when only packaging. `deploy()` then does what `sls deploy` does with that package,
through whatever AWS the boto3 clients reach (the stand-in of local/aws.py, or moto in process in
tests): create the stack with the deployment bucket, upload the artifacts, update the stack to the
generated template. What runs is therefore exactly what would be deployed to AWS: the functions,
their roles and environment, the state machine with the functions' ARNs substituted, the outputs.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import boto3

import settings
from local.workflow import Workflow

SERVICE = "vehicle-routing"
CREATE_TEMPLATE = "cloudformation-template-create-stack.json"
UPDATE_TEMPLATE = "cloudformation-template-update-stack.json"
# Outputs of serverless.yml the offline run needs.
STATE_MACHINE_OUTPUT = "ClassifyVehicleStateMachineArn"
IMAGES_BUCKET_OUTPUT = "ImagesBucketName"
DECISION_BUS_OUTPUT = "DecisionBusName"
REVIEW_QUEUE_OUTPUT = "ReviewQueueUrl"
DEPLOYMENT_BUCKET_OUTPUT = "ServerlessDeploymentBucketName"
DASHBOARD_OUTPUT = "OperationsDashboardName"
SLS_TIMEOUT_SECONDS = 600
# osls polls CloudFormation every 5 s by default; the stand-in answers at once.
FAST_POLLING = {"SLS_AWS_MONITORING_FREQUENCY": "200"}
QUIET_SLS = {"SLS_TELEMETRY_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off"}


class DeploymentError(Exception):
    """Packaging or deploying failed; the message says what to fix."""


def sls(*arguments: str, environment: Mapping[str, str], cwd: Path = settings.PROJECT_ROOT,
        timeout: float = SLS_TIMEOUT_SECONDS) -> subprocess.CompletedProcess:
    """Run the project's own `sls` (node_modules, installed by bin/setup) with these AWS settings."""
    if shutil.which("npx") is None:
        raise DeploymentError("npx not found: install Node.js 20+ and run bin/setup (it installs the Serverless CLI)")
    process_environment = {key: value for key, value in os.environ.items() if key != "AWS_PROFILE"}
    process_environment.update(QUIET_SLS, **environment)
    completed = subprocess.run(["npx", "--no-install", "sls", *arguments], cwd=cwd, env=process_environment,
                               capture_output=True, text=True, timeout=timeout)
    if completed.returncode != 0:
        raise DeploymentError(f"`sls {' '.join(arguments)}` failed (exit {completed.returncode}):\n"
                              f"{completed.stdout[-3000:]}{completed.stderr[-3000:]}")
    return completed


def parameter_options(params: Mapping[str, str]) -> list[str]:
    return [f"--param={name}={value}" for name, value in params.items()]


# Everything `sls package` reads: a package is rebuilt only when one of them (or stage or params) changed.
PACKAGE_INPUTS = ("serverless.yml", "package.json", "package-lock.json", "settings.py", "handlers/*.py",
                  "handlers/requirements.txt", "imaging/*.py", "monitoring/*.py", "training/*.py",
                  "reviewing/*.py", "reviewing/static/*.*", "reviewing/static/examples/*", "statemachine/*.json", "training/endpoint.json")
# Enough for every stage and parameter set one test session packages (test, offline, learn, ...):
# a package a session fixture still uses must not be forgotten under it.
PACKAGES_KEPT = 8


def package_key(stage: str, params: Mapping[str, str], root: Path = settings.PROJECT_ROOT) -> str:
    digest = hashlib.sha256(json.dumps([stage, sorted(params.items())]).encode())
    for pattern in PACKAGE_INPUTS:
        for path in sorted(root.glob(pattern)):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def package(stage: str, params: Mapping[str, str], aws_environment: Mapping[str, str],
            cache_dir: Path = settings.PACKAGE_CACHE_DIR) -> Path:
    """The directory `sls package --stage STAGE --param=...` writes: reused when nothing it reads
    changed, else built anew beside the others and moved into place whole."""
    directory = Path(cache_dir) / f"{stage}-{package_key(stage, params)}"
    if (directory / UPDATE_TEMPLATE).is_file():
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    scratch = tempfile.mkdtemp(dir=directory.parent, prefix=".packaging-")
    arguments = ("package", "--stage", stage, "--package", scratch, *parameter_options(params))
    try:
        try:
            sls(*arguments, environment={**aws_environment, **FAST_POLLING})
        except DeploymentError as first_failure:
            # Packaging fetches the layer's wheels from PyPI when its cache is cold; one failed
            # attempt (a network hiccup) is retried once, and said, before it fails the run.
            print(f"warning: {first_failure}\nRetrying `sls package` once ...", file=sys.stderr, flush=True)
            shutil.rmtree(scratch, ignore_errors=True)
            sls(*arguments, environment={**aws_environment, **FAST_POLLING})
        os.replace(scratch, directory)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _forget_old_packages(directory.parent)
    return directory


def _forget_old_packages(cache_dir: Path) -> None:
    packages = sorted((path for path in cache_dir.iterdir() if path.is_dir() and not path.name.startswith(".")),
                      key=lambda path: path.stat().st_mtime, reverse=True)
    for old in packages[PACKAGES_KEPT:]:
        shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class Deployment:
    stack_name: str
    outputs: dict

    def workflow(self, stepfunctions_client=None, output: str = STATE_MACHINE_OUTPUT) -> Workflow:
        """The classify-vehicle workflow, or the state machine whose ARN is the stack output named."""
        return Workflow(state_machine_arn=self.outputs[output],
                        images_bucket=self.outputs[IMAGES_BUCKET_OUTPUT],
                        client=stepfunctions_client or boto3.client("stepfunctions"),
                        decision_bus=self.outputs.get(DECISION_BUS_OUTPUT),
                        review_queue_url=self.outputs.get(REVIEW_QUEUE_OUTPUT))


def stack_name(stage: str) -> str:
    return f"{SERVICE}-{stage}"


def deploy(package_dir: Path, stage: str, cloudformation=None, s3=None) -> Deployment:
    """Deploy a `sls package` directory as `sls deploy` would: the create-stack template (the
    deployment bucket), the artifacts uploaded where the template expects them, then the
    update-stack template. Updates an existing stack of the same name."""
    package_dir = Path(package_dir)
    cloudformation = cloudformation or boto3.client("cloudformation")
    s3 = s3 or boto3.client("s3")
    name = stack_name(stage)
    template = json.loads((package_dir / UPDATE_TEMPLATE).read_text())
    if not _stack_exists(cloudformation, name):
        cloudformation.create_stack(StackName=name, TemplateBody=(package_dir / CREATE_TEMPLATE).read_text(),
                                    Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"])
        _wait(cloudformation, name, "stack_create_complete")
    bucket = _outputs(cloudformation, name)[DEPLOYMENT_BUCKET_OUTPUT]
    for key in _artifact_keys(template):
        artifact = package_dir / Path(key).name
        if not artifact.is_file():
            raise DeploymentError(f"the template names {key}, but {package_dir} has no {artifact.name}")
        s3.upload_file(str(artifact), bucket, key)
    cloudformation.update_stack(StackName=name, TemplateBody=json.dumps(template),
                                Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"])
    _wait(cloudformation, name, "stack_update_complete")
    return Deployment(stack_name=name, outputs=_outputs(cloudformation, name))


def _stack_exists(cloudformation, name: str) -> bool:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except cloudformation.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return False
        raise
    return any(stack["StackStatus"] != "DELETE_COMPLETE" for stack in stacks)


def _wait(cloudformation, name: str, waiter: str) -> None:
    cloudformation.get_waiter(waiter).wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})


def _outputs(cloudformation, name: str) -> dict:
    [stack] = cloudformation.describe_stacks(StackName=name)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def _artifact_keys(template: dict) -> list[str]:
    """The S3 keys of every function's code and layer's content the template refers to."""
    keys = []
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        source = properties.get("Code") if resource["Type"] == "AWS::Lambda::Function" else (
            properties.get("Content") if resource["Type"] == "AWS::Lambda::LayerVersion" else None)
        if source and isinstance(source.get("S3Key"), str):
            keys.append(source["S3Key"])
    return sorted(set(keys))


def remove(stage: str, cloudformation=None) -> None:
    cloudformation = cloudformation or boto3.client("cloudformation")
    cloudformation.delete_stack(StackName=stack_name(stage))
