"""Benchmark: the fine-tuning grid the defaults were chosen from, on the CIFAR validation split only.

For each seed (which also draws the validation split), input size and first tuned block, the frozen
blocks' activations are cached once; each learning rate then fine-tunes from the ImageNet weights
for --epochs, and every epoch's validation loss and accuracy is recorded, so the epoch count is
part of the grid at no extra cost (approximately: epoch k of an 8-epoch cosine schedule has seen a
higher learning rate than the last epoch of a k-epoch one). Prints one row per (size, tune_from, lr, epochs) with the mean
over seeds of the validation NLL (selection's criterion), accuracy and coverage at 99% precision.
The test images and the real photos are never read.

  .venv/bin/python -m bench.finetune_grid                        # the grid in docs/model-card.md (about 30 min)
  .venv/bin/python -m bench.finetune_grid --sizes 128 --tune-from 11 --learning-rates 1e-4 --seeds 1
"""
import argparse
import itertools
import time
from collections import defaultdict
from types import SimpleNamespace

import numpy as np

import settings
from training import channels, finetune, model_artifacts, network, pretrained, train


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.finetune_grid", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 160])
    parser.add_argument("--tune-from", type=int, nargs="+", default=[11, 13, network.HEAD_ONLY])
    parser.add_argument("--learning-rates", type=float, nargs="+", default=[1e-4, 3e-4])
    parser.add_argument("--epochs", type=int, default=8, help="longest schedule; shorter ones are read off it")
    parser.add_argument("--seeds", type=int, default=2, help="seeds 1..N, each with its own validation split")
    parser.add_argument("--data-dir", default=str(settings.ARTIFACTS_DIR / "data"),
                        help="staged data (python -m training.stage_data): train/ and pretrained/")
    return parser.parse_args(argv)


def run(args) -> dict:
    data = f"{args.data_dir}/train"
    imagenet = pretrained.load_imagenet_network(f"{args.data_dir}/{pretrained.CHANNEL}")
    class_names = channels.class_names_of(data, settings.CLASS_NAMES)
    results = defaultdict(list)   # (size, tune_from, lr, epochs) -> [(nll, accuracy, coverage)] over seeds
    for size in args.sizes:
        pixels, labels, _ = channels.load_channel(data, class_names, size=size)
        for seed, tune_from in itertools.product(range(1, args.seeds + 1), args.tune_from):
            train_idx, validation_idx = channels.split_validation(labels, 0.1, seed)
            net = network.build_network(len(class_names), tune_from, pretrained.TWO_WHEELER_CLASSES)
            network.load_pretrained(net, imagenet, seed)
            started = time.time()
            cached = finetune.lower_activations(net, pixels[train_idx])
            validation_cached = finetune.lower_activations(net, pixels[validation_idx])
            snapshot = {name: param.data().copy() for name, param in net.collect_params().items()}
            for lr in args.learning_rates:
                for name, param in net.collect_params().items():
                    param.set_data(snapshot[name])
                lines = []
                options = SimpleNamespace(learning_rate=lr, weight_decay=1e-5, batch_size=32, epochs=args.epochs,
                                          select_after=1.0, seed=seed)
                epochs = []
                finetune.finetune(net, network.trainable_parameters(net), cached, labels[train_idx], validation_cached,
                                  labels[validation_idx], options, lines.append,
                                  epoch_line="{epoch}|{validation_loss}|{validation_accuracy}")
                # coverage at 99% precision needs the logits of each epoch: approximate it by the last one's
                logits = finetune.view_logits(net, validation_cached)
                probabilities = model_artifacts.softmax(logits, train.fit_temperature(logits, labels[validation_idx]))
                coverage, _ = model_artifacts.coverage_at_precision(
                    probabilities.max(axis=1), probabilities.argmax(axis=1) == labels[validation_idx],
                    model_artifacts.TARGET_PRECISION)
                for line in lines:
                    epoch, loss, accuracy = line.split("|")
                    epochs.append((int(epoch), float(loss), float(accuracy)))
                for epoch, loss, accuracy in epochs:
                    results[(size, tune_from, lr, epoch)].append(
                        (loss, accuracy, coverage if epoch == args.epochs else float("nan")))
            print(f"size={size} tune_from={tune_from} seed={seed} done in {time.time() - started:.0f} s", flush=True)
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    results = run(args)
    print(f"\n{'size':>4} {'tune_from':>9} {'lr':>7} {'epochs':>6} {'val NLL':>8} {'val acc':>8} "
          f"{'cov@99% (last epoch)':>21}   (mean over {args.seeds} seeds)")
    for (size, tune_from, lr, epoch), rows in sorted(results.items(), key=lambda item: np.mean([r[0] for r in item[1]])):
        rows = np.array(rows)
        coverage = np.nanmean(rows[:, 2]) if np.isfinite(rows[:, 2]).any() else float("nan")
        print(f"{size:>4} {tune_from:>9} {lr:>7.0e} {epoch:>6} {rows[:, 0].mean():>8.4f} {rows[:, 1].mean():>8.3f} "
              f"{coverage:>21.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
