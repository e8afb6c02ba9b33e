"""Built indexes kept on disk, so that a new process answers without reading every vector.

A ``CachedIndex`` snapshot is a set of numpy arrays. Each version is written as a folder
of ``.npy`` files plus ``header.json`` (kind, recipe, the library's identity and change
counter, every array's shape and dtype, and what each file's signature was), beside the
library (``<library>.index/``) or, where that folder cannot be written, in the user's
cache folder under a name made from the library's path and inode. Opening maps the
arrays (``np.load(mmap_mode="r")``): pages are read when a query touches them, and the
operating system may drop them again under memory pressure.

Versions are immutable: a writer fills a temporary folder and renames it into place
(``<kind>-<count>-<token>``), then removes older versions. A reader that mapped an older
version keeps reading it (an unlinked file lives on while mapped; where the system
refuses to delete it, a later writer retries). Anything that does not match the header
(missing or short files, other shapes, another recipe or library) is not trusted: the
caller builds again, as if there were nothing on disk.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import secrets
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app import config

FORMAT = 1  # the layout of a version folder (header keys, file names)
HEADER = "header.json"
TMP_PREFIX = ".tmp-"
STALE_TMP_SECONDS = 3600  # a temporary folder this old belongs to a writer that died


@dataclass
class Loaded:
    folder: Path
    count: int
    meta: dict
    arrays: dict[str, np.ndarray]
    signature_ids: np.ndarray  # [k] int64 file ids
    signature_digests: np.ndarray  # [k] int64, ``digest`` of each file's signature


def digest(signature: object) -> int:
    """A stable 64-bit digest of a file's signature (a string or a tuple of plain values):
    the same in every process, unlike ``hash``."""
    text = repr(signature).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little", signed=True)


def beside(library: Path) -> Path:
    return library.with_name(library.name + ".index")


def elsewhere(library: Path) -> Path:
    """For a library whose folder is read-only: the user's cache folder, keyed by the
    library's resolved path and inode (a replaced file is another library)."""
    resolved = library.resolve()
    try:
        inode = resolved.stat().st_ino
    except OSError:
        inode = 0
    key = hashlib.blake2b(f"{resolved}\0{inode}".encode("utf-8", "surrogatepass"),
                          digest_size=8).hexdigest()
    return config.cache_dir() / "indexes" / f"{resolved.stem[:40]}-{key}"


def folders(library: Path) -> list[Path]:
    return [beside(library), elsewhere(library)]


# ---- reading --------------------------------------------------------------------------
def load(library: Path, kind: str, recipe: int, identity: int, count: int) -> Loaded | None:
    """The newest valid version of ``kind`` no newer than ``count`` (None if there is
    none). Damaged versions are removed on the way."""
    for _ in range(2):  # again if a writer replaced a version while it was being opened
        vanished = False
        for folder in _versions(library, kind, count):
            loaded = _open(folder, kind, recipe, identity)
            if loaded is _VANISHED:
                vanished = True
            elif loaded is not None:
                return loaded
        if not vanished:
            break
    return None


def _versions(library: Path, kind: str, count: int) -> list[Path]:
    """Version folders of ``kind`` up to ``count``, newest first."""
    found = []
    for parent in folders(library):
        try:
            entries = list(parent.iterdir())
        except OSError:
            continue
        for entry in entries:
            name = entry.name.split("-")
            if len(name) == 3 and name[0] == kind and name[1].isdigit() \
                    and int(name[1]) <= count:
                found.append((int(name[1]), entry))
    return [folder for _, folder in sorted(found, key=lambda f: -f[0])]


_VANISHED = object()


def _open(folder: Path, kind: str, recipe: int, identity: int) -> Loaded | None:
    try:
        header = json.loads((folder / HEADER).read_text())
        if (header.get("format"), header.get("kind"), header.get("recipe"),
                header.get("identity")) != (FORMAT, kind, recipe, identity):
            return None  # another recipe or library: not damaged, just not ours to use
        arrays = {name: _map(folder / f"{name}.npy", tuple(shape), np.dtype(dtype))
                  for name, (shape, dtype) in header["arrays"].items()}
        ids, digests = arrays.pop("_signature_ids"), arrays.pop("_signature_digests")
        if ids.shape != digests.shape or ids.dtype != np.int64:
            raise ValueError("signature arrays differ")
        return Loaded(folder, int(header["count"]), dict(header.get("meta", {})), arrays,
                      ids, digests)
    except FileNotFoundError:
        return _VANISHED  # removed by a writer meanwhile: a newer version exists
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError):
        remove(folder)  # damaged: never trusted, and out of the way of the next reader
        return None


