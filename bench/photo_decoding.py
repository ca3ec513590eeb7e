"""Benchmark: what a driver's photo costs Serialize Image, and whether normalising changes decisions.

Prints, for a 12 MP phone JPEG, a 50 MP PNG and a 50 MP PNG with transparency (the costliest
kind): the time imaging.photo.normalize takes (median of repeated runs in one process, after a
first run) and the peak memory above the interpreter's (each case in a fresh process, so one
case's allocations do not hide another's), beside the Lambda's memory setting; and, with a
model, whether the 200 official test images reach the model the same way through Serialize
Image as when sent to the endpoint directly (their share routed and accuracy, which must not move).

  .venv/bin/python -m bench.photo_decoding [--repeats 5] [--model-dir artifacts/model]
"""
import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

import settings

LAMBDA_MEMORY_MB = 1024   # serverless.yml, serializeImage.memorySize
CASES = ("jpeg-12mp", "png-50mp", "png-50mp-alpha")
TIME_GOAL_SECONDS = {"jpeg-12mp": 0.1}   # "tens of milliseconds" for a phone photo


def make_photo(case: str) -> bytes:
    """The photo each case measures: noisy like a phone sensor, in the size phones write."""
    from imaging import samples  # the same photo makers the tests use
    if case == "jpeg-12mp":
        return samples.phone_jpeg(4032, 3024, noise=4.0)
    picture = samples.scene(8160, 6120, noise=0)
    if case == "png-50mp-alpha":
        picture = picture.convert("RGBA")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def measure_in_this_process(path: Path, repeats: int) -> dict:
    from imaging import photo
    data = path.read_bytes()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    photo.normalize(data)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        photo.normalize(data)
        seconds.append(time.perf_counter() - started)
    return {"bytes": len(data), "median_seconds": statistics.median(seconds), "peak_mb": (peak - before) / 1024}


