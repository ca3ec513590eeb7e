"""SageMaker MXNet script-mode entry point: train the bicycle/motorcycle classifier.

Runs unchanged in the SageMaker MXNet 1.9 training container and on this machine:
hyperparameters are command-line options; data and model paths come from SM_CHANNEL_TRAIN,
SM_CHANNEL_TEST, SM_CHANNEL_PRETRAINED and SM_MODEL_DIR, with local defaults below the project's
artifacts directory. The network is an ImageNet-pretrained EfficientNet-Lite0 whose top blocks are
fine-tuned (training/network.py, training/finetune.py); its weights come from the pretrained
channel (training/pretrained.py stages it), or from the parent model when there is one, so a
training job needs no internet.

A channel directory holds one sub-directory of images per class (what stage_data.py writes).
In the repository the classes are ordered as settings.CLASS_NAMES (the order the classify
handler labels by); elsewhere, or when the folders name other classes, sorted by name.

The real-photo channel (SM_CHANNEL_REAL: labelled real photos in bicycle/, motorcycle/, other/, a
file's source the part of its name before "__") trains beside the thumbnails, at the network's input
resolution. The epoch is picked on a validation split carved from the thumbnails; the temperature of
the softmax is fitted on the real vehicle photos' out-of-fold answers, folds holding out whole
sources (training/cross_fit.py), or on the thumbnails' split when there are no real photos. The
test channel, when given, is only measured and written to metrics.json: it never chooses anything.
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

# Run as `python training/train.py` from the repository, settings.py and the shared packages
# (imaging, monitoring) sit beside training/; in SageMaker's container the packages are copied
# beside train.py instead, and there is no settings.py.
_REPOSITORY = Path(__file__).resolve().parents[1]
if (_REPOSITORY / "settings.py").is_file() and str(_REPOSITORY) not in sys.path:
    sys.path.append(str(_REPOSITORY))

try:
    from training import channels, cross_fit, efficientnet, evaluation, finetune, lineage, model_artifacts, network, pretrained, usability
    from training.finetune import TrainingDiverged
    from training.lineage import OUTLIER, model_version
except ImportError:  # SageMaker copies training/ alone into /opt/ml/code and runs train.py from there
    import channels
    import cross_fit
    import efficientnet
    import evaluation
    import finetune
    import lineage
    import model_artifacts
    import network
    import pretrained
    import usability
    from finetune import TrainingDiverged
    from lineage import OUTLIER, model_version

from monitoring.calibration import expected_calibration_error  # noqa: E402 - shipped beside training/

try:
    import settings
except ImportError:  # SageMaker copies training/ alone into /opt/ml/code
    settings = None

# The workflow's threshold: reported, never trained on. The fallback repeats settings.DEFAULT_THRESHOLD
# only for the SageMaker container, where settings.py is not shipped.
CONFIDENCE_THRESHOLD = settings.DEFAULT_THRESHOLD if settings else 0.95

# One line per epoch, parsed by these regexes (launch.py passes them as metric_definitions).
EPOCH_LINE = ("epoch={epoch} train_loss={train_loss:.4f} train_accuracy={train_accuracy:.4f} "
              "validation_loss={validation_loss:.4f} validation_accuracy={validation_accuracy:.4f} "
              "learning_rate={learning_rate:.5f}")
FINAL_LINE = ("final validation_accuracy={validation_accuracy:.4f} validation_ece={validation_ece:.4f} "
              "test_accuracy={test_accuracy:.4f} test_ece={test_ece:.4f} temperature={temperature:.4f}")
_NUMBER = r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
METRIC_DEFINITIONS = [
    {"Name": "train:loss", "Regex": rf"^epoch=\d+ train_loss={_NUMBER}"},
    {"Name": "train:accuracy", "Regex": rf"^epoch=\d+ .*train_accuracy={_NUMBER}"},
    {"Name": "validation:loss", "Regex": rf"^epoch=\d+ .*validation_loss={_NUMBER}"},
    {"Name": "validation:accuracy", "Regex": rf"^epoch=\d+ .*validation_accuracy={_NUMBER}"},
    {"Name": "final:validation_accuracy", "Regex": rf"^final validation_accuracy={_NUMBER}"},
    {"Name": "final:test_accuracy", "Regex": rf"^final .*test_accuracy={_NUMBER}"},
    {"Name": "final:test_ece", "Regex": rf"^final .*test_ece={_NUMBER}"},
]


def _default_path(env_name: str, local_parts: tuple, container_default: str) -> str:
    """SM_* variable if set; else below the repository's artifacts directory; else SageMaker's path."""
    if env_name in os.environ:
        return os.environ[env_name]
    if settings is None:
        return container_default
    return str(Path(settings.ARTIFACTS_DIR, *local_parts))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Fine-tune the ImageNet-pretrained EfficientNet-Lite0 into the bicycle/motorcycle classifier "
                    "(SageMaker MXNet script mode).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    # Input size and learning rate were chosen on the CIFAR validation split (bench/finetune_grid.py: 160 px,
    # Adam 3e-4; the lowest validation NLL whose endpoint meets the 40 ms latency goal). The first tuned
    # block (13) and the epochs (6) keep the out-of-fold calibration's four fine-tunings within the
    # 7-minute budget on 2 cores; whether other things teach (no: it did not pay) was compared by
    # cross-validation grouped by source on the second collection (bench/real_photo_grid.py), at the one
    # real-photo weight measured (2; 4 was not, for lack of CPU on 2026-12-07).
    # docs/model-card.md has both grids.
    hyper = parser.add_argument_group("hyperparameters")
    hyper.add_argument("--input-size", type=int, default=model_artifacts.DEFAULT_INPUT_SIZE,
                       help="side of the network's square input: a photo's short side is resized to it, then "
                            "centre-cropped (a multiple of 32)")
    hyper.add_argument("--tune-from", type=int, default=13,
                       help=f"first EfficientNet block fine-tuned (0-{network.HEAD_ONLY - 1}); the blocks below keep "
                            f"their ImageNet weights; {network.HEAD_ONLY} trains the classifier alone")
    hyper.add_argument("--epochs", type=int, default=6)
    hyper.add_argument("--batch-size", type=int, default=32)
    hyper.add_argument("--learning-rate", type=float, default=3e-4, help="peak Adam learning rate (cosine decay)")
    hyper.add_argument("--weight-decay", type=float, default=1e-5)
    hyper.add_argument("--validation-fraction", type=float, default=0.1,
                       help="share of the training channel held out for selection and calibration")
    hyper.add_argument("--select-after", type=float, default=0.5,
                       help="keep the best validation-loss epoch from this share of the schedule on")
    hyper.add_argument("--two-wheeler-limit", type=float, default=usability.DEFAULT_TWO_WHEELER_LIMIT,
                       help="below this probability of an ImageNet two-wheeler class a photo is unusable "
                            "(not a bicycle or motorcycle)")
    hyper.add_argument("--reviewed-repeats", type=int, default=8,
                       help="times each photo of the reviewed channel is shown per epoch: real photos are few "
                            "beside the thumbnails")
    hyper.add_argument("--real-repeats", type=int, default=2,
                       help="times each photo of the real-photo channel is shown per epoch (their weight against the "
                            "thumbnails)")
    hyper.add_argument("--real-other", choices=("teach", "leave-out"), default="leave-out",
                       help="whether the real-photo channel's other/ photos teach the classifier to be unsure of them")
    hyper.add_argument("--calibration-folds", type=int, default=3,
                       help="folds of the real photos, grouped by source, whose out-of-fold logits fit the temperature "
                            "(0: fit it on the thumbnails' validation split)")
    hyper.add_argument("--seed", type=int, default=1)
    paths = parser.add_argument_group("paths (SageMaker sets them through SM_* variables)")
    paths.add_argument("--train", default=_default_path("SM_CHANNEL_TRAIN", ("data", "train"),
                                                        "/opt/ml/input/data/train"),
                       help="folder of <class>/<image> training images (SM_CHANNEL_TRAIN)")
    paths.add_argument("--test", default=_default_path("SM_CHANNEL_TEST", ("data", "test"),
                                                       "/opt/ml/input/data/test"),
                       help="test images (SM_CHANNEL_TEST), measured only; a missing directory skips them")
    paths.add_argument("--pretrained", default=_default_path("SM_CHANNEL_PRETRAINED", ("data", pretrained.CHANNEL),
                                                             "/opt/ml/input/data/pretrained"),
                       help=f"folder holding {pretrained.PARAMS_FILE}, the ImageNet weights converted from "
                            f"{pretrained.PACKAGE}=={pretrained.PACKAGE_VERSION} (SM_CHANNEL_PRETRAINED); "
                            f"not needed when a compatible --parent is given")
    paths.add_argument("--reviewed", default=_default_path("SM_CHANNEL_REVIEWED", ("dataset", "reviewed"),
                                                           "/opt/ml/input/data/reviewed"),
                       help="photos people labelled, <answer>/<photo> (training.dataset's channel; SM_CHANNEL_REVIEWED); "
                            "not_a_vehicle photos teach the model to be unsure of them; a missing directory skips them")
    paths.add_argument("--real", default=_default_path("SM_CHANNEL_REAL", ("data", "real"), "/opt/ml/input/data/real"),
                       help="labelled real photos, bicycle/, motorcycle/, other/ (training.stage_data stages them; "
                            "SM_CHANNEL_REAL); a file's source is its name before '__'; a missing directory trains "
                            "on the thumbnails alone")
    paths.add_argument("--holdout", default=_default_path("SM_CHANNEL_HOLDOUT", ("dataset", "holdout"),
                                                          "/opt/ml/input/data/holdout"),
                       help="the newest labelled photos, measured only (SM_CHANNEL_HOLDOUT)")
    paths.add_argument("--parent", default=os.environ.get("SM_CHANNEL_PARENT"),
                       help="the model this one may replace (a model directory, or one holding model.tar.gz; "
                            "SM_CHANNEL_PARENT): fine-tuning starts from its weights at its input size, and both "
                            "are measured on the same photos")
    paths.add_argument("--model-dir", default=_default_path("SM_MODEL_DIR", ("model",), "/opt/ml/model"),
                       help="where the model directory is written (SM_MODEL_DIR)")
    paths.add_argument("--num-cpus", type=int, default=int(os.environ.get("SM_NUM_CPUS", os.cpu_count() or 1)),
                       help="CPU cores to use (SM_NUM_CPUS)")
    args = parser.parse_args(argv)
    if not 0 < args.validation_fraction < 1:
        parser.error("--validation-fraction must be between 0 and 1")
    if not 0 <= args.two_wheeler_limit < 1:
        parser.error("--two-wheeler-limit must be in [0, 1)")
    if not 0 <= args.tune_from <= network.HEAD_ONLY:
        parser.error(f"--tune-from must be between 0 and {network.HEAD_ONLY}")
    try:
        efficientnet.check_input_side(args.input_size)
    except ValueError as error:
        parser.error(f"--input-size: {error}")
    if args.calibration_folds < 0:
        parser.error("--calibration-folds must be 0 or more")
    for name in ("epochs", "batch_size", "reviewed_repeats", "real_repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


# --- calibration and metrics -----------------------------------------------------------------------

negative_log_likelihood = finetune.negative_log_likelihood


# The prior on log(temperature): centred on the network's own softmax (T = 1), one standard deviation a
# factor e either way. Without it a validation split the model gets entirely right has no best
# temperature (its NLL keeps falling as T -> 0) and the fit would make every answer certain.
TEMPERATURE_PRIOR_SIGMA = 1.0


def fit_temperature(logits, labels) -> float:
    """The most probable temperature given the validation split (its summed NLL) and the prior on
    log T: a coarse log grid, then a finer one around its best."""
    count = len(labels)

    def cost(t):
        return count * negative_log_likelihood(logits, labels, t) + 0.5 * (np.log(t) / TEMPERATURE_PRIOR_SIGMA) ** 2

    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
    best = min(grid, key=cost)
    fine = best * np.exp(np.linspace(-0.06, 0.06, 25))
    return float(min(fine, key=cost))


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
        "ece": expected_calibration_error(
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

def predict_outputs(net, pixels, batch_size: int = 64) -> list:
    """Each of the network's outputs (one, or a tuple) as a numpy array over all pixels."""
    import mxnet as mx
    batches = []
    for start in range(0, len(pixels), batch_size):
        outputs = net(mx.nd.array(channels.to_nchw(pixels[start:start + batch_size])))
        batches.append([output.asnumpy() for output in (outputs if isinstance(outputs, (list, tuple)) else [outputs])])
    return [np.concatenate(parts) for parts in zip(*batches)]