def _map(path: Path, shape: tuple, dtype: np.dtype) -> np.ndarray:
    if int(np.prod(shape)) == 0:
        # An empty file cannot be mapped; an empty array needs no file contents.
        with open(path, "rb") as f:
            np.lib.format.read_magic(f)
        return np.zeros(shape, dtype)
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    if array.shape != shape or array.dtype != dtype:
        raise ValueError(f"{path.name}: {array.shape} {array.dtype}, header says {shape} {dtype}")
    return array


# ---- writing --------------------------------------------------------------------------
def save(library: Path, kind: str, recipe: int, identity: int, count: int,
         arrays: dict[str, np.ndarray | Linked], meta: dict,
         signature: dict[int, int]) -> Path | None:
    """Write a version; the folder it went to, or None where no folder could be written
    (a read-only library folder and cache folder: the index then lives in memory only).
    ``Linked`` arrays are linked from the version that holds them."""
    if "-" in kind:  # it separates the parts of a version's name (``_versions``)
        raise ValueError(f"an index kind without '-': {kind!r}")
    arrays = {**arrays, **_signature_arrays(signature)}
    for parent in folders(library):
        try:
            folder = _write(parent, kind, recipe, identity, count, arrays, meta)
        except OSError:
            continue
        prune(parent, kind, keep=folder)
        return folder
    return None


def _write(parent: Path, kind: str, recipe: int, identity: int, count: int,
           arrays: dict[str, np.ndarray | Linked], meta: dict) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(4)
    tmp = parent / f"{TMP_PREFIX}{kind}-{token}"
    tmp.mkdir()
    try:
        header = {"format": FORMAT, "kind": kind, "recipe": recipe, "identity": identity,
                  "count": count, "meta": meta, "arrays": {}}
        for name, array in arrays.items():
            if isinstance(array, Linked):
                if not _link(array.path, tmp / f"{name}.npy"):
                    np.save(tmp / f"{name}.npy", np.ascontiguousarray(array.array),
                            allow_pickle=False)
                array = array.array
            else:
                array = np.ascontiguousarray(array)
                np.save(tmp / f"{name}.npy", array, allow_pickle=False)
            header["arrays"][name] = [list(array.shape), array.dtype.str]
        # The header last: a folder with one is complete.
        (tmp / HEADER).write_text(json.dumps(header))
        final = parent / f"{kind}-{count}-{token}"
        os.replace(tmp, final)
        return final
    except BaseException:
        remove(tmp)
        raise


@dataclass
class Linked:
    """An array an earlier version holds, mapped from its ``path``: a new version links
    that file (copies it where links fail) instead of writing the array again, so a
    version that adds a few rows to a large array writes only those. Where the file is
    gone (its version was pruned meanwhile), the mapped ``array`` is written."""

    path: Path
    array: np.ndarray

    @staticmethod
    def of(array: np.ndarray) -> np.ndarray | Linked:
        """``array`` as mapped whole from a version's file (``load``), else itself: a
        slice or a copy of a mapped array is written like any array."""
        if isinstance(array, np.memmap) and array.filename \
                and isinstance(array.base, mmap.mmap):
            return Linked(Path(array.filename), array)
        return array


def _signature_arrays(signature: dict[int, int]) -> dict[str, np.ndarray]:
    """What each file's signature was (file id -> digest), as the two arrays stored."""
    return {"_signature_ids": np.fromiter(signature.keys(), np.int64, len(signature)),
            "_signature_digests": np.fromiter(signature.values(), np.int64, len(signature))}


def _link(source: Path, target: Path) -> bool:
    try:
        os.link(source, target)
        return True
    except OSError:
        pass
    try:
        shutil.copyfile(source, target)
        return True
    except OSError:
        return False


