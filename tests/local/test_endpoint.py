"""The local endpoint against boto3's real sagemaker-runtime client."""
import io
import json
import shutil
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import boto3
import mxnet as mx
import pytest

import settings
from local import endpoint
from monitoring import capture_format, storage
from tests.local.conftest import png_bytes
from training import inference, model_artifacts

ENDPOINT_NAME = "test-endpoint"


@pytest.fixture
def running_endpoint(tiny_model_dir, tmp_path):
    """A started endpoint serving the tiny model, capturing to tmp_path/captures."""
    server, capture = endpoint.serve(tiny_model_dir, ENDPOINT_NAME, port=0,
                                     capture_destination=str(tmp_path / "captures"))
    server.start()
    yield server, capture
    server.stop()
    capture.close()


@pytest.fixture
def runtime(running_endpoint):
    server, _ = running_endpoint
    return boto3.client("sagemaker-runtime", endpoint_url=server.url)


def captured_records(capture):
    capture.flush()
    return [capture_format.parse_capture_line(line)
            for _, line in storage.iter_jsonl_lines(capture.destination)]


def test_endpoint_returns_probabilities_with_sagemaker_headers(runtime, png_image):
    response = runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=png_image, ContentType="image/png",
                                       Accept="application/json", CustomAttributes="trace=1")

    probabilities = json.loads(response["Body"].read())
    assert len(probabilities) == len(settings.CLASS_NAMES)
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == settings.DEFAULT_VARIANT_NAME
    assert response["CustomAttributes"] == "trace=1"


def test_endpoint_answers_exactly_what_transform_fn_answers(runtime, tiny_model_dir, png_image):
    expected, _ = inference.transform_fn(inference.model_fn(tiny_model_dir), png_image, "image/png",
                                         "application/json")

    response = runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=png_image, ContentType="image/png")

    assert json.loads(response["Body"].read()) == json.loads(expected)


@pytest.mark.parametrize(
    "body, content_type, accept, original_status",
    [(png_bytes((1, 2, 3)), "text/plain", "application/json", 415),
     (b"these bytes are no image", "image/png", "application/json", 400),
     (png_bytes((1, 2, 3)), "image/png", "text/csv", 406)],
    ids=["unsupported-content-type", "undecodable-bytes", "unsupported-accept"])
def test_endpoint_bad_input_raises_model_error_with_original_status(runtime, body, content_type, accept,
                                                                   original_status):
    with pytest.raises(runtime.exceptions.ModelError) as error:
        runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=body, ContentType=content_type, Accept=accept)

    assert error.value.response["Error"]["Code"] == "ModelError"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error.value.response["OriginalStatusCode"] == original_status
    assert error.value.response["OriginalMessage"] in error.value.response["Error"]["Message"]


def test_endpoint_unknown_name_raises_validation_error(runtime, png_image):
    with pytest.raises(runtime.exceptions.ValidationError) as error:
        runtime.invoke_endpoint(EndpointName="no-such-endpoint", Body=png_image, ContentType="image/png")

    assert error.value.response["Error"]["Code"] == "ValidationError"
    assert "no-such-endpoint" in error.value.response["Error"]["Message"]
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize("length, accepted", [(64, True), (65, False)], ids=["64-characters", "65-characters"])
def test_endpoint_refuses_an_inference_id_longer_than_sagemakers_limit(runtime, png_image, length, accepted):
    call = lambda: runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=png_image, ContentType="image/png",  # noqa: E731
                                           InferenceId="i" * length)
    if accepted:
        assert call()["ResponseMetadata"]["HTTPStatusCode"] == 200
        return

    with pytest.raises(runtime.exceptions.ValidationError) as error:
        call()

    assert "'inferenceId' failed to satisfy constraint" in error.value.response["Error"]["Message"]
    assert "less than or equal to 64" in error.value.response["Error"]["Message"]


class FailingModel:
    """A model whose container crashes with a message that names a Python object."""

    def transform(self, body, content_type, accept):
        raise ValueError(f"cannot identify image file {io.BytesIO(body)!r}")


def test_endpoint_error_messages_never_show_python_object_representations():
    app = endpoint.EndpointApp(FailingModel(), ENDPOINT_NAME)
    server = endpoint.EndpointServer(app, port=0).start()
    try:
        runtime = boto3.client("sagemaker-runtime", endpoint_url=server.url)
        with pytest.raises(runtime.exceptions.ModelError) as error:
            runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=b"x", ContentType="image/png")
    finally:
        server.stop()

    message = error.value.response["Error"]["Message"] + error.value.response["OriginalMessage"]
    assert "object at 0x" not in message
    assert "cannot identify image file the BytesIO" in message


def test_endpoint_ping_answers_ok(running_endpoint):
    server, _ = running_endpoint

    with urllib.request.urlopen(f"{server.url}/ping", timeout=5) as response:
        assert response.status == 200


def test_endpoint_boto3_reaches_it_through_the_standard_url_variable(running_endpoint, monkeypatch, png_image):
    server, _ = running_endpoint
    monkeypatch.setenv(settings.ENV_SAGEMAKER_RUNTIME_URL, server.url)
    runtime = boto3.client("sagemaker-runtime")

    response = runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=png_image, ContentType="image/png")

    assert len(json.loads(response["Body"].read())) == len(settings.CLASS_NAMES)


