"""Benchmark: how well do 100 validation thumbnails fix the softmax temperature, and what do all
900 training thumbnails say instead? CIFAR training channel only; nothing else is read.

train.py fits the temperature on the 10% validation split it also selects the epoch on. Here, for
each seed, the same split is kept aside and the other 900 thumbnails are cut into K stratified
folds: K models are fine-tuned with train.py's defaults, each on K-1 folds and validated on the
last, and the temperature is fitted on all 900 out-of-fold answers. Printed per seed: the split's
temperature, each fold's and the pooled one, and the validation NLL and share answered at the
workflow's threshold of the split-trained model under the split's and the pooled temperature.

  .venv/bin/python -m bench.cross_fitted_temperature                 # seeds 1 and 101, 5 folds (about 20 min on 2 idle cores)
  .venv/bin/python -m bench.cross_fitted_temperature --seeds 1 --folds 3
"""
import argparse
import time
from types import SimpleNamespace

import numpy as np

import settings
from training import channels, finetune, model_artifacts, network, pretrained, train


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.cross_fitted_temperature",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 101])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--data-dir", default=str(settings.ARTIFACTS_DIR / "data"),
                        help="staged data (python -m training.stage_data): train/ and pretrained/")
    args = parser.parse_args(argv)
    if args.folds < 2:
        parser.error("--folds must be at least 2")
    return args


def stratified_folds(labels, folds: int, seed: int) -> np.ndarray:
    """A fold number per item, each class dealt round-robin over the folds in a seeded order."""
    rng = np.random.RandomState(seed)
    fold = np.empty(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        fold[members] = np.arange(len(members)) % folds
    return fold


def answered_share(logits, temperature: float) -> float:
    return float(np.mean(model_artifacts.softmax(logits, temperature).max(axis=1) >= settings.DEFAULT_THRESHOLD))


def measure_seed(pixels, labels, imagenet, folds: int, seed: int) -> dict:
    defaults = train.parse_args([])
    options = SimpleNamespace(learning_rate=defaults.learning_rate, weight_decay=defaults.weight_decay,
                              batch_size=defaults.batch_size, epochs=defaults.epochs,
                              select_after=defaults.select_after, seed=seed)
    train_idx, validation_idx = channels.split_validation(labels, defaults.validation_fraction, seed)
    net = network.build_network(len(settings.CLASS_NAMES), defaults.tune_from, pretrained.TWO_WHEELER_CLASSES)
    network.load_pretrained(net, imagenet, seed)
    activations = finetune.lower_activations(net, pixels)
    trainable = network.trainable_parameters(net)
    start = {name: param.data().copy() for name, param in trainable.items()}

    def fine_tune(fit, held_out, fold_seed):
        for name, param in trainable.items():
            param.set_data(start[name])
        fold_options = SimpleNamespace(**{**vars(options), "seed": fold_seed})
        return finetune.finetune(net, trainable, tuple(view[fit] for view in activations), labels[fit],
                                 tuple(view[held_out] for view in activations), labels[held_out], fold_options,
                                 lambda *_: None)

    split_logits = fine_tune(train_idx, validation_idx, seed)
    split_temperature = train.fit_temperature(split_logits, labels[validation_idx])
    fold = stratified_folds(labels[train_idx], folds, seed)
    out_of_fold = np.zeros((len(train_idx), len(settings.CLASS_NAMES)), dtype=np.float32)
    for k in range(folds):
        out_of_fold[fold == k] = fine_tune(train_idx[fold != k], train_idx[fold == k], seed * 100 + k)
    fold_labels = labels[train_idx]
    validation_labels = labels[validation_idx]
    pooled = train.fit_temperature(out_of_fold, fold_labels)
    return {
        "split_temperature": split_temperature,
        "fold_temperatures": [train.fit_temperature(out_of_fold[fold == k], fold_labels[fold == k])
                              for k in range(folds)],
        "pooled_temperature": pooled,
        "out_of_fold_accuracy": float(np.mean(out_of_fold.argmax(axis=1) == fold_labels)),
        "split": {"nll": finetune.negative_log_likelihood(split_logits, validation_labels, split_temperature),
                  "answered": answered_share(split_logits, split_temperature)},
        "pooled": {"nll": finetune.negative_log_likelihood(split_logits, validation_labels, pooled),
                   "answered": answered_share(split_logits, pooled)},
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    data = f"{args.data_dir}/train"
    imagenet = pretrained.load_imagenet_network(f"{args.data_dir}/{pretrained.CHANNEL}")
    defaults = train.parse_args([])
    class_names = channels.class_names_of(data, settings.CLASS_NAMES)
    pixels, labels, _ = channels.load_channel(data, class_names, size=defaults.input_size)
    print(f"{'seed':>4} {'T split':>8} {'T pooled':>9}  {'T per fold':<32} {'OOF acc':>7}  "
          f"{'val NLL split/pooled T':>23}  answered at {settings.DEFAULT_THRESHOLD} split/pooled T")
    for seed in args.seeds:
        started = time.time()
        result = measure_seed(pixels, labels, imagenet, args.folds, seed)
        folds = " ".join(f"{t:.2f}" for t in result["fold_temperatures"])
        print(f"{seed:>4} {result['split_temperature']:>8.2f} {result['pooled_temperature']:>9.2f}  {folds:<32} "
              f"{result['out_of_fold_accuracy']:>7.3f}  {result['split']['nll']:>11.4f} / {result['pooled']['nll']:.4f}"
              f"  {result['split']['answered']:>14.1%} / {result['pooled']['answered']:.1%}"
              f"   ({time.time() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
