"""Bulk reads of vectors for search, similarity, albums and duplicates.

One query per call (or per chunk of ids), BLOBs stacked into one float16 matrix: scoring
happens in numpy. Whole-library reads return only indexed files that are present (not
missing or offline); reads by file id return what those files have.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.store.library import Library

_COLUMNS = {"fused", "visual", "audio"}
_PRESENT = "f.status = 'indexed' AND f.presence = 'present'"
ID_CHUNK = 900  # ids per IN (...) list: under SQLite's bound-parameter limit everywhere
# ``clip_columns`` looks ids up one by one when they fill less than 1/SPARSE of their
# range: a row found by its key costs about what a few rows scanned in order do.
SPARSE = 4


@dataclass
class ClipMatrix:
    file_ids: np.ndarray  # [n] int64
    vectors: np.ndarray  # [n, d] float16, L2-normed rows (zeros where a modality is absent)


@dataclass
class SegmentMatrix:
    segment_ids: np.ndarray  # [m] int64
    file_ids: np.ndarray  # [m] int64
    starts: np.ndarray  # [m] float32
    ends: np.ndarray  # [m] float32
    vectors: np.ndarray  # [m, d] float16


def stack(blobs: list[bytes | None], dim: int | None = None) -> np.ndarray:
    """float16 BLOBs of equal length as rows of one matrix; None rows are zeros."""
    known = next((b for b in blobs if b is not None), None)
    if dim is None:
        dim = len(known) // 2 if known is not None else 0
    if known is not None and all(b is not None for b in blobs):
        return np.frombuffer(b"".join(blobs), np.float16).reshape(len(blobs), dim)
    out = np.zeros((len(blobs), dim), np.float16)
    for i, b in enumerate(blobs):
        if b is not None:
            out[i] = np.frombuffer(b, np.float16)
    return out


def clip_matrix(lib: Library, kind: str = "fused") -> ClipMatrix:
    if kind not in _COLUMNS:
        raise ValueError(kind)
    rows = lib.conn.execute(
        f"SELECT c.file_id, c.{kind} FROM clips c JOIN files f ON f.id = c.file_id "
        f"WHERE {_PRESENT} ORDER BY c.file_id").fetchall()
    return ClipMatrix(np.array([r[0] for r in rows], np.int64), stack([r[1] for r in rows]))


def segment_matrix(lib: Library, kind: str = "fused") -> SegmentMatrix:
    if kind not in _COLUMNS:
        raise ValueError(kind)
    rows = lib.conn.execute(
        f"SELECT s.id, s.file_id, s.start, s.end, s.{kind} FROM segments s "
        f"JOIN files f ON f.id = s.file_id WHERE {_PRESENT} ORDER BY s.file_id, s.idx"
    ).fetchall()
    return _segment_matrix(rows)


def _segment_matrix(rows: list) -> SegmentMatrix:
    return SegmentMatrix(
        np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64),
        np.array([r[2] for r in rows], np.float32), np.array([r[3] for r in rows], np.float32),
        stack([r[4] for r in rows]))


# ---- reads by file id (candidates, and what changed since a cache was built) -----------
def _chunks(ids) -> list[list[int]]:
    ids = [int(i) for i in ids]
    return [ids[i:i + ID_CHUNK] for i in range(0, len(ids), ID_CHUNK)]


def rows_for_files(lib: Library, sql: str, file_ids) -> list:
    """Rows of ``sql`` (whose ``{ids}`` stands for the ids' placeholders) for these files,
    an IN list of at most ID_CHUNK ids at a time, chunks in ascending id order."""
    rows = []
    for chunk in _chunks(sorted(set(int(i) for i in file_ids))):
        rows += lib.conn.execute(sql.format(ids=",".join("?" * len(chunk))), chunk).fetchall()
    return rows


def clip_vectors(lib: Library, file_ids, kind: str = "fused") -> ClipMatrix:
    """Clip vectors of these files (those that have them), ordered by file id."""
    if kind not in _COLUMNS:
        raise ValueError(kind)
    rows = rows_for_files(lib, f"SELECT file_id, {kind} FROM clips WHERE file_id IN ({{ids}}) "
                          "ORDER BY file_id", file_ids)
    return ClipMatrix(np.array([r[0] for r in rows], np.int64), stack([r[1] for r in rows]))


def clip_columns(lib: Library, file_ids, kinds: tuple[str, ...] = ("visual", "audio"),
                 ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Several vector columns of these files (those that have them), ordered by file id:
    (file ids, one matrix per kind). One pass over the id range instead of an IN list
    per column: for runs of ids (a whole library, a chunk at a time) that is several
    times cheaper, as each row's BLOBs are read together. Ids that are most of their
    range are read by scanning it; sparse ids by key."""
    if not set(kinds) <= _COLUMNS:
        raise ValueError(kinds)
    ids = np.unique(np.asarray(file_ids, np.int64))
    if not len(ids):
        return ids, [np.zeros((0, 0), np.float16) for _ in kinds]
    if SPARSE * len(ids) < ids[-1] - ids[0] + 1:
        # Few ids spread over a large range (a new clip's neighbourhood in a large
        # library): a look-up each costs less than scanning the rows in between.
        rows = rows_for_files(lib, f"SELECT file_id, {', '.join(kinds)} FROM clips "
                              "WHERE file_id IN ({ids}) ORDER BY file_id", ids)
    else:
        rows = lib.conn.execute(
            f"SELECT file_id, {', '.join(kinds)} FROM clips WHERE file_id BETWEEN ? AND ? "
            "ORDER BY file_id", (int(ids[0]), int(ids[-1]))).fetchall()
        rows = [r for r, wanted in zip(rows, np.isin([r[0] for r in rows], ids), strict=True)
                if wanted]
    return (np.array([r[0] for r in rows], np.int64),
            [stack([r[k + 1] for r in rows]) for k in range(len(kinds))])


def segment_vectors(lib: Library, file_ids, kind: str = "fused") -> SegmentMatrix:
    """Segments of these files, ordered by file id then idx."""
    if kind not in _COLUMNS:
        raise ValueError(kind)
    return _segment_matrix(rows_for_files(
        lib, f"SELECT id, file_id, start, end, {kind} FROM segments "
        "WHERE file_id IN ({ids}) ORDER BY file_id, idx", file_ids))


def segment_visuals(lib: Library, file_ids) -> tuple[np.ndarray, np.ndarray]:
    """(owner file of each moment [m] int64, picture vectors [m, d] float16) of these
    files' moments, by file id then idx: the values of ``segment_vectors(..., "visual")``
    read from one packed row per file (schema 12), which costs a quarter of the bytes.
    Files without a packed row are read from their segments."""
    owners, blobs, packed = [], [], set()
    for file_id, moments, blob in rows_for_files(
            lib, "SELECT file_id, moments, vectors FROM segment_visuals WHERE file_id IN "
            "({ids}) ORDER BY file_id", file_ids):
        owners.append((file_id, moments))
        blobs.append(blob)
        packed.add(file_id)
    rest = [int(i) for i in file_ids if int(i) not in packed]
    if rest:
        seg = segment_vectors(lib, rest, "visual")
        for file_id, lo, hi in _runs(seg.file_ids):
            owners.append((file_id, hi - lo))
            blobs.append(seg.vectors[lo:hi].tobytes())
        order = np.argsort([f for f, _ in owners], kind="stable")
        owners, blobs = [owners[i] for i in order], [blobs[i] for i in order]
    counts = np.array([n for _, n in owners], np.int64)
    file_of = np.repeat(np.array([f for f, _ in owners], np.int64), counts)
    total = int(counts.sum())
    if not total:
        return file_of, np.zeros((0, 0), np.float16)
    data = b"".join(blobs)
    return file_of, np.frombuffer(data, np.float16).reshape(total, len(data) // (2 * total))


def _runs(file_ids: np.ndarray) -> list[tuple[int, int, int]]:
    """(file id, first row, end row) of each run of equal ids in a sorted array."""
    if not len(file_ids):
        return []
    starts = np.r_[0, np.flatnonzero(np.diff(file_ids)) + 1]
    ends = np.r_[starts[1:], len(file_ids)]
    return [(int(file_ids[lo]), int(lo), int(hi)) for lo, hi in zip(starts, ends, strict=True)]


def change_count(lib: Library) -> int:
    """Bumped by every change to files, clips or roots (schema 3 triggers): equal counts
    mean an index read earlier is still the library's."""
    return lib.conn.execute("SELECT n FROM changes WHERE scope = 'index'").fetchone()[0]


def library_identity(lib: Library) -> int:
    """A random number drawn when the library was made (or upgraded to schema 3)."""
    return lib.conn.execute("SELECT n FROM changes WHERE scope = 'identity'").fetchone()[0]


def present_files(lib: Library) -> dict[int, str]:
    """file id -> when it was indexed, for the present indexed files: what a cache
    compares to tell new, re-indexed and gone files apart."""
    return dict(lib.conn.execute(
        f"SELECT f.id, f.indexed_at FROM files f WHERE {_PRESENT}").fetchall())


def segment_count(lib: Library, file_ids) -> int:
    """How many moments these files have."""
    total = 0
    for chunk in _chunks(sorted(set(int(i) for i in file_ids))):
        total += lib.conn.execute(
            f"SELECT count(*) FROM segments WHERE file_id IN ({','.join('?' * len(chunk))})",
            chunk).fetchone()[0]
    return total