def predict_logits(net, pixels, batch_size: int = 64):
    return predict_outputs(net, pixels, batch_size)[0]


def evaluate(serving_net, pixels, labels, class_names, temperature: float, two_wheeler_limit: float) -> dict:
    logits, masses = predict_outputs(serving_net, pixels)
    report = classification_report(model_artifacts.softmax(logits, temperature), labels, class_names)
    report["usable_share"] = usable_share(pixels, masses, two_wheeler_limit)
    report["two_wheeler_share"] = float(np.mean(masses >= two_wheeler_limit)) if len(masses) else float("nan")
    return report


def usable_share(pixels, masses, limit: float) -> float:
    """Share of model-input photos neither the image statistics nor the two-wheeler gate call unusable.

    The limit is the gate the model ships with; thumbnails, upsampled, get little two-wheeler mass,
    so on CIFAR this share says what the gate does to thumbnails, not to drivers' photos."""
    from PIL import Image
    usable = []
    for image, mass in zip(pixels, masses):
        small = usability.statistics_pixels(Image.fromarray(image))
        usable.append(not usability.image_reasons(small, image.shape[1::-1])
                      and not usability.two_wheeler_reason(float(mass), limit))
    return float(np.mean(usable)) if usable else float("nan")


def save(serving_net, class_names, temperature: float, usability_document: dict, metrics: dict, model_dir,
         architecture: dict):
    """Write the model directory that inference.model_fn loads (see model_artifacts)."""
    return model_artifacts.save_model_dir(serving_net, class_names, temperature, usability_document, metrics,
                                          model_dir, architecture)


