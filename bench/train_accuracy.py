"""Benchmark: train with the default hyperparameters over several seeds on the 1000 real CIFAR-100
training images, then measure the 200 official test images the way the product sees them.

One run of one seed cannot tell a better model from a lucky one (resampling the 200 test images
moves coverage at 99% precision by 7-10 points), so this trains --seeds models one after the other
(each alone on the machine, so its training time is honest) and prints, per seed and as mean and
range: accuracy, coverage at 99% precision, coverage and precision at the workflow's threshold,
ECE, accuracy on the same images sent as 224-px JPEGs through inference.transform_fn, and the
training time; then a bootstrap 95% interval over the test images for accuracy and coverage at
99% precision, per seed and for the mean over seeds. The validation split's figures (what model
selection may look at) are printed beside them; the test images choose nothing.

  .venv/bin/python -m bench.train_accuracy                          # 3 seeds from 101 (minutes each)
  .venv/bin/python -m bench.train_accuracy --seeds 5 --first-seed 201
  .venv/bin/python -m bench.train_accuracy --skip-training --model-dir A --model-dir B   # measure models
"""
import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np
from PIL import Image
from tqdm import tqdm

import settings
from imaging import samples  # the same photo makers the tests use
from training import inference, launch, model_artifacts, train

GOALS = {"accuracy": 0.95, "coverage_at_target": 0.65, "worst_coverage_at_target": 0.55, "ece": 0.05,
         "jpeg_gap_points": 3.0, "training_minutes": 7.0}
# Seeds the defaults were never chosen on (selection used seeds 1-3 on the validation split).
DEFAULT_FIRST_SEED = 101
BOOTSTRAP_SAMPLES = 2000
TARGET = model_artifacts.TARGET_PRECISION


@dataclass
class SeedResult:
    name: str
    training_seconds: Optional[float]
    probabilities: np.ndarray                   # PNG test images, class order of the model
    jpeg_predictions: np.ndarray
    validation: dict = field(default_factory=dict)
    usable: np.ndarray = None                   # per test image: does the model count it a usable photo?


def load_test_images(test_dir: Path, class_names):
    images, labels = [], []
    for label, name in enumerate(class_names):
        for path in sorted((test_dir / name).glob("*.png")):
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
            labels.append(label)
    return images, np.array(labels)


def measure(model_dir: Path, images, training_seconds: Optional[float], name: str) -> SeedResult:
    model = inference.model_fn(model_dir)
    assessments = inference.assess(model, images)
    probabilities = np.array([assessment.probabilities for assessment in assessments])
    usable = np.array([assessment.usable for assessment in assessments])
    jpeg_predictions = []
    for image in tqdm(images, desc=f"{name}: 224-px JPEGs through transform_fn", unit="img", leave=False):
        body, _ = inference.transform_fn(model, samples.camera_jpeg(image), "image/jpeg", "application/json")
        jpeg_predictions.append(int(np.argmax(json.loads(body))))
    metrics = model_artifacts.read_json(model_dir, model_artifacts.METRICS_FILE)
    return SeedResult(name, training_seconds, probabilities, np.array(jpeg_predictions),
                      metrics.get("validation", {}), usable)


def figures(result: SeedResult, labels: np.ndarray) -> dict:
    report = train.classification_report(result.probabilities, labels, list(settings.CLASS_NAMES),
                                         settings.DEFAULT_THRESHOLD)
    return {
        "accuracy": report["accuracy"],
        "coverage_at_target": report["coverage_at_target_precision"],
        "coverage_at_threshold": report["coverage_at_threshold"],
        "precision_at_threshold": report["precision_at_threshold"],
        "ece": report["ece"],
        "jpeg_accuracy": float(np.mean(result.jpeg_predictions == labels)),
        "usable_share": float(np.mean(result.usable)),
        "training_seconds": result.training_seconds,
        "validation_accuracy": result.validation.get("accuracy"),
        "validation_nll": result.validation.get("nll"),
        "validation_coverage_at_target": result.validation.get("coverage_at_target_precision"),
    }


