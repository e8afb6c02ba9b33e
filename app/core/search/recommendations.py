"""Watching and recommendations: unwatched clips nearest the mean of the watched clips'
vectors (one dot product per candidate: linear time), picked with maximal marginal
relevance so the list is not one scene over and over."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.core.search.results import Result, SearchError, best_per_file, results_for
from app.core.search.vector_index import top_rows, vector_index
from app.core.vectors import l2n
from app.store import search as store
from app.store import vectors as store_vectors
from app.store import watches
from app.store.library import Library

# Relevance against diversity in maximal marginal relevance.
MMR_LAMBDA = 0.7
# Picks come from this many of the most relevant unwatched clips.
POOL_MIN = 2000
POOL_PER_RESULT = 50


def record_watch(lib: Library, file_id: int, seconds: float | None = None) -> dict:
    """Remember that a clip was played (for ``seconds``); returns its watch history."""
    if seconds is not None and not seconds >= 0:
        raise SearchError(f"watched seconds must be >= 0, got {seconds}")
    if lib.file_by_id(file_id) is None:
        raise SearchError(f"no file with id {file_id}")
    watches.add_watch(lib, file_id, seconds)
    return watches.file_history(lib, file_id)


def recommend(lib: Library, limit: int = 20) -> list[Result]:
    """Unwatched clips like the watched ones, diverse; newest first without a history.

    Maximal marginal relevance runs over a pool of the most relevant unwatched clips
    (every one in a library smaller than the pool), on their stored vectors."""
    vx = vector_index(lib)
    ids = vx.file_ids
    if len(ids) == 0:
        return []
    history = [h["file_id"] for h in watches.watched_files(lib)]
    watched_rows = np.isin(ids, history)
    # Watched files that are offline or missing still tell what the user likes.
    taste_vectors = store_vectors.clip_vectors(lib, history, "fused").vectors
    taste = l2n(taste_vectors.astype(np.float32).mean(0)) if len(taste_vectors) else None
    # The mean of the watched vectors: one dot product per candidate, linear time.
    guess = vx.clip_scores(taste) if taste is not None else _recency(lib, ids)
    pool = np.sort(top_rows(np.where(watched_rows, -np.inf, guess),
                            max(POOL_MIN, POOL_PER_RESULT * limit)))
    clips = store_vectors.clip_vectors(lib, ids[pool], "fused")
    pool_ids = clips.file_ids
    vectors = clips.vectors.astype(np.float32)
    relevance = vectors @ taste if taste is not None else guess[np.searchsorted(ids, pool_ids)]
    picks = _mmr(vectors, relevance, np.ones(len(pool_ids), bool), limit)
    pick_ids = [int(pool_ids[i]) for i in picks]
    segs = store_vectors.segment_vectors(lib, pick_ids, "fused")
    if taste is not None:
        best = best_per_file(segs.file_ids, segs.vectors.astype(np.float32) @ taste)
        why = _because(lib, ids[watched_rows], vectors[picks], pick_ids)
    else:
        best, why = {}, {f: ["recent"] for f in pick_ids}
    scores = {f: (float(relevance[i]), best.get(f)) for f, i in zip(pick_ids, picks, strict=True)}
    # _results sorts by score; MMR's order is the answer, so keep it.
    results = results_for(lib, scores, segs, limit, why)
    order = {f: n for n, f in enumerate(pick_ids)}
    return sorted(results, key=lambda r: order[r.file_id])


def _mmr(vectors: np.ndarray, relevance: np.ndarray, available: np.ndarray,
         limit: int) -> list[int]:
    """Maximal marginal relevance: each pick trades relevance against likeness to the
    picks before it. k picks cost k passes over the candidates."""
    available = available.copy()
    closest = np.full(len(vectors), -np.inf, np.float32)
    picks: list[int] = []
    while len(picks) < limit and available.any():
        value = relevance if not picks else (
            MMR_LAMBDA * relevance - (1 - MMR_LAMBDA) * np.maximum(closest, 0.0))
        value = np.where(available, value, -np.inf)
        j = int(np.argmax(value))
        picks.append(j)
        available[j] = False
        closest = np.maximum(closest, vectors @ vectors[j])
    return picks


def _recency(lib: Library, file_ids: np.ndarray) -> np.ndarray:
    """Without a history: newer clips first (1 for the newest, falling to 0)."""
    when = {f["id"]: f["created"] or f["file_time"] or "" for f in store.search_files(lib)}
    order = sorted(range(len(file_ids)), key=lambda i: when.get(int(file_ids[i]), ""),
                   reverse=True)
    relevance = np.zeros(len(file_ids), np.float32)
    for rank, i in enumerate(order):
        relevance[i] = 1.0 - rank / max(1, len(order))
    return relevance


def _because(lib: Library, watched_ids: np.ndarray, pick_vectors: np.ndarray,
             pick_ids: list[int]) -> dict[int, list[str]]:
    """For each pick, the (present) watched clip it is most like."""
    if not len(watched_ids):  # everything watched is offline: no name to give
        return {}
    watched = store_vectors.clip_vectors(lib, watched_ids, "fused")
    sims = pick_vectors @ watched.vectors.astype(np.float32).T
    out = {}
    for n, file_id in enumerate(pick_ids):
        f = lib.file_by_id(int(watched.file_ids[int(np.argmax(sims[n]))]))
        out[file_id] = [f"like: {Path(f['path']).name}"]
    return out
