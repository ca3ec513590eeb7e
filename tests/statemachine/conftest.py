from types import SimpleNamespace

import boto3
import pytest
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from local.workflow import local_workflow
from tests.handlers.doubles import MotoEndpoint


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
def workflow(monkeypatch, endpoint):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with local_workflow() as deployed:
        boto3.client("s3").create_bucket(Bucket=deployed.images_bucket)
        yield deployed