def relabel(folder: Path, count: int, signature: dict[int, int]) -> Path | None:
    """A new version with the arrays of ``folder`` (hard links where the system allows,
    else copies) under a new count and signature: the counter moved, the index did not."""
    try:
        header = json.loads((folder / HEADER).read_text())
    except (OSError, ValueError):
        return None  # replaced meanwhile: the caller writes it whole
    parent, kind = folder.parent, header["kind"]
    tmp = parent / f"{TMP_PREFIX}{kind}-{secrets.token_hex(4)}"
    try:
        tmp.mkdir()
        for name in header["arrays"]:
            if name.startswith("_signature"):
                continue
            if not _link(folder / f"{name}.npy", tmp / f"{name}.npy"):
                raise OSError(f"{name}.npy could be neither linked nor copied")
        for name, array in _signature_arrays(signature).items():
            np.save(tmp / f"{name}.npy", array, allow_pickle=False)
            header["arrays"][name] = [list(array.shape), array.dtype.str]
        header["count"] = count
        (tmp / HEADER).write_text(json.dumps(header))
        final = parent / f"{kind}-{count}-{tmp.name.rsplit('-', 1)[1]}"
        os.replace(tmp, final)
    except OSError:
        remove(tmp)
        return None
    prune(parent, kind, keep=final)
    return final


def prune(parent: Path, kind: str, keep: Path) -> None:
    """Remove the other versions of ``kind`` and temporary folders of dead writers."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry == keep:
            continue
        if entry.name.startswith(f"{kind}-"):
            remove(entry)
        elif entry.name.startswith(TMP_PREFIX):
            try:
                old = time.time() - entry.stat().st_mtime > STALE_TMP_SECONDS
            except OSError:
                continue
            if old:
                remove(entry)


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


# ---- strings as arrays ------------------------------------------------------------------
class Strings(Sequence):
    """A list of strings held as one UTF-8 byte array and end offsets: stored and mapped
    like any array, decoded one item at a time (lone surrogates, from file names that are
    not UTF-8, survive: ``surrogatepass``)."""

    def __init__(self, data: np.ndarray, ends: np.ndarray):
        self.data, self.ends = data, ends

    @staticmethod
    def of(items: Sequence[str]) -> Strings:
        if isinstance(items, Strings):
            return items
        encoded = [s.encode("utf-8", "surrogatepass") for s in items]
        ends = np.cumsum([len(b) for b in encoded], dtype=np.int64)
        return Strings(np.frombuffer(b"".join(encoded), np.uint8).copy(), ends)

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self.ends)
        if not 0 <= i < len(self.ends):
            raise IndexError(i)
        lo = int(self.ends[i - 1]) if i else 0
        return bytes(self.data[lo:int(self.ends[i])]).decode("utf-8", "surrogatepass")

    def __iter__(self):
        raw = bytes(self.data)
        lo = 0
        for hi in self.ends.tolist():
            yield raw[lo:hi].decode("utf-8", "surrogatepass")
            lo = hi


class Ragged(Sequence):
    """A list of integer arrays held as one array and offsets (``ptr``, one more entry)."""

    def __init__(self, ptr: np.ndarray, values: np.ndarray):
        self.ptr, self.values = ptr, values

    @staticmethod
    def of(items: Sequence[np.ndarray], dtype=np.int64) -> Ragged:
        if isinstance(items, Ragged):
            return items
        ptr = np.concatenate([[0], np.cumsum([len(a) for a in items], dtype=np.int64)])
        values = np.concatenate([np.asarray(a, dtype) for a in items]) if len(items) \
            else np.zeros(0, dtype)
        return Ragged(ptr.astype(np.int64), values.astype(dtype, copy=False))

    def __len__(self) -> int:
        return len(self.ptr) - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.values[int(self.ptr[i]):int(self.ptr[i + 1])]


class CodedStrings(Sequence):
    """A list of strings (or None) with few distinct values: a code per item (-1: None)
    into a table of the distinct ones."""

    def __init__(self, codes: np.ndarray, table: Strings):
        self.codes, self.table = codes, table

    @staticmethod
    def of(items: Sequence[str | None]) -> CodedStrings:
        if isinstance(items, CodedStrings):
            return items
        distinct: dict[str, int] = {}
        codes = np.array([-1 if s is None else distinct.setdefault(s, len(distinct))
                          for s in items], np.int32)
        return CodedStrings(codes, Strings.of(list(distinct)))

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        code = int(self.codes[i])
        return None if code < 0 else self.table[code]

    def __iter__(self):
        table = list(self.table)
        return (None if c < 0 else table[c] for c in self.codes.tolist())