def bootstrap_intervals(results: List[SeedResult], labels: np.ndarray, seed: int = 0) -> dict:
    """95% percentile intervals of accuracy and coverage at the target, resampling the test images:
    per seed, and for the mean over seeds (every seed's predictions on the same resample)."""
    rng = np.random.RandomState(seed)
    n = len(labels)
    samples = {"accuracy": [], "coverage_at_target": []}
    for _ in range(BOOTSTRAP_SAMPLES):
        idx = rng.randint(0, n, n)
        accuracies, coverages = [], []
        for result in results:
            predictions = result.probabilities[idx].argmax(axis=1)
            correct = predictions == labels[idx]
            accuracies.append(correct.mean())
            coverages.append(model_artifacts.coverage_at_precision(result.probabilities[idx].max(axis=1), correct,
                                                                   TARGET)[0])
        samples["accuracy"].append(accuracies)
        samples["coverage_at_target"].append(coverages)
    intervals = {}
    for metric, values in samples.items():
        values = np.array(values)                          # samples x seeds
        intervals[metric] = {
            "per_seed": [tuple(np.percentile(values[:, s], [2.5, 97.5])) for s in range(values.shape[1])],
            "mean": tuple(np.percentile(values.mean(axis=1), [2.5, 97.5])),
        }
    return intervals


def pct(value) -> str:
    return "  n/a" if value is None else f"{100 * value:5.1f}"


def mark(ok: bool) -> str:
    return "ok  " if ok else "MISS"


