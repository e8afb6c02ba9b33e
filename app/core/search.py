"""Finding clips: by words, by a clip, moment or photo, and by what was watched.

- ``search_text``: query words activate ImageNet and AudioSet labels through the text
  encoder (``labelquery``) and also match file, folder and album names (``namematch``);
  a date in the query ("march 2024") keeps the clips shot then (``datequery``).
- ``similar``: clips most like a clip (its fused vector against every clip's, and the
  closest moment of each), like one moment of it (``at``), or like a photo.
- ``recommend``: unwatched clips nearest the mean of the watched clips' vectors, picked
  with maximal marginal relevance so the list is not one scene over and over.

Every function returns ``Result`` rows, one per file, best first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.core import datequery, namematch
from app.core.indexer import l2n
from app.core.search_index import name_sources, search_index
from app.core.vector_index import top_rows, vector_index
from app.store import search as store
from app.store import vectors as store_vectors
from app.store import watches
from app.store.library import Library

# A query word in a file, folder or album name outweighs any label evidence (at most
# ~1): names are chosen by people, labels are guesses of a classifier.
NAME_WEIGHT = 1.0
# Label evidence below this is noise (a share of picture or sound no one would notice).
MIN_EVIDENCE = 0.005
# Results weaker than this share of the best one are left out.
MIN_SHARE = 0.02
# Similar clips: the whole clip's likeness, blended with its closest moment's, so a
# clip that contains the target among other scenes still ranks.
CLIP_SHARE = 0.5
# Recommendations: relevance against diversity in maximal marginal relevance.
MMR_LAMBDA = 0.7
# Similar (see app.core.vector_index): every file is scored on projections, the best
# SHORTLIST of them on int8 clip vectors, the best CANDIDATES of those exactly on their
# stored vectors (a read each, ~0.15 ms).
SHORTLIST_MIN = 2000
SHORTLIST_SHARE = 20  # or 1 file in this many, on larger libraries
CANDIDATES_MIN = 100
CANDIDATES_PER_RESULT = 4
# Recommendations: picks come from this many of the most relevant unwatched clips.
POOL_MIN = 2000
POOL_PER_RESULT = 50
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})


class SearchError(Exception):
    """A target that cannot be searched from (not in the library, unreadable image)."""


@dataclass
class Result:
    path: str
    file_id: int
    start: float
    end: float
    score: float
    why: list[str] = field(default_factory=list)

    def as_json(self, with_why: bool = True) -> dict:
        out = {"path": self.path, "start": round(float(self.start), 3),
               "end": round(float(self.end), 3), "score": round(float(self.score), 4)}
        if with_why:
            out["why"] = list(self.why)
        return out


# ---- text ------------------------------------------------------------------------
def search_text(lib: Library, query: str, limit: int = 20, text_model=None,
                matcher=None) -> list[Result]:
    """Files matching ``query`` by labels, names and date, each with its best moment.

    Every present file is scored, in numpy over the cached ``search_index``; only the
    files returned get their explanation ("why") built."""
    when, words_text = datequery.extract(query)
    query_words = namematch.words(words_text)
    if when is None and not query_words:
        return []
    tx = search_index(lib)
    n = len(tx.file_ids)
    if n == 0:
        return []
    labels = _label_matches(tx, words_text, query_words, matcher, text_model)
    albums = store.album_titles(lib)
    names = _name_scores(tx, query_words, albums)
    evidence = labels.evidence if labels else np.zeros(n, np.float32)
    keep = np.ones(n, bool)
    if when is not None:
        y, m, d = tx.days[:, 0], tx.days[:, 1], tx.days[:, 2]
        keep = (y > 0) & ((when.year is None) | (y == (when.year or 0))) \
            & ((when.month is None) | (m == (when.month or 0))) \
            & ((when.day is None) | (d == (when.day or 0)))
    else:
        keep &= ~((evidence < MIN_EVIDENCE) & (names == 0))
    score = evidence.astype(np.float64) + NAME_WEIGHT * names + (1.0 if when is not None else 0.0)
    rows = np.flatnonzero(keep)
    if not len(rows):
        return []
    best = float(score[rows].max())
    rows = rows[score[rows] >= MIN_SHARE * best]
    # Equal scores (a date alone) read best in time order, then by path.
    rounded = -np.round(score[rows], 6)
    if len(rows) > limit:
        cut = np.partition(rounded, limit - 1)[limit - 1]
        rows = rows[rounded <= cut]
        rounded = -np.round(score[rows], 6)
    order = np.lexsort((tx.path_rank[rows], tx.day_order[rows], rounded))
    out = []
    for row in rows[order][:limit]:
        row = int(row)
        path, file_id = tx.paths[row], int(tx.file_ids[row])
        by_labels = labels is not None and evidence[row] >= MIN_EVIDENCE
        moment = labels.moment(tx, row) if by_labels else None
        start, end = moment or (0.0, float(tx.durations[row]))
        why = labels.why(lib, tx, row) if by_labels else []
        sources = name_sources(path, tx.roots[row])
        why += namematch.match(query_words, sources + [("album", t) for t in albums.get(
            file_id, [])]).matched
        if when is not None:
            why.append(f"date: {datequery.describe(tx.day(row))}")
        out.append(Result(path, file_id, start, end, float(score[row]), why))
    return out


def _name_scores(tx, query_words: list[str], albums: dict[int, list[str]]) -> np.ndarray:
    """[n] share of the query's words found in each file's name, folders and (named)
    albums, with namematch's credits: the score ``namematch.match`` gives each file."""
    n = len(tx.file_ids)
    if not query_words:
        return np.zeros(n, np.float64)
    album_rows, album_words = [], []
    for file_id, titles in albums.items():
        row = int(np.searchsorted(tx.file_ids, file_id))
        if row < n and tx.file_ids[row] == file_id:
            album_rows.append(row)
            album_words.append({w for t in titles for w in namematch.words(t)})
    total = np.zeros(n, np.float64)
    unique = list(dict.fromkeys(query_words))
    for word in unique:
        credit = tx.names.credits(word, n)
        for row, found in zip(album_rows, album_words, strict=True):
            if word in found:
                credit[row] = 1.0
            elif len(word) >= namematch.MIN_PART_LEN and any(w.startswith(word) for w in found):
                credit[row] = max(credit[row], namematch.PART_CREDIT)
        total += credit
    return total / len(set(query_words))


