"""Benchmark: the grid train.py's real-photo defaults were chosen from, by cross-validation grouped by
source on the staged real photos (the second collection: training.stage_data leaves the first out).

For each seed the frozen blocks' activations are cached once (thumbnails, real photos); each setting
(weight of a real photo against a thumbnail, whether other/ photos teach "unsure", epochs, learning
rate) then fine-tunes one model per fold, every fold holding out whole sources, and answers the held-
out photos. The temperature applied to a fold is fitted on the other folds' out-of-fold answers (so
the calibration is out of fold too). Printed per setting, pooled over folds and seeds: the vehicles'
accuracy and out-of-fold NLL, the share routed at the threshold (confident, and a two-wheeler for the
gate), precision among routed with its 95% Wilson interval, wrong routings, vehicles refused by the
gate, other things routed. The first collection and the CIFAR test images are never read.

  .venv/bin/python -m bench.real_photo_grid                      # the grid in docs/model-card.md
  .venv/bin/python -m bench.real_photo_grid --real-repeats 4 --real-other leave-out --seeds 1
"""
import argparse
import itertools
import time
from collections import defaultdict
from types import SimpleNamespace

import numpy as np

import settings
from bench.retraining import wilson
from training import channels, cross_fit, finetune, model_artifacts, network, pretrained, train, usability


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.real_photo_grid", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--real-repeats", type=int, nargs="+", default=[2, 4],
                        help="times a real photo is shown per epoch (a thumbnail: once)")
    parser.add_argument("--real-other", nargs="+", choices=("teach", "leave-out"), default=["leave-out", "teach"])
    parser.add_argument("--epochs", type=int, nargs="+", default=[6])
    parser.add_argument("--tune-from", type=int, default=13, help="first fine-tuned block (train.py's default)")
    parser.add_argument("--learning-rates", type=float, nargs="+", default=[3e-4])
    parser.add_argument("--folds", type=int, default=3, help="folds, each holding out whole sources")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 1..N (each also draws the thumbnails' split)")
    parser.add_argument("--data-dir", default=str(settings.ARTIFACTS_DIR / "data"),
                        help="staged data (python -m training.stage_data): train/, real/ and pretrained/")
    return parser.parse_args(argv)


def settings_grid(args):
    return list(itertools.product(args.real_repeats, args.real_other, args.epochs, args.learning_rates))


def cross_fitted_probabilities(logits, labels, folds) -> np.ndarray:
    """Each fold's answers at the temperature fitted on the other folds' vehicles."""
    probabilities = np.zeros_like(logits)
    vehicles = labels >= 0
    for fold in np.unique(folds):
        others = (folds != fold) & vehicles
        temperature = train.fit_temperature(logits[others], labels[others])
        probabilities[folds == fold] = model_artifacts.softmax(logits[folds == fold], temperature)
    return probabilities


def figures(probabilities, labels, masses, limit: float, threshold: float) -> dict:
    vehicles, others = labels >= 0, labels < 0
    usable = masses >= limit
    confident = probabilities.max(axis=1) >= threshold
    right = probabilities.argmax(axis=1) == labels
    routed = usable & confident & vehicles
    truth = probabilities[vehicles, labels[vehicles]]
    return {"vehicles": int(vehicles.sum()), "right": int(np.sum(right & vehicles)), "routed": int(routed.sum()),
            "routed_right": int(np.sum(routed & right)), "refused": int(np.sum(vehicles & ~usable)),
            "other": int(others.sum()), "other_routed": int(np.sum(others & usable & confident)),
            "nll_sum": float(-np.sum(np.log(truth + 1e-12)))}


def run(args) -> dict:
    data_dir = args.data_dir
    imagenet = pretrained.load_imagenet_network(f"{data_dir}/{pretrained.CHANNEL}")
    class_names = channels.class_names_of(f"{data_dir}/train", settings.CLASS_NAMES)
    size = model_artifacts.DEFAULT_INPUT_SIZE
    pixels, labels, _ = channels.load_channel(f"{data_dir}/train", class_names, size=size)
    real = channels.load_real_photos(f"{data_dir}/{settings.REAL_CHANNEL}", class_names, size)
    if not len(real["labels"]):
        raise SystemExit(f"no real photos staged in {data_dir}/{settings.REAL_CHANNEL}: run python -m training.stage_data")
    results = defaultdict(list)   # setting -> figures per seed
    for seed in range(1, args.seeds + 1):
        started = time.time()
        net = network.build_network(len(class_names), args.tune_from, pretrained.TWO_WHEELER_CLASSES)
        network.load_pretrained(net, imagenet, seed)
        all_thumbnails = finetune.lower_activations(net, pixels)
        real_activations = finetune.lower_activations(net, real["pixels"])
        masses = cross_fit.two_wheeler_masses(net, real_activations)
        train_idx, validation_idx = channels.split_validation(labels, 0.1, seed)
        data = cross_fit.FitData(
            base_activations=tuple(view[train_idx] for view in all_thumbnails), base_labels=labels[train_idx],
            base_repeats=np.ones(len(train_idx), dtype=np.int64), real_activations=real_activations,
            real_labels=real["labels"], real_sources=real["sources"],
            validation_activations=tuple(view[validation_idx] for view in all_thumbnails),
            validation_labels=labels[validation_idx])
        trainable = network.trainable_parameters(net)
        start = cross_fit.snapshot(trainable)
        print(f"seed={seed}: cached {len(pixels) + len(real['labels'])} photos in {time.time() - started:.0f} s",
              flush=True)
        for setting in settings_grid(args):
            repeats, other, epochs, learning_rate = setting
            options = SimpleNamespace(real_repeats=repeats, real_other=other, epochs=epochs,
                                      learning_rate=learning_rate, weight_decay=1e-5, batch_size=32,
                                      select_after=0.5, seed=seed, calibration_folds=args.folds)
            began = time.time()
            logits, folds = cross_fit.out_of_fold_logits(net, trainable, start, data, options, log=lambda _l: None)
            probabilities = cross_fitted_probabilities(logits, real["labels"], folds)
            result = figures(probabilities, real["labels"], masses, usability.DEFAULT_TWO_WHEELER_LIMIT,
                             settings.DEFAULT_THRESHOLD)
            results[setting].append(result)
            print(f"  seed={seed} real_repeats={repeats} real_other={other} epochs={epochs} lr={learning_rate:.0e}: "
                  f"right {result['right']}/{result['vehicles']}, routed {result['routed']}, wrong "
                  f"{result['routed'] - result['routed_right']}, refused {result['refused']}, other routed "
                  f"{result['other_routed']}/{result['other']}, NLL {result['nll_sum'] / result['vehicles']:.3f} "
                  f"({time.time() - began:.0f} s)", flush=True)
    return results


def print_grid(results: dict, seeds: int) -> None:
    print(f"\nGrouped out-of-fold figures on the staged real photos, pooled over folds and {seeds} seed(s); "
          f"at {settings.DEFAULT_THRESHOLD}, temperature cross-fitted:")
    print(f"{'repeats':>7} {'other':>9} {'epochs':>6} {'lr':>6} {'NLL':>6} {'right':>6} {'routed':>7} "
          f"{'precision (Wilson 95%)':>24} {'wrong':>5} {'refused':>7} {'other routed':>12}")
    for setting, rows in results.items():
        total = {key: sum(row[key] for row in rows) for key in rows[0]}
        share, low, high = wilson(total["routed_right"], total["routed"])
        precision = f"{share:.1%} ({low:.1%}-{high:.1%})" if share is not None else "-"
        repeats, other, epochs, learning_rate = setting
        print(f"{repeats:>7} {other:>9} {epochs:>6} {learning_rate:>6.0e} {total['nll_sum'] / total['vehicles']:>6.3f} "
              f"{total['right'] / total['vehicles']:>6.1%} {total['routed'] / total['vehicles']:>7.1%} {precision:>24} "
              f"{total['routed'] - total['routed_right']:>5} {total['refused'] / total['vehicles']:>7.1%} "
              f"{total['other_routed']:>5} of {total['other']}")


def main(argv=None) -> int:
    args = parse_args(argv)
    print_grid(run(args), args.seeds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
