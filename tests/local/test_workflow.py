import json
import os
import shutil
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

import settings
from local.workflow import SERVERLESS_FILE, local_workflow, read_service
from tests.handlers.doubles import assessment, image_bytes


@pytest.fixture
def aws_credentials(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def service_copy(tmp_path):
    """serverless.yml in a directory of its own, so a test may add training/endpoint.json there."""
    shutil.copy(SERVERLESS_FILE, tmp_path / "serverless.yml")
    (tmp_path / "training").mkdir()
    return tmp_path


def test_read_service_takes_function_keys_handlers_and_environment_from_serverless_yml(service_copy):
    service = read_service("dev", service_copy / "serverless.yml")

    functions = {function.key: function for function in service.functions}
    assert {key: function.handler for key, function in functions.items()} == {
        "serializeImage": "handlers/serialize_image.handler", "classifyImage": "handlers/classify_image.handler",
        "filterConfidence": "handlers/filter_confidence.handler"}
    assert functions["classifyImage"].environment == {settings.ENV_ENDPOINT_NAME: settings.DEFAULT_ENDPOINT_NAME}
    assert float(functions["filterConfidence"].environment[settings.ENV_THRESHOLD]) == settings.DEFAULT_THRESHOLD
    assert functions["classifyImage"].name == "vehicle-routing-dev-classifyImage"
    assert service.state_machine_name == "vehicle-routing-dev-classify-vehicle"
    assert service.images_bucket == "vehicle-routing-dev-images"


def test_read_service_takes_the_endpoint_name_the_training_launcher_wrote(service_copy):
    (service_copy / "training" / "endpoint.json").write_text(json.dumps({"endpoint_name": "vehicles-2026-11-25"}))

    functions = {function.key: function for function in read_service("prod", service_copy / "serverless.yml").functions}

    assert functions["classifyImage"].environment[settings.ENV_ENDPOINT_NAME] == "vehicles-2026-11-25"
    assert functions["classifyImage"].name == "vehicle-routing-prod-classifyImage"


class _LocalEndpoint(BaseHTTPRequestHandler):
    """Speaks just enough of the SageMaker runtime API: POST /endpoints/{name}/invocations."""
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, self.headers["Content-Type"], body))
        answer = assessment(0.04, 0.96).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_endpoint_url():
    _LocalEndpoint.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LocalEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_local_workflow_runs_the_handlers_against_an_endpoint_at_a_local_url(aws_credentials, local_endpoint_url):
    png = image_bytes("PNG")
    environment = {settings.ENV_ENDPOINT_NAME: "local-vehicles",
                   settings.ENV_SAGEMAKER_RUNTIME_URL: local_endpoint_url}

    with local_workflow(environment=environment) as workflow:
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=workflow.images_bucket)
        s3.put_object(Bucket=workflow.images_bucket, Key="driver.png", Body=png)
        result = workflow.run({"s3_bucket": workflow.images_bucket, "s3_key": "driver.png"})

    assert (result.status, result.output["label"], result.output["route"]) == ("SUCCEEDED", "motorcycle", "far")
    assert _LocalEndpoint.received == [("/endpoints/local-vehicles/invocations", "image/png", png)]


def test_local_workflow_reports_a_handler_exception_as_lambdas_error_payload(aws_credentials):
    with local_workflow() as workflow:
        result = workflow.run({"s3_bucket": workflow.images_bucket, "s3_key": "driver.png"})

    assert (result.status, result.error) == ("FAILED", "ImageNotFound")
    payload = json.loads(result.cause)
    assert payload["errorType"] == "ImageNotFound"
    assert "driver.png" in payload["errorMessage"]
    assert result.error_message == payload["errorMessage"]
    assert any("serialize_image.py" in frame for frame in payload["stackTrace"])


def invoke_function(workflow, key: str, event: dict) -> dict:
    response = boto3.client("lambda").invoke(FunctionName=workflow.function_arns[key], Payload=json.dumps(event))
    return json.loads(response["Payload"].read())


@pytest.fixture
def frequent_thread_switches():
    """Switch threads every microsecond, so a brief gap in os.environ is met if there is one."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def test_local_workflow_never_hides_the_process_environment_from_other_threads(aws_credentials,
                                                                              frequent_thread_switches):
    misses = []
    stop = threading.Event()

    def read_region():
        while not stop.is_set():
            if "AWS_DEFAULT_REGION" not in os.environ:
                misses.append(1)

    with local_workflow(environment={settings.ENV_THRESHOLD: "0.5"}) as workflow:
        reader = threading.Thread(target=read_region)
        reader.start()
        try:
            for _ in range(60):
                invoke_function(workflow, "filterConfidence", {"label": "bicycle", "confidence": 0.7, "usable": True,
                                                                    "unusable_reasons": []})
        finally:
            stop.set()
            reader.join()

    assert misses == []


def test_local_workflow_applies_a_functions_environment_at_import_and_leaves_none_behind(aws_credentials,
                                                                                        monkeypatch):
    monkeypatch.delenv(settings.ENV_THRESHOLD, raising=False)

    with local_workflow(environment={settings.ENV_THRESHOLD: "0.5"}) as workflow:
        answer = invoke_function(workflow, "filterConfidence", {"label": "bicycle", "confidence": 0.7, "usable": True,
                                                                    "unusable_reasons": []})
        leaked = settings.ENV_THRESHOLD in os.environ

    assert (answer["accepted"], answer["threshold"], answer["route"]) == (True, 0.5, "near")
    assert not leaked


def test_workflow_run_needs_no_region_in_the_environment_once_deployed(aws_credentials, monkeypatch):
    with local_workflow() as workflow:
        invoke_function(workflow, "serializeImage", {})  # the handler's cold start, with the region set
        monkeypatch.delenv("AWS_DEFAULT_REGION")
        result = workflow.run({"s3_bucket": workflow.images_bucket, "s3_key": "driver.png"})

    assert (result.status, result.error) == ("FAILED", "ImageNotFound")


def test_handlers_in_process_gives_moto_one_lambda_client_per_region(aws_credentials):
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    with local_workflow():
        clients = [lambda_eval_utils.boto_client_for(region=region, service="lambda", state_credentials=None)
                   for region in ("us-east-1", "us-east-1", "eu-west-1")]

    assert clients[0] is clients[1]
    assert clients[2] is not clients[0] and clients[2].meta.region_name == "eu-west-1"
