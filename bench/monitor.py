"""Benchmark the deterioration monitor: speed over 10,000 captured inferences, and detection per shift.

    .venv/bin/python -m bench.monitor [--model-dir artifacts/model] [--windows 100] [--traffic real|cifar]

Goals (issues 15 and 28): 10,000 captured inferences in under 60 s within the function's memory
(512 MB); steady windows of 200 raise no violation; darkened, blurred, washed-out and
class-mix-shifted windows of 200 each raise at least one.

The answers are the real model's (training/inference.assess). With --traffic real (the default when
../shared/data/real-world is there) the steady traffic is the first collection of the real photos
(sources the model never trained on; the baseline is the model's answers on the real photos it
trained on), decoded as the workflow decodes them; with --traffic cifar it is the CIFAR-100
test images. The shifts are that traffic darker, blurred and washed out (local/shifts.py), and a class
mix of 90% motorcycles. Each pool is judged once whole (each photo once), then in windows that
draw 200 answers with replacement; the pools are small (73 or 200 photos), so resampled windows
repeat photos, and their false-alarm share overstates what independent hours would raise.
"""
import argparse
import io
import json
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import settings  # noqa: E402
from imaging import photo  # noqa: E402
from local import real_photos, shifts  # noqa: E402
from monitoring import capture_format, monitor  # noqa: E402
from training import inference  # noqa: E402

REAL_WORLD = settings.REAL_WORLD_DIR
WINDOW = 200
SPEED_ITEMS = 10_000


def answers_for(model, images) -> list:
    return [inference.assessment_answer(model, assessment) for assessment in inference.assess(model, images)]


def load(paths) -> list:
    images = []
    for path in paths:
        with Image.open(path) as image:
            image.load()
            images.append(image.copy())
    return images


def capture_lines(answers, jpeg: bytes, start_seconds: int = 0) -> list:
    start = capture_format.parse_inference_time("2026-12-01T10:00:00Z")
    from datetime import timedelta
    return [capture_format.to_jsonl_line(capture_format.build_capture_record(
        jpeg, "image/jpeg", json.dumps(answer).encode(), settings.ASSESSMENT_CONTENT_TYPE,
        inference_id=f"bench-{number}", inference_time=start + timedelta(seconds=(start_seconds + number) % 3600)))
        for number, answer in enumerate(answers)]


def write_capture(directory: Path, lines) -> Path:
    when = capture_format.parse_inference_time("2026-12-01T10:00:00Z")
    path = directory / capture_format.capture_key("", settings.DEFAULT_ENDPOINT_NAME, settings.DEFAULT_VARIANT_NAME, when)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))
    return directory


def judge(answers, baseline_dir: Path) -> list:
    """The violations the monitor raises for one window of these answers."""
    with tempfile.TemporaryDirectory() as scratch:
        captures = write_capture(Path(scratch) / "captures", capture_lines(answers, b"\xff\xd8"))
        return monitor.run(captures, baseline_dir, Path(scratch) / "out").violations["violations"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.monitor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=settings.ARTIFACTS_DIR / "model")
    parser.add_argument("--data-dir", type=Path, default=settings.ARTIFACTS_DIR / "data")
    parser.add_argument("--windows", type=int, default=100, help="windows of 200 per kind of traffic")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--traffic", choices=("real", "cifar"), default="real" if REAL_WORLD.is_dir() else "cifar",
                        help="the steady traffic the shifts are made from: the real photos' first collection, or "
                             "the CIFAR-100 test images")
    args = parser.parse_args(argv)
    baseline_dir = args.model_dir / "baseline"
    if not (baseline_dir / "statistics.json").is_file():
        print(f"error: {baseline_dir} has no baseline; train with `python -m local.run --retrain`", file=sys.stderr)
        return 2
    model = inference.model_fn(args.model_dir)
    if args.traffic == "real":
        test_paths = [item.path for item in real_photos.read(REAL_WORLD, collection=1, include_imagenet=True)]
        test_images = [photo.decode(photo.normalize(path.read_bytes())[0])[0] for path in test_paths]
    else:
        test_paths = shifts.photos_below(args.data_dir / "test")
        test_images = load(test_paths)
    pools = {"in distribution": answers_for(model, test_images)}
    for kind, shift in shifts.SHIFTS.items():
        pools[kind.replace("_", " ")] = answers_for(model, [shift(image) for image in test_images])
    motorcycles = [a for a, p in zip(pools["in distribution"], test_paths) if p.parent.name == "motorcycle"]
    bicycles = [a for a, p in zip(pools["in distribution"], test_paths) if p.parent.name == "bicycle"]
    if args.traffic == "cifar" and REAL_WORLD.is_dir():
        pools["real photos"] = answers_for(model, load(shifts.photos_below(REAL_WORLD)))

    # The honest steady stream for a small pool: each photo once, one window (no resampled ties).
    print("Each pool once, as one window (each photo once: a resampled window repeats photos, and the "
          "drift tests, which count every answer as independent, see a small pool as a shift):")
    for kind, pool in pools.items():
        names = sorted({violation["feature_name"] for violation in judge(pool, baseline_dir)})
        print(f"  {kind:<18} {len(pool):>5} answers: {', '.join(names) if names else 'no violation'}")

    rng = random.Random(args.seed)
    print(f"Detection: share of {args.windows} windows of {WINDOW} answers raising at least one violation "
          f"(baseline: {json.loads((baseline_dir / 'statistics.json').read_text())['dataset']['item_count']} "
          f"photos; traffic: {'the first collection of real photos' if args.traffic == 'real' else 'CIFAR test'})")
    print(f"{'traffic':<18} {'pool':>5} {'windows with a violation':>26}  most raised")
    kinds = list(pools) + ["class mix"]
    for kind in kinds:
        raised, features_seen = 0, {}
        for _ in range(args.windows):
            if kind == "class mix":  # 90% motorcycles, 10% bicycles
                window = [rng.choice(motorcycles) if rng.random() < 0.9 else rng.choice(bicycles) for _ in range(WINDOW)]
            else:
                window = [rng.choice(pools[kind]) for _ in range(WINDOW)]
            violations = judge(window, baseline_dir)
            raised += bool(violations)
            for violation in violations:
                features_seen[violation["feature_name"]] = features_seen.get(violation["feature_name"], 0) + 1
        pool = len(bicycles) + len(motorcycles) if kind == "class mix" else len(pools[kind])
        top = ", ".join(name for name, _ in sorted(features_seen.items(), key=lambda item: -item[1])[:3]) or "-"
        print(f"{kind:<18} {pool:>5} {raised / args.windows:>25.0%}  {top}")

    # Speed: 10,000 captured inferences, each with a 224-px JPEG as the request body, as captured.
    buffer = io.BytesIO()
    test_images[0].convert("RGB").resize((224, 224)).save(buffer, "JPEG", quality=90)
    answers = [rng.choice(pools["in distribution"]) for _ in range(SPEED_ITEMS)]
    with tempfile.TemporaryDirectory() as scratch:
        captures = write_capture(Path(scratch) / "captures", capture_lines(answers, buffer.getvalue()))
        size = sum(path.stat().st_size for path in captures.rglob("*.jsonl"))
        tracemalloc.start()
        started = time.perf_counter()
        result = monitor.run(captures, baseline_dir, Path(scratch) / "out")
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    print(f"\nSpeed: {result.verdict.items} captured inferences ({size / 1e6:.0f} MB of capture) judged in {seconds:.1f} s "
          f"(goal < 60 s); peak Python allocations {peak / 1e6:.0f} MB, process peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB including MXNet and the model "
          f"(function memory 512 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
