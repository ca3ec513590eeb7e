import json
import os
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import settings
from moto import mock_aws

from local import deployment, moto_gaps
from local.aws import MOTO_CONFIG
from local.workflow import handlers_in_process
from tests.handlers.doubles import assessment, image_bytes

STAGE = "test"


@pytest.fixture
def aws_credentials(dummy_aws_credentials):
    """The shared dummy credentials, under the name this module's tests use."""


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


@contextmanager
def deployed(packaged_service, overrides=None):
    """The packaged service deployed into moto, its handlers run in process by the seam."""
    with mock_aws(config=MOTO_CONFIG), moto_gaps.bridged(), handlers_in_process(overrides):
        yield deployment.deploy(packaged_service, STAGE).workflow()


def test_handlers_in_process_run_against_the_endpoint_the_overrides_name(aws_credentials, packaged_service,
                                                                         local_endpoint_url):
    png = image_bytes("PNG")

    with deployed(packaged_service, {settings.ENV_SAGEMAKER_RUNTIME_URL: local_endpoint_url}) as workflow:
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=workflow.images_bucket)
        s3.put_object(Bucket=workflow.images_bucket, Key="driver.png", Body=png)
        result = workflow.run({"s3_key": "driver.png"})

    assert (result.status, result.output["label"], result.output["route"]) == ("SUCCEEDED", "motorcycle", "far")
    assert _LocalEndpoint.received == [(f"/endpoints/{settings.DEFAULT_ENDPOINT_NAME}/invocations", "image/png", png)]


def test_handlers_in_process_report_a_handler_exception_as_lambdas_error_payload(aws_credentials, packaged_service):
    with deployed(packaged_service) as workflow:
        result = workflow.run({"s3_bucket": workflow.images_bucket, "s3_key": "driver.png"})

    assert (result.status, result.error) == ("FAILED", "ImageNotFound")
    payload = json.loads(result.cause)
    assert payload["errorType"] == "ImageNotFound"
    assert "driver.png" in payload["errorMessage"]
    assert result.error_message == payload["errorMessage"]
    assert any("serialize_image.py" in frame for frame in payload["stackTrace"])


def invoke_function(key: str, event: dict) -> dict:
    response = boto3.client("lambda").invoke(FunctionName=f"vehicle-routing-{STAGE}-{key}", Payload=json.dumps(event))
    return json.loads(response["Payload"].read())


CONFIDENT = {"label": "bicycle", "confidence": 0.7, "usable": True, "unusable_reasons": []}


