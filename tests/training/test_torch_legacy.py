"""The torch legacy-format reader: the pinned package's real file, and small files written here with
the standard library's pickle exactly as torch.save (legacy format) lays them out, without torch."""
import collections
import contextlib
import hashlib
import io
import pickle
import struct
import sys
import types

import numpy as np
import pytest

from training import pretrained, torch_legacy

SYS_INFO = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
STORAGE_NAMES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.int64): "LongStorage"}


# --- the real file ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def package_state_dict():
    return torch_legacy.read_state_dict(pretrained.source_path().read_bytes())


def test_read_state_dict_of_the_package_file_has_every_tensor(package_state_dict):
    assert len(package_state_dict) == pretrained.SOURCE_TENSORS == 296
    learnable = sum(value.size for name, value in package_state_dict.items()
                    if value.dtype == np.float32 and not name.endswith(("running_mean", "running_var",
                                                                         "num_batches_tracked")))
    assert learnable == pretrained.SOURCE_PARAMETERS == 4_652_008


def test_read_state_dict_of_the_package_file_keeps_names_shapes_and_finite_values(package_state_dict):
    assert package_state_dict["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert package_state_dict["_fc.weight"].shape == (1000, 1280)
    assert package_state_dict["_bn0.num_batches_tracked"].dtype == np.int64
    assert all(np.isfinite(value).all() for value in package_state_dict.values() if value.dtype == np.float32)


def test_the_package_file_is_the_pinned_one():
    assert hashlib.sha256(pretrained.source_path().read_bytes()).hexdigest() == pretrained.SOURCE_SHA256


# --- files written here --------------------------------------------------------------------------------

class Storage:
    def __init__(self, key, values):
        self.key, self.values = key, np.ascontiguousarray(values).ravel()


class Tensor:
    """What torch pickles for a tensor: a strided view into a storage."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


@contextlib.contextmanager
def fake_torch():
    """'torch' and 'torch._utils' modules holding only the names a legacy file pickles, so pickle can
    name them as globals; registered only while pickling (torch is not installed)."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*arguments):
        raise AssertionError("only pickled, never called")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in STORAGE_NAMES.values():
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    torch._utils = utils
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield torch
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class _LegacyPickler(pickle.Pickler):
    def __init__(self, handle, torch):
        super().__init__(handle, protocol=2)
        self.torch = torch

    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            storage_type = getattr(self.torch, STORAGE_NAMES[obj.values.dtype])
            return ("storage", storage_type, obj.key, "cpu", obj.values.size, None)
        return None

    def reducer_override(self, obj):
        if isinstance(obj, Tensor):
            return (self.torch._utils._rebuild_tensor_v2,
                    (obj.storage, obj.offset, obj.size, obj.stride, False, collections.OrderedDict()))
        return NotImplemented


def legacy_bytes(state: dict, magic=torch_legacy.LEGACY_MAGIC_NUMBER, protocol_version=1001) -> bytes:
    """torch.save(state) in the legacy format: five pickles, then each storage's count and bytes."""
    handle = io.BytesIO()
    storages = list({id(t.storage): t.storage for t in state.values() if isinstance(t, Tensor)}.values())
    with fake_torch() as torch:
        for item in (magic, protocol_version, SYS_INFO, collections.OrderedDict(state),
                     [storage.key for storage in storages]):
            _LegacyPickler(handle, torch).dump(item)
    for storage in storages:
        handle.write(struct.pack("<q", storage.values.size))
        handle.write(storage.values.astype(storage.values.dtype.newbyteorder("<")).tobytes())
    return handle.getvalue()


@pytest.fixture
def weights():
    matrix = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    shared = Storage("140001", matrix)
    counts = Storage("140002", np.array([7, -3, 2 ** 40], dtype=np.int64))
    state = {
        "layer.weight": Tensor(shared, 0, (3, 4), (4, 1)),
        "layer.weight_t": Tensor(shared, 0, (4, 3), (1, 4)),        # a transposed view of the same storage
        "layer.row": Tensor(shared, 5, (3,), (1,)),                 # offset into it
        "layer.column": Tensor(shared, 2, (3,), (4,)),              # strided
        "bn.num_batches_tracked": Tensor(counts, 2, (), ()),        # a scalar
        "counts": Tensor(counts, 0, (3,), (1,)),
    }
    return matrix, state


def test_read_state_dict_round_trips_values_views_and_dtypes(weights):
    matrix, state = weights

    read = torch_legacy.read_state_dict(legacy_bytes(state))

    assert list(read) == list(state)
    np.testing.assert_array_equal(read["layer.weight"], matrix)
    np.testing.assert_array_equal(read["layer.weight_t"], matrix.T)
    np.testing.assert_array_equal(read["layer.row"], matrix.ravel()[5:8])
    np.testing.assert_array_equal(read["layer.column"], matrix[:, 2])
    assert read["layer.weight"].dtype == np.float32 and read["counts"].dtype == np.int64
    np.testing.assert_array_equal(read["counts"], [7, -3, 2 ** 40])
    assert read["bn.num_batches_tracked"].shape == () and int(read["bn.num_batches_tracked"]) == 2 ** 40
    assert read["layer.weight_t"].flags["C_CONTIGUOUS"]


def test_read_state_dict_skips_entries_that_are_not_tensors(weights):
    _, state = weights

    read = torch_legacy.read_state_dict(legacy_bytes({**state, "_metadata": {"version": 1}}))

    assert "_metadata" not in read and len(read) == len(state)


# --- what it refuses -------------------------------------------------------------------------------------

def test_read_state_dict_refuses_every_truncation(weights):
    data = legacy_bytes(weights[1])

    for length in range(len(data)):
        with pytest.raises(torch_legacy.LegacyFormatError):
            torch_legacy.read_state_dict(data[:length])


def test_read_state_dict_refuses_trailing_bytes(weights):
    with pytest.raises(torch_legacy.LegacyFormatError, match="trailing"):
        torch_legacy.read_state_dict(legacy_bytes(weights[1]) + b"\x00")


@pytest.mark.parametrize("magic, protocol_version, message", [
    (0x1950A86A20F9469CFC6D, 1001, "magic number"),
    (torch_legacy.LEGACY_MAGIC_NUMBER, 1000, "protocol version"),
], ids=["wrong-magic-number", "wrong-protocol-version"])
def test_read_state_dict_refuses_another_format(weights, magic, protocol_version, message):
    with pytest.raises(torch_legacy.LegacyFormatError, match=message):
        torch_legacy.read_state_dict(legacy_bytes(weights[1], magic=magic, protocol_version=protocol_version))


def test_read_state_dict_refuses_a_zip_format_file():
    with pytest.raises(torch_legacy.LegacyFormatError):
        torch_legacy.read_state_dict(b"PK\x03\x04" + b"\x00" * 60)


def _calling(module: str, name: str, argument: str) -> bytes:
    """A protocol-2 pickle that calls module.name(argument) when loaded by a plain unpickler."""
    encoded = argument.encode()
    return (b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X" + struct.pack("<I", len(encoded)) + encoded
            + b"\x85R.")


@pytest.mark.parametrize("module, name, command", [
    ("os", "system", "touch {marker}"),
    ("posix", "system", "touch {marker}"),
    ("builtins", "exec", "open({marker!r}, 'w').close()"),
], ids=["os.system", "posix.system", "builtins.exec"])
@pytest.mark.parametrize("position", [0, 3], ids=["instead-of-the-magic-number", "instead-of-the-state-dict"])
def test_read_state_dict_refuses_other_globals_and_runs_nothing(tmp_path, module, name, command, position):
    marker = tmp_path / "ran"
    payload = _calling(module, name, command.format(marker=str(marker)))
    pickles = [pickle.dumps(torch_legacy.LEGACY_MAGIC_NUMBER, protocol=2), pickle.dumps(1001, protocol=2),
               pickle.dumps(SYS_INFO, protocol=2), pickle.dumps({}, protocol=2), pickle.dumps([], protocol=2)]
    pickles[position] = payload
    assert pickle.loads(_calling("builtins", "len", "four")) == 4  # the payload is a working call

    with pytest.raises(torch_legacy.LegacyFormatError, match=f"refusing to load {module}.{name}"):
        torch_legacy.read_state_dict(b"".join(pickles))

    assert not marker.exists()


def test_read_state_dict_refuses_an_unknown_persistent_id():
    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("module", "os") if obj == "hook" else None

    handle = io.BytesIO()
    for item in (torch_legacy.LEGACY_MAGIC_NUMBER, 1001, SYS_INFO, {"weight": "hook"}, []):
        Pickler(handle, protocol=2).dump(item)

    with pytest.raises(torch_legacy.LegacyFormatError, match="persistent id"):
        torch_legacy.read_state_dict(handle.getvalue())
