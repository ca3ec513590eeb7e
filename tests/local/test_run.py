"""The main command end to end: tiny model, a few tiny images, the real workflow in moto."""
import io
import json
import logging
import os
import pickle
import shutil
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

import settings
from local import product, run
from monitoring import capture_format, storage
from imaging import samples
from training import stage_data

IMAGES_PER_CLASS = 3


@pytest.fixture
def image_folder(tmp_path):
    """A data source laid out like the real one: {train,test}/{class}/*.png."""
    root = tmp_path / "source"
    for split in ("train", "test"):
        for class_index, class_name in enumerate(settings.CLASS_NAMES):
            folder = root / split / class_name
            folder.mkdir(parents=True)
            for number in range(IMAGES_PER_CLASS):
                photo = samples.scene(32, 32, noise=6, seed=number)
                photo.paste((40 * number, 200 * class_index, 90), (16, 0, 32, 16))
                photo.save(folder / f"{class_name}_{number}.png")
    return root


@pytest.fixture
def artifacts(tmp_path, monkeypatch):
    """Point every artifacts path of settings below tmp_path, as VEHICLE_ARTIFACTS_DIR would."""
    root = tmp_path / "artifacts"
    default_root = settings.ARTIFACTS_DIR
    for name in ("LOCAL_CAPTURE_DIR", "LOCAL_RESULTS_DIR", "LOCAL_GROUND_TRUTH_DIR", "LOCAL_REPORT_DIR",
                 "LOCAL_MONITORING_DIR", "ARTIFACTS_DIR"):
        monkeypatch.setattr(settings, name, root / getattr(settings, name).relative_to(default_root))
    return root


@pytest.fixture(autouse=True)
def no_real_photos(tmp_path, monkeypatch):
    """A machine without ../shared/data/real-world: the runs route the tests' own images only (the
    real photos' second collection is some 230 photos; a test that wants real photos writes its own)."""
    monkeypatch.setattr(settings, "REAL_WORLD_DIR", tmp_path / "no-real-photos")


@pytest.mark.slow
def test_run_main_command_routes_every_test_image_and_writes_results(tiny_model_dir, image_folder, tmp_path):
    environment = {**os.environ, "VEHICLE_ARTIFACTS_DIR": str(tmp_path / "artifacts")}
    command = [sys.executable, "-m", "local.run", "--data-source", str(image_folder),
               "--model-dir", str(tiny_model_dir), "--threshold", "0.5", "--no-progress", "--no-real-photos"]

    completed = subprocess.run(command, cwd=settings.PROJECT_ROOT, env=environment, capture_output=True,
                               text=True, timeout=300)

    assert completed.returncode == 0, completed.stderr
    results = json.loads((tmp_path / "artifacts" / "results" / run.RESULTS_JSON).read_text())
    assert len(results["images"]) == 2 * IMAGES_PER_CLASS
    assert {row["true_class"] for row in results["images"]} == set(settings.CLASS_NAMES)
    assert all(row["status"] == "SUCCEEDED" and row["route"] in settings.ROUTE_BY_LABEL.values()
               for row in results["images"])  # any top-class probability of 2 classes is >= 0.5
    assert results["summary"]["routed_share"] == 1.0
    for row in results["images"]:
        assert f"{row['label']:<11} {row['confidence']:>10.4f}  routed: {row['route']} orders" in completed.stdout
    assert (tmp_path / "artifacts" / "report" / "report.html").is_file()
    # The operators' page beside it: the deployed dashboard drawn from the stand-in (local/operations_page.py).
    assert (tmp_path / "artifacts" / "report" / "operations.html").read_text().count("data:image/png;base64,") > 10
    assert "Operators' page" in completed.stdout and "No operators' page" not in completed.stderr
    captured = list(storage.iter_jsonl_lines(tmp_path / "artifacts" / "captures"))
    assert len(captured) == 2 * IMAGES_PER_CLASS
    loop = results["summary"]["loop"]
    assert loop["driver_routed_events"] == 2 * IMAGES_PER_CLASS  # every driver routed at 0.5, so dispatch heard each
    assert loop["reviews_queued"] == 0 and loop["requests_answered"] == loop["audits_queued"]
    assert f"events published                {2 * IMAGES_PER_CLASS} DriverRouted, 0 DriverNeedsReview" in completed.stdout
    assert all(row["inference_id"] for row in results["images"])


