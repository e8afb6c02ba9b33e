"""Search by example: clips most like a clip (its fused vector against every clip's, and
the closest moment of each), like one moment of it (``at``), or like a photo."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.search.results import Result, SearchError, best_per_file, results_for
from app.core.search.vector_index import top_rows, vector_index
from app.core.vectors import l2n
from app.records import Status
from app.store import people as people_store
from app.store import search as store
from app.store import vectors as store_vectors
from app.store.library import Library

# Similar clips: the whole clip's likeness, blended with its closest moment's, so a
# clip that contains the target among other scenes still ranks.
CLIP_SHARE = 0.5
# Every file is scored on projections (app.core.search.vector_index), the best
# SHORTLIST of them on int8 clip vectors, the best CANDIDATES of those exactly on their
# stored vectors (a read each, ~0.15 ms).
SHORTLIST_MIN = 2000
SHORTLIST_SHARE = 20  # or 1 file in this many, on larger libraries
CANDIDATES_MIN = 100
CANDIDATES_PER_RESULT = 4
# Similar clips weigh people: a clip showing all of the target's people gains this much
# (likeness itself is a cosine, 0.5-0.9 between clips of one event); at most
# PEOPLE_CANDIDATES such clips join the candidates.
PEOPLE_WEIGHT = 0.15
PEOPLE_CANDIDATES = 200
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})


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
    if row is not None and row["status"] == Status.INDEXED:
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
    from app.core.indexing import media
    from app.core.indexing.indexer import default_indexer, prepare_clip
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
    # Clips showing the same people are candidates too, however they look.
    together = _same_people(lib, probe.file_id)
    if together:
        picked = np.union1d(picked, np.fromiter(together, np.int64, len(together)))
    # ...and those exactly, on their stored vectors.
    clips = store_vectors.clip_vectors(lib, picked, "fused")
    segs = store_vectors.segment_vectors(lib, picked, "fused")
    clip_sim = clips.vectors.astype(np.float32) @ probe.fused
    seg_sim = segs.vectors.astype(np.float32) @ probe.fused
    best = best_per_file(segs.file_ids, seg_sim)
    scores = {}
    for i, file_id in enumerate(clips.file_ids.tolist()):
        if file_id == probe.file_id:
            continue
        k = best.get(file_id)
        moment = float(seg_sim[k]) if k is not None else float(clip_sim[i])
        score = CLIP_SHARE * float(clip_sim[i]) + (1 - CLIP_SHARE) * moment
        share, _ = together.get(file_id, (0.0, []))
        scores[file_id] = (score + PEOPLE_WEIGHT * share, k)
    why = {f: [f"person: {name}" for name in names] for f, (_, names) in together.items()}
    return results_for(lib, scores, segs, limit, why)


def _same_people(lib: Library, file_id: int | None) -> dict[int, tuple[float, list[str]]]:
    """Files showing people of ``file_id``: {file id: (share of its people they show,
    the names shown)}; people without a name count but are not named."""
    if file_id is None:
        return {}
    shown = people_store.file_people(lib, file_id)
    if not shown:
        return {}
    names = {p["id"]: p["name"] for p in shown}
    found: dict[int, list[int]] = {}
    for pid, files in people_store.files_with_people(lib, names).items():
        for fid in files:
            if fid != file_id:
                found.setdefault(fid, []).append(pid)
    # The most shared first, a bounded number: a person seen in every clip of a big
    # library must not make every clip a candidate.
    best = sorted(found.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:PEOPLE_CANDIDATES]
    return {fid: (len(pids) / len(names), [names[p] for p in pids if names[p]])
            for fid, pids in best}


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
    best = best_per_file(segs.file_ids, seg_sim)
    scores = {f: (float(seg_sim[k]), k) for f, k in best.items() if np.isfinite(seg_sim[k])}
    return results_for(lib, scores, segs, limit)


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
    best = best_per_file(segs.file_ids, seg_sim)
    scores = {f: (float(seg_sim[k]), k) for f, k in best.items()}
    return results_for(lib, scores, segs, limit)


