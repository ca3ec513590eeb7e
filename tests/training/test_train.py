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
from training import channels, inference, lineage, model_artifacts, train

TRAIN_SCRIPT = Path(train.__file__)
TINY_NETWORK = ["--ensemble-size", "1", "--width", "4", "--blocks-per-stage", "1", "--batch-size", "4",
                "--validation-fraction", "0.25", "--warmup-epochs", "1"]


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
def sagemaker_run(tmp_path_factory):
    """train.py run the way SageMaker runs it: a subprocess, paths in SM_* variables, outside the repo."""
    root = tmp_path_factory.mktemp("sm")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(SM_CHANNEL_TRAIN=str(_write_channel(root / "train", 12, 0)),
               SM_CHANNEL_TEST=str(_write_channel(root / "test", 4, 1)),
               SM_MODEL_DIR=str(root / "model"), SM_NUM_CPUS="1")
    result = subprocess.run(
        [sys.executable, str(TRAIN_SCRIPT), "--epochs", "2", "--ensemble-size", "1", "--width", "4",
         "--blocks-per-stage", "1", "--batch-size", "8", "--validation-fraction", "0.25", "--warmup-epochs", "1",
         "--mixup-alpha", "0.2"],
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
        model_artifacts.CALIBRATION_FILE, model_artifacts.USABILITY_FILE, model_artifacts.METRICS_FILE, "baseline"])
    assert json.loads((model_dir / "classes.json").read_text()) == list(settings.CLASS_NAMES)
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["validation"]["count"] == 6
    assert metrics["test"]["count"] == 8
    assert set(metrics["test"]) >= {"accuracy", "ece", "coverage_at_threshold", "precision_at_threshold", "per_class",
                                    "coverage_at_target_precision", "usable_share"}
    limit = json.loads((model_dir / model_artifacts.USABILITY_FILE).read_text())["feature_distance_limit"]
    assert limit > 0 and limit == metrics["usability"]["feature_distance_limit"]
    assert metrics["hyperparameters"]["epochs"] == 2


@pytest.mark.slow
def test_train_script_writes_the_monitoring_baseline_from_the_validation_split(sagemaker_run):
    from monitoring import baseline

    directory = sagemaker_run["model_dir"] / baseline.BASELINE_DIR
    statistics = json.loads((directory / baseline.STATISTICS_FILE).read_text())
    constraints = json.loads((directory / baseline.CONSTRAINTS_FILE).read_text())

    baseline.check_baseline(statistics, constraints)
    assert statistics["dataset"]["item_count"] == 6  # the validation split, never the test images
    names = [feature["name"] for feature in statistics["features"]]
    assert names[:3] == ["confidence", "probability_motorcycle", "feature_distance"]
    assert {"brightness", "contrast", "sharpness", "colourfulness", "predicted_class", "usable",
            "unusable_reason"} <= set(names)
    by_name = {feature["name"]: feature for feature in constraints["features"]}
    assert by_name["predicted_class"]["string_constraints"]["domains"] == sorted(settings.CLASS_NAMES)
    assert "too_dark" in by_name["unusable_reason"]["string_constraints"]["domains"]


@pytest.mark.slow
def test_train_script_model_is_served_by_inference(sagemaker_run):
    model = inference.model_fn(sagemaker_run["model_dir"])
    image = Image.new("RGB", (64, 64), (220, 30, 30))

    probabilities = inference.predict_probabilities(model, [image])

    assert probabilities.shape == (1, 2)
    assert probabilities.sum() == pytest.approx(1.0)


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


def test_classification_report_ece_is_the_shared_definition():
    probabilities = np.array([[0.52, 0.48], [0.42, 0.58], [0.97, 0.03]])
    labels = np.array([0, 0, 0])

    report = train.classification_report(probabilities, labels, ["bicycle", "motorcycle"])

    assert report["ece"] == pytest.approx(model_artifacts.expected_calibration_error(
        np.array([0.52, 0.58, 0.97]), np.array([True, False, True]), 2))


def test_classification_report_counts_coverage_and_precision_at_threshold():
    probabilities = np.array([[0.99, 0.01], [0.97, 0.03], [0.6, 0.4], [0.02, 0.98]])
    labels = np.array([0, 1, 0, 1])

    report = train.classification_report(probabilities, labels, ["bicycle", "motorcycle"], threshold=0.95)

    assert report["accuracy"] == 0.75
    assert report["coverage_at_threshold"] == 0.75
    assert report["precision_at_threshold"] == pytest.approx(2 / 3)
    assert report["per_class"]["bicycle"] == {"precision": pytest.approx(2 / 3), "recall": 1.0}


def test_serving_network_averages_flipped_views():
    import mxnet as mx

    mx.random.seed(0)
    member = train.build_network(2, width=4, blocks_per_stage=1)
    member.initialize(mx.init.Xavier())
    ensemble = train.build_ensemble([member])
    images = mx.nd.random.uniform(0, 255, (2, 3, 32, 32))

    logits, features = ensemble(images)
    mirrored_logits, mirrored_features = ensemble(images.flip(axis=3))
    assert np.allclose(logits.asnumpy(), mirrored_logits.asnumpy(), atol=1e-5)
    assert np.allclose(features.asnumpy(), mirrored_features.asnumpy(), atol=1e-5)
    averaged = (member(images) + member(images.flip(axis=3))) / 2
    assert np.allclose(logits.asnumpy(), averaged.asnumpy(), atol=1e-4)