def test_run_low_confidence_image_is_reported_with_its_prediction(tiny_model_dir, image_folder, artifacts,
                                                                 capsys):
    image = image_folder / "test" / "bicycle" / "bicycle_0.png"

    status = run.main(["--image", str(image), "--model-dir", str(tiny_model_dir), "--data-source",
                       str(image_folder), "--threshold", "1.0", "--no-progress"])

    output = capsys.readouterr().out
    assert status == 0
    [row] = [line for line in output.splitlines() if line.startswith("bicycle_0.png")]
    assert "to a person: low confidence" in row
    assert any(class_name in row for class_name in settings.CLASS_NAMES)
    assert f"Decision for {image}: probably a " in output


def test_run_routes_own_photos_given_as_files_and_folders(tiny_model_dir, image_folder, artifacts, tmp_path, capsys):
    folder = tmp_path / "phone"
    folder.mkdir()
    # Stored on its side with an EXIF orientation; upright it is a landscape photo, whose centre square
    # (the model's input) keeps the scene's contrast.
    (folder / "rotated.jpg").write_bytes(samples.phone_jpeg(1500, 2000, orientation=6))
    (folder / "scooter.webp").write_bytes(samples.encoded(samples.scene(640, 480, noise=8), "WEBP"))
    (folder / "black.png").write_bytes(samples.encoded(samples.uniform_image(), "PNG"))
    (folder / "notes.txt").write_text("not a photo")
    single = tmp_path / "single.png"
    single.write_bytes(samples.encoded(samples.scene(320, 240, noise=8), "PNG"))

    status = run.main(["--image", str(folder), str(single), "--model-dir", str(tiny_model_dir), "--data-source",
                       str(image_folder), "--threshold", "0.5", "--no-progress"])

    captured = capsys.readouterr()
    output = captured.out
    assert status == 0, captured.err
    assert f"Skipping {folder / 'notes.txt'}" in output
    rows = {Path(row["image"]).name: row for row in
            json.loads((settings.LOCAL_RESULTS_DIR / run.RESULTS_JSON).read_text())["images"]}
    assert sorted(rows) == ["black.png", "rotated.jpg", "scooter.webp", "single.png"]
    assert all(row["true_class"] is None for row in rows.values())
    assert rows["black.png"]["error"] == "UnusableImage" and "nearly uniform" in rows["black.png"]["unusable_reasons"]
    assert all(rows[name]["accepted"] for name in ("rotated.jpg", "scooter.webp", "single.png"))
    assert "to a person: unusable photo (nearly uniform" in output
    assert (settings.LOCAL_RESULTS_DIR / run.RESULTS_CSV).is_file()
    assert len(list(storage.iter_jsonl_lines(settings.LOCAL_CAPTURE_DIR))) == 4


@pytest.fixture
def gated_model_dir(tiny_model_dir, tmp_path):
    """The tiny model with a two-wheeler gate no picture passes (a mass of 1 exactly is never reached)."""
    model_dir = tmp_path / "gated-model"
    shutil.copytree(tiny_model_dir, model_dir)
    (model_dir / "usability.json").write_text(json.dumps({"two_wheeler_limit": 1.0}))
    return model_dir


def test_run_sends_a_photo_that_is_not_a_two_wheeler_to_a_person_and_the_monitor_counts_it(
        gated_model_dir, image_folder, artifacts, capsys):
    status = run.main(["--model-dir", str(gated_model_dir), "--data-source", str(image_folder), "--threshold", "0.5",
                       "--no-progress"])

    output = capsys.readouterr().out
    assert status == 0
    results = json.loads((settings.LOCAL_RESULTS_DIR / run.RESULTS_JSON).read_text())
    rows, summary = results["images"], results["summary"]
    assert len(rows) == 2 * IMAGES_PER_CLASS
    assert all(row["error"] == "UnusableImage" and not row["accepted"] for row in rows)
    assert all("not a bicycle or motorcycle" in row["unusable_reasons"] for row in rows)
    assert "to a person: unusable photo (not a bicycle or motorcycle" in output
    assert summary["loop"]["reviews_queued"] == 2 * IMAGES_PER_CLASS and summary["routed_share"] == 0.0
    # The endpoint's answers, as captured, carry the code; the deterioration monitor counts it.
    captured = [json.loads(capture_format.parse_capture_line(line, decode_input=False).output_body)
                for _, line in storage.iter_jsonl_lines(settings.LOCAL_CAPTURE_DIR)]
    assert [answer["unusable_codes"] for answer in captured] == [["not_two_wheeler"]] * (2 * IMAGES_PER_CLASS)
    statistics = json.loads((settings.LOCAL_MONITORING_DIR / summary["run_id"] / "statistics.json").read_text())
    [reason] = [feature for feature in statistics["features"] if feature["name"] == "unusable_reason"]
    buckets = {bucket["value"]: bucket["count"]
               for bucket in reason["string_statistics"]["distribution"]["categorical"]["buckets"]}
    assert buckets == {"not_two_wheeler": 2 * IMAGES_PER_CLASS}


