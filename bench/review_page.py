"""Benchmark of the review page: how soon the next photo is on screen after an answer, in a browser.

Headless Chromium (Debian's, local/browser.py) answers a queue of review requests by key, against the
AWS stand-in (local/aws.py: moto's S3 and SQS on 127.0.0.1) and the page served on 127.0.0.1
(reviewing/serve.py). The photos are phone-sized JPEGs (4032x3024, sensor noise: a few MB each,
imaging/samples.py). The page measures each interval itself, from the key press to the `load` of
the next photo, and the script prints p50, p95 and the worst. The first answers (warm-up) are left out.
Goal (issue 30): p95 <= 300 ms.

    python -m bench.review_page [--answers 60] [--width 4032 --height 3024]
"""
import argparse
import json
import statistics
import sys
import tempfile
import time

from tqdm import tqdm

from imaging import samples
from local.aws import StandIn
from local.browser import chromium
from reviewing.desk import Desk
from reviewing.serve import serving

GOAL_P95_MS = 300
BUCKET = "bench-review-images"
DISTINCT_PHOTOS = 4
WARM_UP = 3


def percentile(values, share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.review_page",
                                     description="Time from an answer to the next photo on screen in the review page "
                                                 f"(goal: p95 <= {GOAL_P95_MS} ms), phone-sized photos, in Chromium.")
    parser.add_argument("--answers", type=int, default=60, help="answers timed (default: %(default)s)")
    parser.add_argument("--width", type=int, default=4032, help="photo width (default: %(default)s)")
    parser.add_argument("--height", type=int, default=3024, help="photo height (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.answers < 1:
        parser.error("--answers must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    total = args.answers + WARM_UP
    photos = [samples.phone_jpeg(args.width, args.height, noise=12.0 + number) for number in
              tqdm(range(DISTINCT_PHOTOS), desc="making phone photos", unit="photo")]
    with StandIn(port=0) as aws, tempfile.TemporaryDirectory() as ground_truth:
        s3, sqs = aws.client("s3"), aws.client("sqs")
        s3.create_bucket(Bucket=BUCKET)
        queue = sqs.create_queue(QueueName="bench-reviews")["QueueUrl"]
        # One more than answered: after the last answer there is a next photo to wait for.
        for number in tqdm(range(total + 1), desc="queueing requests", unit="request"):
            key = f"drivers/bench-{number:04d}.jpg"
            s3.put_object(Bucket=BUCKET, Key=key, Body=photos[number % DISTINCT_PHOTOS])
            sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({
                "kind": "review", "reason": "ConfidenceBelowThreshold", "s3_bucket": BUCKET, "s3_key": key,
                "inference_id": f"bench-{number:04d}", "label": "bicycle", "confidence": 0.8}))
        with serving(Desk(sqs, s3, queue, ground_truth), "bench") as server, chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(server.url)
            page.wait_for_function("() => Number(document.body.dataset.shown || 0) >= 1", timeout=30000)
            started = time.perf_counter()
            for number in tqdm(range(total), desc="answering", unit="answer"):
                shown = page.evaluate("() => Number(document.body.dataset.shown || 0)")
                page.keyboard.press("1")
                page.wait_for_function(f"() => Number(document.body.dataset.shown || 0) > {shown}", timeout=30000)
            elapsed = time.perf_counter() - started
            timings = page.evaluate("() => window.reviewTimings")
    measured = timings[WARM_UP:]
    p95 = percentile(measured, 0.95)
    print(f"review page, next photo after an answer ({args.width}x{args.height} JPEG, "
          f"{statistics.mean(len(photo) for photo in photos) / 1e6:.1f} MB each; {len(measured)} answers after "
          f"{WARM_UP} warm-up; stand-in and page on 127.0.0.1; headless Chromium):")
    print(f"  p50 {statistics.median(measured):.0f} ms, p95 {p95:.0f} ms, worst {max(measured):.0f} ms "
          f"({total / elapsed:.1f} answers/s by key, end to end)")
    print(f"  goal p95 <= {GOAL_P95_MS} ms: {'met' if p95 <= GOAL_P95_MS else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
