import numpy as np
import pytest

from imaging import samples
from training import channels


def _photos(root, layout):
    for number, (folder, names) in enumerate(layout.items()):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for offset, name in enumerate(names):
            (root / folder / name).write_bytes(samples.phone_jpeg(64 + 8 * offset, 48, noise=4.0))
    return root


def test_load_real_photos_reads_classes_other_and_sources_at_the_input_size(tmp_path):
    root = _photos(tmp_path, {"bicycle": ["c256__a.jpg", "c256__b.jpg"], "motorcycle": ["olx__c.jpg"],
                              "other": ["mine.jpg"]})
    real = channels.load_real_photos(root, ["bicycle", "motorcycle"], size=64)
    assert real["pixels"].shape == (4, 64, 64, 3) and real["pixels"].dtype == np.uint8
    assert real["labels"].tolist() == [0, 0, 1, channels.OUTLIER_LABEL]
    assert real["sources"].tolist() == ["c256", "c256", "olx", channels.OWN_SOURCE]
    assert real["names"][2] == "motorcycle/olx__c.jpg"


def test_load_real_photos_of_a_missing_channel_is_empty(tmp_path):
    real = channels.load_real_photos(tmp_path / "nowhere", ["bicycle", "motorcycle"], size=32)
    assert real["pixels"].shape == (0, 32, 32, 3) and len(real["labels"]) == 0


def test_load_real_photos_of_a_channel_staged_without_photos_is_empty(tmp_path):
    (tmp_path / "REAL.json").write_text("{}")
    assert len(channels.load_real_photos(tmp_path, ["bicycle", "motorcycle"], size=32)["labels"]) == 0


def test_load_real_photos_names_a_missing_class_folder(tmp_path):
    root = _photos(tmp_path, {"bicycle": ["a.jpg"]})
    with pytest.raises(channels.ChannelError, match=r"motorcycle is missing"):
        channels.load_real_photos(root, ["bicycle", "motorcycle"], size=32)


def test_load_real_photos_names_a_file_that_is_not_a_photo(tmp_path):
    root = _photos(tmp_path, {"bicycle": ["a.jpg"], "motorcycle": ["b.jpg"]})
    (root / "bicycle" / "notes.txt").write_text("hello")
    with pytest.raises(channels.ChannelError, match=r"notes\.txt: not a readable photo"):
        channels.load_real_photos(root, ["bicycle", "motorcycle"], size=32)


@pytest.mark.parametrize("folds", [2, 3, 5], ids=["2 folds", "3 folds", "5 folds"])
def test_grouped_folds_hold_out_whole_sources_in_folds_of_similar_size(folds):
    sources = np.array(["a"] * 10 + ["b"] * 8 + ["c"] * 6 + ["d"] * 4 + ["e"] * 3 + ["f"] * 1, dtype=object)
    fold_of = channels.grouped_folds(sources, folds, seed=1)
    for source in set(sources):
        assert len(set(fold_of[sources == source])) == 1
    sizes = np.bincount(fold_of)
    assert len(sizes) == folds and sizes.max() - sizes.min() <= 10


def test_grouped_folds_never_make_more_folds_than_sources():
    assert channels.grouped_folds(np.array(["a", "a", "b"], dtype=object), 5).tolist() in ([0, 0, 1], [1, 1, 0])