def real_photo_folder(root: Path) -> Path:
    """A folder laid out like ../shared/data/real-world: a manifest naming first-collection photos (the
    test's sources, routed), ImageNet's own among them, then a second-collection photo (trained on)."""
    first = [("bicycle", "mini__a.jpg", "bikes/a.jpg"), ("motorcycle", "ozer__b.jpg", "motorcycles/b.jpg"),
             ("other", "pavle__c.jpg", "motorbikes/c.jpg"), ("other", "carbike__d.jpg", "cars/d.jpg"),
             ("other", "inet__n03100240_convertible.jpg", "imagenet/convertible.jpg")]
    second = [("bicycle", "shop__e.jpg", "bikes/e.jpg"), ("motorcycle", "moto__f.jpg", "motorcycles/f.jpg")]
    for number, (folder, name, _) in enumerate(first + second):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / name).write_bytes(samples.encoded(samples.scene(320, 240, noise=8, seed=number), "JPEG"))
    lines = ["class\tfilename\tsource_path"] + ["\t".join(row) for row in first + second]
    (root / "MANIFEST.tsv").write_text("\n".join(lines) + "\n")
    return root


def test_run_routes_the_real_photos_beside_the_thumbnails_and_sums_each_set_up_apart(
        tiny_model_dir, image_folder, artifacts, tmp_path, capsys):
    real = real_photo_folder(tmp_path / "real-world")

    status = run.main(["--model-dir", str(tiny_model_dir), "--data-source", str(image_folder), "--real-photos",
                       str(real), "--sample", "2", "--threshold", "0.5", "--no-progress"])

    output = capsys.readouterr().out
    assert status == 0
    results = json.loads((settings.LOCAL_RESULTS_DIR / run.RESULTS_JSON).read_text())
    by_name = {Path(row["image"]).name: row for row in results["images"]}
    assert len(by_name) == 2 + 4 and "inet__n03100240_convertible.jpg" not in by_name  # ImageNet's own left out
    assert {name: row["true_class"] for name, row in by_name.items() if row["photo_set"] == run.REAL_SET} == {
        "mini__a.jpg": "bicycle", "ozer__b.jpg": "motorcycle", "pavle__c.jpg": settings.NOT_A_VEHICLE,
        "carbike__d.jpg": settings.NOT_A_VEHICLE}
    sets = results["summary"]["sets"]
    assert sets[run.CIFAR_SET]["images"] == 2 and sets[run.REAL_SET]["images"] == 4
    # The gate is open (limit 0) and the threshold 0.5: everything is routed, the moped and the car too.
    assert (sets[run.REAL_SET]["mopeds"], sets[run.REAL_SET]["mopeds_routed"]) == (1, 1)
    assert (sets[run.REAL_SET]["others"], sets[run.REAL_SET]["others_routed"]) == (1, 1)
    assert f"4 {run.REAL_SET}, threshold 0.5:" in output and f"2 {run.CIFAR_SET}, threshold 0.5:" in output
    assert "other things routed             1 of 1" in output


def test_run_own_photo_that_is_not_an_image_fails_the_command(tiny_model_dir, image_folder, artifacts, tmp_path,
                                                              capsys):
    heic = tmp_path / "photo.heic"
    heic.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(100))

    status = run.main(["--image", str(heic), "--model-dir", str(tiny_model_dir), "--data-source", str(image_folder),
                       "--no-progress"])

    captured = capsys.readouterr()
    assert status == 1
    assert "failed: NotAnImage" in captured.out and "HEIC" in captured.out, captured.err


