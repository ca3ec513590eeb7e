"""Benchmark: the default model on real photos, over seeds, per source and pooled.

Trains --seeds models with train.py's defaults on the CIFAR training images (or measures the
--model-dir models given), then sends every real photo of ../shared/data/real-world through what the
workflow does to it: the Serialize Image Lambda's normalisation (imaging/photo.py), then the
endpoint's assessment (training/inference.py), then the routing rule (usable and confident at the
threshold). Prints, per model, collection and source, and pooled:

  vehicles (bicycles and motorcycles)  accuracy, routed share, precision among routed with its 95%
                                       Wilson interval, wrong routings, refused as not a two-wheeler
  other things                         routed, mopeds and motor scooters apart from the rest (cars,
                                       people, streets, kick scooters, ...), which must never be routed

`inet__` photos are left out of every figure: they are ImageNet's own samples, which the backbone has
seen. The second collection is what the goals are judged on; the first is where the two-wheeler
limit could be checked, so its figures are shown for reference only. Real photos never train or
choose anything here.

  .venv/bin/python -m bench.real_photos                          # 3 seeds (about 2 min each to train)
  .venv/bin/python -m bench.real_photos --model-dir artifacts/model
"""
import argparse
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

import settings
from bench.retraining import wilson
from imaging import photo
from local import real_photos
from training import inference, launch, usability

GOALS = {"accuracy": 0.97, "routed_share": 0.90, "wrong_routed": 1, "other_routed": 0, "refused_share": 0.05}
THRESHOLD = settings.DEFAULT_THRESHOLD


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.real_photos", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model-dir", type=Path, action="append",
                        help="measure this trained model (repeatable) instead of training --seeds models")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=101, help="seeds the defaults were never chosen on")
    parser.add_argument("--real-photos", type=Path, default=settings.REAL_WORLD_DIR)
    parser.add_argument("--data-dir", type=Path, default=settings.ARTIFACTS_DIR / "data")
    parser.add_argument("--per-source", action="store_true", help="print every source's row, not only the pools")
    parser.add_argument("--list", action="store_true", help="name every wrongly routed, refused or routed other photo")
    return parser.parse_args(argv)


def as_the_workflow_sees_it(path: Path):
    """The photo after the Serialize Image Lambda, decoded as the endpoint decodes it."""
    normalised, _, _ = photo.normalize(path.read_bytes())
    image, _ = photo.decode(normalised)
    return image


def judge(model, photos, images) -> list:
    """(photo, predicted class, confidence, usable, routed, reason codes) per photo."""
    rows = []
    for item, assessment in zip(photos, inference.assess(model, images)):
        top = max(range(len(assessment.probabilities)), key=assessment.probabilities.__getitem__)
        confidence = assessment.probabilities[top]
        routed = assessment.usable and confidence >= THRESHOLD
        rows.append((item, model.class_names[top], confidence, assessment.usable, routed,
                     [reason.code for reason in assessment.unusable_reasons]))
    return rows


def figures(rows) -> dict:
    vehicles = [row for row in rows if row[0].kind in settings.CLASS_NAMES]
    others = [row for row in rows if row[0].kind not in settings.CLASS_NAMES]
    routed = [row for row in vehicles if row[4]]
    right = sum(row[1] == row[0].folder for row in routed)
    return {
        "vehicles": len(vehicles), "correct": sum(row[1] == row[0].folder for row in vehicles),
        "routed": len(routed), "routed_right": right, "wrong_routed": len(routed) - right,
        "refused": sum("not_two_wheeler" in row[5] for row in vehicles),
        "mopeds": sum(row[0].kind == "moped_or_scooter" for row in others),
        "mopeds_routed": sum(row[0].kind == "moped_or_scooter" and row[4] for row in others),
        "others": sum(row[0].kind == "other" for row in others),
        "others_routed": sum(row[0].kind == "other" and row[4] for row in others),
    }


def share(part, whole) -> str:
    return f"{part / whole:6.1%}" if whole else "   n/a"