@pytest.fixture
def frequent_thread_switches():
    """Switch threads every microsecond, so a brief gap in os.environ is met if there is one."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def test_handlers_in_process_never_hide_the_process_environment_from_other_threads(aws_credentials, packaged_service,
                                                                                  frequent_thread_switches):
    misses = []
    stop = threading.Event()

    def read_region():
        while not stop.is_set():
            if "AWS_DEFAULT_REGION" not in os.environ:
                misses.append(1)

    with deployed(packaged_service):
        reader = threading.Thread(target=read_region)
        reader.start()
        try:
            for _ in range(60):
                invoke_function("filterConfidence", CONFIDENT)
        finally:
            stop.set()
            reader.join()

    assert misses == []


def set_threshold(threshold: str) -> None:
    """The deployed Check Confidence's threshold as an environment variable alone (without the
    routing-threshold parameter, which would otherwise be the one in force), the rest of its
    environment as deployed."""
    client, name = boto3.client("lambda"), f"vehicle-routing-{STAGE}-filterConfidence"
    variables = client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    variables.pop(settings.ENV_THRESHOLD_PARAMETER, None)
    client.update_function_configuration(FunctionName=name, Environment={"Variables": {
        **variables, settings.ENV_THRESHOLD: threshold}})


def test_handlers_in_process_apply_a_functions_environment_at_import_and_leave_none_behind(aws_credentials,
                                                                                          packaged_service, monkeypatch):
    monkeypatch.delenv(settings.ENV_THRESHOLD, raising=False)

    with deployed(packaged_service):
        set_threshold("0.5")
        answer = invoke_function("filterConfidence", CONFIDENT)
        leaked = settings.ENV_THRESHOLD in os.environ

    assert (answer["accepted"], answer["threshold"], answer["route"]) == (True, 0.5, "near")
    assert not leaked


def test_handlers_in_process_start_a_new_container_when_the_environment_changes(aws_credentials, packaged_service):
    with deployed(packaged_service):
        first = invoke_function("filterConfidence", CONFIDENT)
        set_threshold("0.6")
        second = invoke_function("filterConfidence", CONFIDENT)

    assert first["errorType"] == "ConfidenceBelowThreshold"  # the deployed default, 0.95
    assert (second["accepted"], second["threshold"]) == (True, 0.6)


def test_workflow_run_needs_no_region_in_the_environment_once_deployed(aws_credentials, packaged_service,
                                                                       monkeypatch):
    with deployed(packaged_service) as workflow:
        invoke_function("serializeImage", {})  # the handler's cold start, with the region set
        monkeypatch.delenv("AWS_DEFAULT_REGION")
        result = workflow.run({"s3_bucket": workflow.images_bucket, "s3_key": "driver.png"})

    assert (result.status, result.error) == ("FAILED", "ImageNotFound")


FAKE_HANDLER = '''
import threading
import time

from handlers import serialize_image

CONTAINER = object()


def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"images_bucket": serialize_image.IMAGES_BUCKET, "container": id(CONTAINER)}
'''


def fake_function(name: str, **environment):
    from types import SimpleNamespace
    return SimpleNamespace(function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}", code_sha_256="same",
                           environment_vars=environment, handler="fake_handler.handler", function_name=name,
                           version="$LATEST", memory_size=128, timeout=30)


@pytest.fixture
def seam_root(tmp_path, monkeypatch, dummy_aws_credentials):
    (tmp_path / "fake_handler.py").write_text(FAKE_HANDLER)
    monkeypatch.setattr(settings, "PROJECT_ROOT", tmp_path)


def test_seam_gives_each_function_its_own_copy_of_the_handler_modules_it_imports(seam_root):
    from local.workflow import InProcessLambda
    import handlers.serialize_image as shared_before
    seam = InProcessLambda()

    first = json.loads(seam(fake_function("one", IMAGES_BUCKET="bucket-one"), {})[0])
    second = json.loads(seam(fake_function("two", IMAGES_BUCKET="bucket-two"), {})[0])

    assert (first["images_bucket"], second["images_bucket"]) == ("bucket-one", "bucket-two")
    assert sys.modules["handlers.serialize_image"] is shared_before
    import handlers
    assert handlers.serialize_image is shared_before


@pytest.mark.parametrize("containers, distinct", [(1, 1), (2, 2)])
def test_seam_serves_concurrent_invocations_in_up_to_its_warm_containers(seam_root, containers, distinct):
    from concurrent.futures import ThreadPoolExecutor
    from local.workflow import InProcessLambda
    seam, function = InProcessLambda(containers=containers), fake_function("busy")

    with ThreadPoolExecutor(max_workers=2) as pool:
        at_once = [json.loads(answer[0])["container"] for answer in pool.map(
            lambda _: seam(function, {"sleep": 0.5}), range(2))]
    one_after_another = [json.loads(seam(function, {})[0])["container"] for _ in range(3)]

    assert len(set(at_once)) == distinct
    assert len(set(one_after_another)) == 1 and one_after_another[0] in at_once  # the first stays warm


def test_seam_throttles_an_invocation_when_no_container_frees_up_in_time(seam_root):
    from local.workflow import InProcessLambda, Throttled
    seam, function = InProcessLambda(containers=1, throttle_after_seconds=0.2), fake_function("busy")
    busy = threading.Thread(target=seam, args=(function, {"sleep": 2.0}))
    busy.start()
    time.sleep(0.5)  # the busy invocation holds the one container by now, even on a loaded machine

    with pytest.raises(Throttled) as throttled:
        seam(function, {})
    busy.join()

    assert (throttled.value.code, throttled.value.error_type) == (429, "TooManyRequestsException")
    assert seam.throttled == {"busy": 1}
    assert "container" in json.loads(seam(function, {})[0])  # served again once free


def test_a_throttled_invocation_reaches_the_caller_as_lambdas_429(seam_root, aws_credentials):
    with mock_aws(config=MOTO_CONFIG), handlers_in_process(containers=1, throttle_after_seconds=0.2):
        # No retries of its own, as Step Functions' Lambda client: the 429 reaches the state machine.
        awslambda = boto3.client("lambda", config=Config(retries={"total_max_attempts": 1}))
        role = boto3.client("iam").create_role(RoleName="fake", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        awslambda.create_function(FunctionName="busy", Runtime="python3.11", Role=role, Handler="fake_handler.handler",
                                  Code={"ZipFile": zipped_source()})
        busy = threading.Thread(target=awslambda.invoke, kwargs={"FunctionName": "busy", "Payload": b'{"sleep": 3.0}'})
        busy.start()
        time.sleep(1.0)  # the busy invocation holds the one container by now, even on a loaded machine
        with pytest.raises(ClientError) as throttled:
            awslambda.invoke(FunctionName="busy", Payload=b"{}")
        busy.join()
        served = awslambda.invoke(FunctionName="busy", Payload=b"{}")

    assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert served["StatusCode"] == 200 and "FunctionError" not in served


def zipped_source() -> bytes:
    import io
    import zipfile
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fake_handler.py", FAKE_HANDLER)
    return buffer.getvalue()
