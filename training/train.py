"""SageMaker MXNet script-mode entry point: train the bicycle/motorcycle classifier.

Runs unchanged in the SageMaker MXNet 1.9 training container and on this machine:
hyperparameters are command-line options; data and model paths come from SM_CHANNEL_TRAIN,
SM_CHANNEL_TEST and SM_MODEL_DIR, with local defaults below the project's artifacts directory.

A channel directory holds one sub-directory of images per class (what stage_data.py writes).
In the repository the classes are ordered as settings.CLASS_NAMES (the order the classify
handler labels by); elsewhere, or when the folders name other classes, sorted by name.

Model selection and early stopping use a validation split carved from the training channel;
the temperature of the softmax is fitted on the same split. The test channel, when given, is
only measured and written to metrics.json: it never chooses anything.
"""
import argparse
import math
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

# Run as `python training/train.py` from the repository, settings.py and the shared packages
# (imaging, monitoring) sit beside training/; in SageMaker's container the packages are copied
# beside train.py instead, and there is no settings.py.
_REPOSITORY = Path(__file__).resolve().parents[1]
if (_REPOSITORY / "settings.py").is_file() and str(_REPOSITORY) not in sys.path:
    sys.path.append(str(_REPOSITORY))

try:
    from training import augmentation, channels, evaluation, lineage, model_artifacts, usability
    from training.lineage import OUTLIER, model_version
    from training.network import build_ensemble, build_network, build_serving_network  # noqa: F401 - API
except ImportError:  # SageMaker copies training/ alone into /opt/ml/code and runs train.py from there
    import augmentation
    import channels
    import evaluation
    import lineage
    import model_artifacts
    import usability
    from lineage import OUTLIER, model_version
    from network import build_ensemble, build_network, build_serving_network  # noqa: F401 - API

try:
    import settings
except ImportError:  # SageMaker copies training/ alone into /opt/ml/code
    settings = None

# The workflow's threshold: reported, never trained on. The fallback repeats settings.DEFAULT_THRESHOLD
# only for the SageMaker container, where settings.py is not shipped.
CONFIDENCE_THRESHOLD = settings.DEFAULT_THRESHOLD if settings else 0.95

# One line per epoch, parsed by these regexes (launch.py passes them as metric_definitions).
EPOCH_LINE = ("epoch={epoch} member={member} train_loss={train_loss:.4f} train_accuracy={train_accuracy:.4f} "
              "validation_loss={validation_loss:.4f} validation_accuracy={validation_accuracy:.4f} "
              "learning_rate={learning_rate:.5f}")
FINAL_LINE = ("final validation_accuracy={validation_accuracy:.4f} validation_ece={validation_ece:.4f} "
              "test_accuracy={test_accuracy:.4f} test_ece={test_ece:.4f} temperature={temperature:.4f}")
_NUMBER = r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
METRIC_DEFINITIONS = [
    {"Name": "train:loss", "Regex": rf"^epoch=\d+ member=\d+ train_loss={_NUMBER}"},
    {"Name": "train:accuracy", "Regex": rf"^epoch=\d+ .*train_accuracy={_NUMBER}"},
    {"Name": "validation:loss", "Regex": rf"^epoch=\d+ .*validation_loss={_NUMBER}"},
    {"Name": "validation:accuracy", "Regex": rf"^epoch=\d+ .*validation_accuracy={_NUMBER}"},
    {"Name": "final:validation_accuracy", "Regex": rf"^final validation_accuracy={_NUMBER}"},
    {"Name": "final:test_accuracy", "Regex": rf"^final .*test_accuracy={_NUMBER}"},
    {"Name": "final:test_ece", "Regex": rf"^final .*test_ece={_NUMBER}"},
]


class TrainingDiverged(RuntimeError):
    """No epoch that may be selected had a finite validation loss: the weights are useless."""


