"""Reads for text search and similar clips: metadata, label scores, segment labels.

Like ``app.store.vectors``, only indexed files that are present are returned, each read
is one query, and score arrays come back stacked for numpy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from app.store.library import LABEL_KINDS, Library, pack_moment_labels
from app.store.vectors import _chunks, rows_for_files, stack

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
    raw = _label_scores(rows)
    return ClipLabelScores(raw.file_ids, raw.visual.astype(np.float32),
                           raw.audio.astype(np.float32))


def _label_scores(rows: list) -> ClipLabelScores:
    """(file_id, visual_probs, audio_scores) rows stacked, as stored (float16)."""
    return ClipLabelScores(np.array([r[0] for r in rows], np.int64),
                           stack([r[1] for r in rows]), stack([r[2] for r in rows]))


def label_scores_of(lib: Library, file_ids) -> ClipLabelScores:
    """Clip label scores of these files as stored (float16), ordered by file id; audio
    rows are zeros where a file has no sound (and the audio matrix is [n, 0] if none has)."""
    return _label_scores(rows_for_files(
        lib, "SELECT file_id, visual_probs, audio_scores FROM clips WHERE file_id IN ({ids}) "
        "ORDER BY file_id", file_ids))


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


# ---- per-file facts and packed moments, for the search index (app.core.search.search_index) ----
def file_facts(lib: Library) -> list[tuple]:
    """(id, indexed_at, path, root path, duration, created, file_time) of present indexed
    files: what search matches names and dates against, and what tells a cache which
    files changed."""
    return lib.conn.execute(
        "SELECT f.id, f.indexed_at, f.path, r.path, f.duration, f.created, f.file_time "
        f"FROM files f LEFT JOIN roots r ON r.id = f.root_id WHERE {_PRESENT} "
        "ORDER BY f.id").fetchall()


@dataclass
class Moments:
    """The moments of some files, ordered by file id then idx."""

    file_ids: np.ndarray  # [n] int64
    counts: np.ndarray  # [n] int64, moments per file
    starts: np.ndarray  # [m] float32
    ends: np.ndarray  # [m] float32
    classes: np.ndarray  # [m, 2, w] int16: top visual, then audio classes; -1: none
    scores: np.ndarray  # [m, 2, w] float32


def moments_of(lib: Library, file_ids) -> Moments:
    """Times and top labels of these files' moments, from the packed moment index (one
    row per file); files without one (written before it existed) from their segments."""
    ids = sorted(set(int(i) for i in file_ids))
    found: dict[int, tuple] = {}
    for chunk in _chunks(ids):
        for file_id, starts, ends, classes, scores in lib.conn.execute(
                "SELECT file_id, starts, ends, classes, scores FROM moment_index "
                f"WHERE file_id IN ({','.join('?' * len(chunk))})", chunk):
            k = len(starts) // 4
            width = len(classes) // (2 * 2 * k) if k else 0
            found[file_id] = (np.frombuffer(starts, np.float32), np.frombuffer(ends, np.float32),
                              np.frombuffer(classes, np.int16).reshape(k, 2, width),
                              np.frombuffer(scores, np.float32).reshape(k, 2, width))
    missing = [f for f in ids if f not in found]
    for chunk in _chunks(missing):
        per_file: dict[int, list] = {}
        for file_id, start, end, text in lib.conn.execute(
                "SELECT file_id, start, end, labels FROM segments WHERE file_id IN "
                f"({','.join('?' * len(chunk))}) ORDER BY file_id, idx", chunk):
            per_file.setdefault(file_id, []).append((start, end, json.loads(text)))
        for file_id in chunk:
            segs = per_file.get(file_id, [])
            classes, scores = pack_moment_labels([lab for _, _, lab in segs])
            found[file_id] = (np.array([s for s, _, _ in segs], np.float32),
                              np.array([e for _, e, _ in segs], np.float32), classes, scores)
    ids = [f for f in ids if f in found]
    parts = [found[f] for f in ids]
    width = max([p[2].shape[2] for p in parts] + [0])

    def widened(a: np.ndarray, fill) -> np.ndarray:
        if a.shape[2] == width:
            return a
        out = np.full((a.shape[0], 2, width), fill, a.dtype)
        out[:, :, :a.shape[2]] = a
        return out

    return Moments(
        np.array(ids, np.int64), np.array([len(p[0]) for p in parts], np.int64),
        np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.float32),
        np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.float32),
        np.concatenate([widened(p[2], -1) for p in parts]) if parts
        else np.zeros((0, 2, 0), np.int16),
        np.concatenate([widened(p[3], 0.0) for p in parts]) if parts
        else np.zeros((0, 2, 0), np.float32))


def moment_labels(lib: Library, file_id: int, position: int) -> dict:
    """The top labels of a file's moment (``position`` in idx order) as indexed:
    {"visual": [[class, name, score]...], "audio": [...]}."""
    row = lib.conn.execute("SELECT labels FROM segments WHERE file_id = ? ORDER BY idx "
                           "LIMIT 1 OFFSET ?", (file_id, position)).fetchone()
    return json.loads(row[0]) if row else {kind: [] for kind in LABEL_KINDS}
