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
from datetime import date
from pathlib import Path

import numpy as np

from app.core import datequery, namematch
from app.core.indexer import l2n
from app.store import search as store
from app.store import watches
from app.store.library import Library
from app.store.vectors import clip_matrix, segment_matrix

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
    """Files matching ``query`` by labels, names and date, each with its best moment."""
    when, words_text = datequery.extract(query)
    query_words = namematch.words(words_text)
    files = store.search_files(lib)
    if not files or (when is None and not query_words):
        return []
    labels = _label_matches(lib, words_text, query_words, matcher, text_model)
    albums = store.album_titles(lib)
    scored = []
    for f in files:
        day = datequery.local_day(f["created"]) or datequery.local_day(f["file_time"])
        if when is not None and (day is None or not when.matches(day)):
            continue
        names = namematch.match(query_words, _name_sources(f, albums.get(f["id"], [])))
        found = labels.get(f["id"])
        evidence = found[0] if found else 0.0
        if evidence < MIN_EVIDENCE and names.score == 0 and when is None:
            continue
        by_labels = found is not None and evidence >= MIN_EVIDENCE
        start, end = (found[1] if by_labels else None) or (0.0, f["duration"] or 0.0)
        why = (list(found[2]) if by_labels else []) + names.matched
        score = evidence + NAME_WEIGHT * names.score
        if when is not None:
            score += 1.0
            why.append(f"date: {datequery.describe(day)}")
        scored.append((score, day, Result(f["path"], f["id"], start, end, score, why)))
    if not scored:
        return []
    best = max(s for s, _, _ in scored)
    scored = [x for x in scored if x[0] >= MIN_SHARE * best]
    # Equal scores (a date alone) read best in time order.
    scored.sort(key=lambda x: (-round(x[0], 6), x[1] or date.max, x[2].path))
    return [r for _, _, r in scored[:limit]]


def _label_matches(lib: Library, text: str, query_words: list[str], matcher, text_model
                   ) -> dict[int, tuple[float, tuple[float, float] | None, list[str]]]:
    """file_id -> (evidence, (start, end) of the best moment or None for the whole
    clip, why) from the labels."""
    if not query_words:
        return {}
    if matcher is None:
        from app.core.labelquery import default_matcher
        matcher = default_matcher(text_model)
    lq = matcher.query(text)
    if lq.empty:
        return {}
    clips = store.clip_label_scores(lib)
    clip_ev = lq.evidence(clips.visual, clips.audio) if len(clips.file_ids) else np.zeros(0)
    segs = store.segment_labels(lib)
    seg_ev = np.array([sum(lq.weights(kind)[c] * s for kind in ("visual", "audio")
                           for c, _, s in lab.get(kind, []))
                       for lab in segs.labels], np.float32)
    best_seg = _best_per_file(segs.file_ids, seg_ev)
    names = matcher.names
    out = {}
    for i, file_id in enumerate(clips.file_ids.tolist()):
        k = best_seg.get(file_id)
        seg_score = float(seg_ev[k]) if k is not None else 0.0
        evidence = max(float(clip_ev[i]), seg_score)
        if evidence <= 0:
            continue
        if k is not None and seg_score > 0 and seg_score >= 0.5 * evidence:
            moment = (float(segs.starts[k]), float(segs.ends[k]))
            parts = [(kind, name, float(lq.weights(kind)[c] * s))
                     for kind in ("visual", "audio") for c, name, s in segs.labels[k].get(kind, [])]
        else:  # the labels are spread over the clip: the whole clip is the match
            moment = None
            parts = [(kind, names[kind][c], float(w[c] * row[c]))
                     for kind, w, row in (("visual", lq.visual, clips.visual[i]),
                                          ("audio", lq.audio, clips.audio[i]))
                     for c in np.flatnonzero(w)]
        out[file_id] = (evidence, moment, lq.explain(parts))
    return out


def _name_sources(f: dict, album_titles: list[str]) -> list[tuple[str, str]]:
    """The file's name, the folders from its library root down, its albums' titles."""
    path = Path(f["path"])
    sources = [("name", path.stem)]
    root = Path(f["root"]) if f["root"] else None
    if root is not None and root in path.parents:
        folders = [root.name, *path.parent.relative_to(root).parts]
    else:
        folders = [path.parent.name]
    sources += [("folder", name) for name in folders if name]
    sources += [("album", title) for title in album_titles]
    return sources