def _default_path(env_name: str, local_parts: tuple, container_default: str) -> str:
    """SM_* variable if set; else below the repository's artifacts directory; else SageMaker's path."""
    if env_name in os.environ:
        return os.environ[env_name]
    if settings is None:
        return container_default
    return str(Path(settings.ARTIFACTS_DIR, *local_parts))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train the bicycle/motorcycle classifier (SageMaker MXNet script mode).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    # Defaults chosen on the validation split (never on the test images), seeds 1-3, pooling their
    # 300 validation predictions (NLL; AURC = mean error rate over the most confident k, lower is
    # better; bench/train_accuracy.py ran them):
    #   1 member, 40 epochs, mixup 0.2 + cutout (the earlier defaults)   NLL 0.279  AURC 0.0298  acc 86.3%
    #   + TrivialAugment, 100 epochs (kept)                              NLL 0.208  AURC 0.0159  acc 90.7%
    #   + TrivialAugment, 100 epochs, 2 members                          NLL 0.189  AURC 0.0132  acc 92.3%
    #   + TrivialAugment, 160 epochs, 1 member                           NLL 0.171  AURC 0.0106  acc 93.7%
    #   + TrivialAugment, 100 epochs, --ema-decay 0.995 (not kept)         NLL 0.229  AURC 0.0196  acc 90.0%
    # A paired bootstrap over the 300 images puts every TrivialAugment row far ahead of the first, and
    # the last three within noise of each other (160 vs 100 epochs: NLL -0.036, 95% interval -0.075
    # to +0.001). Measured alone on this 2-core machine an epoch takes about 5 s, so 160 epochs
    # (825 s) and two members break the 10-minute budget; 100 epochs (about 500 s) keep it.
    # Earlier, without TrivialAugment:
    # width 48, 4x50 or 2x40 members, mixup 0.4, exact BatchNorm statistics and crop averaging did
    # not beat one 40-epoch member on validation.
    hyper = parser.add_argument_group("hyperparameters")
    hyper.add_argument("--epochs", type=int, default=100, help="epochs per ensemble member")
    hyper.add_argument("--batch-size", type=int, default=64)
    hyper.add_argument("--learning-rate", type=float, default=0.1, help="peak SGD learning rate")
    hyper.add_argument("--momentum", type=float, default=0.9)
    hyper.add_argument("--weight-decay", type=float, default=5e-4)
    hyper.add_argument("--warmup-epochs", type=int, default=2)
    hyper.add_argument("--width", type=int, default=32, help="channels of the first stage (doubled per stage)")
    hyper.add_argument("--blocks-per-stage", type=int, default=2, help="residual blocks in each of 3 stages")
    hyper.add_argument("--ensemble-size", type=int, default=1, help="members trained with different seeds")
    hyper.add_argument("--mixup-alpha", type=float, default=0.2, help="Beta(alpha, alpha) mixup; 0 disables")
    hyper.add_argument("--cutout", type=int, default=8, help="side of the erased square; 0 disables")
    hyper.add_argument("--augment-policy", choices=augmentation.POLICIES, default="trivial",
                       help="operations drawn per image before crop/flip/cutout: 'trivial' is TrivialAugment "
                            "(one of shear, translate, rotate, brightness, colour, contrast, sharpness, posterize, "
                            "solarize, autocontrast, equalize or nothing, at a random magnitude)")
    hyper.add_argument("--label-smoothing", type=float, default=0.0)
    hyper.add_argument("--ema-decay", type=float, default=0.0,
                       help="validate, select and keep an exponential moving average of the weights with this "
                            "decay per step (e.g. 0.995); 0 keeps the weights themselves")
    hyper.add_argument("--validation-fraction", type=float, default=0.1,
                       help="share of the training channel held out for selection and calibration")
    hyper.add_argument("--patience", type=int, default=0,
                       help="stop a member after this many epochs without a better validation loss; 0 never")
    hyper.add_argument("--select-after", type=float, default=0.75,
                       help="keep the best validation-loss checkpoint from this share of the schedule on "
                            "(early high-learning-rate checkpoints win on a small validation split by chance)")
    hyper.add_argument("--parallel-members", type=int, default=0,
                       help="members trained at once in separate processes, one thread each; 0 = as many as CPUs")
    hyper.add_argument("--false-unusable-rate", type=float, default=usability.DEFAULT_FALSE_UNUSABLE_RATE,
                       help="share of photos like the validation ones that the feature-distance limit may call "
                            "unusable (the limit is fitted on the validation split)")
    hyper.add_argument("--reviewed-repeats", type=int, default=8,
                       help="times each photo of the reviewed channel is shown per epoch: real photos are few "
                            "beside the thumbnails")
    hyper.add_argument("--seed", type=int, default=1)
    paths = parser.add_argument_group("paths (SageMaker sets them through SM_* variables)")
    paths.add_argument("--train", default=_default_path("SM_CHANNEL_TRAIN", ("data", "train"),
                                                        "/opt/ml/input/data/train"),
                       help="folder of <class>/<image> training images (SM_CHANNEL_TRAIN)")
    paths.add_argument("--test", default=_default_path("SM_CHANNEL_TEST", ("data", "test"),
                                                       "/opt/ml/input/data/test"),
                       help="test images (SM_CHANNEL_TEST), measured only; a missing directory skips them")
    paths.add_argument("--reviewed", default=_default_path("SM_CHANNEL_REVIEWED", ("dataset", "reviewed"),
                                                           "/opt/ml/input/data/reviewed"),
                       help="photos people labelled, <answer>/<photo> (training.dataset's channel; SM_CHANNEL_REVIEWED); "
                            "not_a_vehicle photos teach the model to be unsure of them; a missing directory skips them")
    paths.add_argument("--holdout", default=_default_path("SM_CHANNEL_HOLDOUT", ("dataset", "holdout"),
                                                          "/opt/ml/input/data/holdout"),
                       help="the newest labelled photos, measured only (SM_CHANNEL_HOLDOUT)")
    paths.add_argument("--parent", default=os.environ.get("SM_CHANNEL_PARENT"),
                       help="the model this one may replace (a model directory, or one holding model.tar.gz; "
                            "SM_CHANNEL_PARENT): measured on the same photos, and recorded as the parent")
    paths.add_argument("--model-dir", default=_default_path("SM_MODEL_DIR", ("model",), "/opt/ml/model"),
                       help="where the model directory is written (SM_MODEL_DIR)")
    paths.add_argument("--num-cpus", type=int, default=int(os.environ.get("SM_NUM_CPUS", os.cpu_count() or 1)),
                       help="CPU cores to use (SM_NUM_CPUS)")
    args = parser.parse_args(argv)
    if not 0 < args.validation_fraction < 1:
        parser.error("--validation-fraction must be between 0 and 1")
    if not 0 <= args.ema_decay < 1:
        parser.error("--ema-decay must be in [0, 1)")
    if not 0 < args.false_unusable_rate < 0.5:
        parser.error("--false-unusable-rate must be between 0 and 0.5")
    for name in ("epochs", "batch_size", "width", "blocks_per_stage", "ensemble_size", "reviewed_repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


# --- calibration and metrics -----------------------------------------------------------------------

def negative_log_likelihood(logits, labels, temperature: float = 1.0) -> float:
    probabilities = model_artifacts.softmax(logits, temperature)
    return float(-np.mean(np.log(probabilities[np.arange(len(labels)), labels] + 1e-12)))


def fit_temperature(logits, labels) -> float:
    """The temperature minimising validation NLL (coarse log grid, then a finer one around it)."""
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
    best = min(grid, key=lambda t: negative_log_likelihood(logits, labels, t))
    fine = best * np.exp(np.linspace(-0.06, 0.06, 25))
    return float(min(fine, key=lambda t: negative_log_likelihood(logits, labels, t)))


def classification_report(probabilities, labels, class_names, threshold: float = CONFIDENCE_THRESHOLD) -> dict:
    """Accuracy, per-class precision/recall, ECE, coverage/precision of the confident answers, and
    coverage at the target precision (the threshold-free figure: how many drivers a model could
    route automatically while almost never wrongly)."""
    predictions = probabilities.argmax(axis=1)
    accepted = probabilities.max(axis=1) >= threshold
    coverage, threshold_for_target = model_artifacts.coverage_at_precision(
        probabilities.max(axis=1), predictions == labels, model_artifacts.TARGET_PRECISION)
    report = {
        "count": int(len(labels)),
        "accuracy": float(np.mean(predictions == labels)),
        "ece": model_artifacts.expected_calibration_error(
            probabilities.max(axis=1), predictions == labels, probabilities.shape[1]),
        "nll": float(-np.mean(np.log(probabilities[np.arange(len(labels)), labels] + 1e-12))),
        "threshold": threshold,
        "coverage_at_threshold": float(accepted.mean()),
        "precision_at_threshold": float(np.mean(predictions[accepted] == labels[accepted])) if accepted.any()
        else None,
        "target_precision": model_artifacts.TARGET_PRECISION,
        "coverage_at_target_precision": coverage,
        "threshold_for_target_precision": threshold_for_target,
        "per_class": {},
    }
    for index, name in enumerate(class_names):
        predicted, actual = predictions == index, labels == index
        true_positive = int(np.sum(predicted & actual))
        report["per_class"][name] = {
            "precision": true_positive / int(predicted.sum()) if predicted.any() else None,
            "recall": true_positive / int(actual.sum()) if actual.any() else None,
        }
    return report


# --- training --------------------------------------------------------------------------------------

def predict_outputs(net, pixels, batch_size: int = 256) -> list:
    """Each of the network's outputs (one, or a tuple) as a numpy array over all pixels."""
    import mxnet as mx
    batches = []
    for start in range(0, len(pixels), batch_size):
        outputs = net(mx.nd.array(channels.to_nchw(pixels[start:start + batch_size])))
        batches.append([output.asnumpy() for output in (outputs if isinstance(outputs, (list, tuple)) else [outputs])])
    return [np.concatenate(parts) for parts in zip(*batches)]


def predict_logits(net, pixels, batch_size: int = 256):
    return predict_outputs(net, pixels, batch_size)[0]


def learning_rate_at(step: int, total_steps: int, warmup_steps: int, peak: float) -> float:
    """Linear warm-up, then cosine decay to zero."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * peak * (1 + math.cos(math.pi * progress))


class WeightAverage:
    """Exponential moving average of a network's parameters (BatchNorm statistics included), with
    the usual warm-up of the decay so the first steps' weights do not dominate."""

    def __init__(self, decay: float):
        self.decay, self.steps, self.averages = decay, 0, None

    def update(self, net) -> None:
        params = net.collect_params()
        self.steps += 1
        if self.averages is None:
            self.averages = {name: param.data().copy() for name, param in params.items()}
            return
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        for name, param in params.items():
            average = self.averages[name]
            average[:] = decay * average + (1 - decay) * param.data()

    def snapshot(self, net) -> dict:
        """A copy of the weights validated: the averages once there are any, else the network's own."""
        source = self.averages or {name: param.data() for name, param in net.collect_params().items()}
        return {name: array.copy() for name, array in source.items()}

    @contextmanager
    def applied(self, net):
        """The network with the averaged weights inside the block, its own weights after."""
        params = net.collect_params()
        if self.averages is None:
            yield net
            return
        own = {name: param.data().copy() for name, param in params.items()}
        for name, param in params.items():
            param.set_data(self.averages[name])
        try:
            yield net
        finally:
            for name, param in params.items():
                param.set_data(own[name])


def train_member(args, member: int, train_pixels, train_labels, validation_pixels, validation_labels,
                 num_classes: int, log=print):
    """Train one network; return it with the parameters of its best validation-loss epoch."""
    import mxnet as mx
    from mxnet import autograd, gluon

    seed = args.seed + 1000 * member
    mx.random.seed(seed)
    rng = np.random.RandomState(seed)
    net = build_network(num_classes, args.width, args.blocks_per_stage)
    net.initialize(mx.init.Xavier(magnitude=2.0))
    net.hybridize(static_alloc=True, static_shape=False)
    trainer = gluon.Trainer(net.collect_params(), "nag", {
        "learning_rate": args.learning_rate, "momentum": args.momentum, "wd": args.weight_decay})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=False)
    steps_per_epoch = max(1, len(train_pixels) // args.batch_size)
    total_steps, warmup_steps = steps_per_epoch * args.epochs, steps_per_epoch * args.warmup_epochs
    best_loss, best_params, epochs_without_gain, step = math.inf, None, 0, 0
    first_candidate_epoch = min(args.epochs, max(1, int(args.epochs * args.select_after)))
    eye = np.eye(num_classes, dtype=np.float32)
    average = WeightAverage(args.ema_decay)
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(train_pixels))
        epoch_loss, epoch_correct, seen = 0.0, 0, 0
        for batch in range(steps_per_epoch):  # drops the ragged tail: BatchNorm dislikes tiny batches
            idx = order[batch * args.batch_size:(batch + 1) * args.batch_size]
            pixels = augmentation.augment(train_pixels[idx], rng, args.cutout, args.augment_policy)
            # A not-a-vehicle photo (label OUTLIER) is taught as "either class, equally": outlier
            # exposure, so the model learns to be unsure of what is not a vehicle.
            targets = np.where((train_labels[idx] == OUTLIER)[:, None], 1.0 / num_classes,
                               eye[np.maximum(train_labels[idx], 0)] * (1 - args.label_smoothing)
                               + args.label_smoothing / num_classes).astype(np.float32)
            if args.mixup_alpha > 0:
                lam = rng.beta(args.mixup_alpha, args.mixup_alpha)
                partner = rng.permutation(len(idx))
                pixels = lam * pixels + (1 - lam) * pixels[partner]
                targets = lam * targets + (1 - lam) * targets[partner]
            trainer.set_learning_rate(learning_rate_at(step, total_steps, warmup_steps, args.learning_rate))
            data = mx.nd.array(channels.to_nchw(pixels))
            label = mx.nd.array(targets)
            with autograd.record():
                output = net(data)
                loss = loss_fn(output, label)
            loss.backward()
            trainer.step(len(idx))
            if args.ema_decay:
                average.update(net)
            epoch_loss += float(loss.sum().asscalar())
            epoch_correct += int((output.argmax(axis=1).asnumpy() == train_labels[idx]).sum())
            seen += int((train_labels[idx] != OUTLIER).sum())
            step += 1
        with average.applied(net):  # without --ema-decay there is no average: the network as it is
            validation_logits = predict_logits(net, validation_pixels)
        validation_loss = negative_log_likelihood(validation_logits, validation_labels)
        validation_accuracy = float(np.mean(validation_logits.argmax(axis=1) == validation_labels))
        seen = max(1, seen)
        log(EPOCH_LINE.format(epoch=epoch, member=member, train_loss=epoch_loss / seen,
                              train_accuracy=epoch_correct / seen, validation_loss=validation_loss,
                              validation_accuracy=validation_accuracy, learning_rate=trainer.learning_rate))
        if epoch < first_candidate_epoch:
            continue
        if validation_loss < best_loss:
            best_loss, epochs_without_gain = validation_loss, 0
            best_params = average.snapshot(net)
        else:
            epochs_without_gain += 1
            if args.patience and epochs_without_gain >= args.patience:
                log(f"early stop member={member} epoch={epoch}")
                break
    if best_params is None:
        raise TrainingDiverged(
            f"member {member} diverged: the validation loss was not finite in any epoch from "
            f"{first_candidate_epoch} on; try a lower --learning-rate or more --warmup-epochs")
    for name, param in net.collect_params().items():
        param.set_data(best_params[name])
    return net