def print_report(results: List[SeedResult], labels: np.ndarray, hyperparameters: dict) -> None:
    rows = [figures(result, labels) for result in results]
    intervals = bootstrap_intervals(results, labels)
    print(f"\nhyperparameters (beyond the defaults): {json.dumps(hyperparameters, sort_keys=True) or '{}'}")
    print(f"test images: {len(labels)}; target precision {TARGET:.0%}; threshold {settings.DEFAULT_THRESHOLD}")
    header = (f"{'seed':<10}{'acc %':>7}{'95% CI':>14}{'cov@99 %':>10}{'95% CI':>14}{'cov@thr %':>10}"
              f"{'prec@thr %':>11}{'ECE':>7}{'JPEG %':>8}{'train s':>9}  | val acc  val NLL  val cov@99")
    print(header)
    print("-" * len(header))
    for result, row, acc_ci, cov_ci in zip(results, rows, intervals["accuracy"]["per_seed"],
                                           intervals["coverage_at_target"]["per_seed"]):
        seconds = f"{row['training_seconds']:9.0f}" if row["training_seconds"] is not None else f"{'-':>9}"
        val_nll = f"{row['validation_nll']:.3f}" if row["validation_nll"] is not None else "  n/a"
        print(f"{result.name:<10}{pct(row['accuracy']):>7}{f'{100 * acc_ci[0]:.1f}-{100 * acc_ci[1]:.1f}':>14}"
              f"{pct(row['coverage_at_target']):>10}{f'{100 * cov_ci[0]:.1f}-{100 * cov_ci[1]:.1f}':>14}"
              f"{pct(row['coverage_at_threshold']):>10}{pct(row['precision_at_threshold']):>11}"
              f"{row['ece']:7.3f}{pct(row['jpeg_accuracy']):>8}{seconds}  | "
              f"{pct(row['validation_accuracy'])}    {val_nll}    {pct(row['validation_coverage_at_target'])}")

    def column(name):
        return np.array([row[name] if row[name] is not None else np.nan for row in rows], dtype=float)

    def spread(name, scale=100.0, digits=1):
        values = column(name) * scale
        return f"mean {np.nanmean(values):.{digits}f} (range {np.nanmin(values):.{digits}f}-{np.nanmax(values):.{digits}f})"

    accuracy, coverage = column("accuracy"), column("coverage_at_target")
    gaps = 100 * (accuracy - column("jpeg_accuracy"))
    seconds = column("training_seconds")
    acc_ci, cov_ci = intervals["accuracy"]["mean"], intervals["coverage_at_target"]["mean"]
    print(f"\nover {len(results)} seed(s):")
    print(f"[{mark(accuracy.mean() >= GOALS['accuracy'])}] accuracy                 {spread('accuracy')} %, "
          f"95% CI of the mean {100 * acc_ci[0]:.1f}-{100 * acc_ci[1]:.1f}   (goal: mean >= {100 * GOALS['accuracy']:.1f})")
    print(f"[{mark(coverage.mean() >= GOALS['coverage_at_target'] and coverage.min() >= GOALS['worst_coverage_at_target'])}]"
          f" coverage at {TARGET:.0%} precision {spread('coverage_at_target')} %, "
          f"95% CI of the mean {100 * cov_ci[0]:.1f}-{100 * cov_ci[1]:.1f}   "
          f"(goal: mean >= {100 * GOALS['coverage_at_target']:.0f}, no seed below {100 * GOALS['worst_coverage_at_target']:.0f})")
    print(f"[ -- ] coverage at {settings.DEFAULT_THRESHOLD}         {spread('coverage_at_threshold')} %")
    print(f"[ -- ] precision at {settings.DEFAULT_THRESHOLD}        {spread('precision_at_threshold')} %")
    print(f"[{mark(np.nanmax(column('ece')) <= GOALS['ece'])}] ECE                      "
          f"{spread('ece', 1.0, 3)}   (goal <= {GOALS['ece']} for every seed)")
    print(f"[{mark(np.nanmax(gaps) <= GOALS['jpeg_gap_points'])}] 224-px JPEG accuracy     {spread('jpeg_accuracy')} %, "
          f"{np.nanmax(gaps):+.1f} points below PNG at worst   (goal within {GOALS['jpeg_gap_points']:.0f})")
    print(f"[info] usable test thumbnails   {spread('usable_share')} %   (the two-wheeler gate refuses most "
          f"upsampled thumbnails; bench.real_photos and bench.unusable_images measure real photos)")
    if np.isnan(seconds).all():
        print("[ -- ] training time            not measured (--skip-training)")
    else:
        print(f"[{mark(np.nanmax(seconds) <= 60 * GOALS['training_minutes'])}] training time            "
              f"{spread('training_seconds', 1.0, 0)} s   (goal <= {GOALS['training_minutes']:.0f} min each)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.train_accuracy", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--data-dir", type=Path, default=settings.DEFAULT_DATA_SOURCE,
                        help="folder with {train,test}/{class}/*.png (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=3, help="models trained, one per seed (default: %(default)s)")
    parser.add_argument("--first-seed", type=int, default=DEFAULT_FIRST_SEED,
                        help="seeds are FIRST, FIRST+1, ... (default: %(default)s, never used to choose defaults)")
    parser.add_argument("--model-dir", type=Path, action="append",
                        help="with --skip-training: a trained model to measure (repeatable); else where to keep "
                             "the models (one sub-folder per seed)")
    parser.add_argument("--skip-training", action="store_true", help="measure the models given by --model-dir")
    parser.add_argument("--hyperparameter", action="append", metavar="NAME=VALUE",
                        help="override a train.py default (for experiments; the goals are about the defaults)")
    args = parser.parse_args(argv)
    if args.skip_training and not args.model_dir:
        parser.error("--skip-training needs at least one --model-dir")
    if not args.skip_training and args.model_dir and len(args.model_dir) > 1:
        parser.error("when training, give one --model-dir (the models go to sub-folders of it)")
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    if not (args.data_dir / "train").is_dir() or not (args.data_dir / "test").is_dir():
        print(f"train_accuracy: {args.data_dir} has no train/ and test/ folders", file=sys.stderr)
        return 1
    try:
        hyperparameters = launch.parse_hyperparameters(args.hyperparameter)
    except launch.LaunchError as error:
        print(f"train_accuracy: {error}", file=sys.stderr)
        return 1

    images, labels = load_test_images(args.data_dir / "test", settings.CLASS_NAMES)
    results = []
    with tempfile.TemporaryDirectory(prefix="train-accuracy-") as scratch:
        if args.skip_training:
            for model_dir in args.model_dir:
                results.append(measure(model_dir, images, None, model_dir.name))
        else:
            root = args.model_dir[0] if args.model_dir else Path(scratch)
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                model_dir = root / f"seed{seed}"
                started = time.perf_counter()
                try:
                    launch.train_locally(model_dir, args.data_dir, {**hyperparameters, "seed": str(seed)})
                except launch.LaunchError as error:
                    print(f"train_accuracy: {error}", file=sys.stderr)
                    return 1
                results.append(measure(model_dir, images, time.perf_counter() - started, f"seed {seed}"))
    print_report(results, labels, hyperparameters)
    return 0


if __name__ == "__main__":
    sys.exit(main())
