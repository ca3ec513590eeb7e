"""Out-of-fold answers on the real photos, folds grouped by source: what the model would say about a
source it has never met. train.py fits the softmax temperature on them (thumbnails cannot calibrate
confidence for photos), and bench/real_photo_grid.py chooses the hyperparameters on them.

Every fold fine-tunes from the same starting weights on the thumbnails, the reviewed photos and the
real photos of the other folds' sources, then answers the held-out sources' photos. The frozen
blocks' activations are computed once (finetune.lower_activations), so a fold costs only the epochs.

Shipped to SageMaker with training/; numpy only (MXNet through finetune).
"""
from dataclasses import dataclass

import numpy as np

try:
    from training import channels, finetune
except ImportError:  # SageMaker copies training/ alone into /opt/ml/code
    import channels
    import finetune


@dataclass
class FitData:
    """Cached activations (plain, mirrored) and labels of what every fit trains on, and of the real photos."""
    base_activations: tuple      # thumbnails of the training split and reviewed photos
    base_labels: np.ndarray
    base_repeats: np.ndarray     # times each is shown per epoch
    real_activations: tuple
    real_labels: np.ndarray      # class index, or channels.OUTLIER_LABEL for other/
    real_sources: np.ndarray
    validation_activations: tuple
    validation_labels: np.ndarray


def snapshot(trainable) -> dict:
    return {name: param.data().copy() for name, param in trainable.items()}


def restore(trainable, weights: dict) -> None:
    for name, param in trainable.items():
        param.set_data(weights[name].copy())


def real_training_mask(labels, teach_other: bool) -> np.ndarray:
    """Which real photos train: the vehicles, and other/ (taught as "unsure") only when asked."""
    return (labels >= 0) | (teach_other & (labels == channels.OUTLIER_LABEL))


def fit(net, trainable, start: dict, data: FitData, real_selected, args, log=print, epoch_line=None):
    """Fine-tune from start on the base photos plus the selected real photos, each real one shown
    args.real_repeats times an epoch. Returns the kept epoch's validation logits."""
    restore(trainable, start)
    real_index = np.flatnonzero(real_selected)
    activations = tuple(np.concatenate([base, real[real_index]])
                        for base, real in zip(data.base_activations, data.real_activations))
    labels = np.concatenate([data.base_labels, data.real_labels[real_index]])
    repeats = np.concatenate([data.base_repeats, np.full(len(real_index), args.real_repeats, dtype=np.int64)])
    order = np.repeat(np.arange(len(labels)), repeats)
    return finetune.finetune(net, trainable, tuple(view[order] for view in activations), labels[order],
                             data.validation_activations, data.validation_labels, args, log, epoch_line)


def out_of_fold_logits(net, trainable, start: dict, data: FitData, args, log=print) -> tuple:
    """(logits of every real photo from the fold model that never saw its source, fold of each)."""
    folds = channels.grouped_folds(data.real_sources, args.calibration_folds, args.seed)
    teach = real_training_mask(data.real_labels, args.real_other == "teach")
    logits = np.zeros((len(data.real_labels), net.classifier._units), dtype=np.float64)
    for fold in range(int(folds.max()) + 1 if len(folds) else 0):
        held_out = folds == fold
        fit(net, trainable, start, data, teach & ~held_out, args, log=lambda _line: None)
        logits[held_out] = finetune.view_logits(
            net, tuple(view[held_out] for view in data.real_activations))
        log(f"out-of-fold {fold + 1}/{int(folds.max()) + 1}: held out "
            f"{', '.join(sorted(set(data.real_sources[held_out])))} ({int(held_out.sum())} photos)")
    return logits, folds


def vehicle_figures(probabilities, labels, threshold: float) -> dict:
    """Accuracy, routed share and precision among routed of the real vehicles (the classifier alone:
    the two-wheeler gate is the frozen ImageNet head, the same for every fold)."""
    vehicles = labels >= 0
    predictions = probabilities.argmax(axis=1)[vehicles]
    truth = labels[vehicles]
    routed = probabilities.max(axis=1)[vehicles] >= threshold
    others = ~vehicles
    return {"vehicles": int(vehicles.sum()),
            "accuracy": float(np.mean(predictions == truth)) if vehicles.any() else None,
            "routed_share": float(routed.mean()) if vehicles.any() else None,
            "routed": int(routed.sum()), "wrong_routed": int(np.sum(routed & (predictions != truth))),
            "precision_routed": float(np.mean(predictions[routed] == truth[routed])) if routed.any() else None,
            "other": int(others.sum()),
            "other_confident": int(np.sum(probabilities.max(axis=1)[others] >= threshold))}


def two_wheeler_masses(net, activations, batch_size: int = 64) -> np.ndarray:
    """The gate's two-wheeler mass from cached activations, as the serving graph computes it: the
    frozen ImageNet tower's probabilities averaged over both views, summed over the two-wheeler classes."""
    import mxnet as mx
    mask = net.two_wheeler_mask.data().asnumpy()[0]
    plain, mirrored = activations
    masses = []
    for start in range(0, len(plain), batch_size):
        views = [mx.nd.softmax(net.imagenet_fc(net.imagenet(mx.nd.array(view[start:start + batch_size]))), axis=1)
                 for view in (plain, mirrored)]
        masses.append(((views[0] + views[1]) / 2).asnumpy() @ mask)
    return np.concatenate(masses) if masses else np.zeros(0)