def _train_member_process(args, member, split, num_classes):
    """Worker body: train one member and hand its parameters back as numpy arrays, in order.

    A divergence comes back as its message: the exception class of a spawned script's module
    cannot always be unpickled in the parent.
    """
    try:
        net = train_member(args, member, *split, num_classes, log=lambda line: print(line, flush=True))
    except TrainingDiverged as error:
        return str(error)
    return [param.data().asnumpy() for param in net.collect_params().values()]


def train_members_in_parallel(args, split, num_classes, workers):
    """Train the members in `workers` spawned processes with one math thread each.

    Small convolutions scale poorly across threads, so two single-threaded members finish in
    about the time one two-threaded member takes.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import mxnet as mx

    threads = str(max(1, args.num_cpus // workers))
    saved = {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "MXNET_CPU_WORKER_NTHREADS")}
    os.environ.update(OMP_NUM_THREADS=threads, MXNET_CPU_WORKER_NTHREADS="1")  # inherited at spawn
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_train_member_process, args, member, split, num_classes)
                       for member in range(args.ensemble_size)]
            trained = [future.result() for future in futures]
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    diverged = [result for result in trained if isinstance(result, str)]
    if diverged:
        raise TrainingDiverged("; ".join(diverged))
    members = []
    for arrays in trained:
        net = build_network(num_classes, args.width, args.blocks_per_stage)
        net.initialize()
        net(mx.nd.zeros((1, 3, model_artifacts.INPUT_SIZE, model_artifacts.INPUT_SIZE)))  # settle deferred shapes
        for param, array in zip(net.collect_params().values(), arrays):
            param.set_data(mx.nd.array(array))
        members.append(net)
    return members


def evaluate(serving_net, pixels, labels, class_names, temperature: float, distance_limit: float) -> dict:
    logits, distances = predict_outputs(serving_net, pixels)
    report = classification_report(model_artifacts.softmax(logits, temperature), labels, class_names)
    report["usable_share"] = usable_share(pixels, distances, distance_limit)
    return report


def usable_share(pixels, distances, limit: float) -> float:
    """Share of 32x32 photos neither the image statistics nor the feature distance call unusable."""
    usable = [not usability.image_reasons(image, image.shape[1::-1]) and not usability.distance_reason(distance, limit)
              for image, distance in zip(pixels, distances)]
    return float(np.mean(usable)) if usable else float("nan")


def save(serving_net, class_names, temperature: float, usability_document: dict, metrics: dict, model_dir):
    """Write the model directory that inference.model_fn loads (see model_artifacts)."""
    return model_artifacts.save_model_dir(serving_net, class_names, temperature, usability_document, metrics,
                                          model_dir)


def fit_usability(ensemble, pixels, labels, train_idx, validation_idx, num_classes: int, false_unusable_rate: float,
                  reviewed=None):
    """The training photos' feature distribution and the validation split's distance limit.

    reviewed, (pixels, labels) of people's vehicle photos, joins the distribution: a real bicycle
    is then measured against real bicycles too, not only against thumbnails."""
    fit_pixels, fit_labels = pixels[train_idx], labels[train_idx]
    if reviewed is not None and len(reviewed[0]):
        fit_pixels, fit_labels = np.concatenate([fit_pixels, reviewed[0]]), np.concatenate([fit_labels, reviewed[1]])
    features = predict_outputs(ensemble, fit_pixels)[1]
    means, whitening = usability.fit_feature_distribution(features, fit_labels, num_classes)
    validation_distances = usability.mahalanobis_distances(predict_outputs(ensemble, pixels[validation_idx])[1],
                                                           means, whitening)
    limit = usability.distance_limit(validation_distances, false_unusable_rate)
    document = {"feature_distance_limit": limit, "false_unusable_rate": false_unusable_rate,
                "validation_distance_median": float(np.median(validation_distances)),
                "validation_distance_max": float(np.max(validation_distances))}
    return means, whitening, document


def train(args, log=print) -> dict:
    started = time.time()
    preferred = settings.CLASS_NAMES if settings else None
    pixels, labels, class_names = channels.load_channel(args.train, preferred_order=preferred)
    train_idx, validation_idx = channels.split_validation(labels, args.validation_fraction, args.seed)
    reviewed = channels.load_labelled_photos(args.reviewed, class_names + [evaluation.NOT_A_VEHICLE])
    vehicles, outliers = lineage.reviewed_arrays(reviewed, class_names)
    log(f"classes={class_names} train_images={len(train_idx)} validation_images={len(validation_idx)} "
        f"reviewed_vehicles={len(vehicles[0])} reviewed_not_a_vehicle={len(outliers)} "
        f"reviewed_repeats={args.reviewed_repeats}")
    extra_pixels = [array for array in (vehicles[0], outliers) if len(array)]
    extra_labels = [vehicles[1]] * bool(len(vehicles[0])) + [np.full(len(outliers), OUTLIER)] * bool(len(outliers))
    split = (np.concatenate([pixels[train_idx]] + extra_pixels * args.reviewed_repeats),
             np.concatenate([labels[train_idx]] + extra_labels * args.reviewed_repeats),
             pixels[validation_idx], labels[validation_idx])
    workers = min(args.ensemble_size, args.parallel_members or args.num_cpus)
    if workers > 1:
        members = train_members_in_parallel(args, split, len(class_names), workers)
    else:
        members = [train_member(args, member, *split, len(class_names), log) for member in range(args.ensemble_size)]
    ensemble = build_ensemble(members)
    ensemble.hybridize()
    means, whitening, usability_document = fit_usability(ensemble, pixels, labels, train_idx, validation_idx,
                                                         len(class_names), args.false_unusable_rate, vehicles)
    serving_net = build_serving_network(ensemble, len(class_names), means, whitening)
    serving_net.hybridize()
    validation_logits = predict_logits(ensemble, pixels[validation_idx])
    temperature = fit_temperature(validation_logits, labels[validation_idx])
    limit = usability_document["feature_distance_limit"]
    metrics = {
        "hyperparameters": {k: v for k, v in vars(args).items()
                            if k not in ("train", "test", "model_dir", "reviewed", "holdout", "parent")},
        "temperature": temperature,
        "validation": evaluate(serving_net, pixels[validation_idx], labels[validation_idx], class_names, temperature,
                               limit),
        "usability": usability_document,
        "training_seconds": None,
    }
    if args.test and Path(args.test).is_dir():
        test_pixels, test_labels, _ = channels.load_channel(args.test, class_names)
        metrics["test"] = evaluate(serving_net, test_pixels, test_labels, class_names, temperature, limit)
    metrics.update(lineage.judge_against_parent(args, serving_net, class_names, temperature, limit,
                                                CONFIDENCE_THRESHOLD, log))
    metrics["data"] = lineage.data_provenance(args, len(train_idx), len(validation_idx), reviewed)
    metrics["baseline"] = lineage.write_monitoring_baseline(serving_net, pixels[validation_idx], class_names, temperature,
                                                    limit, args.model_dir)
    metrics["training_seconds"] = round(time.time() - started, 1)
    test = metrics.get("test", {})
    log(FINAL_LINE.format(validation_accuracy=metrics["validation"]["accuracy"],
                          validation_ece=metrics["validation"]["ece"],
                          test_accuracy=test.get("accuracy", float("nan")), test_ece=test.get("ece", float("nan")),
                          temperature=temperature))
    save(serving_net, class_names, temperature, usability_document, metrics, args.model_dir)
    log(f"saved model_dir={args.model_dir} model_version={model_version(args.model_dir)} "
        f"seconds={metrics['training_seconds']}")
    return metrics


def main(argv=None) -> int:
    args = parse_args(argv)
    # Threads must be set before MXNet starts its engine; SageMaker tells how many CPUs there are.
    os.environ.setdefault("OMP_NUM_THREADS", str(args.num_cpus))
    os.environ.setdefault("MXNET_CPU_WORKER_NTHREADS", "1")
    try:
        train(args, log=lambda line: print(line, flush=True))
    except FileNotFoundError as error:
        print(f"train.py: {error}", file=sys.stderr)
        return 2
    except TrainingDiverged as error:
        print(f"train.py: {error}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
