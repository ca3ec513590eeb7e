"""Benchmark of the local endpoint and the workflow around it; prints its figures.

  * latency (p50 / p95) of one 32x32 PNG through boto3's sagemaker-runtime client, one at a time;
  * throughput (images/s) with 8 concurrent clients, each with its own boto3 client;
  * wall time of one execution of the real state machine in moto (S3 -> endpoint -> threshold);
  * CPU time per request of the endpoint process and of the calling (boto3) process, since on a
    shared machine wall time also measures whatever else runs on the cores.

The endpoint runs in its own process (python -m local.endpoint), as a real endpoint runs apart from
its callers, so client and server do not share one Python interpreter lock.
Goals (issue 5): p50 <= 5 ms, >= 300 images/s on 2 cores.

    python -m bench.endpoint_latency [--model-dir artifacts/model] [--requests 2000]
"""
import argparse
import io
import os
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from PIL import Image

import settings

ENDPOINT_NAME = "bench-endpoint"
CLIENTS = 8
URL_LINE = re.compile(r" at (http://\S+?)[ ;)]")
STARTUP_TIMEOUT_SECONDS = 60
LATENCY_WARMUP = 20
DUMMY_AWS_ENVIRONMENT = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                         "AWS_DEFAULT_REGION": "us-east-1"}


def sample_png() -> bytes:
    """A real CIFAR test image when the shared data is there, else a generated 32x32 PNG."""
    shared = sorted((settings.DEFAULT_DATA_SOURCE / "test" / settings.CLASS_NAMES[0]).glob("*.png"))
    if shared:
        return shared[0].read_bytes()
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (120, 80, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def start_endpoint(model_dir: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "local.endpoint", "--model-dir", str(model_dir), "--port", "0",
         "--endpoint-name", ENDPOINT_NAME],
        cwd=settings.PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        match = URL_LINE.search(line)
        if match:
            return process, match.group(1)
    process.kill()
    raise SystemExit(f"the endpoint did not start: {process.stderr.read().strip()}")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc; clock-tick resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds the endpoint process and this process use between start and stop."""

    def __init__(self, server_pid: int):
        self.server_pid = server_pid

    def __enter__(self) -> "CpuMeter":
        self._server, self._client = process_cpu_seconds(self.server_pid), time.process_time()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server = process_cpu_seconds(self.server_pid) - self._server
        self.client = time.process_time() - self._client

    def per_request(self, requests: int) -> str:
        return (f"CPU per request: endpoint {self.server / requests * 1000:.2f} ms, "
                f"boto3 caller {self.client / requests * 1000:.2f} ms")


def percentile(values, fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure_latency(url: str, body: bytes, requests: int) -> list:
    runtime = boto3.client("sagemaker-runtime", endpoint_url=url)
    timings = []
    for index in range(requests + LATENCY_WARMUP):
        started = time.perf_counter()
        runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=body, ContentType="image/png")["Body"].read()
        if index >= LATENCY_WARMUP:  # the first calls warm up connections and MXNet's memory pools
            timings.append(time.perf_counter() - started)
    return timings


def measure_throughput(url: str, body: bytes, requests: int) -> float:
    per_client = requests // CLIENTS
    clients = [boto3.client("sagemaker-runtime", endpoint_url=url) for _ in range(CLIENTS)]
    for runtime in clients:
        runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=body, ContentType="image/png")

    def client_loop(runtime):
        for _ in range(per_client):
            runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=body, ContentType="image/png")["Body"].read()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        list(pool.map(client_loop, clients))
    return per_client * CLIENTS / (time.perf_counter() - started)


def measure_execution(model_dir: Path, body: bytes, executions: int) -> list:
    """Wall time of executions of the deployed state machine, as the offline run deploys it (the
    AWS stand-in in this process, the template `sls package` generates, the model behind it)."""
    from local import deployment
    from local.aws import StandIn
    from local.run import OFFLINE_STAGE, quiet_expected_noise

    timings = []
    with quiet_expected_noise(), StandIn(port=0, model_dir=model_dir, endpoint_name=ENDPOINT_NAME) as stand_in:
        session = boto3.Session(region_name=stand_in.region, aws_access_key_id="testing", aws_secret_access_key="testing")
        clients = {name: session.client(name, endpoint_url=stand_in.url) for name in ("cloudformation", "s3", "stepfunctions")}
        package_dir = deployment.package(OFFLINE_STAGE, {"endpointName": ENDPOINT_NAME, "createImagesBucket": "true"},
                                         stand_in.client_environment())
        workflow = deployment.deploy(package_dir, OFFLINE_STAGE, clients["cloudformation"], clients["s3"]).workflow(
            clients["stepfunctions"])
        clients["s3"].put_object(Bucket=workflow.images_bucket, Key="bench/photo.png", Body=body)
        for _ in range(executions):
            started = time.perf_counter()
            result = workflow.run({"s3_key": "bench/photo.png"})
            timings.append(time.perf_counter() - started)
            if result.status not in ("SUCCEEDED", "FAILED"):
                raise SystemExit(f"execution ended {result.status}: {result.cause}")
    return timings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=settings.ARTIFACTS_DIR / "model",
                        help="trained model directory (default: %(default)s; `python -m local.run` makes it)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement (default: %(default)s)")
    parser.add_argument("--executions", type=int, default=20,
                        help="state machine executions to time (default: %(default)s)")
    args = parser.parse_args(argv)
    for name, value in DUMMY_AWS_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    from local.endpoint import require_model_dir
    try:
        require_model_dir(args.model_dir)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    body = sample_png()
    load_before = os.getloadavg()[0]
    process, url = start_endpoint(args.model_dir)
    try:
        with CpuMeter(process.pid) as latency_cpu:
            latencies = measure_latency(url, body, args.requests // 4)
        with CpuMeter(process.pid) as throughput_cpu:
            throughput = measure_throughput(url, body, args.requests)
        executions = measure_execution(args.model_dir, body, args.executions)
    finally:
        process.terminate()
        process.wait(timeout=10)
    print(f"model: {args.model_dir}; image: {len(body)} byte 32x32 PNG; cores: {os.cpu_count()}; "
          f"1-min load average before: {load_before:.2f}")
    print(f"latency, one client:      p50 {statistics.median(latencies) * 1000:.2f} ms, "
          f"p95 {percentile(latencies, 0.95) * 1000:.2f} ms over {len(latencies)} requests (goal p50 <= 5 ms)")
    print(f"                          {latency_cpu.per_request(len(latencies) + LATENCY_WARMUP)}")
    print(f"throughput, {CLIENTS} clients:    {throughput:.0f} images/s over {args.requests} requests "
          f"(goal >= 300)")
    print(f"                          {throughput_cpu.per_request(args.requests + CLIENTS)}")
    print(f"state machine execution:  first {executions[0] * 1000:.0f} ms, then p50 "
          f"{statistics.median(executions[1:] or executions) * 1000:.0f} ms over {len(executions)} executions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