def test_run_review_path_ground_truth_feeds_the_report(tiny_model_dir, image_folder, artifacts, capsys):
    status = run.main(["--model-dir", str(tiny_model_dir), "--data-source", str(image_folder), "--no-progress"])

    summary = json.loads((settings.LOCAL_RESULTS_DIR / run.RESULTS_JSON).read_text())["summary"]
    report_summary = json.loads((settings.LOCAL_REPORT_DIR / "summary.json").read_text())
    truth = list(storage.iter_jsonl_lines(summary["ground_truth"]))
    assert status == 0
    # The tiny model is never 95% sure: every driver is reviewed, and each review's answer is ground truth.
    assert summary["loop"]["reviews_queued"] == summary["loop"]["requests_answered"] == 2 * IMAGES_PER_CLASS
    assert len(truth) == 2 * IMAGES_PER_CLASS
    assert report_summary["loop"]["reviewed_rejections"] == 2 * IMAGES_PER_CLASS
    printed = capsys.readouterr().out
    assert "reviews queued                  6" in printed
    # The promise is not certified on six drivers: the summary, routing.json, the report and its JSON say so.
    certificate = json.loads((settings.LOCAL_REPORT_DIR / "certificate.json").read_text())
    assert summary["certificate"] == report_summary["certificate"] == certificate
    assert certificate["certified"] is False and certificate["missing_checks"]["clean_checks"] > 0
    assert f"  certificate                     {certificate['answer']}" in printed
    assert certificate["model_version"].startswith("weights-sha256:")


def test_run_second_run_gives_the_same_results(tiny_model_dir, image_folder, artifacts):
    arguments = ["--model-dir", str(tiny_model_dir), "--data-source", str(image_folder), "--no-progress",
                 "--sample", "4"]

    def routed():
        assert run.main(arguments) == 0
        rows = json.loads((settings.LOCAL_RESULTS_DIR / run.RESULTS_JSON).read_text())["images"]
        return [(row["image"], row["label"], row["confidence"], row["accepted"]) for row in rows]

    assert routed() == routed()


def test_run_missing_data_source_exits_with_message(tmp_path, artifacts, capsys):
    status = run.main(["--data-source", str(tmp_path / "nowhere"), "--no-progress"])

    assert status == 1
    assert "does not exist" in capsys.readouterr().err


def test_run_busy_port_exits_with_message(tiny_model_dir, image_folder, artifacts, capsys):
    with socket.socket() as busy:
        busy.bind((settings.LOCAL_ENDPOINT_HOST, 0))
        busy.listen()
        status = run.main(["--model-dir", str(tiny_model_dir), "--data-source", str(image_folder),
                           "--port", str(busy.getsockname()[1]), "--no-progress"])

    assert status == 1
    assert "Choose another --port" in capsys.readouterr().err


