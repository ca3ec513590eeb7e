"""Benchmark: the default model on real photos, over seeds, per source and pooled.

Trains --seeds models with train.py's defaults on the staged data (CIFAR thumbnails and the real-photo
channel: the second collection), or measures the --model-dir models given, then sends every photo
of the first collection of ../shared/data/real-world, whose sources no training saw, through what
the workflow does to it: the Serialize Image Lambda's normalisation (imaging/photo.py), then the
endpoint's assessment (training/inference.py), then the routing rule (usable and confident at the
threshold). The second collection trained the model, so its figures are the grouped out-of-fold ones
train.py stored with the model (metrics.json "calibration": each photo answered by a fold model that
never met its source, at the stored temperature), routed when also usable for the model's gate.
Printed per model and source, and pooled over models:

  vehicles (bicycles and motorcycles)  accuracy, routed share, precision among routed with its 95%
                                       Wilson interval, wrong routings (listed by file), refused as
                                       not a two-wheeler
  other things                         routed (cars, people, streets, kick scooters, ...), never allowed

`inet__` photos are left out of every figure: they are ImageNet's own samples, which the backbone has
seen. Mopeds and motor scooters are motorcycles (filed under motorcycle/).

  .venv/bin/python -m bench.real_photos                          # 3 seeds (a few minutes each to train)
  .venv/bin/python -m bench.real_photos --model-dir artifacts/model
"""
import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

import settings
from bench.retraining import wilson
from imaging import photo
from local import real_photos
from training import inference, launch, model_artifacts, usability

# The first collection's goals (issue 28), for each model; the second's out-of-fold goal is pooled over folds.
GOALS = {"accuracy": 0.98, "routed_share": 0.92, "wrong_routed": 1, "other_routed": 0, "refused_share": 0.05}
OUT_OF_FOLD_GOALS = {"precision": 0.98, "routed_share": 0.85}
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


def out_of_fold_rows(model_dir: Path, model, rows) -> list:
    """The second collection's rows as the model's out-of-fold answers give them (metrics.json), the
    gate from the model itself; [] for a model without them."""
    metrics = json.loads((Path(model_dir) / model_artifacts.METRICS_FILE).read_text())
    calibration = metrics.get("calibration") or {}
    logits = calibration.get("out_of_fold_by_photo") or {}
    out = []
    for item, _, _, usable, _, codes in rows:
        key = f"{item.folder}/{item.path.name}"
        if item.collection != 2 or key not in logits:
            continue
        probabilities = model_artifacts.softmax([logits[key]], calibration["temperature"])[0]
        top = int(probabilities.argmax())
        out.append((item, model.class_names[top], float(probabilities[top]), usable,
                    usable and probabilities[top] >= THRESHOLD, codes))
    return out


def report(name: str, rows, oof_rows, per_source: bool, listing: bool) -> dict:
    print(f"\nmodel {name}: at {THRESHOLD}, inet__ photos left out")
    header()
    first = [row for row in rows if row[0].collection == 1]
    by_source = defaultdict(list)
    for row in first:
        by_source[row[0].source].append(row)
    for source, source_rows in sorted(by_source.items()):
        print_row(f"  1: {source}", figures(source_rows))
    pooled = {"first": figures(first), "out_of_fold": figures(oof_rows)}
    print_row("collection 1 (test)", pooled["first"])
    if per_source:
        by_source = defaultdict(list)
        for row in oof_rows:
            by_source[row[0].source].append(row)
        for source, source_rows in sorted(by_source.items()):
            print_row(f"  2: {source} (oof)", figures(source_rows))
    print_row("collection 2 out of fold", pooled["out_of_fold"])
    for item, label, confidence, usable, routed, codes in first + (oof_rows if listing else []):
        wrong = routed and (item.kind not in settings.CLASS_NAMES or label != item.folder)
        refused = item.kind in settings.CLASS_NAMES and "not_two_wheeler" in codes
        if wrong or (refused and listing):
            print(f"    {'ROUTED WRONGLY' if routed else 'refused'} {item.collection}:{item.folder}/{item.path.name} "
                  f"as {label} {confidence:.4f} {','.join(codes)}")
    return pooled


def pooled_figures(parts: list) -> dict:
    return {key: sum(part[key] for part in parts) for key in parts[0]}


def check(goals_rows: list) -> None:
    print(f"\ngoals on the first collection (each model): accuracy >= {GOALS['accuracy']:.0%}, routed >= "
          f"{GOALS['routed_share']:.0%} with at most {GOALS['wrong_routed']} wrong, no other thing routed, refused "
          f"<= {GOALS['refused_share']:.0%}; out of fold on the second: precision among routed >= "
          f"{OUT_OF_FOLD_GOALS['precision']:.0%}, routed >= {OUT_OF_FOLD_GOALS['routed_share']:.0%}")
    for name, pooled in goals_rows:
        f, o = pooled["first"], pooled["out_of_fold"]
        met = {"accuracy": f["correct"] / f["vehicles"] >= GOALS["accuracy"],
               "routed": f["routed"] / f["vehicles"] >= GOALS["routed_share"],
               "wrong": f["wrong_routed"] <= GOALS["wrong_routed"],
               "other": f["others_routed"] <= GOALS["other_routed"],
               "refused": f["refused"] / f["vehicles"] <= GOALS["refused_share"]}
        if o["vehicles"]:
            met["oof precision"] = o["routed"] > 0 and o["routed_right"] / o["routed"] >= OUT_OF_FOLD_GOALS["precision"]
            met["oof routed"] = o["routed"] / o["vehicles"] >= OUT_OF_FOLD_GOALS["routed_share"]
        print(f"  {name}: " + " ".join(f"{goal} {'met' if ok else 'MISSED'}" for goal, ok in met.items()))


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
        rows = judge(model, photos, images)
        goals_rows.append((model_dir.name, report(model_dir.name, rows, out_of_fold_rows(model_dir, model, rows),
                                                  args.per_source, args.list)))
    if len(goals_rows) > 1:
        print(f"\npooled over the {len(goals_rows)} models")
        header()
        print_row("collection 1 (test)", pooled_figures([pooled["first"] for _, pooled in goals_rows]))
        print_row("collection 2 out of fold", pooled_figures([pooled["out_of_fold"] for _, pooled in goals_rows]))
    check(goals_rows)
    print(f"\ntwo-wheeler limit {model.two_wheeler_limit} (usability.DEFAULT_TWO_WHEELER_LIMIT "
          f"{usability.DEFAULT_TWO_WHEELER_LIMIT})")
    if scratch is not None:
        scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