def test_endpoint_captures_each_request_in_sagemaker_format(running_endpoint, runtime, png_image):
    _, capture = running_endpoint

    runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=png_image, ContentType="image/png",
                            InferenceId="image-1")

    [record] = captured_records(capture)
    assert record.inference_id == "image-1"
    assert record.input_body == png_image
    assert record.input_content_type == "image/png"
    assert len(json.loads(record.output_body)) == len(settings.CLASS_NAMES)
    [path] = storage.list_jsonl(capture.destination)
    assert f"/{ENDPOINT_NAME}/{settings.DEFAULT_VARIANT_NAME}/{capture_format.hour_path(record.inference_time)}/" in path


def test_endpoint_concurrent_requests_are_each_answered_and_captured_once(running_endpoint, tiny_model_dir):
    server, capture = running_endpoint
    model = inference.model_fn(tiny_model_dir)
    images = {f"image-{index}": png_bytes((index * 7 % 256, 255 - index * 3, index * 11 % 256))
              for index in range(48)}

    def invoke(item):
        inference_id, image = item
        runtime = boto3.client("sagemaker-runtime", endpoint_url=server.url)
        response = runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=image, ContentType="image/png",
                                           InferenceId=inference_id)
        return inference_id, json.loads(response["Body"].read())

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = dict(pool.map(invoke, images.items()))
    records = captured_records(capture)

    # Coalesced forward passes must hand every request its own image's answer (a batch may round
    # the last float digits differently from a single forward pass).
    expected = {inference_id: json.loads(inference.transform_fn(model, image, "image/png", "application/json")[0])
                for inference_id, image in images.items()}
    assert answers.keys() == expected.keys()
    assert all(answers[key] == pytest.approx(expected[key], abs=1e-6) for key in expected)
    assert len(records) == len(images)
    assert {record.inference_id: record.input_body for record in records} == images


def test_endpoint_busy_port_raises_port_in_use(running_endpoint):
    server, _ = running_endpoint

    with pytest.raises(endpoint.PortInUse, match=str(server.port)):
        endpoint.EndpointServer(server.app, port=server.port)


def test_serve_missing_model_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="No trained model"):
        endpoint.serve(tmp_path / "empty", ENDPOINT_NAME)


def test_endpoint_cli_missing_model_exits_with_message(tmp_path, capsys):
    status = endpoint.main(["--model-dir", str(tmp_path), "--port", "0"])

    assert status == 1
    assert "No trained model" in capsys.readouterr().err


@pytest.fixture
def reordered_model_dir(tiny_model_dir, tmp_path):
    """The tiny model, claiming its outputs come in the reverse of settings.CLASS_NAMES."""
    model_dir = tmp_path / "reordered-model"
    shutil.copytree(tiny_model_dir, model_dir)
    (model_dir / model_artifacts.CLASSES_FILE).write_text(json.dumps(list(reversed(settings.CLASS_NAMES))))
    return model_dir


def test_endpoint_refuses_a_model_whose_class_order_is_not_the_workflows(reordered_model_dir):
    with pytest.raises(endpoint.ModelMismatch) as refusal:
        endpoint.serve(reordered_model_dir, ENDPOINT_NAME, port=0)

    assert str(list(reversed(settings.CLASS_NAMES))) in str(refusal.value)
    assert "settings.CLASS_NAMES" in str(refusal.value)


def test_endpoint_cli_refuses_a_reordered_model_with_a_message(reordered_model_dir, capsys):
    status = endpoint.main(["--model-dir", str(reordered_model_dir), "--port", "0"])

    assert status == 1
    assert "class order" in capsys.readouterr().err


class GatedNetwork:
    """The tiny model's network, recording what it is given; its first call waits for the gate."""

    def __init__(self, network):
        self.network = network
        self.inputs = []
        self.first_call_started = threading.Event()
        self.gate = threading.Event()

    def __call__(self, batch):
        self.inputs.append(batch)
        if len(self.inputs) == 1:
            self.first_call_started.set()
            self.gate.wait(timeout=30)
        return self.network(batch)


@pytest.fixture
def gated_network(tiny_model_dir):
    return GatedNetwork(inference.model_fn(tiny_model_dir).network)


def pixel_batch(value: float, rows: int = 1):
    return mx.nd.full((rows, 3, 32, 32), value)


def test_batching_network_gives_a_lone_request_to_the_network_as_it_is(gated_network):
    gated_network.gate.set()
    batch = pixel_batch(120.0)

    outputs = endpoint.BatchingNetwork(gated_network)(batch)

    assert gated_network.inputs == [batch]
    assert [output.asnumpy().tolist() for output in outputs] == [
        output.asnumpy().tolist() for output in gated_network.network(batch)]


def test_batching_network_hands_each_coalesced_request_its_own_rows(gated_network):
    batching = endpoint.BatchingNetwork(gated_network)
    batches = [pixel_batch(10.0), pixel_batch(90.0, rows=2), pixel_batch(250.0)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        first = pool.submit(batching, batches[0])
        assert gated_network.first_call_started.wait(timeout=30)
        queued = [pool.submit(batching, batch) for batch in batches[1:]]
        while batching._queue.qsize() < len(queued):  # both wait behind the first forward pass
            time.sleep(0.001)
        gated_network.gate.set()
        answers = [[output.asnumpy() for output in future.result(timeout=30)] for future in [first, *queued]]

    assert [batch.shape[0] for batch in gated_network.inputs] == [1, 3]
    for batch, answer in zip(batches, answers):
        for output, expected in zip(answer, gated_network.network(batch)):  # logits, then feature distances
            assert output == pytest.approx(expected.asnumpy(), rel=1e-4, abs=1e-5)