def architecture_of(args) -> dict:
    return {"network": network.NETWORK_NAME, "input_size": args.input_size, "tune_from": args.tune_from,
            "pretrained": {"package": f"{pretrained.PACKAGE}=={pretrained.PACKAGE_VERSION}",
                           "licence": pretrained.PACKAGE_LICENCE, "source_sha256": pretrained.SOURCE_SHA256,
                           "params_sha256": pretrained.PARAMS_SHA256},
            "two_wheeler_classes": {str(index): name for index, name in sorted(pretrained.TWO_WHEELER_CLASSES.items())}}


def starting_network(args, num_classes: int, log=print):
    """The network fine-tuning starts from: the parent's weights when it has this architecture (its
    input size and tuned blocks win over the options), else the pretrained channel's ImageNet weights."""
    parent_dir = lineage.parent_model_dir(args.parent)
    if parent_dir is not None and (parent_dir / model_artifacts.ARCHITECTURE_FILE).is_file():
        parent = model_artifacts.read_json(parent_dir, model_artifacts.ARCHITECTURE_FILE)
        if parent.get("network") == network.NETWORK_NAME:
            args.input_size, args.tune_from = int(parent["input_size"]), int(parent["tune_from"])
            net = network.build_network(num_classes, args.tune_from, pretrained.TWO_WHEELER_CLASSES)
            network.load_exported(net, parent_dir / model_artifacts.PARAMS_FILE)
            log(f"starting from the parent model {parent_dir} (input_size={args.input_size} tune_from={args.tune_from})")
            return net
    net = network.build_network(num_classes, args.tune_from, pretrained.TWO_WHEELER_CLASSES)
    network.load_pretrained(net, pretrained.load_imagenet_network(args.pretrained), seed=args.seed)
    log(f"starting from the ImageNet weights in {args.pretrained} (input_size={args.input_size} "
        f"tune_from={args.tune_from})")
    return net


