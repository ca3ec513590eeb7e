"""Read a state dict saved by torch.save in torch's legacy (pre-1.6, non-zip) format, without torch.

The format is five pickles in a row, then raw bytes:
  magic number, protocol version, sys info      three small pickles
  the state dict                                 tensors pickled as torch._utils._rebuild_tensor_v2(
                                                 storage, offset, size, stride, ...) calls, whose
                                                 storages are persistent ids
                                                 ('storage', <torch.XStorage>, key, location, numel[, view])
  the storage keys                               a list, in the order the storages follow
  each storage                                   an int64 little-endian element count, then its data

Only the few globals such a file names are resolved (the rest is refused), so reading a file runs
none of its code. numpy and the standard library only; runs on the SageMaker containers' Python 3.8.
"""
import collections
import io
import pickle
import struct

import numpy as np

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
SUPPORTED_PROTOCOL_VERSION = 1001

STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class LegacyFormatError(ValueError):
    """The bytes are not a torch legacy-format state dict this reader understands."""


class _StorageType:
    def __init__(self, name):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


class _Storage:
    """A storage named by the state dict; its data arrives after the pickles."""

    def __init__(self, key, dtype, numel):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.data = None


class _TensorView:
    """What _rebuild_tensor_v2 describes: a strided view into a storage, resolved once data is read."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def to_numpy(self) -> np.ndarray:
        data = self.storage.data
        if not self.size:
            return data[self.offset:self.offset + 1].reshape(()).copy()
        itemsize = data.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset:], shape=self.size, strides=[step * itemsize for step in self.stride])
        return np.ascontiguousarray(view)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *unused):
    return _TensorView(storage, storage_offset, size, stride)


class _Unpickler(pickle.Unpickler):
    def __init__(self, handle, storages):
        super().__init__(handle)
        self.storages = storages

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise LegacyFormatError(f"refusing to load {module}.{name}: not part of a plain state dict")

    def persistent_load(self, saved_id):
        if not (isinstance(saved_id, tuple) and saved_id and saved_id[0] == "storage"):
            raise LegacyFormatError(f"unknown persistent id {saved_id!r}")
        # Older files append view metadata (None unless a storage is shared between views).
        _, storage_type, key, _location, numel = saved_id[:5]
        if key not in self.storages:
            self.storages[key] = _Storage(key, storage_type.dtype, numel)
        return self.storages[key]


def read_state_dict(data: bytes) -> "collections.OrderedDict[str, np.ndarray]":
    """{parameter name: numpy array} from the bytes of a legacy-format torch.save file."""
    handle = io.BytesIO(data)
    storages = {}
    unpickler = _Unpickler(handle, storages)
    try:
        if unpickler.load() != LEGACY_MAGIC_NUMBER:
            raise LegacyFormatError("not a torch legacy-format file (wrong magic number)")
        if unpickler.load() != SUPPORTED_PROTOCOL_VERSION:
            raise LegacyFormatError("unsupported torch legacy protocol version")
        unpickler.load()  # sys info: endianness and type sizes, little-endian on every torch build we read
        state = unpickler.load()
        keys = unpickler.load()
    except (pickle.UnpicklingError, EOFError, struct.error) as error:
        raise LegacyFormatError(f"not a readable torch legacy-format file: {error}") from error
    for key in keys:
        storage = storages.get(key)
        header = handle.read(8)
        if storage is None or len(header) != 8:
            raise LegacyFormatError(f"storage {key!r} is missing or truncated")
        (numel,) = struct.unpack("<q", header)
        size = numel * np.dtype(storage.dtype).itemsize
        raw = handle.read(size)
        if numel != storage.numel or len(raw) != size:
            raise LegacyFormatError(f"storage {key!r} is truncated ({len(raw)} of {size} bytes)")
        storage.data = np.frombuffer(raw, dtype=np.dtype(storage.dtype).newbyteorder("<"))
    if handle.read(1):
        raise LegacyFormatError("trailing bytes after the last storage")
    if not isinstance(state, dict):
        raise LegacyFormatError("the file holds no state dict")
    return collections.OrderedDict(
        (name, value.to_numpy()) for name, value in state.items() if isinstance(value, _TensorView))