def print_row(name: str, f: dict) -> None:
    precision, low, high = wilson(f["routed_right"], f["routed"])
    interval = f"{precision:6.1%} [{low:5.1%}, {high:5.1%}]" if f["routed"] else f"{'n/a':>22}"
    print(f"  {name:<22} {f['vehicles']:>4} {share(f['correct'], f['vehicles'])} {share(f['routed'], f['vehicles'])} "
          f"{interval} {f['wrong_routed']:>5} {share(f['refused'], f['vehicles'])} "
          f"{f['others_routed']:>3}/{f['others']:<3} {f['mopeds_routed']:>3}/{f['mopeds']:<3}")


def header() -> None:
    print(f"  {'':<22} {'veh':>4} {'acc':>6} {'routed':>6} {'precision [95% Wilson]':>22} {'wrong':>5} "
          f"{'refuse':>6} {'other':>7} {'moped':>7}")


def report(name: str, rows, per_source: bool, listing: bool) -> dict:
    print(f"\nmodel {name}: at {THRESHOLD}, inet__ photos left out")
    header()
    pooled = {}
    for collection in (1, 2):
        part = [row for row in rows if row[0].collection == collection]
        if per_source:
            by_source = defaultdict(list)
            for row in part:
                by_source[row[0].source].append(row)
            for source, source_rows in sorted(by_source.items()):
                print_row(f"  {collection}: {source}", figures(source_rows))
        pooled[collection] = figures(part)
        print_row(f"collection {collection}" + (" (goals)" if collection == 2 else ""), pooled[collection])
    print_row("both collections", figures(rows))
    if listing:
        for item, label, confidence, usable, routed, codes in rows:
            wrong = routed and (item.kind not in settings.CLASS_NAMES or label != item.folder)
            refused = item.kind in settings.CLASS_NAMES and "not_two_wheeler" in codes
            if wrong or refused:
                print(f"    {'ROUTED' if routed else 'refused'} {item.collection}:{item.folder}/{item.path.name} "
                      f"as {label} {confidence:.3f} {','.join(codes)}")
    return pooled[2]


def check(goals_rows: list) -> None:
    print(f"\ngoals on the second collection (each model): accuracy >= {GOALS['accuracy']:.0%}, routed >= "
          f"{GOALS['routed_share']:.0%} with at most {GOALS['wrong_routed']} wrong, no other thing routed, refused "
          f"<= {GOALS['refused_share']:.0%}")
    for name, f in goals_rows:
        met = {"accuracy": f["correct"] / f["vehicles"] >= GOALS["accuracy"],
               "routed": f["routed"] / f["vehicles"] >= GOALS["routed_share"],
               "wrong": f["wrong_routed"] <= GOALS["wrong_routed"],
               "other": f["others_routed"] <= GOALS["other_routed"],
               "refused": f["refused"] / f["vehicles"] <= GOALS["refused_share"]}
        print(f"  {name}: " + " ".join(f"{goal} {'met' if ok else 'MISSED'}" for goal, ok in met.items())
              + f" (mopeds/scooters routed: {f['mopeds_routed']} of {f['mopeds']}, reported apart)")


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        photos = real_photos.read(args.real_photos)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    images = [as_the_workflow_sees_it(item.path) for item in tqdm(photos, desc="decoding photos", unit="photo")]
    model_dirs = list(args.model_dir or [])
    scratch = None
    if not model_dirs:
        scratch = tempfile.TemporaryDirectory(prefix="real-photos-")
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            target = Path(scratch.name) / f"seed-{seed}"
            launch.train_locally(target, args.data_dir, {"seed": str(seed)})
            model_dirs.append(target)
    goals_rows = []
    for model_dir in model_dirs:
        model = inference.model_fn(model_dir)
        goals_rows.append((model_dir.name, report(model_dir.name, judge(model, photos, images), args.per_source,
                                                  args.list)))
    check(goals_rows)
    print(f"\ntwo-wheeler limit {model.two_wheeler_limit} (usability.DEFAULT_TWO_WHEELER_LIMIT "
          f"{usability.DEFAULT_TWO_WHEELER_LIMIT})")
    if scratch is not None:
        scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
