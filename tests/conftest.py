"""Fixtures shared by every test directory."""
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import pytest

import settings


@pytest.fixture(autouse=True)
def no_endpoint_overrides_from_the_shell(monkeypatch):
    """The stand-in's export lines (AWS_ENDPOINT_URL...) left in the shell that runs pytest must not
    send the tests' AWS clients past moto; tests that want an endpoint set their own."""
    for name in [name for name in os.environ if name == "AWS_ENDPOINT_URL" or name.startswith("AWS_ENDPOINT_URL_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def dummy_aws_credentials(monkeypatch):
    """Credentials and a region for boto3 clients that only ever reach moto."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A real model directory written by train.py's own save code from a tiny untrained network.

    Its predictions are meaningless but have the real shape and format, so endpoint and workflow
    tests run the real inference.py in a few seconds instead of training for minutes.
    """
    import mxnet as mx
    import numpy as np

    import settings
    from training import lineage, train

    mx.random.seed(0)
    class_names = settings.CLASS_NAMES
    member = train.build_network(len(class_names), width=4, blocks_per_stage=1)
    member.initialize(mx.init.Xavier())
    ensemble = train.build_ensemble([member])
    dimension = ensemble(mx.nd.zeros((1, 3, 32, 32)))[1].shape[1]
    # Distances are squared feature norms, all far below the limit 1e9: pictures are judged by
    # their image statistics alone, which tests control.
    serving_net = train.build_serving_network(ensemble, len(class_names), np.zeros((len(class_names), dimension)),
                                              np.eye(dimension))
    model_dir = tmp_path_factory.mktemp("tiny_model")
    train.save(serving_net, class_names, temperature=1.5, usability_document={"feature_distance_limit": 1e9},
               metrics={"note": "untrained tiny network for tests"}, model_dir=model_dir)
    # Its monitoring baseline, from noisy mid-grey photos, as train.py makes it from the validation split.
    rng = np.random.default_rng(0)
    pixels = np.clip(rng.normal(128, 40, size=(120, 32, 32, 3)), 0, 255).astype(np.uint8)
    lineage.write_monitoring_baseline(serving_net, pixels, class_names, 1.5, 1e9, model_dir)
    return model_dir


@dataclass
class RunningStandIn:
    url: str
    environment: dict          # what an AWS SDK needs to talk to it
    output: list               # what it printed up to "Ready."


@pytest.fixture(scope="session")
def stand_in(tiny_model_dir, tmp_path_factory):
    """`python -m local.aws` as a user starts it (a free port here), serving the tiny model."""
    from local.aws import client_environment

    captures = tmp_path_factory.mktemp("stand-in-captures")
    process = subprocess.Popen(
        [sys.executable, "-m", "local.aws", "--port", "0", "--model-dir", str(tiny_model_dir), "--capture",
         str(captures), "--data-dir", str(captures / "no-staged-data")], cwd=settings.PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: "queue.Queue[str]" = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    output, deadline = [], time.monotonic() + 120
    while not output or not output[-1].startswith("Ready."):
        try:
            output.append(lines.get(timeout=max(0.1, deadline - time.monotonic())).rstrip("\n"))
        except queue.Empty:
            process.kill()
            pytest.fail("the stand-in did not become ready:\n" + "\n".join(output))
    url = next(line.split("listening on ")[1] for line in output if "listening on " in line)
    yield RunningStandIn(url=url, environment=client_environment(url), output=output)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def packaged_service(stand_in, tmp_path_factory):
    """The service as `sls package --stage test` builds it (osls asks the stand-in about the layer)."""
    from local import deployment

    if shutil.which("npx") is None:
        pytest.skip("npx (Node.js) is not installed: bin/setup installs the Serverless CLI with npm")
    return deployment.package("test", {}, stand_in.environment)
