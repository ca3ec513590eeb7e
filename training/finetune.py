"""Fine-tuning the classifier's top (training/network.py) on activations cached below it.

The lower blocks are frozen, BatchNorm statistics too, so their output for a photo never changes:
it is computed once per photo and per mirror image, and each epoch then runs only the tuned blocks.
An epoch takes seconds on 2 cores where a full forward and backward pass would take minutes.
Mirroring is the augmentation (each step shows a random one of the two views), and validation
averages both views, exactly as the serving graph does.
"""
import math

import numpy as np

try:
    from training import channels
    from training.lineage import OUTLIER
except ImportError:  # SageMaker copies training/ alone into /opt/ml/code
    import channels
    from lineage import OUTLIER


class TrainingDiverged(RuntimeError):
    """No epoch that may be selected had a finite validation loss: the weights are useless."""


def lower_activations(net, pixels, batch_size: int = 32):
    """(activations, activations of the mirror images) of the frozen lower blocks, float32 numpy."""
    import mxnet as mx
    if not len(pixels):  # no photos of a kind (no real photos): empty arrays of the activations' shape
        empty = net.lower(mx.nd.zeros((1, pixels.shape[3], *pixels.shape[1:3]))).asnumpy()[:0]
        return empty, empty.copy()
    views = ([], [])
    for start in range(0, len(pixels), batch_size):
        data = mx.nd.array(channels.to_nchw(pixels[start:start + batch_size]))
        views[0].append(net.lower(data).asnumpy())
        views[1].append(net.lower(mx.nd.flip(data, axis=3)).asnumpy())
    return tuple(np.concatenate(view) for view in views)


def view_logits(net, activations, batch_size: int = 64) -> np.ndarray:
    """Logits averaged over both views, from cached activations (what serving computes from pixels)."""
    import mxnet as mx
    plain, mirrored = activations
    outputs = []
    for start in range(0, len(plain), batch_size):
        features = sum(net.features(mx.nd.array(view[start:start + batch_size])) for view in (plain, mirrored))
        outputs.append(net.classifier(features / 2).asnumpy())
    return np.concatenate(outputs)


def negative_log_likelihood(logits, labels, temperature: float = 1.0) -> float:
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    log_probabilities = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
    return float(-np.mean(log_probabilities[np.arange(len(labels)), labels]))


def soft_targets(labels, num_classes: int) -> np.ndarray:
    eye = np.eye(num_classes, dtype=np.float32)
    return np.where((labels == OUTLIER)[:, None], 1.0 / num_classes, eye[np.maximum(labels, 0)]).astype(np.float32)


def finetune(net, trainable, train_activations, train_labels, validation_activations, validation_labels,
             args, log=print, epoch_line=None):
    """Train the trainable parameters; keep those of the best validation-loss epoch from
    args.select_after of the schedule on. Returns the validation logits of the kept epoch."""
    import mxnet as mx
    from mxnet import autograd, gluon

    rng = np.random.RandomState(args.seed)
    num_classes = net.classifier._units
    trainer = gluon.Trainer(trainable, "adam", {"learning_rate": args.learning_rate, "wd": args.weight_decay})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=False)
    targets = soft_targets(train_labels, num_classes)
    steps_per_epoch = max(1, math.ceil(len(train_labels) / args.batch_size))
    total_steps = steps_per_epoch * args.epochs
    first_candidate = min(args.epochs, max(1, int(round(args.epochs * args.select_after))))
    best = (math.inf, None, None)
    step = 0
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(train_labels))
        mirrored = rng.rand(len(train_labels)) < 0.5
        epoch_loss, epoch_correct, counted = 0.0, 0, 0
        for start in range(0, len(order), args.batch_size):
            idx = order[start:start + args.batch_size]
            if len(idx) < 2:  # a lone last photo makes a noisy step
                continue
            views = np.where(mirrored[idx][:, None, None, None], train_activations[1][idx], train_activations[0][idx])
            # cosine decay from the peak: fine-tuning starts from good weights, so no warm-up
            trainer.set_learning_rate(args.learning_rate * 0.5 * (1 + math.cos(math.pi * step / total_steps)))
            data, label = mx.nd.array(views), mx.nd.array(targets[idx])
            with autograd.record():
                output = net.upper(data)
                loss = loss_fn(output, label)
            loss.backward()
            trainer.step(len(idx))
            step += 1
            known = train_labels[idx] != OUTLIER
            epoch_loss += float(loss.sum().asscalar())
            epoch_correct += int((output.argmax(axis=1).asnumpy()[known] == train_labels[idx][known]).sum())
            counted += int(known.sum())
        validation_logits = view_logits(net, validation_activations)
        validation_loss = negative_log_likelihood(validation_logits, validation_labels)
        validation_accuracy = float(np.mean(validation_logits.argmax(axis=1) == validation_labels))
        if epoch_line:
            log(epoch_line.format(epoch=epoch, train_loss=epoch_loss / max(1, counted),
                                  train_accuracy=epoch_correct / max(1, counted), validation_loss=validation_loss,
                                  validation_accuracy=validation_accuracy, learning_rate=trainer.learning_rate))
        if epoch >= first_candidate and validation_loss < best[0]:
            best = (validation_loss, {name: param.data().copy() for name, param in trainable.items()},
                    validation_logits)
    if best[1] is None:
        raise TrainingDiverged(
            f"the validation loss was not finite in any epoch from {first_candidate} on; "
            f"try a lower --learning-rate")
    for name, param in trainable.items():
        param.set_data(best[1][name])
    return best[2]
