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