@dataclass
class _LabelMatches:
    """Per file: label evidence for the query and the moment that carries it."""

    query: object  # LabelQuery
    names: dict  # kind -> label names
    evidence: np.ndarray  # [n] float32, 0 where the labels say nothing
    moment_row: np.ndarray  # [n] int64 moment carrying the evidence, -1: the whole clip

    def moment(self, tx, row: int) -> tuple[float, float] | None:
        k = int(self.moment_row[row])
        return None if k < 0 else (float(tx.starts[k]), float(tx.ends[k]))

    def why(self, lib: Library, tx, row: int) -> list[str]:
        lq, k = self.query, int(self.moment_row[row])
        if k >= 0:
            idx = k - int(tx.offsets[row])
            labels = store.moment_labels(lib, int(tx.file_ids[row]), idx)
            parts = [(kind, name, float(lq.weights(kind)[c] * s))
                     for kind in ("visual", "audio") for c, name, s in labels.get(kind, [])]
        else:  # the labels are spread over the clip: the whole clip is the match
            parts = [(kind, self.names[kind][c], float(w[c] * table[c, row]))
                     for kind, w, table in (("visual", lq.visual, tx.visual),
                                            ("audio", lq.audio, tx.audio))
                     for c in np.flatnonzero(w[:table.shape[0]])]
        return lq.explain(parts)