def calibrate_out_of_fold(net, trainable, start, data, real, args, log=print):
    """The temperature fitted on the real vehicles' out-of-fold logits (folds grouped by source), with
    the folds and their out-of-fold figures at the workflow's threshold; None when there are too few
    real vehicles or sources (or --calibration-folds 0): the validation split's temperature then."""
    vehicles = data.real_labels >= 0
    if args.calibration_folds < 2 or len(set(data.real_sources[vehicles])) < 2:
        return None
    logits, folds = cross_fit.out_of_fold_logits(net, trainable, start, data, args, log)
    temperature = fit_temperature(logits[vehicles], data.real_labels[vehicles])
    figures = cross_fit.vehicle_figures(model_artifacts.softmax(logits, temperature), data.real_labels,
                                        CONFIDENCE_THRESHOLD)
    log(f"out-of-fold temperature={temperature:.4f} accuracy={figures['accuracy']:.4f} "
        f"routed_share={figures['routed_share']:.4f} wrong_routed={figures['wrong_routed']}")
    return {"method": "out-of-fold logits of the real vehicle photos, folds grouped by source",
            "temperature": temperature, "folds": {str(fold): sorted(set(data.real_sources[folds == fold]))
                                                  for fold in range(int(folds.max()) + 1)},
            "out_of_fold": figures, "out_of_fold_by_photo": {
                name: [round(float(v), 4) for v in row] for name, row in zip(real["names"], logits)}}


