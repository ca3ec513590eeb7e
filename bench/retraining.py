"""Benchmark retraining from reviewed photos: does a challenger route real photos it never saw better?

    .venv/bin/python -m bench.retraining [--folds 3] [--parent artifacts/model] [--real-world DIR]

The real photos (../shared/data/real-world: bicycle/, motorcycle/, other/) stand for what the review
loop answers. They are split into folds (stratified, fixed seed); for each fold a challenger is
trained by train.py with the other folds as the reviewed channel (as Serialize Image normalises
them: imaging/photo.py) and judged, beside the parent model, on the fold it never saw. Every photo
is held out exactly once, so the figures pool all 73, with 95% Wilson intervals:

  accuracy, coverage and precision of routing at the threshold, other things routed, and real
  bicycles and motorcycles called unusable; and the CIFAR test accuracy, which must not fall.

No hyperparameter or threshold is chosen here: the photos only measure. Each fold trains the
default schedule (about 10 minutes on 2 cores).
"""
import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import settings  # noqa: E402
from imaging import photo  # noqa: E402

REAL_WORLD = settings.PROJECT_ROOT.parent / "shared" / "data" / "real-world"
FOLDER_LABELS = {"bicycle": "bicycle", "motorcycle": "motorcycle", "other": settings.NOT_A_VEHICLE}
TRAIN_SCRIPT = settings.PROJECT_ROOT / "training" / "train.py"
SUFFIXES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


def wilson(successes: int, trials: int, z: float = 1.959963984540054):
    if not trials:
        return None, None, None
    share = successes / trials
    centre = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * ((share * (1 - share) / trials + z * z / (4 * trials * trials)) ** 0.5) / (1 + z * z / trials)
    return share, max(0.0, centre - half), min(1.0, centre + half)


def folds_of(root: Path, count: int, seed: int) -> list:
    """[(path, label)] per fold, stratified by label."""
    folds = [[] for _ in range(count)]
    rng = random.Random(seed)
    for folder, label in FOLDER_LABELS.items():
        photos = sorted(p for p in (root / folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
        rng.shuffle(photos)
        for index, path in enumerate(photos):
            folds[index % count].append((path, label))
    return folds


def write_channel(examples, directory: Path) -> None:
    for path, label in examples:
        body, media_type, _original = photo.normalize(path.read_bytes())
        target = directory / label / (path.stem + SUFFIXES[media_type])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)


def add(total: dict, figures: dict) -> None:
    for key, value in figures.items():
        if key != "threshold":
            total[key] = total.get(key, 0) + value


def line(name: str, figures: dict) -> str:
    def cell(successes, trials):
        share, low, high = wilson(figures[successes], figures[trials])
        return "n/a" if share is None else f"{figures[successes]}/{figures[trials]} {share:.1%} [{low:.1%}, {high:.1%}]"
    return (f"{name:<11} accuracy {cell('correct', 'vehicles'):<28} coverage {cell('routed', 'vehicles'):<28} "
            f"precision {cell('routed_correct', 'routed'):<28} others routed {cell('others_routed', 'others'):<26} "
            f"unusable {cell('unusable', 'vehicles')}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.retraining", description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parent", type=Path, default=settings.ARTIFACTS_DIR / "model")
    parser.add_argument("--real-world", type=Path, default=REAL_WORLD)
    parser.add_argument("--data-dir", type=Path, default=settings.ARTIFACTS_DIR / "data")
    parser.add_argument("--hyperparameter", action="append", default=[], metavar="--NAME=VALUE",
                        help="passed to train.py as is (e.g. --epochs=20 for a quick look)")
    args = parser.parse_args(argv)
    if not args.real_world.is_dir() or not (args.parent / "classes.json").is_file():
        print(f"error: needs {args.real_world} and a trained model in {args.parent}", file=sys.stderr)
        return 2
    folds = folds_of(args.real_world, args.folds, args.seed)
    totals = {"challenger": {}, "parent": {}}
    tests = {"challenger": {}, "parent": {}}
    for index, held in enumerate(folds):
        with tempfile.TemporaryDirectory() as scratch:
            scratch = Path(scratch)
            write_channel([example for other, fold in enumerate(folds) if other != index for example in fold],
                          scratch / "reviewed")
            write_channel(held, scratch / "holdout")
            completed = subprocess.run(
                [sys.executable, str(TRAIN_SCRIPT), "--train", str(args.data_dir / "train"), "--test",
                 str(args.data_dir / "test"), "--reviewed", str(scratch / "reviewed"), "--holdout",
                 str(scratch / "holdout"), "--parent", str(args.parent), "--model-dir", str(scratch / "model"),
                 *args.hyperparameter], capture_output=True, text=True)
            if completed.returncode != 0:
                print(completed.stderr[-2000:], file=sys.stderr)
                return 1
            judged = json.loads((scratch / "model" / "metrics.json").read_text())["judged"]
        for model in totals:
            add(totals[model], judged[model]["holdout"])
            add(tests[model], judged[model]["test"])
        print(f"fold {index + 1}/{len(folds)}: " + json.dumps({m: judged[m]["holdout"] for m in judged}), flush=True)
    print(f"\nReal photos never trained on ({sum(len(f) for f in folds)}, {args.folds} folds pooled), at threshold "
          f"{settings.DEFAULT_THRESHOLD}; counts, shares and 95% Wilson intervals:")
    for model in ("parent", "challenger"):
        print(line(model, totals[model]))
    print("\nCIFAR test images (each fold's model; summed over folds):")
    for model in ("parent", "challenger"):
        share, low, high = wilson(tests[model]["correct"], tests[model]["vehicles"])
        print(f"{model:<11} accuracy {tests[model]['correct']}/{tests[model]['vehicles']} {share:.1%} [{low:.1%}, {high:.1%}]")
    drop = (tests["parent"]["correct"] - tests["challenger"]["correct"]) / tests["parent"]["vehicles"]
    print(f"CIFAR accuracy change: {-drop:+.1%} (goal: falls no more than 1 point)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
