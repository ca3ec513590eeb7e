"""Benchmark: a burst of uploads on the per-photo path, each of which must end exactly once.

    python -m bench.upload_burst [--uploads 1000] [--seconds 60] [--rounds 1] [--model-dir artifacts/model]

Uploads land under drivers/ in the stand-in (python -m local.aws's, on 127.0.0.1) within --seconds,
each starting its own classify-vehicle execution through the upload rule, with the local endpoint at
its offline concurrency and --lambda-containers per function: an invocation beyond them is
throttled as Lambda throttles, and the state machine retries it. A dispatch subscriber on the
decisions bus hears the outcomes: every upload must end in exactly one DriverRouted or
DriverNeedsReview, none lost and none twice. Prints the counts, the throttled invocations and the
end-to-end latency (upload to the execution's end) at p50 and p99, per round; each
round uploads new photos, so rounds show whether the result repeats. Bounded: it stops after
--timeout seconds whatever happened.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import settings
from imaging import samples
from local import loop
from local.aws import STAND_IN_LAMBDA_CONTAINERS
from local.product import PHOTO_SUFFIXES, exit_status, quiet_expected_noise, require_model, running_product

# A burst is many phones uploading at once: enough concurrent uploaders to keep to the schedule while
# the stand-in starts an execution inside each upload (as S3's notification reaches Step Functions).
UPLOAD_THREADS = 32


def photo_bodies(count: int, real_dir: Path) -> list[bytes]:
    """Real photos in turn, with a generated noisy scene every fourth upload (each one different)."""
    real = sorted(path for path in real_dir.rglob("*") if path.suffix.lower() in PHOTO_SUFFIXES) if real_dir.is_dir() else []
    bodies = []
    for number in range(count):
        if real and number % 4:
            bodies.append(real[number % len(real)].read_bytes())
        else:
            bodies.append(samples.encoded(samples.scene(640, 480, noise=10.0, seed=number), "JPEG", quality=90))
    return bodies


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def burst(product, bodies: list[bytes], prefix: str, seconds: float, timeout: float) -> dict:
    s3, stepfunctions = product.clients["s3"], product.clients["stepfunctions"]
    bucket = product.workflow.images_bucket
    uploaded: dict = {}
    began = time.time()

    def upload(numbered):
        number, body = numbered
        time.sleep(max(0.0, began + number * seconds / len(bodies) - time.time()))
        key = f"{prefix}/{number:05d}.jpg"
        uploaded[key] = time.time()
        s3.put_object(Bucket=bucket, Key=key, Body=body)

    with ThreadPoolExecutor(max_workers=UPLOAD_THREADS, thread_name_prefix="upload") as pool:
        list(pool.map(upload, enumerate(bodies)))
    upload_seconds = time.time() - began
    heard: dict = {}
    reasons: Counter = Counter()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in product.dispatch.events():
            key = event["detail"].get("s3_key", "")
            if key in uploaded:
                heard.setdefault(key, []).append(event["detail-type"])
                reasons[event["detail"].get("reason") or "routed"] += 1
        if len(heard) == len(uploaded):
            time.sleep(5)  # a second event for a key would show up now
            for event in product.dispatch.events():
                if event["detail"].get("s3_key", "") in uploaded:
                    heard[event["detail"]["s3_key"]].append(event["detail-type"])
                    reasons[event["detail"].get("reason") or "routed"] += 1
            break
        time.sleep(1)
    latencies, statuses = [], Counter()
    for page in stepfunctions.get_paginator("list_executions").paginate(stateMachineArn=product.workflow.state_machine_arn):
        for execution in page["executions"]:
            description = stepfunctions.describe_execution(executionArn=execution["executionArn"])
            key = json.loads(description["input"]).get("s3_key")
            if key not in uploaded:
                continue
            statuses[description["status"]] += 1
            if description.get("stopDate"):
                latencies.append(description["stopDate"].timestamp() - uploaded[key])
    once = Counter(types[0] for types in heard.values() if len(types) == 1)
    return {"uploads": len(uploaded), "upload_seconds": upload_seconds, "exactly_once": sum(once.values()),
            "routed": once.get(settings.DRIVER_ROUTED, 0), "review": once.get(settings.DRIVER_NEEDS_REVIEW, 0),
            "lost": len(uploaded) - len(heard), "more_than_once": sum(len(types) > 1 for types in heard.values()),
            "executions": dict(statuses), "reasons": dict(reasons.most_common()), "latencies": latencies}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.upload_burst", description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=1000, help="uploads per round (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=60.0, help="the uploads are spread over this (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=1, help="bursts, one after the other (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=1200.0,
                        help="seconds a round may take after its last upload before it stops (default: %(default)s)")
    parser.add_argument("--lambda-containers", type=int, default=STAND_IN_LAMBDA_CONTAINERS,
                        help="warm containers per function in the stand-in; an invocation that finds them all busy "
                             "is throttled, and the state machine retries it (default: %(default)s)")
    parser.add_argument("--model-dir", type=Path, default=settings.ARTIFACTS_DIR / "model",
                        help="the trained model (default: %(default)s)")
    parser.add_argument("--real-dir", type=Path, default=settings.REAL_WORLD_DIR,
                        help="real photos to upload (default: %(default)s; generated ones only when absent)")
    args = parser.parse_args(argv)
    if not 1 <= args.uploads <= 5000 or not 1 <= args.rounds <= 5 or args.seconds <= 0 or args.timeout <= 0:
        parser.error("--uploads 1 to 5000, --rounds 1 to 5, --seconds and --timeout above 0")
    return args


def measure(args: argparse.Namespace) -> int:
    require_model(args.model_dir)
    bodies = photo_bodies(args.uploads, args.real_dir)
    results = []
    cpu_began = time.process_time()
    with tempfile.TemporaryDirectory(prefix="burst-") as scratch, quiet_expected_noise(), \
            running_product(args.model_dir, settings.DEFAULT_ENDPOINT_NAME, 0, Path(scratch) / "captures",
                            settings.DEFAULT_THRESHOLD,
                            stand_in_options={"lambda_containers": args.lambda_containers}) as product:
        for number in range(1, args.rounds + 1):
            print(f"round {number}: {args.uploads} uploads over {args.seconds:.0f} s ...", flush=True)
            throttled_before = sum(product.stand_in.lambdas.throttled.values())
            results.append(burst(product, bodies, f"{loop.UPLOAD_PREFIX}/burst-{number}", args.seconds, args.timeout))
            results[-1]["throttled"] = sum(product.stand_in.lambdas.throttled.values()) - throttled_before
    print(f"CPU time of this process (stand-in, handlers, endpoint): {time.process_time() - cpu_began:.0f} s "
          f"(the machine's other work is not in it)")
    for number, result in enumerate(results, start=1):
        latencies = result["latencies"]
        print(f"round {number}: {result['uploads']} uploads in {result['upload_seconds']:.0f} s; ended exactly once: "
              f"{result['exactly_once']} ({result['routed']} DriverRouted, {result['review']} DriverNeedsReview); "
              f"lost {result['lost']}, more than once {result['more_than_once']}; executions {result['executions']}; "
              f"why: {result['reasons']}; Lambda invocations throttled (and retried by the state machine): "
              f"{result['throttled']}")
        if latencies:
            print(f"  end-to-end latency (upload to the execution's end): p50 {percentile(latencies, 0.5):.1f} s, "
                  f"p99 {percentile(latencies, 0.99):.1f} s, mean {statistics.mean(latencies):.1f} s, "
                  f"max {max(latencies):.1f} s")
    return 0 if all(result["exactly_once"] == result["uploads"] for result in results) else 1


def main(argv=None) -> int:
    args = parse_args(argv)
    return exit_status(lambda: measure(args))


if __name__ == "__main__":
    sys.exit(main())
