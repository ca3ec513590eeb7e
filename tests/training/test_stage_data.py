import hashlib
import io
import pickle
import tarfile

import boto3
import numpy as np
import pytest
from moto import mock_aws
from PIL import Image

from training import pretrained, stage_data

BICYCLE, MOTORCYCLE, OTHER = 8, 48, 3


def _pickle_batch(rows):
    """rows: (fine_label, filename, pixel value) -> a CIFAR-100 python pickle, bytes keys."""
    data = np.stack([np.full(3 * 32 * 32, value, dtype=np.uint8) for _, _, value in rows])
    batch = {b"data": data, b"fine_labels": [label for label, _, _ in rows],
             b"filenames": [name.encode() for _, name, _ in rows]}
    return pickle.dumps(batch)


def _write_archive(path, members):
    with tarfile.open(path, "w:gz") as archive:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return path


@pytest.fixture
def cifar_archive(tmp_path):
    train = [(BICYCLE, "bicycle_s_000001.png", 10), (MOTORCYCLE, "bike_s_000002.png", 20),  # name lies
             (OTHER, "apple_s_000003.png", 30), (MOTORCYCLE, "motorcycle_s_000004.png", 40)]
    test = [(BICYCLE, "bike_s_000005.png", 50), (MOTORCYCLE, "motorbike_s_000006.png", 60),
            (OTHER, "bicycle_s_000007.png", 70)]  # named like a bicycle, fine label says otherwise
    return _write_archive(tmp_path / "cifar-100-python.tar.gz", {
        "cifar-100-python/train": _pickle_batch(train), "cifar-100-python/test": _pickle_batch(test),
        "cifar-100-python/meta": pickle.dumps({})})


@pytest.fixture
def image_folder(tmp_path):
    root = tmp_path / "folder"
    rows = ["split\tclass\tfilename\tsha256"]
    for split in ("train", "test"):
        for value, class_name in enumerate(("bicycle", "motorcycle")):
            path = root / split / class_name / f"{class_name}_{split}.png"
            path.parent.mkdir(parents=True)
            Image.new("RGB", (32, 32), (value * 100, 0, 0)).save(path)
            rows.append(f"{split}\t{class_name}\t{path.name}\t{hashlib.sha256(path.read_bytes()).hexdigest()}")
    (root / "MANIFEST.tsv").write_text("\n".join(rows) + "\n")
    return root


def _tree(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_stage_archive_selects_classes_by_fine_label_not_filename(cifar_archive, tmp_path):
    out = tmp_path / "data"

    document = stage_data.stage("archive", cifar_archive, out, show_progress=False)

    assert _tree(out) == ["STAGED.json", "pretrained/efficientnet-lite0.params", "test.lst",
                          "test/bicycle/bike_s_000005.png",
                          "test/motorcycle/motorbike_s_000006.png", "train.lst",
                          "train/bicycle/bicycle_s_000001.png", "train/motorcycle/bike_s_000002.png",
                          "train/motorcycle/motorcycle_s_000004.png"]
    assert document["counts"]["train"] == {"bicycle": 1, "motorcycle": 2}
    with Image.open(out / "train/motorcycle/bike_s_000002.png") as image:
        assert image.mode == "RGB" and image.size == (32, 32)
        assert image.getpixel((5, 5)) == (20, 20, 20)


def test_stage_archive_writes_sagemaker_lst_files(cifar_archive, tmp_path):
    out = tmp_path / "data"

    stage_data.stage("archive", cifar_archive, out, show_progress=False)

    lines = [line.split("\t") for line in (out / "train.lst").read_text().splitlines()]
    assert lines == [["0", "0", "bicycle/bicycle_s_000001.png"], ["1", "1", "motorcycle/bike_s_000002.png"],
                     ["2", "1", "motorcycle/motorcycle_s_000004.png"]]


def test_stage_is_idempotent_and_reports_already_staged(cifar_archive, tmp_path):
    out = tmp_path / "data"
    stage_data.stage("archive", cifar_archive, out, show_progress=False)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}

    document = stage_data.stage("archive", cifar_archive, out, show_progress=False)

    assert document["already_staged"] is True
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == before