def _label_matches(tx, text: str, query_words: list[str], matcher, text_model
                   ) -> _LabelMatches | None:
    """Evidence of each file from its labels: the better of the clip's label scores and
    its best moment's top labels, weighted by what the query's words activate."""
    if not query_words:
        return None
    if matcher is None:
        from app.core.labelquery import default_matcher
        matcher = default_matcher(text_model)
    lq = matcher.query(text)
    if lq.empty:
        return None
    n, m = len(tx.file_ids), len(tx.starts)
    clip_ev = np.zeros(n, np.float32)
    for w, table in ((lq.visual, tx.visual), (lq.audio, tx.audio)):
        cs = np.flatnonzero(w[:table.shape[0]])
        if len(cs):
            clip_ev += w[cs].astype(np.float32) @ table[cs].astype(np.float32)
    # Moments listing the query's labels, with their weighted scores summed.
    found = [p.gather(w) for p, w in zip(tx.postings, (lq.visual, lq.audio), strict=True)]
    moments = np.concatenate([f[0] for f in found])
    seg_score = np.zeros(n, np.float32)
    best_moment = np.full(n, -1, np.int64)
    if len(moments):
        total = np.bincount(moments, weights=np.concatenate([f[1] for f in found]), minlength=m)
        # A moment scoring 0 never carries a file's evidence: only the others matter.
        touched = np.flatnonzero(total > 0)
        seg_ev = total[touched].astype(np.float32)
        # Each file's best moment (the first on ties): touched is in file order.
        rows = tx.moment_file[touched]
        starts = np.flatnonzero(np.concatenate([[True], rows[1:] != rows[:-1]]))
        top = np.maximum.reduceat(seg_ev, starts)
        group = np.cumsum(np.concatenate([[False], rows[1:] != rows[:-1]]))
        at_top = np.flatnonzero(seg_ev == top[group])
        first = at_top[np.concatenate([[True], group[at_top][1:] != group[at_top][:-1]])]
        seg_score[rows[first]] = seg_ev[first]
        best_moment[rows[first]] = touched[first]
    evidence = np.maximum(clip_ev, seg_score)
    evidence[evidence <= 0] = 0.0
    carried = (seg_score > 0) & (seg_score >= 0.5 * evidence) & (evidence > 0)
    return _LabelMatches(lq, matcher.names, evidence, np.where(carried, best_moment, -1))


# ---- similar ---------------------------------------------------------------------
@dataclass
class _Probe:
    """What a video target brings to ``similar``: its clip vector and its moments."""

    file_id: int | None  # None for a video outside the library
    path: str
    fused: np.ndarray  # [d]
    starts: np.ndarray  # [k]
    ends: np.ndarray  # [k]
    moments: np.ndarray  # [k, d]


def similar(lib: Library, target: str | int, at: float | None = None, limit: int = 20,
            visual_model=None, indexer=None) -> list[Result]:
    """Clips most like ``target``, each with its closest moment. ``target`` is a library
    file (path or id; its moment at ``at`` seconds if given), a photo (jpg/png) or a
    video outside the library, which is decoded and embedded for the occasion."""
    row = lib.file_by_id(target) if isinstance(target, int) else lib.file(
        str(Path(target).absolute()))
    path = Path(row["path"]) if row is not None else Path(target).absolute()
    if row is not None and row["status"] == "indexed":
        starts, ends, moments = store.file_segment_vectors(lib, row["id"], "fused")
        probe = _Probe(row["id"], row["path"], lib.clip(row["id"])["fused"].astype(np.float32),
                       starts, ends, moments)
    elif path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
        if at is not None:
            raise SearchError("--at needs a video, not a photo")
        return _similar_image(lib, path, limit, visual_model)
    elif row is not None:
        raise SearchError(f"{target} was not indexed ({row['status']}: {row['reason']})")
    elif path.is_file():
        probe = _outside_probe(path, indexer)
    else:
        raise SearchError(f"{target} is neither in the library nor a readable file")
    if at is not None:
        return _similar_moment(lib, probe, at, limit)
    return _similar_clip(lib, probe, limit)


