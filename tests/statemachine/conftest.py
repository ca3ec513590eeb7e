import json
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from local import deployment, moto_gaps
from local.aws import MOTO_CONFIG
from local.workflow import handlers_in_process
from tests.handlers.doubles import MotoEndpoint

STAGE = "test"


@pytest.fixture(autouse=True)
def retry_waits(monkeypatch):
    """moto's interpreter sleeps for real between retries (the ASL's IntervalSeconds, at least 1 s):
    record each wait instead, so the tests check the backoff without spending it."""
    waits = []
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=waits.append))
    return waits


@pytest.fixture
def endpoint(monkeypatch):
    return MotoEndpoint(monkeypatch)


@pytest.fixture
def workflow(monkeypatch, endpoint, packaged_service):
    """The packaged service deployed into moto (in this process) as `sls deploy` would deploy it."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws(config=MOTO_CONFIG), moto_gaps.bridged(), handlers_in_process():
        deployed = deployment.deploy(packaged_service, STAGE).workflow()
        boto3.client("s3").create_bucket(Bucket=deployed.images_bucket)
        yield deployed


class Subscriber:
    """What dispatch does: a rule of its own on the decisions bus, delivering to its own queue."""

    def __init__(self, bus: str):
        sqs = boto3.client("sqs")
        self.queue_url = sqs.create_queue(QueueName="dispatch")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events = boto3.client("events")
        events.put_rule(Name="dispatch", EventBusName=bus, EventPattern='{"source": ["vehicle-routing"]}')
        events.put_targets(Rule="dispatch", EventBusName=bus, Targets=[{"Id": "dispatch-queue", "Arn": queue_arn}])

    def events(self) -> list:
        return [json.loads(message["Body"]) for message in drain(self.queue_url)]


def drain(queue_url: str) -> list:
    sqs, messages = boto3.client("sqs"), []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)
        for message in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def dispatch(workflow):
    return Subscriber(workflow.decision_bus)


@pytest.fixture
def review_requests(workflow):
    """The review queue's messages so far (each read removes them)."""
    return lambda: [json.loads(message["Body"]) for message in drain(workflow.review_queue_url)]
