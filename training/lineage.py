"""What a model was made from and how it compares: the monitoring baseline it ships, the reviewed
photos it learnt from, its parent, and the judgement of both on the photos kept back.

Shipped to SageMaker with training/ (train.py calls it); numpy, Pillow and the plain-Python
monitoring core only.
"""
import hashlib
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

try:
    from training import channels, evaluation, inference, model_artifacts, usability
except ImportError:  # SageMaker copies training/ alone into /opt/ml/code
    import channels
    import evaluation
    import inference
    import model_artifacts
    import usability
from monitoring import baseline as monitoring_baseline  # noqa: E402 - shipped beside training/
from monitoring import features as monitoring_features  # noqa: E402

# The label of a not-a-vehicle photo in the training arrays: no class, taught as uniform.
OUTLIER = channels.OUTLIER_LABEL


def write_monitoring_baseline(serving_net, pixels, class_names, temperature: float, limit: float, model_dir,
                              input_size: int) -> dict:
    """baseline/statistics.json and constraints.json (Model Monitor's formats) of what the endpoint
    sees and says for these photos, built from the very answers the endpoint gives
    (inference.assessment_answer)."""
    model = inference.LoadedModel(network=serving_net, class_names=tuple(class_names), temperature=temperature,
                                  two_wheeler_limit=limit, input_size=input_size)
    images = [Image.fromarray(np.asarray(image, dtype=np.uint8)) for image in pixels]
    rows = []
    for assessment in inference.assess(model, images):
        answer = json.dumps(inference.assessment_answer(model, assessment)).encode()
        rows.append(monitoring_features.features_of(answer, inference.ASSESSMENT_CONTENT_TYPE, class_names))
    statistics = monitoring_baseline.dataset_statistics(rows, monitoring_features.feature_names(class_names))
    domains = {"predicted_class": class_names, "usable": ["false", "true"],
               "unusable_reason": [monitoring_features.NO_REASON, *usability.REASON_CODES]}
    constraints = monitoring_baseline.suggest_constraints(statistics, domains)
    directory = Path(model_dir) / monitoring_baseline.BASELINE_DIR
    directory.mkdir(parents=True, exist_ok=True)
    for name, document in ((monitoring_baseline.STATISTICS_FILE, statistics),
                           (monitoring_baseline.CONSTRAINTS_FILE, constraints)):
        model_artifacts.write_json_atomically(directory / name, document)
    return {"items": len(rows), "directory": str(directory)}


def reviewed_arrays(reviewed: dict, class_names, size: int):
    """((pixels, labels) of the reviewed vehicle photos, pixels of the not-a-vehicle ones)."""
    empty = np.zeros((0, size, size, 3), dtype=np.uint8)
    vehicle_pixels = [reviewed[name] for name in class_names if name in reviewed]
    vehicle_labels = [np.full(len(reviewed[name]), index) for index, name in enumerate(class_names) if name in reviewed]
    vehicles = ((np.concatenate(vehicle_pixels), np.concatenate(vehicle_labels).astype(np.int64)) if vehicle_pixels
                else (empty, np.zeros(0, dtype=np.int64)))
    return vehicles, reviewed.get(evaluation.NOT_A_VEHICLE, empty)


def parent_model_dir(parent):
    """The parent model directory: given as one, or as a directory holding model.tar.gz (unpacked
    beside it); None when there is no parent."""
    if not parent or not Path(parent).is_dir():
        return None
    parent = Path(parent)
    if (parent / model_artifacts.CLASSES_FILE).is_file():
        return parent
    archive = parent / "model.tar.gz"
    if archive.is_file():
        target = parent / "unpacked"
        with tarfile.open(archive) as handle:
            handle.extractall(target, filter="data") if hasattr(tarfile, "data_filter") else handle.extractall(target)
        return target
    return None


def judge_against_parent(args, serving_net, class_names, temperature: float, limit: float, threshold: float,
                         log=print) -> dict:
    """Routing figures of this model and of its parent on the held-back newest labelled photos and
    on the test images, at the workflow's threshold (training/evaluation.py)."""
    challenger = inference.LoadedModel(network=serving_net, class_names=tuple(class_names), temperature=temperature,
                                       two_wheeler_limit=limit, input_size=args.input_size)
    photo_sets = {"holdout": channels.load_photo_images(args.holdout, class_names + [evaluation.NOT_A_VEHICLE])}
    if args.test and Path(args.test).is_dir():
        photo_sets["test"] = channels.load_photo_images(args.test, class_names)
    parent_dir = parent_model_dir(args.parent)
    models = {"challenger": challenger}
    if parent_dir is not None:
        models["parent"] = inference.model_fn(parent_dir)
    judged = {name: {set_name: evaluation.routing_figures(model, photos, threshold)
                     for set_name, photos in photo_sets.items() if photos}
              for name, model in models.items()}
    for name, sets in judged.items():
        for set_name, figures in sets.items():
            log(f"judged model={name} photos={set_name} " + " ".join(
                f"{key}={value}" for key, value in figures.items()))
    return {"judged": judged, "parent_model_version": model_version(parent_dir) if parent_dir else None}


def model_version(model_dir) -> str:
    """A model's version: the first 16 hex digits of its weights' SHA-256."""
    return hashlib.sha256((Path(model_dir) / model_artifacts.PARAMS_FILE).read_bytes()).hexdigest()[:16]


def data_provenance(args, train_count: int, validation_count: int, reviewed: dict, real: dict) -> dict:
    """Where this model's data came from: counts per source and the reviewed dataset's manifest hash."""
    summary = Path(args.reviewed) / "dataset.json" if args.reviewed else None
    manifest_sha256 = None
    if summary is not None and summary.is_file():
        manifest_sha256 = json.loads(summary.read_text()).get("manifest_sha256")
    return {"cifar_train": train_count, "cifar_validation": validation_count,
            "reviewed": {name: int(len(array)) for name, array in reviewed.items()},
            "reviewed_repeats": args.reviewed_repeats, "dataset_manifest_sha256": manifest_sha256,
            "real": {"vehicles": int(np.sum(real["labels"] >= 0)), "other": int(np.sum(real["labels"] < 0)),
                     "sources": sorted(set(real["sources"])), "repeats": args.real_repeats,
                     "other_taught": args.real_other == "teach"}}
