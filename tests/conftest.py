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

# The tiny model's input side: the smallest EfficientNet accepts (efficientnet.INPUT_SIDE_MULTIPLE).
TINY_INPUT_SIZE = 32


@pytest.fixture(autouse=True)
def no_endpoint_overrides_from_the_shell(monkeypatch):
    """The stand-in's export lines (AWS_ENDPOINT_URL...) left in the shell that runs pytest must not
    send the tests' AWS clients past moto; tests that want an endpoint set their own."""
    for name in [name for name in os.environ if name == "AWS_ENDPOINT_URL" or name.startswith("AWS_ENDPOINT_URL_")]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="session", autouse=True)
def no_staged_real_photos(tmp_path_factory):
    """train.py's default real-photo channel is below the machine's artifacts: no test trains on the
    staged real photos; a test that wants a real-photo channel writes its own and names it."""
    previous = os.environ.get("SM_CHANNEL_REAL")
    os.environ["SM_CHANNEL_REAL"] = str(tmp_path_factory.mktemp("no-real-photos") / "real")
    yield
    if previous is None:
        del os.environ["SM_CHANNEL_REAL"]
    else:
        os.environ["SM_CHANNEL_REAL"] = previous


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
    from training import lineage, network, pretrained, train

    mx.random.seed(0)
    class_names = settings.CLASS_NAMES
    # The real structure, randomly initialised: no ImageNet weights to read, and only the classifier
    # beside the shared backbone (tune_from=HEAD_ONLY), the smallest graph the serving code accepts.
    # He initialisation (fan-in, gaussian): Xavier's fan average starves the depthwise convolutions and the
    # signal dies out over 16 blocks, leaving every picture the same logits; these differ from picture to picture.
    serving_net = network.build_network(len(class_names), network.HEAD_ONLY, pretrained.TWO_WHEELER_CLASSES)
    serving_net.initialize(mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2))
    network.settle_shapes(serving_net)
    model_dir = tmp_path_factory.mktemp("tiny_model")
    # Two-wheeler limit 0: every picture passes the gate, so pictures are judged by their image
    # statistics alone, which tests control.
    architecture = {"network": "efficientnet-lite0", "input_size": TINY_INPUT_SIZE, "tune_from": network.HEAD_ONLY}
    train.save(serving_net, class_names, temperature=1.5, usability_document={"two_wheeler_limit": 0.0},
               metrics={"note": "untrained tiny network for tests"}, model_dir=model_dir, architecture=architecture)
    # Its monitoring baseline, from noisy mid-grey photos, as train.py makes it from the validation split.
    rng = np.random.default_rng(0)
    pixels = np.clip(rng.normal(128, 40, size=(120, 32, 32, 3)), 0, 255).astype(np.uint8)
    lineage.write_monitoring_baseline(serving_net, pixels, class_names, 1.5, 0.0, model_dir, TINY_INPUT_SIZE)
    return model_dir


@pytest.fixture(scope="session")
def pretrained_channel(tmp_path_factory):
    """The training job's pretrained channel, converted once per session from the pinned package's
    weights (training/pretrained.py), as stage_data.py stages it."""
    from training import pretrained

    channel = tmp_path_factory.mktemp(pretrained.CHANNEL)
    pretrained.convert(channel)
    return channel


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