def test_stage_writes_the_pinned_pretrained_weights_beside_the_images(cifar_archive, tmp_path):
    out = tmp_path / "data"

    stage_data.stage("archive", cifar_archive, out, show_progress=False)

    weights = out / pretrained.CHANNEL / pretrained.PARAMS_FILE
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == pretrained.PARAMS_SHA256


def test_stage_adds_the_pretrained_weights_to_data_staged_before_them(cifar_archive, tmp_path):
    out = tmp_path / "data"
    stage_data.stage("archive", cifar_archive, out, show_progress=False)
    weights = out / pretrained.CHANNEL / pretrained.PARAMS_FILE
    weights.unlink()

    document = stage_data.stage("archive", cifar_archive, out, show_progress=False)

    assert document["already_staged"] is True
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == pretrained.PARAMS_SHA256


@pytest.mark.parametrize("damage", ["truncated", "not_gzip", "missing_test_pickle"],
                         ids=["truncated", "not-gzip", "missing-test-pickle"])
def test_stage_corrupt_archive_raises_clear_error_and_writes_nothing(cifar_archive, tmp_path, damage):
    broken = tmp_path / "broken.tar.gz"
    if damage == "truncated":
        payload = cifar_archive.read_bytes()
        broken.write_bytes(payload[: len(payload) // 2])
    elif damage == "not_gzip":
        broken.write_bytes(b"this is not an archive")
    else:
        _write_archive(broken, {"cifar-100-python/train": _pickle_batch([(BICYCLE, "a.png", 1)])})
    out = tmp_path / "data"

    with pytest.raises(stage_data.StagingError, match="broken.tar.gz"):
        stage_data.stage("archive", broken, out, show_progress=False)

    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_stage_corrupt_archive_keeps_previous_output(cifar_archive, tmp_path):
    out = tmp_path / "data"
    stage_data.stage("archive", cifar_archive, out, show_progress=False)
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(cifar_archive.read_bytes()[:300])

    with pytest.raises(stage_data.StagingError):
        stage_data.stage("archive", broken, out, show_progress=False)

    assert (out / "train/motorcycle/bike_s_000002.png").is_file()


def test_stage_image_folder_verifies_manifest_and_copies_images(image_folder, tmp_path):
    out = tmp_path / "data"

    document = stage_data.stage("folder", image_folder, out, show_progress=False)

    assert document["counts"] == {"train": {"bicycle": 1, "motorcycle": 1}, "test": {"bicycle": 1, "motorcycle": 1}}
    assert "train/motorcycle/motorcycle_train.png" in _tree(out)


@pytest.mark.parametrize("tamper", ["changed_bytes", "missing_file", "unlisted_file"],
                         ids=["changed-bytes", "missing-file", "unlisted-file"])
def test_stage_image_folder_rejects_manifest_mismatch(image_folder, tmp_path, tamper):
    target = image_folder / "test/bicycle/bicycle_test.png"
    if tamper == "changed_bytes":
        Image.new("RGB", (32, 32), (1, 2, 3)).save(target)
    elif tamper == "missing_file":
        target.unlink()
    else:
        Image.new("RGB", (32, 32)).save(target.with_name("extra.png"))
    out = tmp_path / "data"

    with pytest.raises(stage_data.StagingError, match="MANIFEST.tsv"):
        stage_data.stage("folder", image_folder, out, show_progress=False)

    assert not out.exists()


def test_main_reports_missing_source_without_traceback(tmp_path, capsys):
    code = stage_data.main(["--archive", str(tmp_path / "nope.tar.gz"), "--output-dir", str(tmp_path / "out")])

    assert code == 1
    assert "nope.tar.gz does not exist" in capsys.readouterr().err


@mock_aws
def test_upload_directory_writes_split_layout_under_prefix(cifar_archive, tmp_path, monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "data"
    stage_data.stage("archive", cifar_archive, out, show_progress=False)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="vehicles")

    stage_data.upload_directory(out, "s3://vehicles/staged/", s3_client=s3, show_progress=False)

    keys = sorted(obj["Key"] for obj in s3.list_objects_v2(Bucket="vehicles")["Contents"])
    assert "staged/train/motorcycle/bike_s_000002.png" in keys
    assert "staged/test.lst" in keys
    assert len(keys) == len(_tree(out))


def test_parse_s3_uri_rejects_non_s3_uri():
    with pytest.raises(stage_data.StagingError, match="s3://BUCKET/PREFIX"):
        stage_data.parse_s3_uri("https://example.com/x")


# --- the real-photo channel ------------------------------------------------------------------------

def _photo_folder(root, layout):
    """layout: {folder: [file names]} -> tiny generated JPEGs (a different scene each)."""
    from imaging import samples
    for number, (folder, names) in enumerate(layout.items()):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for offset, name in enumerate(names):
            (root / folder / name).write_bytes(samples.encoded(samples.scene(48, 36, seed=number * 10 + offset), "JPEG"))
    return root


def test_stage_real_photos_links_the_photos_and_leaves_the_test_sources_out(tmp_path):
    source = _photo_folder(tmp_path / "photos", {
        "bicycle": ["c256__a.jpg", "mini__b.jpg"], "motorcycle": ["olx__c.jpg", "mine.jpg"], "other": ["coco__d.jpg"]})
    document = stage_data.stage_real_photos(source, tmp_path / "data" / "real")
    channel = tmp_path / "data" / "real"
    assert document["counts"] == {"bicycle": 1, "motorcycle": 2, "other": 1}
    assert document["sources"] == {"c256": 1, "coco": 1, "olx": 1, "own": 1}
    assert document["left_out_test_sources"] == {"mini": 1}
    staged = channel / "motorcycle" / "olx__c.jpg"
    assert staged.is_symlink() and staged.resolve() == (source / "motorcycle" / "olx__c.jpg").resolve()
    assert not (channel / "bicycle" / "mini__b.jpg").exists()
    assert (channel / stage_data.REAL_RECORD_NAME).is_file()


def test_stage_real_photos_without_a_folder_stages_an_empty_channel_and_says_so(tmp_path):
    missing = tmp_path / "nowhere"
    document = stage_data.stage_real_photos(missing, tmp_path / "real")
    assert document["counts"] == {}
    assert stage_data.real_photos_line(document, missing) == (
        f"no real photos at {missing}: the model trains on the CIFAR thumbnails alone")
    assert [p.name for p in (tmp_path / "real").iterdir()] == [stage_data.REAL_RECORD_NAME]


def test_stage_real_photos_names_an_unreadable_photo_in_one_line_and_keeps_the_previous_channel(tmp_path):
    source = _photo_folder(tmp_path / "photos", {"bicycle": ["a.jpg"], "motorcycle": ["b.jpg"]})
    stage_data.stage_real_photos(source, tmp_path / "real")
    (source / "motorcycle" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(stage_data.StagingError) as error:
        stage_data.stage_real_photos(source, tmp_path / "real")
    assert "broken.jpg" in str(error.value) and "\n" not in str(error.value)
    assert sorted(p.name for p in (tmp_path / "real" / "motorcycle").iterdir()) == ["b.jpg"]


def test_stage_real_photos_names_a_missing_class_folder(tmp_path):
    source = _photo_folder(tmp_path / "photos", {"bicycle": ["a.jpg"], "other": ["o.jpg"]})
    with pytest.raises(stage_data.StagingError, match=r"motorcycle is missing"):
        stage_data.stage_real_photos(source, tmp_path / "real")


def test_main_stages_the_real_photos_beside_the_images(image_folder, tmp_path, capsys):
    source = _photo_folder(tmp_path / "photos", {"bicycle": ["kvt__a.jpg"], "motorcycle": ["kvt__b.jpg"]})
    status = stage_data.main(["--image-folder", str(image_folder), "--output-dir", str(tmp_path / "out"),
                              "--real-photos", str(source)])
    assert status == 0
    assert 'real photos: {"bicycle": 1, "motorcycle": 1} from 1 sources' in capsys.readouterr().out
    assert (tmp_path / "out" / "real" / "bicycle" / "kvt__a.jpg").is_file()
