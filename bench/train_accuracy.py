"""Benchmark: train with the default hyperparameters on the 1000 real CIFAR-100 training images,
then measure the 200 official test images the way the product sees them.

Prints test accuracy, per-class precision/recall, coverage and precision of the answers at the
workflow's threshold, expected calibration error, accuracy on the same test images sent as
224-px JPEGs through inference.transform_fn (what a camera would send), and the training wall
time, each beside its goal. The test images choose nothing: train.py selects and calibrates
on a validation split of the training images.

  .venv/bin/python -m bench.train_accuracy                     # train (minutes), then measure
  .venv/bin/python -m bench.train_accuracy --model-dir DIR --skip-training   # measure a trained model
"""
import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

import settings
from training import inference, launch, train

GOALS = {"accuracy": 0.93, "coverage": 0.75, "precision_at_threshold": 0.97, "ece": 0.05,
         "jpeg_gap_points": 3.0, "training_minutes": 10.0}
JPEG_SIDE = 224
JPEG_QUALITY = 90


def load_test_images(test_dir: Path, class_names):
    images, labels = [], []
    for label, name in enumerate(class_names):
        for path in sorted((test_dir / name).glob("*.png")):
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
            labels.append(label)
    return images, np.array(labels)


def as_camera_jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.resize((JPEG_SIDE, JPEG_SIDE), Image.Resampling.BICUBIC).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def mark(ok: bool) -> str:
    return "ok  " if ok else "MISS"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=settings.DEFAULT_DATA_SOURCE,
                        help="folder with {train,test}/{class}/*.png (default: %(default)s)")
    parser.add_argument("--model-dir", type=Path, help="where to write (or, with --skip-training, read) the model")
    parser.add_argument("--skip-training", action="store_true", help="measure the model already in --model-dir")
    parser.add_argument("--hyperparameter", action="append", metavar="NAME=VALUE",
                        help="override a train.py default (for experiments; the goal is about the defaults)")
    args = parser.parse_args(argv)
    if args.skip_training and not args.model_dir:
        parser.error("--skip-training needs --model-dir")
    if not (args.data_dir / "train").is_dir() or not (args.data_dir / "test").is_dir():
        print(f"train_accuracy: {args.data_dir} has no train/ and test/ folders", file=sys.stderr)
        return 1

    scratch = tempfile.TemporaryDirectory(prefix="train-accuracy-")
    model_dir = args.model_dir or Path(scratch.name) / "model"
    training_seconds = None
    if not args.skip_training:
        started = time.perf_counter()
        try:
            launch.train_locally(model_dir, args.data_dir, launch.parse_hyperparameters(args.hyperparameter))
        except launch.LaunchError as error:
            print(f"train_accuracy: {error}", file=sys.stderr)
            return 1
        training_seconds = time.perf_counter() - started

    model = inference.model_fn(model_dir)
    images, labels = load_test_images(args.data_dir / "test", model.class_names)
    png_report = train.classification_report(inference.predict_probabilities(model, images), labels,
                                             model.class_names, settings.DEFAULT_THRESHOLD)
    jpeg_predictions = []
    for image in tqdm(images, desc="224-px JPEGs through transform_fn", unit="img"):
        body, _ = inference.transform_fn(model, as_camera_jpeg(image), "image/jpeg", "application/json")
        jpeg_predictions.append(int(np.argmax(json.loads(body))))
    jpeg_accuracy = float(np.mean(np.array(jpeg_predictions) == labels))
    hyper = inference.model_artifacts.read_json(model_dir, inference.model_artifacts.METRICS_FILE)["hyperparameters"]

    gap_points = 100 * (png_report["accuracy"] - jpeg_accuracy)
    precision = png_report["precision_at_threshold"] or 0.0
    print(f"model: {model_dir}  temperature={model.temperature:.3f}")
    print(f"hyperparameters: {json.dumps(hyper, sort_keys=True)}")
    print(f"test images: {len(labels)} ({', '.join(f'{n}={int(np.sum(labels == i))}' for i, n in enumerate(model.class_names))})")
    print(f"[{mark(png_report['accuracy'] >= GOALS['accuracy'])}] test accuracy            "
          f"{100 * png_report['accuracy']:.1f}%   (goal >= {100 * GOALS['accuracy']:.0f}%)")
    for name, figures in png_report["per_class"].items():
        print(f"       {name:<11} precision {100 * (figures['precision'] or 0):.1f}%  recall {100 * (figures['recall'] or 0):.1f}%")
    threshold = png_report["threshold"]
    print(f"[{mark(png_report['coverage_at_threshold'] >= GOALS['coverage'])}] coverage at {threshold}       "
          f"{100 * png_report['coverage_at_threshold']:.1f}%   (goal >= {100 * GOALS['coverage']:.0f}%)")
    print(f"[{mark(precision >= GOALS['precision_at_threshold'])}] precision at {threshold}      "
          f"{100 * precision:.1f}%   (goal >= {100 * GOALS['precision_at_threshold']:.0f}%)")
    print(f"[{mark(png_report['ece'] <= GOALS['ece'])}] expected calibration err {png_report['ece']:.3f}   "
          f"(goal <= {GOALS['ece']})")
    print(f"[{mark(gap_points <= GOALS['jpeg_gap_points'])}] 224-px JPEG accuracy     {100 * jpeg_accuracy:.1f}%   "
          f"({gap_points:+.1f} points below PNG; goal within {GOALS['jpeg_gap_points']:.0f})")
    if training_seconds is None:
        print("[ -- ] training wall time       not measured (--skip-training)")
    else:
        print(f"[{mark(training_seconds <= 60 * GOALS['training_minutes'])}] training wall time       "
              f"{training_seconds / 60:.1f} min ({training_seconds:.0f} s; goal <= {GOALS['training_minutes']:.0f} min)")
    scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