def measure(case: str, directory: Path, repeats: int) -> dict:
    path = directory / f"{case}.bin"
    if not path.exists():
        path.write_bytes(make_photo(case))
    completed = subprocess.run([sys.executable, "-m", "bench.photo_decoding", "--measure", str(path),
                                "--repeats", str(repeats)], cwd=settings.PROJECT_ROOT, capture_output=True, text=True,
                               env={**os.environ, "PYTHONPATH": str(settings.PROJECT_ROOT)})
    if completed.returncode != 0:
        sys.exit(f"measuring {case} failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def as_phone_photo(image: Image.Image, rng) -> bytes:
    """The picture as a phone would send it: 4032x3024, sensor noise, stored sideways with EXIF
    orientation 6, JPEG at quality 92."""
    from imaging import samples
    big = np.asarray(image.convert("RGB").resize((4032, 3024), Image.Resampling.BICUBIC), dtype=np.float32)
    big += rng.normal(0, 4, big.shape)
    return samples.with_orientation(Image.fromarray(big.clip(0, 255).astype(np.uint8)), 6)


def phone_photos_route_like_pngs(model_dir: Path, data_dir: Path, limit: int) -> None:
    """The same test pictures as 12 MP phone JPEGs (rotated by EXIF, noisy) through Serialize Image's
    normalisation and the endpoint, against the small PNGs: are the drivers routed the same way?"""
    from imaging import photo
    from tqdm import tqdm
    from training import inference

    model = inference.model_fn(model_dir)
    rng = np.random.RandomState(0)
    paths = sorted((data_dir / "test").glob("*/*.png"))[::max(1, 200 // limit)][:limit]
    same, routed_png, routed_phone, other_class = 0, 0, 0, 0
    for path in tqdm(paths, desc="phone versions of test images", unit="img", leave=False):
        decisions = []
        for body in (path.read_bytes(), as_phone_photo(Image.open(path), rng)):
            normalised, media_type, _ = photo.normalize(body)
            answer = json.loads(inference.transform_fn(model, normalised, media_type,
                                                       inference.ASSESSMENT_CONTENT_TYPE)[0])
            confidence = max(answer["probabilities"])
            label = int(np.argmax(answer["probabilities"]))
            decisions.append(label if answer["usable"] and confidence >= settings.DEFAULT_THRESHOLD else "person")
        same += decisions[0] == decisions[1]
        other_class += "person" not in decisions and decisions[0] != decisions[1]
        routed_png += decisions[0] != "person"
        routed_phone += decisions[1] != "person"
    print(f"  {len(paths)} test pictures: routed {routed_png} as small PNGs, {routed_phone} as 12 MP phone JPEGs; "
          f"the same decision (route and class, or a person) for {same} ({100 * same / len(paths):.1f}%); routed to "
          f"the other class: {other_class} (the rest moved across the threshold, routed one way and sent to a person "
          f"the other)")


def decisions_unchanged(model_dir: Path, data_dir: Path) -> None:
    """The test images as the endpoint sees them directly and after Serialize Image's normalisation."""
    from imaging import photo
    from training import inference

    model = inference.model_fn(model_dir)
    rows = {"direct": [], "normalised": []}
    labels = []
    for label, name in enumerate(settings.CLASS_NAMES):
        for path in sorted((data_dir / "test" / name).glob("*.png")):
            data = path.read_bytes()
            normalised, media_type, _ = photo.normalize(data)
            for kind, body, content_type in (("direct", data, "image/png"), ("normalised", normalised, media_type)):
                answer = json.loads(inference.transform_fn(model, body, content_type,
                                                           inference.ASSESSMENT_CONTENT_TYPE)[0])
                rows[kind].append(answer)
            labels.append(label)
    labels = np.array(labels)
    for kind, answers in rows.items():
        probabilities = np.array([answer["probabilities"] for answer in answers])
        usable = np.array([answer["usable"] for answer in answers])
        routed = usable & (probabilities.max(axis=1) >= settings.DEFAULT_THRESHOLD)
        print(f"  {kind:<11} accuracy {100 * np.mean(probabilities.argmax(axis=1) == labels):5.1f}%   "
              f"routed {100 * routed.mean():5.1f}%   usable {100 * usable.mean():5.1f}%")
    same = all(a["probabilities"] == b["probabilities"] for a, b in zip(rows["direct"], rows["normalised"]))
    print(f"  identical answers for all {len(labels)} images: {same} (small PNGs pass through byte for byte)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.photo_decoding", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (default: %(default)s)")
    parser.add_argument("--model-dir", type=Path, help="also compare decisions on the test images with this model")
    parser.add_argument("--phone-photos", type=int, default=50, metavar="N",
                        help="with --model-dir: test pictures also sent as 12 MP phone JPEGs (default: %(default)s)")
    parser.add_argument("--data-dir", type=Path, default=settings.DEFAULT_DATA_SOURCE,
                        help="folder with test/{class}/*.png (default: %(default)s)")
    parser.add_argument("--work-dir", type=Path, default=settings.ARTIFACTS_DIR / "bench-photos",
                        help="where the generated photos are kept between runs (default: %(default)s)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # one case, in a fresh process
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure_in_this_process(args.measure, args.repeats)))
        return 0
    args.work_dir.mkdir(parents=True, exist_ok=True)
    print(f"{'photo':<16}{'MB':>8}{'normalise ms':>14}{'peak MB':>10}  (Lambda memory {LAMBDA_MEMORY_MB} MB)")
    for case in CASES:
        result = measure(case, args.work_dir, args.repeats)
        goal = TIME_GOAL_SECONDS.get(case)
        verdict = "" if goal is None else ("  ok" if result["median_seconds"] <= goal else f"  MISS (goal {goal * 1000:.0f} ms)")
        print(f"{case:<16}{result['bytes'] / 1e6:>8.1f}{result['median_seconds'] * 1000:>14.0f}"
              f"{result['peak_mb']:>10.0f}{verdict}")
    if args.model_dir:
        print(f"\nThe 200 test images, sent directly and through Serialize Image's normalisation ({args.model_dir}):")
        decisions_unchanged(args.model_dir, args.data_dir)
        if args.phone_photos:
            print("\nThe same pictures made the way a phone makes them:")
            phone_photos_route_like_pngs(args.model_dir, args.data_dir, args.phone_photos)
    return 0


if __name__ == "__main__":
    sys.exit(main())
