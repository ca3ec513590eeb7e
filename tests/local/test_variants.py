"""Production and shadow variants of the local endpoint, through boto3's sagemaker-runtime client."""
import random
import threading
import time
from collections import Counter

import boto3
import pytest
from botocore.exceptions import ClientError

import settings
from local import endpoint, variants
from local.capture import CaptureWriter
from monitoring import capture_format, storage
from tests.local.conftest import png_bytes

ENDPOINT_NAME = "shadowed"


class FailingModel:
    """A shadow whose container crashes on every request."""

    def transform(self, body, content_type, accept):
        raise RuntimeError("the shadow container crashed")


class SlowModel:
    """A shadow that takes far longer than the production model, then answers like it."""

    def __init__(self, model, seconds):
        self.model, self.seconds = model, seconds

    def transform(self, body, content_type, accept):
        time.sleep(self.seconds)
        return self.model.transform(body, content_type, accept)


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return endpoint.InferenceModel(tiny_model_dir)


def serving(app):
    server = endpoint.EndpointServer(app, port=0).start()
    return server, boto3.client("sagemaker-runtime", endpoint_url=server.url, region_name="us-east-1",
                                aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def shadowed(model, tmp_path):
    """Production AllTraffic and a shadow getting every request, both captured."""
    capture = CaptureWriter(str(tmp_path / "captures"), ENDPOINT_NAME, settings.DEFAULT_VARIANT_NAME)
    app = endpoint.EndpointApp(model, ENDPOINT_NAME, on_invocation=capture.submit,
                               shadow=variants.ShadowVariant("Challenger", model, 100.0))
    server, runtime = serving(app)
    yield app, runtime, capture
    server.stop()
    capture.close()


def test_shadow_answers_are_captured_under_their_own_variant_with_the_same_inference_id(shadowed):
    app, runtime, capture = shadowed

    response = runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=png_bytes((120, 80, 40)), ContentType="image/png",
                                       InferenceId="driver-1")
    app.shadow.wait()
    capture.flush()

    assert response["InvokedProductionVariant"] == settings.DEFAULT_VARIANT_NAME
    records = {}
    for path, line in storage.iter_jsonl_lines(capture.destination):
        records[path.split(ENDPOINT_NAME + "/")[1].split("/")[0]] = capture_format.parse_capture_line(line)
    assert set(records) == {settings.DEFAULT_VARIANT_NAME, "Challenger"}
    assert {record.inference_id for record in records.values()} == {"driver-1"}


def test_a_failing_shadow_never_fails_or_changes_the_answer(model, tmp_path):
    app = endpoint.EndpointApp(model, ENDPOINT_NAME, shadow=variants.ShadowVariant("Broken", FailingModel(), 100.0))
    plain = endpoint.EndpointApp(model, ENDPOINT_NAME)
    server, runtime = serving(app)
    plain_server, plain_runtime = serving(plain)
    try:
        body = png_bytes((120, 80, 40))
        answers = [runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=body, ContentType="image/png")["Body"].read()
                   for _ in range(3)]
        expected = plain_runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=body, ContentType="image/png")["Body"].read()
        app.shadow.wait()
    finally:
        server.stop()
        plain_server.stop()

    assert answers == [expected] * 3
    assert (app.shadow.failed, app.shadow.answered) == (3, 0)


def test_a_slow_shadow_never_delays_the_answer(model):
    app = endpoint.EndpointApp(model, ENDPOINT_NAME, shadow=variants.ShadowVariant("Slow", SlowModel(model, 2.0), 100.0))
    server, runtime = serving(app)
    try:
        started = time.perf_counter()
        runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=png_bytes((120, 80, 40)), ContentType="image/png")
        answered_in = time.perf_counter() - started
        app.shadow.wait()
    finally:
        server.stop()

    assert answered_in < 1.5 and app.shadow.answered == 1


def test_a_shadow_that_falls_behind_drops_copies_instead_of_queueing_them(model):
    release = threading.Event()

    class Stuck:
        def transform(self, body, content_type, accept):
            release.wait(10)
            return model.transform(body, content_type, accept)

    caller = variants.ShadowCaller(variants.ShadowVariant("Stuck", Stuck(), 100.0), lambda *args: None, max_in_flight=2)
    submitted = [caller.submit(None, png_bytes((120, 80, 40)), "image/png", "application/json") for _ in range(5)]
    release.set()
    caller.wait()
    caller.close()

    assert submitted == [True, True, False, False, False] and caller.dropped == 3


def test_weights_share_the_traffic_and_target_variant_picks_one(model):
    app = endpoint.EndpointApp(model, ENDPOINT_NAME, variants=[
        variants.ProductionVariant("Blue", model, 3.0), variants.ProductionVariant("Green", model, 1.0)])
    app.router = variants.VariantRouter(app.router.variants, random.Random(4))
    server, runtime = serving(app)
    try:
        served = Counter(runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=png_bytes((120, 80, 40)), ContentType="image/png")[
            "InvokedProductionVariant"] for _ in range(200))
        targeted = {runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=png_bytes((120, 80, 40)), ContentType="image/png",
                                            TargetVariant="Green")["InvokedProductionVariant"] for _ in range(5)}
        with pytest.raises(ClientError) as error:
            runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=png_bytes((120, 80, 40)), ContentType="image/png",
                                    TargetVariant="Purple")
    finally:
        server.stop()

    assert 130 <= served["Blue"] <= 170 and served["Blue"] + served["Green"] == 200
    assert targeted == {"Green"}
    assert error.value.response["Error"]["Code"] == "ValidationError" and "Purple" in str(error.value)


def test_sampling_percentage_copies_about_that_share():
    caller = variants.ShadowCaller(variants.ShadowVariant("Quarter", FailingModel(), 25.0), lambda *args: None,
                                   rng=random.Random(1), max_in_flight=1000)
    copied = sum(caller.submit(None, b"", "image/png", "application/json") for _ in range(400))
    caller.wait()
    caller.close()

    assert 70 <= copied <= 130
