"""The local endpoint's CloudWatch metrics, as SageMaker publishes them per variant."""
import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local import endpoint, variants
from local.endpoint_metrics import EndpointMetrics
from tests.local.conftest import png_bytes
from tests.local.test_variants import FailingModel, serving

ENDPOINT_NAME = "measured"


def values(cloudwatch, name, variant):
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.core import DEFAULT_ACCOUNT_ID
    data = cloudwatch_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].metric_data
    return [datum.value for datum in data if datum.name == name and datum.namespace == "AWS/SageMaker"
            and {(d.name, d.value) for d in datum.dimensions} == {("EndpointName", ENDPOINT_NAME), ("VariantName", variant)}]


def test_answers_errors_and_latency_are_published_per_variant(tiny_model_dir, dummy_aws_credentials):
    model = endpoint.InferenceModel(tiny_model_dir)
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        app = endpoint.EndpointApp(model, ENDPOINT_NAME, variants=[variants.ProductionVariant("Good", model),
                                                                   variants.ProductionVariant("Broken", FailingModel())])
        app.metrics = EndpointMetrics(cloudwatch, ENDPOINT_NAME)
        server, runtime = serving(app)
        try:
            for _ in range(3):
                runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=png_bytes((10, 200, 30)),
                                        ContentType="image/png", TargetVariant="Good")
            with pytest.raises(ClientError, match="ModelError"):
                runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=png_bytes((10, 200, 30)),
                                        ContentType="image/png", TargetVariant="Broken")
            app.metrics.flush()
        finally:
            server.stop()
            app.metrics.close()

        assert values(cloudwatch, "Invocations", "Good") == [1.0] * 3
        assert values(cloudwatch, "Invocation5XXErrors", "Good") == [0.0] * 3
        assert len(values(cloudwatch, "ModelLatency", "Good")) == 3 and min(values(cloudwatch, "ModelLatency", "Good")) > 0
        # The caller gets 424 ModelError; SageMaker counts the container's crash as a 5XX.
        assert values(cloudwatch, "Invocation5XXErrors", "Broken") == [1.0]
        assert values(cloudwatch, "ModelLatency", "Broken") == []


def test_a_cloudwatch_that_fails_never_takes_the_endpoint_down(caplog):
    class Unreachable:
        def put_metric_data(self, **kwargs):
            raise ConnectionError("no CloudWatch here")

    metrics = EndpointMetrics(Unreachable(), ENDPOINT_NAME)
    metrics.record("AllTraffic", 200, 1500.0)
    metrics.close()

    assert "Could not put 4 endpoint metric values: no CloudWatch here" in caplog.text