def _best_per_file(file_ids: np.ndarray, scores: np.ndarray) -> dict[int, int]:
    """file_id -> index of its highest score."""
    if len(file_ids) == 0:
        return {}
    order = np.lexsort((-scores, file_ids))
    first = np.ones(len(order), bool)
    first[1:] = file_ids[order][1:] != file_ids[order][:-1]
    return {int(file_ids[i]): int(i) for i in order[first]}


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


def _similar_clip(lib: Library, probe: _Probe, limit: int) -> list[Result]:
    clips = clip_matrix(lib, "fused")
    segs = segment_matrix(lib, "fused")
    if len(clips.file_ids) == 0 or len(segs.file_ids) == 0:
        return []
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


def _similar_moment(lib: Library, probe: _Probe, at: float, limit: int) -> list[Result]:
    if len(probe.starts) == 0:
        raise SearchError(f"{probe.path} has no moments")
    if at < 0 or at > float(probe.ends[-1]) + 0.5:
        raise SearchError(f"--at {at} is outside the clip (0-{float(probe.ends[-1]):.1f} s)")
    k_target = int(np.clip(np.searchsorted(probe.starts, at, side="right") - 1,
                           0, len(probe.starts) - 1))
    segs = segment_matrix(lib, "fused")
    if len(segs.file_ids) == 0:
        return []
    seg_sim = segs.vectors.astype(np.float32) @ probe.moments[k_target]
    # The moment itself is not an answer; other moments of the same clip are.
    itself = (segs.file_ids == (probe.file_id if probe.file_id is not None else -1)) & (
        np.abs(segs.starts - probe.starts[k_target]) < 1e-3)
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
    segs = segment_matrix(lib, "visual")
    if len(segs.file_ids) == 0:
        return []
    seg_sim = segs.vectors.astype(np.float32) @ q
    best = _best_per_file(segs.file_ids, seg_sim)
    scores = {f: (float(seg_sim[k]), k) for f, k in best.items()}
    return _results(lib, scores, segs, limit)


def _results(lib: Library, scores: dict[int, tuple[float, int | None]], segs, limit: int,
             why: dict[int, list[str]] | None = None) -> list[Result]:
    top = sorted(scores.items(), key=lambda kv: -kv[1][0])[:limit]
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
    """Unwatched clips like the watched ones, diverse; newest first without a history."""
    clips = clip_matrix(lib, "fused")
    if len(clips.file_ids) == 0:
        return []
    vectors = clips.vectors.astype(np.float32)
    history = [h["file_id"] for h in watches.watched_files(lib)]
    watched_rows = np.isin(clips.file_ids, history)
    taste_vectors = [vectors[watched_rows]]
    # Watched files that are offline or missing still tell what the user likes.
    for file_id in set(history) - set(clips.file_ids.tolist()):
        clip = lib.clip(file_id)
        if clip is not None:
            taste_vectors.append(clip["fused"].astype(np.float32)[None])
    taste_vectors = np.concatenate(taste_vectors)
    if len(taste_vectors):
        # The mean of the watched vectors: one dot product per candidate, linear time.
        relevance = vectors @ l2n(taste_vectors.mean(0))
    else:
        relevance = _recency(lib, clips.file_ids)
    picks = _mmr(vectors, relevance, ~watched_rows, limit)
    segs = segment_matrix(lib, "fused")
    best = {}
    if len(taste_vectors):
        best = _best_per_file(segs.file_ids, segs.vectors.astype(np.float32)
                              @ l2n(taste_vectors.mean(0)))
    if len(taste_vectors):
        why = _because(lib, clips.file_ids, vectors, watched_rows, picks)
    else:
        why = {int(clips.file_ids[i]): ["recent"] for i in picks}
    scores = {int(clips.file_ids[i]): (float(relevance[i]), best.get(int(clips.file_ids[i])))
              for i in picks}
    # _results sorts by score; MMR's order is the answer, so keep it.
    results = _results(lib, scores, segs, limit, why)
    order = {int(clips.file_ids[i]): n for n, i in enumerate(picks)}
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


def _because(lib: Library, file_ids: np.ndarray, vectors: np.ndarray,
             watched_rows: np.ndarray, picks: list[int]) -> dict[int, list[str]]:
    """For each pick, the watched clip it is most like."""
    if not watched_rows.any():  # everything watched is offline: no name to give
        return {}
    watched_idx = np.flatnonzero(watched_rows)
    sims = vectors[picks] @ vectors[watched_idx].T
    out = {}
    for n, i in enumerate(picks):
        f = lib.file_by_id(int(file_ids[watched_idx[int(np.argmax(sims[n]))]]))
        out[int(file_ids[i])] = [f"like: {Path(f['path']).name}"]
    return out