def _outside_probe(path: Path, indexer) -> _Probe:
    from app.core import media
    from app.core.indexer import default_indexer, prepare_clip
    try:
        prepared = prepare_clip(str(path))
    except media.MediaError as e:
        raise SearchError(f"cannot read {path} as a video: {e}") from e
    clip = (indexer or default_indexer()).index(prepared)
    return _Probe(None, str(path), clip.fused.astype(np.float32),
                  np.array([s.start for s in clip.segments], np.float32),
                  np.array([s.end for s in clip.segments], np.float32),
                  np.stack([s.fused for s in clip.segments]).astype(np.float32))


def candidate_count(limit: int) -> int:
    """Files scored exactly after the approximate stages (all of a smaller library)."""
    return max(CANDIDATES_MIN, CANDIDATES_PER_RESULT * limit)


def _shortlist(files: int) -> int:
    """Files the projections hand to the int8 step."""
    return max(SHORTLIST_MIN, files // SHORTLIST_SHARE)


def _best_per_file(file_ids: np.ndarray, scores: np.ndarray) -> dict[int, int]:
    """file_id -> index of its highest score (the first one on ties)."""
    if len(file_ids) == 0:
        return {}
    order = np.lexsort((-scores, file_ids))
    first = np.ones(len(order), bool)
    first[1:] = file_ids[order][1:] != file_ids[order][:-1]
    return {int(file_ids[i]): int(i) for i in order[first]}


def _similar_clip(lib: Library, probe: _Probe, limit: int) -> list[Result]:
    vx = vector_index(lib)
    if len(vx.file_ids) == 0 or len(vx.starts) == 0:
        return []
    # Candidates: every file on projections, the best of them on int8 clip vectors...
    moment = vx.best_per_file(vx.moment_scores(probe.fused))

    def blend(clip_sim, moment_sim):
        # A clip is about the mean of its moments, so its best moment is at least about
        # as alike as the clip: a floor under projected moments, which lose detail.
        return CLIP_SHARE * clip_sim + (1 - CLIP_SHARE) * np.fmax(moment_sim, clip_sim)

    rough = blend(vx.clip_scores(probe.fused), moment)
    rough[vx.file_ids == (probe.file_id if probe.file_id is not None else -1)] = -np.inf
    rows = top_rows(rough, _shortlist(len(rough)))
    finer = blend(vx.fine_clip_scores(rows, probe.fused), moment[rows])
    finer[~np.isfinite(rough[rows])] = -np.inf
    picked = vx.file_ids[rows[top_rows(finer, candidate_count(limit))]]
    # ...and those exactly, on their stored vectors.
    clips = store_vectors.clip_vectors(lib, picked, "fused")
    segs = store_vectors.segment_vectors(lib, picked, "fused")
    clip_sim = clips.vectors.astype(np.float32) @ probe.fused
    seg_sim = segs.vectors.astype(np.float32) @ probe.fused
    best = _best_per_file(segs.file_ids, seg_sim)
    scores = {}
    for i, file_id in enumerate(clips.file_ids.tolist()):
        if file_id == probe.file_id:
            continue
        k = best.get(file_id)
        moment = float(seg_sim[k]) if k is not None else float(clip_sim[i])
        scores[file_id] = (CLIP_SHARE * float(clip_sim[i]) + (1 - CLIP_SHARE) * moment, k)
    return _results(lib, scores, segs, limit)


def _moment_candidates(vx, moment_best: np.ndarray, clip_rough: np.ndarray,
                       fine, limit: int) -> np.ndarray:
    """Files to score exactly for a moment or photo query, by their best projected
    moment or, where higher, their whole clip's likeness (see ``_similar_clip``)."""
    rows = top_rows(np.fmax(moment_best, clip_rough), _shortlist(len(moment_best)))
    guess = np.fmax(moment_best[rows], fine(rows))
    return vx.file_ids[rows[top_rows(guess, candidate_count(limit))]]


def _similar_moment(lib: Library, probe: _Probe, at: float, limit: int) -> list[Result]:
    if len(probe.starts) == 0:
        raise SearchError(f"{probe.path} has no moments")
    if at < 0 or at > float(probe.ends[-1]) + 0.5:
        raise SearchError(f"--at {at} is outside the clip (0-{float(probe.ends[-1]):.1f} s)")
    k_target = int(np.clip(np.searchsorted(probe.starts, at, side="right") - 1,
                           0, len(probe.starts) - 1))
    target = probe.moments[k_target]
    itself_file = probe.file_id if probe.file_id is not None else -1
    vx = vector_index(lib)
    if len(vx.starts) == 0:
        return []
    approx = vx.moment_scores(target)
    row = int(np.searchsorted(vx.file_ids, itself_file))
    if row < len(vx.file_ids) and vx.file_ids[row] == itself_file:
        lo, hi = int(vx.offsets[row]), int(vx.offsets[row + 1])
        mine = np.abs(vx.starts[lo:hi] - probe.starts[k_target]) < 1e-3
        approx[lo:hi][mine] = -np.inf
    picked = _moment_candidates(vx, vx.best_per_file(approx), vx.clip_scores(target),
                                lambda rows: vx.fine_clip_scores(rows, target), limit)
    segs = store_vectors.segment_vectors(lib, picked, "fused")
    seg_sim = segs.vectors.astype(np.float32) @ target
    # The moment itself is not an answer; other moments of the same clip are.
    itself = (segs.file_ids == itself_file) & (np.abs(segs.starts - probe.starts[k_target]) < 1e-3)
    seg_sim[itself] = -np.inf
    best = _best_per_file(segs.file_ids, seg_sim)
    scores = {f: (float(seg_sim[k]), k) for f, k in best.items() if np.isfinite(seg_sim[k])}
    return _results(lib, scores, segs, limit)


def _similar_image(lib: Library, path: Path, limit: int, visual_model) -> list[Result]:
    import cv2

    from app.inference.visual import VisualModel, prepare_image
    data = np.fromfile(path, np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise SearchError(f"cannot read the image {path}")
    model = visual_model or VisualModel()
    embedding, _ = model.run(prepare_image(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))[None])
    q = l2n(embedding[0])
    # A photo is one moment: it is matched against moments, on the picture alone.
    vx = vector_index(lib)
    if len(vx.starts) == 0:
        return []
    picked = _moment_candidates(vx, vx.best_per_file(vx.picture_scores(q)),
                                vx.clip_picture_scores(q),
                                lambda rows: vx.fine_picture_scores(rows, q), limit)
    segs = store_vectors.segment_vectors(lib, picked, "visual")
    seg_sim = segs.vectors.astype(np.float32) @ q
    best = _best_per_file(segs.file_ids, seg_sim)
    scores = {f: (float(seg_sim[k]), k) for f, k in best.items()}
    return _results(lib, scores, segs, limit)


def _results(lib: Library, scores: dict[int, tuple[float, int | None]], segs, limit: int,
             why: dict[int, list[str]] | None = None) -> list[Result]:
    # Ties keep file-id order, as when every file was scored in that order.
    top = sorted(sorted(scores.items()), key=lambda kv: -kv[1][0])[:limit]
    out = []
    for file_id, (score, k) in top:
        f = lib.file_by_id(file_id)
        if k is not None:
            start, end = float(segs.starts[k]), float(segs.ends[k])
        else:
            start, end = 0.0, float(f["duration"] or 0.0)
        out.append(Result(f["path"], file_id, start, end, score, (why or {}).get(file_id, [])))
    return out


# ---- watching and recommendations -------------------------------------------------
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
        best = _best_per_file(segs.file_ids, segs.vectors.astype(np.float32) @ taste)
        why = _because(lib, ids[watched_rows], vectors[picks], pick_ids)
    else:
        best, why = {}, {f: ["recent"] for f in pick_ids}
    scores = {f: (float(relevance[i]), best.get(f)) for f, i in zip(pick_ids, picks, strict=True)}
    # _results sorts by score; MMR's order is the answer, so keep it.
    results = _results(lib, scores, segs, limit, why)
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
