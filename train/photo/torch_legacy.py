"""Read a PyTorch state dict (``torch.save`` file) into numpy arrays, without PyTorch.

Two formats: the legacy one (PyTorch < 1.6, or ``_use_new_zipfile_serialization=False``): a
magic-number pickle, a protocol pickle, a sys-info pickle, the main pickle (tensors refer to
storages by persistent id), a pickle listing the storage keys, then each storage's raw bytes
after an 8-byte little-endian element count; and the zip one (``archive/data.pkl`` plus one
file per storage under ``archive/data/``).

A checkpoint is a pickle, and unpickling calls whatever the pickle names. The unpickler here
resolves only the names a state dict of tensors needs (``collections.OrderedDict``,
``torch._utils._rebuild_tensor_v2``, the ``torch.*Storage`` types, all replaced by harmless
stand-ins) and refuses every other with :class:`CheckpointError`.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class CheckpointError(ValueError):
    """The file is not a state dict of tensors this reader accepts (or is damaged)."""


@dataclass(frozen=True)
class _StorageType:
    """Stands in for ``torch.FloatStorage`` and its kin: only its element type matters."""

    name: str
    dtype: type


@dataclass
class _Storage:
    """A storage named in the pickle; ``data`` (1-D) is filled in once its bytes are read."""

    dtype: type
    numel: int
    data: np.ndarray | None = None


@dataclass(frozen=True)
class _StorageView:
    """A (legacy) storage that is a slice of a root storage, or the whole of it."""

    root: _Storage
    offset: int
    numel: int


@dataclass(frozen=True)
class _Tensor:
    """What ``_rebuild_tensor_v2`` was asked to build: a strided view of a storage."""

    storage: _StorageView
    offset: int
    size: tuple
    stride: tuple


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None) -> _Tensor:
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: records the view, builds nothing."""
    if not isinstance(storage, _StorageView):
        raise CheckpointError(f"a tensor refers to {type(storage).__name__}, not to a storage")
    return _Tensor(storage, int(storage_offset), tuple(int(n) for n in size),
                   tuple(int(s) for s in stride))


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals of a state dict; storages are collected into ``storages``."""

    def __init__(self, file, storages: dict[str, _Storage], zip_format: bool):
        super().__init__(file)
        self.storages = storages
        self.zip_format = zip_format

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return _ALLOWED[module, name]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name, STORAGE_DTYPES[name])
        raise CheckpointError(
            f"refused global {module}.{name}: a state dict of tensors needs only "
            "collections.OrderedDict, torch._utils._rebuild_tensor_v2 and torch.*Storage")

    def persistent_load(self, pid):
        # legacy: ('storage', type, root_key, location, root_numel, view_metadata or None)
        # zip:    ('storage', type, key, location, numel)
        fields = 5 if self.zip_format else 6
        if not (isinstance(pid, tuple) and len(pid) == fields and pid[0] == "storage"):
            kind = pid[0] if isinstance(pid, tuple) and pid else type(pid).__name__
            raise CheckpointError(f"refused persistent id {kind!r}: only storages are allowed")
        storage_type, key, numel = pid[1], str(pid[2]), pid[4]
        if not isinstance(storage_type, _StorageType) or not isinstance(numel, int) or numel < 0:
            raise CheckpointError(f"malformed storage reference for key {key!r}")
        root = self.storages.setdefault(key, _Storage(storage_type.dtype, numel))
        if root.dtype is not storage_type.dtype or root.numel != numel:
            raise CheckpointError(f"storage {key!r} is named twice with different types or sizes")
        view = None if self.zip_format else pid[5]
        if view is None:
            return _StorageView(root, 0, numel)
        _view_key, offset, view_numel = view
        if not (0 <= offset and 0 <= view_numel and offset + view_numel <= numel):
            raise CheckpointError(f"storage view {offset}+{view_numel} outside storage {key!r} "
                                  f"of {numel} elements")
        return _StorageView(root, int(offset), int(view_numel))


def _unpickle(stream, storages: dict[str, _Storage], zip_format: bool = False):
    return _RestrictedUnpickler(stream, storages, zip_format).load()


def _read_legacy(stream) -> tuple[object, dict[str, _Storage]]:
    storages: dict[str, _Storage] = {}
    magic = _unpickle(stream, storages)
    if magic != LEGACY_MAGIC:
        raise CheckpointError("not a PyTorch checkpoint (no legacy magic number, not a zip file)")
    protocol = _unpickle(stream, storages)
    if protocol != LEGACY_PROTOCOL:
        raise CheckpointError(f"legacy protocol {protocol}, expected {LEGACY_PROTOCOL}")
    sys_info = _unpickle(stream, storages)
    if not (isinstance(sys_info, dict) and sys_info.get("little_endian") is True):
        raise CheckpointError(f"written on a big-endian machine or sys info missing: {sys_info!r}")
    result = _unpickle(stream, storages)
    keys = _unpickle(stream, storages)
    if not isinstance(keys, list) or set(map(str, keys)) != set(storages):
        raise CheckpointError("the storage key list does not match the storages the tensors use")
    for key in map(str, keys):
        storage = storages[key]
        count = int.from_bytes(_read_exactly(stream, 8, f"storage {key} size"), "little")
        if count != storage.numel:
            raise CheckpointError(f"storage {key} holds {count} elements, expected {storage.numel}")
        nbytes = count * np.dtype(storage.dtype).itemsize
        storage.data = np.frombuffer(_read_exactly(stream, nbytes, f"storage {key}"), storage.dtype)
    return result, storages


def _read_exactly(stream, n: int, what: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise CheckpointError(f"truncated: {what} needs {n} bytes, {len(data)} left")
    return data


def _read_zip(archive: zipfile.ZipFile) -> tuple[object, dict[str, _Storage]]:
    pickles = [name for name in archive.namelist() if name.endswith("/data.pkl")]
    if len(pickles) != 1:
        raise CheckpointError(f"zip checkpoint has {len(pickles)} data.pkl files, expected 1")
    prefix = pickles[0][: -len("data.pkl")]
    if f"{prefix}byteorder" in archive.namelist():
        order = archive.read(f"{prefix}byteorder").decode("ascii", "replace")
        if order != "little":
            raise CheckpointError(f"byte order {order!r}, expected 'little'")
    storages: dict[str, _Storage] = {}
    result = _unpickle(io.BytesIO(archive.read(pickles[0])), storages, zip_format=True)
    for key, storage in storages.items():
        try:
            raw = archive.read(f"{prefix}data/{key}")
        except KeyError:
            raise CheckpointError(f"storage {key} is missing from the archive") from None
        nbytes = storage.numel * np.dtype(storage.dtype).itemsize
        if len(raw) != nbytes:
            raise CheckpointError(f"storage {key} has {len(raw)} bytes, expected {nbytes}")
        storage.data = np.frombuffer(raw, storage.dtype)
    return result, storages


def _materialize(name: str, tensor: _Tensor) -> np.ndarray:
    """The tensor's values as an owned, C-contiguous array, after checking its view fits."""
    view = tensor.storage
    if (len(tensor.size) != len(tensor.stride) or tensor.offset < 0
            or min(tensor.size + tensor.stride, default=0) < 0):
        raise CheckpointError(f"tensor {name}: bad offset {tensor.offset}, size {tensor.size} "
                              f"or stride {tensor.stride}")
    if 0 not in tensor.size:
        last = tensor.offset + sum((n - 1) * s for n, s in zip(tensor.size, tensor.stride))
        if last >= view.numel:
            raise CheckpointError(f"tensor {name}: reaches element {last} of a storage of "
                                  f"{view.numel}")
    base = view.root.data[view.offset + tensor.offset: view.offset + view.numel]
    strides = tuple(s * base.itemsize for s in tensor.stride)
    return np.array(np.lib.stride_tricks.as_strided(base, tensor.size, strides), order="C")


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read the state dict saved at ``path`` (legacy or zip ``torch.save`` format) as
    ``{name: array}``, in the file's order.

    Raises :class:`CheckpointError` (a ``ValueError``), naming the file, for anything that is
    not a flat dict of tensors: a refused global, a damaged or truncated file, a bad view.
    """
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                result, _ = _read_zip(archive)
        else:
            with open(path, "rb") as stream:
                result, _ = _read_legacy(stream)
        if not isinstance(result, dict):
            raise CheckpointError(f"holds a {type(result).__name__}, expected a state dict")
        arrays = {}
        for key, value in result.items():
            if not isinstance(value, _Tensor):
                raise CheckpointError(f"entry {key!r} is a {type(value).__name__}, not a tensor")
            arrays[str(key)] = _materialize(str(key), value)
        return arrays
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError, IndexError,
            KeyError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path}: damaged checkpoint ({type(exc).__name__}: {exc})") from None
