"""Read a PyTorch state dict saved in the legacy (pre-zip, torch < 1.6) format, without torch.

The legacy file is a run of pickles followed by raw storage bytes:

1. the magic number, 2. the protocol version (1001), 3. system info (endianness, type sizes),
4. the state dict itself, whose tensors refer to storages by persistent id,
5. the list of storage keys in the order their bytes follow, then for each storage an
   8-byte little-endian element count and the raw elements.

A pickle can run arbitrary code, so the unpickler resolves only the handful of globals a
state dict needs and refuses everything else before it is called.
"""

from __future__ import annotations

import collections
import io
import pickle
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# Storage class name -> numpy dtype of its elements (explicitly little-endian on disk).
STORAGE_DTYPES: dict[str, np.dtype] = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class LegacyFormatError(ValueError):
    """The file is not a legacy PyTorch state dict, or holds something we refuse to load."""


@dataclass(frozen=True)
class _StorageType:
    name: str
    dtype: np.dtype


@dataclass
class _Storage:
    key: str
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None  # filled in once the raw bytes after the pickles are read


@dataclass(frozen=True)
class _StorageView:
    """A slice of a root storage; old torch versions pickled these as their own storages."""

    root: _Storage
    offset: int
    numel: int


@dataclass(frozen=True)
class _PendingTensor:
    """A tensor whose storage bytes are not read yet; resolved after the storage section."""

    storage: _Storage | _StorageView
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored) -> _PendingTensor:
    # _rebuild_tensor_v2 also receives requires_grad, backward hooks and (newer) metadata:
    # none of them matter for inference weights.
    if not isinstance(storage, _Storage | _StorageView):
        raise LegacyFormatError(f"tensor built from {type(storage).__name__}, not a storage")
    return _PendingTensor(storage, int(storage_offset), tuple(int(s) for s in size),
                          tuple(int(s) for s in stride))


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], storages: dict[str, _Storage] | None = None):
        super().__init__(file)
        self.storages = storages if storages is not None else {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name, STORAGE_DTYPES[name])
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise LegacyFormatError(
                f"refusing to load {module}.{name}: only plain tensors in an OrderedDict "
                f"are allowed in a state dict") from None

    def persistent_load(self, pid: Any) -> _Storage | _StorageView:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage" and len(pid) in (5, 6)):
            raise LegacyFormatError(f"unexpected persistent id {pid!r}")
        storage_type, key, _location, numel = pid[1:5]
        view_metadata = pid[5] if len(pid) == 6 else None
        if not isinstance(storage_type, _StorageType):
            raise LegacyFormatError(f"persistent id names {storage_type!r}, not a storage type")
        key = str(key)
        root = self.storages.get(key)
        if root is None:
            root = self.storages[key] = _Storage(key, storage_type.dtype, int(numel))
        elif root.dtype != storage_type.dtype:
            raise LegacyFormatError(f"storage {key} used with two element types")
        if view_metadata is None:
            return root
        _view_key, view_offset, view_numel = view_metadata
        return _StorageView(root, int(view_offset), int(view_numel))


def _load_plain(f: IO[bytes]) -> Any:
    """Unpickle a header pickle: no globals or persistent ids expected."""
    return _RestrictedUnpickler(f).load()


def _read_exact(f: IO[bytes], n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise LegacyFormatError(f"file ends inside {what} ({len(data)} of {n} bytes)")
    return data


def _materialize(t: _PendingTensor) -> np.ndarray:
    if isinstance(t.storage, _StorageView):
        root = t.storage.root
        base = root.data[t.storage.offset:t.storage.offset + t.storage.numel]
    else:
        root = t.storage
        base = root.data
    itemsize = base.dtype.itemsize
    if len(t.shape) != len(t.stride) or min(t.stride, default=0) < 0 or t.offset < 0:
        raise LegacyFormatError(f"tensor with shape {t.shape} has bad strides {t.stride}")
    # as_strided does no bounds checking, so a corrupt file must not make it read past the end.
    if all(n > 0 for n in t.shape):
        last = t.offset + sum((n - 1) * s for n, s in zip(t.shape, t.stride, strict=True))
        if last >= base.size:
            raise LegacyFormatError(f"tensor reaches past the end of storage {root.key}")
    view = np.lib.stride_tricks.as_strided(
        base[t.offset:], shape=t.shape, strides=tuple(s * itemsize for s in t.stride),
        writeable=False)
    # Copy so the result owns contiguous memory and does not pin the whole storage
    # (np.array, not ascontiguousarray, which would turn 0-d scalars into 1-d arrays).
    return np.array(view, dtype=base.dtype.newbyteorder("="), order="C", copy=True)


def _resolve(obj: Any) -> Any:
    if isinstance(obj, _PendingTensor):
        return _materialize(obj)
    if isinstance(obj, dict):
        return {k: _resolve(v) for k, v in obj.items()}
    return obj


def load_state_dict(source: bytes | IO[bytes]) -> dict[str, np.ndarray]:
    """Parse a legacy ``.pth`` state dict (bytes or a binary file) into name -> array."""
    f = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    try:
        magic = _load_plain(f)
        if magic != MAGIC_NUMBER:
            raise LegacyFormatError("not a legacy PyTorch file (wrong magic number); "
                                    "zip-format checkpoints are not supported here")
        protocol = _load_plain(f)
        if protocol != PROTOCOL_VERSION:
            raise LegacyFormatError(f"unsupported legacy protocol version {protocol!r}")
        sys_info = _load_plain(f)
        if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
            raise LegacyFormatError("only little-endian legacy files are supported")

        storages: dict[str, _Storage] = {}
        state = _RestrictedUnpickler(f, storages).load()
        keys = _load_plain(f)
    except LegacyFormatError:
        raise
    except Exception as exc:  # any failure on untrusted bytes just means "malformed"
        raise LegacyFormatError(f"malformed legacy PyTorch file: {exc!r}") from exc

    if not isinstance(state, dict):
        raise LegacyFormatError(f"expected a state dict, found {type(state).__name__}")
    if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(storages):
        raise LegacyFormatError("storage key list does not match the storages the tensors use")

    for key in keys:
        storage = storages[str(key)]
        numel = int.from_bytes(_read_exact(f, 8, f"the size of storage {key}"), "little")
        if numel != storage.numel:
            raise LegacyFormatError(f"storage {key} holds {numel} elements, "
                                    f"the pickle says {storage.numel}")
        raw = _read_exact(f, numel * storage.dtype.itemsize, f"storage {key}")
        storage.data = np.frombuffer(raw, dtype=storage.dtype)

    result = _resolve(state)
    for name, value in result.items():
        if not isinstance(name, str) or not isinstance(value, np.ndarray):
            raise LegacyFormatError(f"state dict entry {name!r} is not a named tensor")
    return result