@pytest.mark.parametrize("arguments, message", [
    (["--sample", "0"], "--sample must be at least 1"),
    (["--threshold", "1.5"], "--threshold must be in (0, 1]"),
    (["--image", "/no/such/image.png"], "no such file or folder"),
    (["--reviewer", "ann"], "--reviewer goes with --review"),
], ids=["sample-zero", "threshold-above-one", "missing-image", "reviewer-without-review"])
def test_run_bad_arguments_exit_with_usage_message(arguments, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run.parse_args(arguments)

    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_run_leaves_the_handler_and_moto_loggers_as_it_found_them(tmp_path, artifacts):
    decisions = logging.getLogger(product.HANDLER_DECISION_LOGGER)
    moto_level = logging.getLogger(product.MOTO_STEPFUNCTIONS_LOGGER).level

    run.main(["--data-source", str(tmp_path / "nowhere"), "--no-progress"])

    assert not decisions.disabled
    assert logging.getLogger(product.MOTO_STEPFUNCTIONS_LOGGER).level == moto_level


@pytest.fixture
def no_default_source(tmp_path, monkeypatch):
    """A machine without ../shared/data/cifar100-vehicles."""
    monkeypatch.setattr(settings, "DEFAULT_DATA_SOURCE", tmp_path / "no-shared-folder")


def cifar_archive(path, images_per_class: int) -> None:
    """A cifar-100-python.tar.gz laid out like the real one, with a few images per class and split."""
    labels = [settings.CIFAR_FINE_LABELS[name] for name in settings.CLASS_NAMES] * images_per_class + [3]
    with tarfile.open(path, "w:gz") as archive:
        for split in ("train", "test"):
            batch = {b"data": np.full((len(labels), 3 * 32 * 32), 90, dtype=np.uint8),
                     b"fine_labels": labels,
                     b"filenames": [f"{split}_{row}.png".encode() for row in range(len(labels))]}
            payload = pickle.dumps(batch)
            member = tarfile.TarInfo(f"cifar-100-python/{split}")
            member.size = len(payload)
            archive.addfile(member, io.BytesIO(payload))


def test_run_uses_images_staged_before_when_the_default_folder_is_absent(tiny_model_dir, image_folder, artifacts,
                                                                        no_default_source, capsys):
    stage_data.stage("folder", image_folder, settings.ARTIFACTS_DIR / "data", show_progress=False)

    status = run.main(["--model-dir", str(tiny_model_dir), "--sample", "2", "--no-progress"])

    assert status == 0, capsys.readouterr().err
    assert "already staged" in capsys.readouterr().out


def test_run_stages_from_a_cifar_archive_given_with_archive(tiny_model_dir, artifacts, no_default_source, tmp_path):
    archive = tmp_path / "cifar-100-python.tar.gz"
    cifar_archive(archive, images_per_class=2)

    status = run.main(["--archive", str(archive), "--model-dir", str(tiny_model_dir), "--no-progress"])

    assert status == 0
    staged = json.loads((settings.ARTIFACTS_DIR / "data" / stage_data.FINGERPRINT_NAME).read_text())
    assert staged["source"]["kind"] == "archive"
    rows = json.loads((settings.LOCAL_RESULTS_DIR / run.RESULTS_JSON).read_text())["images"]
    assert len(rows) == 2 * len(settings.CLASS_NAMES)


def test_run_without_any_images_names_the_ways_to_get_them(artifacts, no_default_source, capsys):
    status = run.main(["--no-progress"])

    message = capsys.readouterr().err
    assert status == 1
    assert all(option in message for option in ("--archive", "--download", "--data-source", "training.stage_data"))


def _routed(confidence: float, correct: bool = True) -> product.Routing:
    return product.Routing(image="x.png", true_class="bicycle", inference_id="i", status="SUCCEEDED",
                           label="bicycle" if correct else "motorcycle", confidence=confidence, accepted=True)


def test_summary_puts_the_label_free_precision_beside_the_true_one(capsys):
    routings = [_routed(0.99)] * 39 + [_routed(0.99, correct=False)]

    summary = run.summarise(routings, 0.95)
    run.print_summary(summary)

    estimate = summary["label_free_routed_accuracy"]
    assert estimate["drivers"] == 40 and estimate["value"] == pytest.approx(0.99)
    assert estimate["interval"][0] <= summary["routed_accuracy"] == 0.975 <= estimate["interval"][1]
    assert "right among routed, label-free  99.0% (95% interval" in capsys.readouterr().out


def test_summary_of_few_routed_drivers_gives_the_label_free_interval_without_a_point(capsys):
    summary = run.summarise([_routed(0.99)] * 3, 0.95)
    run.print_summary(summary)

    estimate = summary["label_free_routed_accuracy"]
    assert estimate["value"] is None and estimate["drivers"] == 3
    assert "right among routed, label-free  between" in capsys.readouterr().out


@pytest.mark.parametrize("in_page, expected", [
    (0, "audits queued                   1 (all 4 answered with the true classes: the report's ground truth)"),
    (3, "audits queued                   1 (all 4 answered, 3 of them by you in the review page: the report's "
        "ground truth)"),
], ids=["by-the-run", "in-the-review-page"])
def test_summary_says_who_answered_the_review_queue(capsys, in_page, expected):
    summary = {**run.summarise([_routed(0.99)] * 3, 0.95), "loop": {
        "driver_routed_events": 3, "driver_needs_review_events": 3, "reviews_queued": 3, "audits_queued": 1,
        "requests_answered": 4, "answered_in_the_page": in_page, "waiting_for_a_person": 0}}

    run.print_summary(summary)

    assert expected in capsys.readouterr().out
