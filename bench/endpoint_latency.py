"""Benchmark of the local endpoint and the workflow around it; prints its figures.

  * latency (p50 / p95) of one driver's photo, as the Serialize Image Lambda hands it on (a real
    photo normalised to at most 384 px, or a generated one), through boto3's sagemaker-runtime
    client: one client at a time, then 8 concurrent clients (each with its own boto3 client), with
    the throughput they reach;
  * wall time of one execution of the real state machine in moto (S3 -> endpoint -> threshold);
  * CPU time per request of the endpoint process, since on a shared machine wall time also
    measures whatever else runs on the cores.

`--baseline-checkout DIR --baseline-model-dir DIR` measures a second endpoint in the same run: the
model of another release served by that release's own code (a `git worktree` of it), so today's
model and the one before it are compared on the same machine at the same time.
The endpoint runs in its own process (python -m local.endpoint), as a real endpoint runs apart from
its callers, so client and server do not share one Python interpreter lock.
Goals (issue 21): p50 <= 40 ms per photo at 1 client on 2 cores.

    python -m bench.endpoint_latency [--model-dir artifacts/model] [--requests 400]
    git worktree add /tmp/previous 9d6bcca && (cd /tmp/previous && bin/setup && .venv/bin/python -m training.launch local)
    python -m bench.endpoint_latency --baseline-checkout /tmp/previous --baseline-model-dir /tmp/previous/artifacts/model
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
from imaging import photo

ENDPOINT_NAME = "bench-endpoint"
CLIENTS = 8
URL_LINE = re.compile(r" at (http://\S+?)[ ;)]")
STARTUP_TIMEOUT_SECONDS = 60
LATENCY_WARMUP = 20
DUMMY_AWS_ENVIRONMENT = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                         "AWS_DEFAULT_REGION": "us-east-1"}


def sample_photo() -> tuple[bytes, str, str]:
    """(bytes, media type, description) of a driver's photo as the Serialize Image Lambda passes it on: a real
    photo when the shared ones are there, else a generated 4:3 JPEG, normalised either way."""
    real = sorted((settings.REAL_WORLD_DIR / "motorcycle").glob("*.jpg"))
    if real:
        data, source = real[0].read_bytes(), f"real photo {real[0].name}"
    else:
        buffer = io.BytesIO()
        Image.effect_mandelbrot((1600, 1200), (-2, -1.5, 1, 1.5), 100).convert("RGB").save(buffer, "JPEG")
        data, source = buffer.getvalue(), "generated 1600x1200 JPEG"
    normalised, media_type, _ = photo.normalize(data)
    with Image.open(io.BytesIO(normalised)) as image:
        size = "x".join(map(str, image.size))
    return normalised, media_type, f"{source}, normalised to a {size} {media_type} of {len(normalised)} bytes"


def start_endpoint(model_dir: Path, code_root: Path = settings.PROJECT_ROOT) -> tuple[subprocess.Popen, str]:
    python = code_root / ".venv" / "bin" / "python"
    process = subprocess.Popen(
        [str(python) if python.exists() else sys.executable, "-m", "local.endpoint", "--model-dir", str(model_dir),
         "--port", "0", "--endpoint-name", ENDPOINT_NAME],
        cwd=code_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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


def measure_latency(url: str, body: bytes, content_type: str, requests: int) -> list:
    runtime = boto3.client("sagemaker-runtime", endpoint_url=url)
    timings = []
    for index in range(requests + LATENCY_WARMUP):
        started = time.perf_counter()
        runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=body, ContentType=content_type)["Body"].read()
        if index >= LATENCY_WARMUP:  # the first calls warm up connections and MXNet's memory pools
            timings.append(time.perf_counter() - started)
    return timings


def measure_concurrent(url: str, body: bytes, content_type: str, requests: int) -> tuple[float, list]:
    """(images/s, per-request latencies) with CLIENTS clients calling at once."""
    per_client = max(1, requests // CLIENTS)
    clients = [boto3.client("sagemaker-runtime", endpoint_url=url) for _ in range(CLIENTS)]
    for runtime in clients:
        runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=body, ContentType=content_type)

    def client_loop(runtime):
        timings = []
        for _ in range(per_client):
            started = time.perf_counter()
            runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=body, ContentType=content_type)["Body"].read()
            timings.append(time.perf_counter() - started)
        return timings

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        latencies = [timing for timings in pool.map(client_loop, clients) for timing in timings]
    return per_client * CLIENTS / (time.perf_counter() - started), latencies


def measure_execution(model_dir: Path, body: bytes, executions: int) -> list:
    """Wall time of executions of the deployed state machine, as the offline run deploys it (the
    AWS stand-in in this process, the template `sls package` generates, the model behind it)."""
    from local import deployment
    from local.aws import StandIn
    from local.product import OFFLINE_STAGE, quiet_expected_noise

    timings = []
    with quiet_expected_noise(), StandIn(port=0, model_dir=model_dir, endpoint_name=ENDPOINT_NAME) as stand_in:
        session = boto3.Session(region_name=stand_in.region, aws_access_key_id="testing", aws_secret_access_key="testing")
        clients = {name: session.client(name, endpoint_url=stand_in.url) for name in ("cloudformation", "s3", "stepfunctions")}
        package_dir = deployment.package(OFFLINE_STAGE, {"endpointName": ENDPOINT_NAME, "createImagesBucket": "true"},
                                         stand_in.client_environment())
        workflow = deployment.deploy(package_dir, OFFLINE_STAGE, clients["cloudformation"], clients["s3"]).workflow(
            clients["stepfunctions"])
        clients["s3"].put_object(Bucket=workflow.images_bucket, Key="bench/photo", Body=body)
        for _ in range(executions):
            started = time.perf_counter()
            result = workflow.run({"s3_key": "bench/photo"})
            timings.append(time.perf_counter() - started)
            if result.status not in ("SUCCEEDED", "FAILED"):
                raise SystemExit(f"execution ended {result.status}: {result.cause}")
    return timings


def measure_endpoint(model_dir: Path, body: bytes, content_type: str, requests: int, code_root: Path = settings.PROJECT_ROOT) -> dict:
    process, url = start_endpoint(model_dir, code_root)
    try:
        with CpuMeter(process.pid) as latency_cpu:
            latencies = measure_latency(url, body, content_type, requests)
        with CpuMeter(process.pid) as concurrent_cpu:
            throughput, concurrent = measure_concurrent(url, body, content_type, requests)
    finally:
        process.terminate()
        process.wait(timeout=10)
    return {"latencies": latencies, "latency_cpu": latency_cpu.per_request(len(latencies) + LATENCY_WARMUP),
            "throughput": throughput, "concurrent": concurrent,
            "concurrent_cpu": concurrent_cpu.per_request(len(concurrent) + CLIENTS)}


def print_endpoint(name: str, figures: dict) -> None:
    latencies, concurrent = figures["latencies"], figures["concurrent"]
    print(f"{name}:")
    print(f"  1 client:   p50 {statistics.median(latencies) * 1000:.1f} ms, p95 {percentile(latencies, 0.95) * 1000:.1f} ms "
          f"over {len(latencies)} requests (goal p50 <= 40 ms); {figures['latency_cpu']}")
    print(f"  {CLIENTS} clients:  p50 {statistics.median(concurrent) * 1000:.1f} ms, p95 "
          f"{percentile(concurrent, 0.95) * 1000:.1f} ms over {len(concurrent)} requests, {figures['throughput']:.1f} "
          f"photos/s; {figures['concurrent_cpu']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.endpoint_latency", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=settings.ARTIFACTS_DIR / "model",
                        help="trained model directory (default: %(default)s; `python -m local.run` makes it)")
    parser.add_argument("--baseline-checkout", type=Path,
                        help="another release's checkout (with its .venv) whose endpoint serves --baseline-model-dir")
    parser.add_argument("--baseline-model-dir", type=Path, help="that release's trained model directory")
    parser.add_argument("--requests", type=int, default=400, help="requests per measurement (default: %(default)s)")
    parser.add_argument("--executions", type=int, default=20,
                        help="state machine executions to time (default: %(default)s)")
    args = parser.parse_args(argv)
    if (args.baseline_checkout is None) != (args.baseline_model_dir is None):
        parser.error("--baseline-checkout and --baseline-model-dir go together")
    for name, value in DUMMY_AWS_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    from local.endpoint import require_model_dir
    try:
        require_model_dir(args.model_dir)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    body, content_type, description = sample_photo()
    load_before = os.getloadavg()[0]
    figures = {f"this release: {args.model_dir}": measure_endpoint(args.model_dir, body, content_type, args.requests)}
    if args.baseline_checkout:
        figures[f"baseline: {args.baseline_model_dir} served by {args.baseline_checkout}"] = measure_endpoint(
            args.baseline_model_dir, body, content_type, args.requests, args.baseline_checkout)
    executions = measure_execution(args.model_dir, body, args.executions)
    print(f"photo: {description}; cores: {os.cpu_count()}; 1-min load average before: {load_before:.2f}")
    for name, result in figures.items():
        print_endpoint(name, result)
    print(f"state machine execution:  first {executions[0] * 1000:.0f} ms, then p50 "
          f"{statistics.median(executions[1:] or executions) * 1000:.0f} ms over {len(executions)} executions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