def write_baseline(net, validation_pixels, real, temperature, class_names, limit, args) -> dict:
    """The monitor's baseline follows the traffic: the endpoint's answers on the real photos trained on
    (all of them, other things too) when there are any; else on the thumbnails' validation split.
    (Their out-of-fold answers were tried instead: the fold models, trained on two thirds of the
    photos, are less sure than the final model, and a steady stream of new sources then broke the
    confidence constraint; bench/monitor.py.)"""
    if len(real["labels"]):
        document = lineage.write_monitoring_baseline(net, real["pixels"], class_names, temperature, limit,
                                                     args.model_dir, args.input_size)
        return {**document, "photos": "the real photos trained on"}
    document = lineage.write_monitoring_baseline(net, validation_pixels, class_names, temperature, limit,
                                                 args.model_dir, args.input_size)
    return {**document, "photos": "the CIFAR validation split"}


def train(args, log=print) -> dict:
    import mxnet as mx
    started = time.time()
    preferred = settings.CLASS_NAMES if settings else None
    class_names = channels.class_names_of(args.train, preferred_order=preferred)
    net = starting_network(args, len(class_names), log)   # may take the parent's input size
    pixels, labels, class_names = channels.load_channel(args.train, class_names, size=args.input_size)
    train_idx, validation_idx = channels.split_validation(labels, args.validation_fraction, args.seed)
    reviewed = channels.load_labelled_photos(args.reviewed, class_names + [evaluation.NOT_A_VEHICLE], args.input_size)
    vehicles, outliers = lineage.reviewed_arrays(reviewed, class_names, args.input_size)
    real = channels.load_real_photos(args.real, class_names, args.input_size)
    log(f"classes={class_names} train_images={len(train_idx)} validation_images={len(validation_idx)} "
        f"reviewed_vehicles={len(vehicles[0])} reviewed_not_a_vehicle={len(outliers)} "
        f"reviewed_repeats={args.reviewed_repeats} real_vehicles={int(np.sum(real['labels'] >= 0))} "
        f"real_other={int(np.sum(real['labels'] < 0))} real_sources={len(set(real['sources']))} "
        f"real_repeats={args.real_repeats} real_other_taught={args.real_other == 'teach'}")
    if not len(real["labels"]):
        log(f"no real photos in {args.real}: training on the CIFAR thumbnails alone")
    mx.random.seed(args.seed)
    base_pixels = np.concatenate([pixels[train_idx], vehicles[0], outliers])
    base_labels = np.concatenate([labels[train_idx], vehicles[1], np.full(len(outliers), OUTLIER)])
    started_caching = time.time()
    data = cross_fit.FitData(
        base_activations=finetune.lower_activations(net, base_pixels), base_labels=base_labels,
        # Real photos are few beside the thumbnails: each reviewed one is shown reviewed_repeats times.
        base_repeats=np.concatenate([np.ones(len(train_idx), dtype=np.int64),
                                     np.full(len(base_labels) - len(train_idx), args.reviewed_repeats)]),
        real_activations=finetune.lower_activations(net, real["pixels"]), real_labels=real["labels"],
        real_sources=real["sources"],
        validation_activations=finetune.lower_activations(net, pixels[validation_idx]),
        validation_labels=labels[validation_idx])
    log(f"cached the frozen blocks' activations of {len(base_pixels) + len(real['labels']) + len(validation_idx)} "
        f"photos in {time.time() - started_caching:.0f} s")
    trainable = network.trainable_parameters(net)
    start = cross_fit.snapshot(trainable)
    calibration = calibrate_out_of_fold(net, trainable, start, data, real, args, log)
    validation_logits = cross_fit.fit(net, trainable, start, data,
                                      cross_fit.real_training_mask(real["labels"], args.real_other == "teach"),
                                      args, log, EPOCH_LINE)
    net.hybridize(static_alloc=True)
    if calibration is None:
        temperature = fit_temperature(validation_logits, labels[validation_idx])
        calibration = {"method": "the CIFAR validation split (no real photos to fit on)", "temperature": temperature}
    temperature = calibration["temperature"]
    limit = args.two_wheeler_limit
    usability_document = {"two_wheeler_limit": limit,
                          "two_wheeler_classes": sorted(pretrained.TWO_WHEELER_CLASSES)}
    metrics = {
        "hyperparameters": {k: v for k, v in vars(args).items()
                            if k not in ("train", "test", "model_dir", "reviewed", "holdout", "parent", "pretrained", "real")},
        "temperature": temperature,
        "validation": evaluate(net, pixels[validation_idx], labels[validation_idx], class_names, temperature, limit),
        "usability": usability_document,
        "calibration": calibration,
        "training_seconds": None,
    }
    if args.test and Path(args.test).is_dir():
        test_pixels, test_labels, _ = channels.load_channel(args.test, class_names, size=args.input_size)
        metrics["test"] = evaluate(net, test_pixels, test_labels, class_names, temperature, limit)
    metrics.update(lineage.judge_against_parent(args, net, class_names, temperature, limit,
                                                CONFIDENCE_THRESHOLD, log))
    metrics["data"] = lineage.data_provenance(args, len(train_idx), len(validation_idx), reviewed, real)
    metrics["baseline"] = write_baseline(net, pixels[validation_idx], real, temperature, class_names, limit, args)
    metrics["training_seconds"] = round(time.time() - started, 1)
    test = metrics.get("test", {})
    log(FINAL_LINE.format(validation_accuracy=metrics["validation"]["accuracy"],
                          validation_ece=metrics["validation"]["ece"],
                          test_accuracy=test.get("accuracy", float("nan")), test_ece=test.get("ece", float("nan")),
                          temperature=temperature))
    save(net, class_names, temperature, usability_document, metrics, args.model_dir, architecture_of(args))
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
    except (FileNotFoundError, pretrained.PretrainedWeightsError, channels.ChannelError) as error:
        print(f"train.py: {error}", file=sys.stderr)
        return 2
    except TrainingDiverged as error:
        print(f"train.py: {error}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
