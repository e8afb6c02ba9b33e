"""Bulk reads of vectors for search, similarity, albums and duplicates.

One query per call, BLOBs stacked into one float16 matrix: scoring happens in numpy.
Only indexed files that are present (not missing or offline) are returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.store.library import Library

_COLUMNS = {"fused", "visual", "audio"}


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


def _stack(blobs: list[bytes | None], dim: int | None) -> np.ndarray:
    known = next((b for b in blobs if b is not None), None)
    if dim is None:
        dim = len(known) // 2 if known is not None else 0
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
        "WHERE f.status = 'indexed' AND f.presence = 'present' ORDER BY c.file_id").fetchall()
    return ClipMatrix(np.array([r[0] for r in rows], np.int64), _stack([r[1] for r in rows], None))


def segment_matrix(lib: Library, kind: str = "fused") -> SegmentMatrix:
    if kind not in _COLUMNS:
        raise ValueError(kind)
    rows = lib.conn.execute(
        f"SELECT s.id, s.file_id, s.start, s.end, s.{kind} FROM segments s "
        "JOIN files f ON f.id = s.file_id "
        "WHERE f.status = 'indexed' AND f.presence = 'present' ORDER BY s.file_id, s.idx"
    ).fetchall()
    return SegmentMatrix(
        np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64),
        np.array([r[2] for r in rows], np.float32), np.array([r[3] for r in rows], np.float32),
        _stack([r[4] for r in rows], None))
