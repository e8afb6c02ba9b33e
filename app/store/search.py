"""Reads for text search and similar clips: metadata, label scores, segment labels.

Like ``app.store.vectors``, only indexed files that are present are returned, each read
is one query, and score arrays come back stacked for numpy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from app.store.library import Library

_PRESENT = "f.status = 'indexed' AND f.presence = 'present'"


@dataclass
class ClipLabelScores:
    file_ids: np.ndarray  # [n] int64
    visual: np.ndarray  # [n, 1000] float32 ImageNet probabilities (clip mean)
    audio: np.ndarray  # [n, 521] float32 AudioSet scores (zeros without sound)


@dataclass
class SegmentLabels:
    file_ids: np.ndarray  # [m] int64
    starts: np.ndarray  # [m] float32
    ends: np.ndarray  # [m] float32
    labels: list[dict]  # per segment {"visual": [[class, name, score]...], "audio": [...]}


def search_files(lib: Library) -> list[dict]:
    """Present indexed files with what names and dates search looks at."""
    return [dict(r) for r in lib.conn.execute(
        "SELECT f.id, f.path, r.path AS root, f.duration, f.created, f.file_time "
        f"FROM files f LEFT JOIN roots r ON r.id = f.root_id WHERE {_PRESENT} ORDER BY f.id")]


def album_titles(lib: Library) -> dict[int, list[str]]:
    """file_id -> titles of the albums it is in that a person named (made or renamed).

    Automatic titles are built from the same labels search already scores, so matching
    them again would count a guess twice and drag in whole albums."""
    out: dict[int, list[str]] = {}
    for file_id, title in lib.conn.execute(
            "SELECT af.file_id, a.title FROM album_files af JOIN albums a ON a.id = af.album_id "
            "WHERE a.origin = 'user' OR a.renamed = 1 ORDER BY a.id"):
        out.setdefault(file_id, []).append(title)
    return out


def clip_label_scores(lib: Library) -> ClipLabelScores:
    rows = lib.conn.execute(
        "SELECT c.file_id, c.visual_probs, c.audio_scores FROM clips c "
        f"JOIN files f ON f.id = c.file_id WHERE {_PRESENT} ORDER BY c.file_id").fetchall()
    visual = np.stack([np.frombuffer(r[1], np.float16) for r in rows]) if rows else None
    dim = 0 if visual is None else visual.shape[1]
    audio_dim = next((len(r[2]) // 2 for r in rows if r[2] is not None), 0)
    audio = np.zeros((len(rows), audio_dim), np.float32)
    for i, r in enumerate(rows):
        if r[2] is not None:
            audio[i] = np.frombuffer(r[2], np.float16)
    return ClipLabelScores(np.array([r[0] for r in rows], np.int64),
                           visual.astype(np.float32) if visual is not None
                           else np.zeros((0, dim), np.float32), audio)


def segment_labels(lib: Library) -> SegmentLabels:
    rows = lib.conn.execute(
        "SELECT s.file_id, s.start, s.end, s.labels FROM segments s "
        f"JOIN files f ON f.id = s.file_id WHERE {_PRESENT} ORDER BY s.file_id, s.idx"
    ).fetchall()
    return SegmentLabels(np.array([r[0] for r in rows], np.int64),
                         np.array([r[1] for r in rows], np.float32),
                         np.array([r[2] for r in rows], np.float32),
                         [json.loads(r[3]) for r in rows])


def file_segment_vectors(lib: Library, file_id: int, kind: str = "fused"
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One file's segments: starts [k], ends [k] and vectors [k, d] (float32)."""
    if kind not in ("fused", "visual", "audio"):
        raise ValueError(kind)
    rows = lib.conn.execute(
        f"SELECT start, end, {kind} FROM segments WHERE file_id = ? ORDER BY idx",
        (file_id,)).fetchall()
    dim = next((len(r[2]) // 2 for r in rows if r[2] is not None), 0)
    vectors = np.zeros((len(rows), dim), np.float32)
    for i, r in enumerate(rows):
        if r[2] is not None:
            vectors[i] = np.frombuffer(r[2], np.float16)
    return (np.array([r[0] for r in rows], np.float32),
            np.array([r[1] for r in rows], np.float32), vectors)