def test_serving_network_distance_is_the_mahalanobis_distance_of_its_features():
    import mxnet as mx

    from training import usability

    mx.random.seed(1)
    members = [train.build_network(2, width=4, blocks_per_stage=1) for _ in range(2)]
    for member in members:
        member.initialize(mx.init.Xavier())
    ensemble = train.build_ensemble(members)
    images = mx.nd.random.uniform(0, 255, (40, 3, 32, 32))
    features = ensemble(images)[1].asnumpy()
    labels = np.arange(40) % 2
    means, whitening = usability.fit_feature_distribution(features, labels, 2)

    logits, distances = train.build_serving_network(ensemble, 2, means, whitening)(images)

    assert features.shape[1] == 2 * 16  # two members' features side by side
    assert np.allclose(distances.asnumpy(), usability.mahalanobis_distances(features, means, whitening), rtol=1e-3)


@pytest.mark.slow
def test_train_exports_every_parallel_member_into_one_graph(tmp_path):
    import mxnet as mx

    args = train.parse_args([
        "--train", str(_write_channel(tmp_path / "train", 8, 0)), "--model-dir", str(tmp_path / "model"),
        "--test", str(tmp_path / "no-test"), "--epochs", "1", "--width", "4", "--blocks-per-stage", "1",
        "--batch-size", "4", "--validation-fraction", "0.25", "--warmup-epochs", "1",
        "--ensemble-size", "2", "--parallel-members", "2", "--num-cpus", "2"])
    lines = []

    metrics = train.train(args, log=lines.append)

    single = train.build_network(2, width=4, blocks_per_stage=1)
    exported = mx.nd.load(str(tmp_path / "model" / model_artifacts.PARAMS_FILE))
    assert len(exported) == 2 * len(list(single.collect_params().keys())) + 2  # + the feature distribution
    assert "test" not in metrics
    assert inference.model_fn(tmp_path / "model").class_names == ("bicycle", "motorcycle")


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


def test_train_reports_divergence_by_name_without_traceback(tmp_path, capsys):
    channel = _write_channel(tmp_path / "train", 6, 0)

    code = train.main(["--train", str(channel), "--test", str(tmp_path / "none"),
                       "--model-dir", str(tmp_path / "model"), "--epochs", "2", "--learning-rate", "1e30",
                       "--num-cpus", "1", *TINY_NETWORK])

    assert code == 3
    assert "diverged" in capsys.readouterr().err
    assert not (tmp_path / "model" / model_artifacts.CLASSES_FILE).exists()


def test_weight_average_warms_up_its_decay_and_applies_only_inside_its_block():
    import mxnet as mx
    from mxnet import gluon

    net = gluon.nn.Dense(1, in_units=2)
    net.initialize()
    average = train.WeightAverage(decay=0.99)
    weight = net.collect_params()[net.weight.name]
    for value in (1.0, 3.0):
        weight.set_data(mx.nd.full((1, 2), value))
        average.update(net)

    with average.applied(net):
        inside = weight.data().asnumpy()
    # The first update copies; the second step's decay is min(0.99, 3/12): 0.25 * 1 + 0.75 * 3.
    np.testing.assert_allclose(inside, [[2.5, 2.5]])
    np.testing.assert_allclose(weight.data().asnumpy(), [[3.0, 3.0]])
    # What training keeps: the averages once there are any, else the network's own weights.
    np.testing.assert_allclose(average.snapshot(net)[weight.name].asnumpy(), [[2.5, 2.5]])
    np.testing.assert_allclose(train.WeightAverage(decay=0.99).snapshot(net)[weight.name].asnumpy(), [[3.0, 3.0]])


def test_training_with_a_weight_average_keeps_a_working_model(tmp_path):
    train_dir = _write_channel(tmp_path / "train", 8, 0)
    arguments = train.parse_args(["--train", str(train_dir), "--test", str(tmp_path / "none"), "--model-dir",
                                  str(tmp_path / "model"), "--epochs", "2", "--ema-decay", "0.9", *TINY_NETWORK])

    metrics = train.train(arguments, log=lambda line: None)

    assert metrics["hyperparameters"]["ema_decay"] == 0.9
    assert 0.0 <= metrics["validation"]["accuracy"] <= 1.0
    assert (tmp_path / "model" / model_artifacts.CLASSES_FILE).is_file()


def test_parse_args_refuses_a_weight_average_decay_of_one():
    with pytest.raises(SystemExit):
        train.parse_args(["--ema-decay", "1"])


@pytest.fixture(scope="module")
def run_with_reviews(tmp_path_factory, tiny_model_dir):
    """train.py as the retraining job runs it: reviewed photos (some not a vehicle), the newest held
    back, and the current model as the parent."""
    root = tmp_path_factory.mktemp("reviews")
    reviewed = _write_channel(root / "reviewed", 3, 5, class_names=("bicycle", "motorcycle", settings.NOT_A_VEHICLE))
    (reviewed / "dataset.json").write_text(json.dumps({"manifest_sha256": "ab" * 32}))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(SM_CHANNEL_TRAIN=str(_write_channel(root / "train", 12, 0)),
               SM_CHANNEL_TEST=str(_write_channel(root / "test", 4, 1)),
               SM_CHANNEL_REVIEWED=str(reviewed),
               SM_CHANNEL_HOLDOUT=str(_write_channel(root / "holdout", 2, 6, ("bicycle", settings.NOT_A_VEHICLE))),
               SM_CHANNEL_PARENT=str(tiny_model_dir), SM_MODEL_DIR=str(root / "model"), SM_NUM_CPUS="1")
    result = subprocess.run([sys.executable, str(TRAIN_SCRIPT), "--epochs", "2", "--reviewed-repeats", "3", *TINY_NETWORK],
                            cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return {"result": result, "metrics": json.loads((root / "model" / "metrics.json").read_text())}


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
