"""Near-duplicates: copies of a clip, whole or contained in a longer file.

1. Exact byte copies: files of equal size and sampled-content fingerprint, confirmed by
   a hash of the whole file.
2. Candidates: pairs of files with a moment (segment vector) alike enough to be worth a
   closer look. Cheap, and generous: other moments of the same scene pass here; then
   screened by whether their pictures' changes match at all, without aligning them
   (``app.core.duplicates.screening``: what makes a large library affordable).
3. Verification (``app.core.duplicates.alignment``): the shorter clip is laid over the longer one in
   time (offset, speed, mirrored or not); a copy is a pair whose pictures *change
   together* over most of the shorter clip, with the soundtrack as a witness. Another
   moment of the same street or tree looks just as alike frame by frame but does not.
4. Groups: full copies are connected components of full-copy pairs; each clip found
   inside a longer file is its own "partial" group, so one file joining two clips never
   merges their groups. In each group one file is marked to keep.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from app.core.blas import one_blas_thread
from app.core.duplicates import burned_text, pictures, screening
from app.core.duplicates.alignment import (
    Alignment,
    Track,
    align,
    chance_coherence,
    off_speed_bar,
)
from app.core.library.identity import content_hash
from app.core.library.workers import lower_priority, process_context, thread_niceness
from app.store import analysis as analysis_store
from app.store import duplicates as dupstore
from app.store import vectors as store_vectors
from app.store.library import Library

# Candidates: two files are compared when one of their moments is at least this alike
# (cosine of mean frame vectors). Copies measured on the public corpus sit at 0.86 and
# above; grey, mirrored or 70%-cropped copies of a finely detailed scene (leaves) fall
# to 0.57. A looser bar costs only time.
CANDIDATE_SIMILARITY = 0.55
CANDIDATES_PER_SEGMENT = 40  # nearest moments per moment: bounds work in big libraries

# Verification. Most of the shorter clip must lie over the other one...
MIN_COVER = 0.7
# ...its frames must look alike (a floor: the level alone never decides)...
MIN_SIMILARITY = 0.5
# ...and change together. Coherence (see alignment) on the public corpus: copies 0.32
# (80% crop, brightened) to 0.85; other moments of the same scene at most 0.18, found
# by searching every offset and speed. Chance coherence grows as samples get fewer, so
# the bar is the higher of this and alignment.chance_coherence (0.25 at 23 samples,
# 0.42 at 8).
MIN_COHERENCE = 0.25
MIN_SAMPLES = 6  # fewer independent frame samples than this prove nothing
# Within each half of the span the changes must still agree a little: two moments that
# share one slow swing (a pan back and forth) agree over the span but not in its parts.
# Copies on the corpus: 0.19 and above; such swings: 0.03.
MIN_PART_COHERENCE = 0.1
# A picture that hardly changes (a locked-off shot of a still scene) carries no timing
# to match: coherence is noise there, so only the soundtrack can vouch for a copy.
MIN_VARIATION = 0.003
STILL_MIN_SIMILARITY = 0.9
# The soundtrack. A witness: aligned sound that matches in level and in its changes
# lowers the bar; aligned sound that does not match (another moment's voices) raises it.
# Copies on the corpus: 0.77-1.0 similar (speed changes and re-encodes lowest); other
# moments with speech: 0.37-0.45; with room noise they match in level, not in changes.
AUDIO_MIN_PAIRS = 3
AUDIO_WITNESS_SIMILARITY = 0.8
AUDIO_WITNESS_COHERENCE = 0.5
AUDIO_WITNESS_BONUS = 0.08
AUDIO_CONTRADICTS = 0.5
AUDIO_CONTRADICTION_PENALTY = 0.1
# Speed changes are rarer edits than re-encodes, and the wider the speeds searched, the
# likelier a coincidence: the bar rises by this much per octave away from normal speed
# (copies at 2x on derived footage: coherence 0.52 and above).
RATE_PENALTY = 0.1

# Full copy or clip inside a longer file: the shorter one must span at least this share
# of the longer, and the rest of the longer must not show other content (frames unlike
# every frame of the matched part, for at least OTHER_CONTENT_SECONDS).
FULL_SHARE = 0.5
OTHER_CONTENT_SIMILARITY = 0.7
OTHER_CONTENT_SECONDS = 1.0
# A file whose full-copy matches cover different parts of it (overlapping less than
# this) joins clips together: its matches are partial, so their groups stay apart.
JOIN_OVERLAP = 0.5

# Durations within this (relative) count as the same length when choosing the keeper.
SAME_LENGTH = 0.02
SAME_BITRATE = 0.05  # and bitrates within this (encoder noise)
# Pixel counts within this (relative) are the same resolution: a border added or a size
# rounded to even numbers moves a side by a few pixels (640x482 beside 640x480).
SAME_PIXELS = 0.03
TRACK_CACHE = 256  # files whose frame vectors stay loaded during one run
T = TypeVar("T")


@dataclass
class DuplicateFile:
    path: str
    keep: bool
    reason: str


@dataclass
class Match:
    a: str
    b: str
    a_start: float
    a_end: float
    b_start: float
    b_end: float
    similarity: float


@dataclass
class DuplicateGroup:
    kind: str  # "full" | "partial"
    files: list[DuplicateFile]
    matches: list[Match] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"files": [{"path": f.path, "keep": f.keep, "reason": f.reason} for f in self.files],
                "kind": self.kind,
                "matches": [{"a": m.a, "b": m.b, "a_start": m.a_start, "a_end": m.a_end,
                             "b_start": m.b_start, "b_end": m.b_end,
                             "similarity": m.similarity} for m in self.matches]}


@dataclass
class _Edge:
    a: int  # file id of the shorter clip (laid over b)
    b: int
    kind: str
    a_range: tuple[float, float]
    b_range: tuple[float, float]
    similarity: float
    mirrored: bool = False
    rate: float = 1.0
    # The file of the two that holds less of the picture, when the match says so: a
    # vertical slice or crop of the other, or the other shown inside a larger frame.
    lesser: int | None = None


# ---- verification ------------------------------------------------------------------
def coherence_needed(al: Alignment) -> float | None:
    """The coherence an alignment must reach to count as a copy; None: it cannot."""
    off_speed = off_speed_bar(al)
    if al.samples < MIN_SAMPLES or off_speed is None:
        return None
    need = max(MIN_COHERENCE, chance_coherence(al.samples), off_speed)
    need += RATE_PENALTY * abs(math.log2(al.rate))
    has_sound = al.audio_similarity is not None and al.audio_pairs >= AUDIO_MIN_PAIRS
    witness = (has_sound and al.audio_coherence is not None
               and al.audio_similarity >= AUDIO_WITNESS_SIMILARITY
               and al.audio_coherence >= AUDIO_WITNESS_COHERENCE)
    if al.variation < MIN_VARIATION:
        return 0.0 if witness and al.similarity >= STILL_MIN_SIMILARITY else None
    if witness:
        need -= AUDIO_WITNESS_BONUS
    elif has_sound and al.audio_similarity < AUDIO_CONTRADICTS:
        need += AUDIO_CONTRADICTION_PENALTY
    return need


def is_copy(al: Alignment | None, a: Track) -> bool:
    """Whether the alignment of clip A (the shorter) shows a copy of most of A."""
    if al is None or al.a_span < MIN_COVER * a.duration or al.similarity < MIN_SIMILARITY:
        return False
    need = coherence_needed(al)
    if need is None or al.coherence < need:
        return False
    return al.part_coherence is None or al.part_coherence >= MIN_PART_COHERENCE


def shows_other_content(b: Track, lo: float, hi: float) -> bool:
    """Whether B, outside [lo, hi], holds pictures unlike anything inside it."""
    inside = (b.times >= lo) & (b.times <= hi)
    if not inside.any() or inside.all():
        return False
    best = (b.visual[~inside] @ b.visual[inside].T).max(axis=1)
    other_times = b.times[~inside][best < OTHER_CONTENT_SIMILARITY]
    if len(other_times) == 0:
        return False
    spacing = float(np.median(np.diff(b.times))) if len(b.times) > 1 else b.duration
    return len(other_times) * spacing >= OTHER_CONTENT_SECONDS


def relation(al: Alignment, b: Track) -> str:
    """"full" when A is a copy of B as a whole, "partial" when A is a clip inside B."""
    if al.b_span < FULL_SHARE * b.duration or shows_other_content(b, al.b_start, al.b_end):
        return "partial"
    return "full"


# ---- the run -------------------------------------------------------------------------
class _Tracks:
    """Per-frame vectors of files, loaded on demand, the most recent ones kept."""

    def __init__(self, lib: Library, durations: Mapping[int, float | None]):
        self.lib, self.durations = lib, durations
        self.cache: OrderedDict[int, Track | None] = OrderedDict()

    def get(self, file_id: int) -> Track | None:
        if file_id in self.cache:
            self.cache.move_to_end(file_id)
            return self.cache[file_id]
        fr = self.lib.frames(file_id)
        track = None
        if fr is not None and len(fr["times"]):
            def f32(v):
                return None if v is None else v.astype(np.float32)
            track = Track(
                duration=float(self.durations.get(file_id) or fr["times"][-1]),
                times=fr["times"].astype(np.float64), visual=f32(fr["visual"]),
                visual_flip=f32(fr["visual_flip"]),
                audio_times=None if fr["audio_times"] is None else fr["audio_times"].astype(np.float64),
                audio=f32(fr["audio"]))
        self.cache[file_id] = track
        if len(self.cache) > TRACK_CACHE:
            self.cache.popitem(last=False)
        return track


def other_names(rows: list[dict]) -> set[int]:
    """Rows that are another name of a file an earlier row already is (a folder indexed
    through a link or a bind mount before the scan knew inodes, a hard link): the same
    file on disk is never its own copy. Only files with the same bytes can be one file,
    so only those are looked at."""
    by_print: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        by_print[(r["size"], r["fingerprint"])].append(r)
    aliases: set[int] = set()
    for same in by_print.values():
        if len(same) < 2:
            continue
        first_of: dict[tuple[int, int], int] = {}
        for r in sorted(same, key=lambda r: r["id"]):
            try:
                st = os.stat(r["path"])
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if key in first_of:
                aliases.add(r["id"])
            else:
                first_of[key] = r["id"]
    return aliases


def byte_copy_classes(rows: list[dict]) -> list[list[int]]:
    """Files with identical bytes: same size and fingerprint, then the same full hash."""
    by_print: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        by_print[(r["size"], r["fingerprint"])].append(r)
    classes = []
    for same in by_print.values():
        if len(same) < 2:
            continue
        by_hash: dict[str, list[int]] = defaultdict(list)
        for r in same:
            try:
                by_hash[content_hash(r["path"])].append(r["id"])
            except OSError:
                continue  # unreadable right now: it cannot be proven identical
        classes += [sorted(ids) for ids in by_hash.values() if len(ids) > 1]
    return classes


def candidate_pairs(lib: Library, members: set[int], reduced_out: dict | None = None
                    ) -> list[tuple[int, int]]:
    """Pairs of files (among ``members``) with a pair of alike moments."""
    return screening.candidate_pairs(lib, members, CANDIDATE_SIMILARITY,
                                     CANDIDATES_PER_SEGMENT, reduced_out)


def find_duplicates(lib: Library, progress: Callable[[int, int], None] | None = None,
                    cancelled: Callable[[], bool] | None = None,
                    found: Callable[[list[DuplicateGroup]], None] | None = None,
                    workers: int | None = None, rebuild: bool = False,
                    remember: bool = True, stats: dict | None = None) -> list[DuplicateGroup]:
    """Groups of copies among the indexed files that are present.

    ``progress(done, total)`` is called as the ``total`` candidate pairs are judged (one
    screened out is done at once, one passed once verified); ``cancelled()``
    returning True stops early with what was found so far; ``found(groups)`` receives
    the groups confirmed so far while pairs are still being verified (at most every
    PARTIAL_EVERY seconds). Pairs are verified by ``workers`` processes (default: one
    per core; 1: in this process), starting while the rest are still screened.

    What a run compared and found is remembered in the library (``app.store.duplicates``,
    when ``remember``): the next run verifies only pairs that touch a file new or
    re-indexed since, and keeps the copies found before among the others. ``rebuild``
    compares everything again. ``stats`` receives how much was done: files compared
    afresh, candidate pairs, pairs verified, CPU seconds of the worker processes, and the
    seconds of the candidate search and of screening (verification runs meanwhile).
    """
    def stopped() -> bool:
        return cancelled is not None and cancelled()

    rows = {r["id"]: r for r in dupstore.present_files(lib)}
    for alias in other_names(list(rows.values())):
        del rows[alias]
    state = None if rebuild else dupstore.load_state(lib)
    plan = _plan(rows, state)
    words = _ScreenWords(lib)
    if found is not None and (plan.kept or plan.byte_edges):
        found(_groups(plan.kept, plan, rows, words))  # what is known already, before any work
    durations = {i: r["duration"] for i, r in rows.items()}
    reduced: dict = {}
    pairs = None
    started = time.perf_counter()
    # These stages spread over the cores in threads of their own (see app.core.blas).
    with one_blas_thread():
        if plan.old:
            pairs = _new_candidates(lib, plan, state, reduced)
            if pairs is None:  # what was remembered cannot serve this run: compare everything
                plan = _plan(rows, None)
        if pairs is None:
            pairs = candidate_pairs(lib, plan.members, reduced)
    if stopped():  # the candidate search cannot stop halfway; it is checked after
        return _groups(plan.kept, plan, rows, words)
    stats = {} if stats is None else stats
    stats.update(files=len(rows), fresh=len(plan.fresh), candidates=len(pairs),
                 candidates_s=time.perf_counter() - started)
    verified: list[_Edge] = []
    last_answer = [time.monotonic()]

    def confirmed(edge: _Edge) -> None:
        verified.append(edge)
        if found is not None and time.monotonic() - last_answer[0] >= PARTIAL_EVERY:
            last_answer[0] = time.monotonic()
            found(_groups(plan.kept + verified, plan, rows, words))

    # Screened pairs are verified as they come: the worker processes start on the first
    # ones while the rest are screened, instead of waiting for all of them.
    stats.update(verified=0, worker_cpu_s=0.0)
    with one_blas_thread():
        batches = screening.screen_batches(
            lib, pairs, durations, state.arrays.get("screen_basis") if plan.old else None,
            reduced)
        complete = _verify_pairs(lib, _timed(batches, stats, "screening_s"), len(pairs),
                                 durations, workers, progress, stopped, confirmed, stats)
    if complete and plan.fresh:
        tracks = _Tracks(lib, durations)
        pics = _pictures(lib, rows, plan.members)
        known = {frozenset((e.a, e.b)) for e in plan.kept + verified}
        for edge in verify_pictures(pics, tracks, known, cancelled,
                                    touching=plan.fresh if plan.old else None):
            confirmed(edge)
        complete = not stopped()
    if complete and remember:
        verified.sort(key=lambda e: (min(e.a, e.b), max(e.a, e.b)))  # as they came: any order
        _remember(lib, plan, verified, reduced, rows)
    return _groups(plan.kept + verified, plan, rows, words)


PARTIAL_EVERY = 1.0  # seconds between answers of the groups found so far
POOL_MIN_PAIRS = 200  # fewer pairs are verified here: starting processes costs more
CHUNK_PAIRS = 64  # pairs a worker verifies per job: the grain of progress and cancel


@dataclass
class _Plan:
    members: set[int]  # files compared (one file of each set of byte copies)
    fresh: set[int]  # members whose pairs are verified in this run
    old: set[int]  # members compared before, unchanged: their pairs are not verified again
    kept: list[_Edge]  # copies found before among old members
    byte_copy_of: dict[int, int]  # a byte copy -> the member that stands for it
    byte_edges: list[_Edge]


def _plan(rows: dict[int, dict], state: dupstore.State | None) -> _Plan:
    """Which files to compare now, from what the last run remembered (``state``)."""
    stored = state.files if state is not None else {}

    def unchanged(i: int) -> bool:
        return i in stored and stored[i][0] == rows[i]["indexed_at"]

    by_print: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows.values():
        by_print[(r["size"], r["fingerprint"])].append(r)
    rep: dict[int, int] = {}
    redo: set[int] = set()
    for same in by_print.values():
        ids = [r["id"] for r in same]
        # A set of byte copies all compared before, standing as they stood: as remembered.
        if all(unchanged(i) and (stored[i][1] is None or stored[i][1] in ids) for i in ids):
            rep.update({i: stored[i][1] for i in ids if stored[i][1] is not None})
            continue
        redo.update(ids)
        if len(same) > 1:
            for ids_same in byte_copy_classes(same):
                rep.update({other: ids_same[0] for other in ids_same[1:]})
    byte_edges = []
    for other, first in sorted(rep.items()):
        d = float(rows[first]["duration"] or 0.0)
        byte_edges.append(_Edge(other, first, "full", (0.0, d), (0.0, d), 1.0))
    members = {i for i in rows if i not in rep}
    old = {i for i in members if i not in redo and unchanged(i)}
    kept = [_edge_of(e) for e in (state.edges if state is not None else ())
            if e[0] in old and e[1] in old]
    return _Plan(members, members - old, old, kept, rep, byte_edges)


def _edge_of(row: tuple) -> _Edge:
    a, b, kind, a0, a1, b0, b1, similarity, mirrored, rate, lesser = row
    return _Edge(a, b, kind, (a0, a1), (b0, b1), similarity, bool(mirrored), rate, lesser)


def _row_of(e: _Edge) -> tuple:
    return (e.a, e.b, e.kind, float(e.a_range[0]), float(e.a_range[1]), float(e.b_range[0]),
            float(e.b_range[1]), float(e.similarity), int(e.mirrored), float(e.rate), e.lesser)


def _new_candidates(lib: Library, plan: _Plan, state: dupstore.State, reduced: dict
                    ) -> np.ndarray | None:
    """Candidate pairs that touch a fresh member; None when the moments remembered do
    not allow it (then everything is compared again)."""
    if not plan.fresh:
        return np.zeros((0, 2), np.int64)
    if store_vectors.segment_count(lib, plan.members) <= screening.EXACT_MOMENTS:
        # Small enough to search whole: exactly the full run's pairs that touch the new.
        pairs = np.asarray(candidate_pairs(lib, plan.members), np.int64).reshape(-1, 2)
        fresh = np.array(sorted(plan.fresh), np.int64)
        return pairs[np.isin(pairs, fresh).any(axis=1)]
    basis, centroids = state.arrays.get("basis"), state.arrays.get("centroids")
    if basis is None or centroids is None or centroids.shape[1:] != (len(basis),):
        return None  # the last run searched a small library whole: nothing to reuse
    old_owners, old_rows, old_cells = dupstore.moment_vectors(lib, sorted(plan.old),
                                                              len(basis))
    new_owners, new_rows = screening.reduce_moments(lib, sorted(plan.fresh), basis)
    new_cells = screening.assign_cells(new_rows, centroids)
    reduced.update(owners=new_owners, reduced=new_rows, cells=new_cells)
    if not len(new_rows):
        return np.zeros((0, 2), np.int64)
    return screening.search_new(
        new_rows, new_owners, new_cells, np.concatenate([old_rows, new_rows]),
        np.concatenate([old_owners, new_owners]), np.concatenate([old_cells, new_cells]),
        centroids, CANDIDATES_PER_SEGMENT, CANDIDATE_SIMILARITY)


def _remember(lib: Library, plan: _Plan, verified: list[_Edge], reduced: dict,
              rows: dict[int, dict]) -> None:
    full = not plan.old
    files = {i: (rows[i]["indexed_at"], None) for i in (plan.members if full else plan.fresh)}
    files.update({i: (rows[i]["indexed_at"], rep) for i, rep in plan.byte_copy_of.items()})
    moments = None
    if "cells" in reduced:
        owners, vectors, cells = reduced["owners"], reduced["reduced"], reduced["cells"]
        order = np.argsort(owners, kind="stable")
        ids, starts = np.unique(owners[order], return_index=True)
        ends = np.r_[starts[1:], len(order)]
        moments = {int(f): (vectors[order[lo:hi]], cells[order[lo:hi]])
                   for f, lo, hi in zip(ids, starts, ends, strict=True)}
    # The bases and cells of a full run serve the runs after it.
    arrays = {k: reduced[k] for k in ("basis", "centroids", "screen_basis")
              if full and k in reduced}
    dropped = sorted(set(files) | plan.fresh)
    dupstore.save_state(lib, files, [_row_of(e) for e in verified], dropped, moments, arrays,
                        full)


class _ScreenWords:
    """Words read on screen in files (``burned_text.Words``), loaded once per file for
    the files in groups, when groups are made."""

    def __init__(self, lib: Library):
        self.lib = lib
        self.cache: dict[int, burned_text.Words | None] = {}

    def of(self, ids: set[int]) -> dict[int, burned_text.Words]:
        new = sorted(i for i in ids if i not in self.cache)
        if new:
            rows = analysis_store.screen_text(self.lib, new)
            self.cache.update({i: burned_text.from_rows(rows[i]) if i in rows else None
                               for i in new})
        return {i: w for i in ids if (w := self.cache[i]) is not None}


def _groups(edges: list[_Edge], plan: _Plan, rows: dict[int, dict],
            words: _ScreenWords | None = None) -> list[DuplicateGroup]:
    """Groups of these verified copies (left as they are) and the plan's byte copies."""
    edges = sorted((dataclasses.replace(e) for e in edges),
                   key=lambda e: (min(e.a, e.b), max(e.a, e.b)))
    _split_joins(edges)
    # Byte copies share every relation of the file that stood for them.
    shared = []
    for other, first in plan.byte_copy_of.items():
        for e in edges:
            if first in (e.a, e.b):
                a, b = (other, e.b) if e.a == first else (e.a, other)
                shared.append(_Edge(a, b, e.kind, e.a_range, e.b_range, e.similarity,
                                    e.mirrored, e.rate,
                                    other if e.lesser == first else e.lesser))
    edges = plan.byte_edges + edges + shared
    on_screen = words.of({i for e in edges for i in (e.a, e.b)}) if words is not None else {}
    return build_groups(edges, rows, on_screen)


# ---- verification, here or in worker processes ----------------------------------------
class _Checker:
    """Verifies pairs: time alignment of the network's vectors, then no contradiction
    from the files' tiny pictures (``pictures.contradicts``)."""

    def __init__(self, lib: Library, durations: dict[int, float | None]):
        self.lib, self.durations = lib, durations
        self.tracks = _Tracks(lib, durations)

    def check(self, x: int, y: int) -> _Edge | None:
        edge = verify(self.tracks, x, y)
        if edge is None:
            return None
        times = {}
        for i in (edge.a, edge.b):
            track = self.tracks.get(i)
            if track is not None:
                times[i] = track.times
        pics = pictures.load(self.lib, sorted(times),
                             {i: {"duration": self.durations.get(i)} for i in times}, times)
        return None if pictures.contradicts(pics, edge.a, edge.b) else edge


_worker: dict = {}  # in a worker process: its library and checker


def _start_worker(path: str, niceness: int = 0) -> None:
    # Work the app runs in the background runs its workers as low as its own thread:
    # the search the person asked for meanwhile gets the cores first.
    lower_priority(niceness)
    lib = Library(path, readonly=True)
    _worker.update(lib=lib, checker=_Checker(lib, {}))


def _check_chunk(pairs: list[tuple[int, int]], durations: dict[int, float | None]
                 ) -> tuple[list[_Edge], float]:
    """The copies among these pairs, and the CPU seconds it took."""
    started = time.process_time()
    checker = _worker["checker"]
    checker.durations.update(durations)
    edges = [e for e in (checker.check(x, y) for x, y in pairs) if e is not None]
    return edges, time.process_time() - started


def _timed(items: Iterator[T], stats: dict, key: str) -> Iterator[T]:
    """``items`` as they come; ``stats[key]``: seconds from the first asked for to the
    last made (the time spent meanwhile on what was made counts too)."""
    started = time.perf_counter()
    try:
        yield from items
    finally:
        stats[key] = time.perf_counter() - started


def _verify_pairs(lib: Library, batches: Iterator[tuple[np.ndarray, int]], total: int,
                  durations: dict, workers: int | None,
                  progress: Callable[[int, int], None] | None, stopped: Callable[[], bool],
                  confirmed: Callable[[_Edge], None], stats: dict) -> bool:
    """Verify the pairs screening passes, batch by batch as it judges them
    (``screening.screen_batches``), passing each copy to ``confirmed``; False if stopped
    first. Progress counts the ``total`` candidate pairs: one screened out is done when
    judged, one passed when verified. ``stats``: pairs verified, workers' CPU seconds."""
    workers = (os.cpu_count() or 1) if workers is None else workers
    done = 0

    def advance(pairs: int) -> None:
        nonlocal done
        done += pairs
        if progress is not None:
            progress(done, total)

    if progress is not None:
        progress(0, total)
    waiting: list[tuple[int, int]] = []  # passed, not yet verified nor sent to a worker
    batches = iter(batches)
    for passed, judged in batches:
        if stopped():
            return False
        stats["verified"] += len(passed)
        waiting += [(int(x), int(y)) for x, y in passed]
        advance(judged - len(passed))
        if workers > 1 and len(waiting) >= POOL_MIN_PAIRS:
            if not _verify_in_workers(lib, waiting, batches, durations, workers, advance,
                                      stopped, confirmed, stats):
                return False
            break
    else:  # few pairs (or one process): verified here, no processes to start
        checker = _Checker(lib, durations)
        for x, y in waiting:
            if stopped():
                return False
            edge = checker.check(x, y)
            if edge is not None:
                confirmed(edge)
            advance(1)
    if progress is not None and done != total:
        progress(total, total)
    return True


def _verify_in_workers(lib: Library, waiting: list[tuple[int, int]],
                       batches: Iterator[tuple[np.ndarray, int]], durations: dict, workers: int,
                       advance: Callable[[int], None], stopped: Callable[[], bool],
                       confirmed: Callable[[_Edge], None], stats: dict) -> bool:
    """``_verify_pairs`` in ``workers`` processes: ``waiting`` first, then the pairs of
    the rest of ``batches``, CHUNK_PAIRS to a job, sent as they are screened."""
    with ProcessPoolExecutor(workers, mp_context=process_context(), initializer=_start_worker,
                             initargs=(os.path.abspath(lib.path), thread_niceness())) as pool:
        jobs: dict = {}

        def send(chunk: list[tuple[int, int]]) -> None:
            ids = {i for p in chunk for i in p}
            jobs[pool.submit(_check_chunk, chunk, {i: durations[i] for i in ids})] = len(chunk)

        def collect(timeout: float) -> bool:
            """Take in the jobs finished (waiting up to ``timeout``); False if stopped."""
            finished, _ = wait(list(jobs), timeout=timeout, return_when=FIRST_COMPLETED)
            if stopped():
                for job in jobs:
                    job.cancel()
                return False
            for job in finished:
                edges, cpu = job.result()
                stats["worker_cpu_s"] += cpu
                for edge in edges:
                    confirmed(edge)
                advance(jobs.pop(job))
            return True

        screening_done = False
        while not screening_done or waiting or jobs:
            while len(waiting) >= CHUNK_PAIRS or (screening_done and waiting):
                send(waiting[:CHUNK_PAIRS])
                del waiting[:CHUNK_PAIRS]
            if not screening_done:
                batch = next(batches, None)
                if batch is None:
                    screening_done = True
                else:
                    passed, judged = batch
                    stats["verified"] += len(passed)
                    waiting += [(int(x), int(y)) for x, y in passed]
                    advance(judged - len(passed))
                # Between batches only what has finished is taken: screening goes on.
                if not collect(0.0 if not screening_done else 0.2):
                    return False
            elif jobs and not collect(0.2):
                return False
    return True


def verify(tracks: _Tracks, x: int, y: int) -> _Edge | None:
    """Align the shorter of two files over the longer and judge the alignment."""
    tx, ty = tracks.get(x), tracks.get(y)
    if tx is None or ty is None:
        return None
    (a, ta), (b, tb) = sorted([(x, tx), (y, ty)], key=lambda p: (p[1].duration, p[0]))
    al = align(ta, tb)
    if not is_copy(al, ta):
        return None
    return _Edge(a, b, relation(al, tb), (al.a_start, al.a_end), (al.b_start, al.b_end),
                 al.similarity, al.mirrored, al.rate)


def _pictures(lib: Library, rows: dict[int, dict], members: set[int]
              ) -> dict[int, pictures.Pictures]:
    # Only the frame times (not the vectors) of only the files that have pictures.
    with_pictures = dupstore.files_with_thumbnails(lib, members)
    return pictures.load(lib, with_pictures, rows, dupstore.frame_times(lib, with_pictures))


def verify_pictures(pics: dict[int, pictures.Pictures], tracks: _Tracks, known: set[frozenset],
                    cancelled: Callable[[], bool] | None,
                    touching: set[int] | None = None) -> list[_Edge]:
    """Copies the network's vectors missed, found by the files' tiny pictures
    (``app.core.duplicates.pictures``); ``touching``: only pairs with one of these."""
    edges = []
    for (x, y), combos in sorted(pictures.candidates(pics).items()):
        if frozenset((x, y)) in known:
            continue
        if touching is not None and x not in touching and y not in touching:
            continue
        if cancelled is not None and cancelled():
            break
        found = pictures.verify(pics, x, y, combos)
        if found is None:
            continue
        al = found.alignment
        tb = tracks.get(found.b)
        kind = relation(al, tb) if tb is not None else "partial"
        edges.append(_Edge(found.a, found.b, kind, (al.a_start, al.a_end), (al.b_start, al.b_end),
                           al.similarity, al.mirrored, al.rate, _lesser(x, y, found.combo)))
    return edges


def _lesser(x: int, y: int, combo: tuple[int, int, int]) -> int | None:
    """Which of x and y holds less of the picture, from the views that matched: the one
    that is the other's middle vertical slice, or the one that shows the other inside a
    frame (its inner picture). Not from windows: a middle window met by a central crop
    looks the same as one met by the picture inside a border."""
    sx, sy, _ = combo
    for this, other, source in ((x, y, sx), (y, x, sy)):
        if source == pictures.SLICE:
            return other  # this one's slice is the other's whole: the other is cut from it
        if source == pictures.REGION:
            return this
    return None


def _split_joins(edges: list[_Edge]) -> None:
    """A file that is a full copy of two clips at different places joins them: those
    matches become partial, so one joined file never merges two groups."""
    by_long: dict[int, list[_Edge]] = defaultdict(list)
    for e in edges:
        if e.kind == "full":
            by_long[e.b].append(e)
    for found in by_long.values():
        for i, e in enumerate(found):
            for f in found[i + 1:]:
                lo = max(e.b_range[0], f.b_range[0])
                hi = min(e.b_range[1], f.b_range[1])
                shorter = min(e.b_range[1] - e.b_range[0], f.b_range[1] - f.b_range[0])
                if hi - lo < JOIN_OVERLAP * shorter:
                    e.kind = f.kind = "partial"


# ---- groups and the copy to keep -----------------------------------------------------
class _Components:
    def __init__(self):
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, x: int, y: int) -> None:
        self.parent[self.find(x)] = self.find(y)


def build_groups(edges: list[_Edge], rows: dict[int, dict],
                 words: Mapping[int, burned_text.Words] | None = None) -> list[DuplicateGroup]:
    """Groups of copies from verified matches; ``words``: what each file shows in words
    (so the copy kept is one without burned-in text)."""
    comps = _Components()
    for e in edges:
        if e.kind == "full":
            comps.union(e.a, e.b)
    full: dict[int, list[_Edge]] = defaultdict(list)
    for e in edges:
        if e.kind == "full":
            full[comps.find(e.a)].append(e)
    groups = []
    for comp_edges in full.values():
        ids = sorted({i for e in comp_edges for i in (e.a, e.b)})
        groups.append(_group("full", ids, comp_edges, rows, words))
    # Each (container, contained clip) pair of full-copy components is one partial group.
    partial: dict[tuple[int, int], list[_Edge]] = defaultdict(list)
    for e in edges:
        if e.kind == "partial":
            partial[(comps.find(e.b), comps.find(e.a))].append(e)
    members: dict[int, set[int]] = defaultdict(set)
    for e in edges:
        for i in (e.a, e.b):
            members[comps.find(i)].add(i)
    for (outer, contained), part_edges in partial.items():
        # The contained clip is in the longer file, and so is every full copy of it, in
        # every full copy of the longer file: the group holds both groups of copies.
        ids = sorted(members[outer] | members[contained])
        inner = [e for e in edges if e.kind == "full" and e.a in ids and e.b in ids]
        groups.append(_group("partial", ids, part_edges + inner, rows, words))
    groups.sort(key=lambda g: (g.kind != "full", g.files[0].path))
    return groups


def _group(kind: str, ids: list[int], edges: list[_Edge], rows: dict[int, dict],
           words: Mapping[int, burned_text.Words] | None = None) -> DuplicateGroup:
    lesser = {e.lesser for e in edges if e.lesser is not None}
    burned = _burned_in(ids, edges, rows, words or {})
    keeper = choose_keeper(ids, rows, lesser, set(burned))
    framed_less = _framed_less(ids, rows, lesser)
    contained: dict[int, _Edge] = {}  # clip -> where it sits, preferably in the keeper
    for e in edges:
        if e.kind == "partial" and (e.a not in contained or e.b == keeper):
            contained[e.a] = e
    files = [DuplicateFile(rows[keeper]["path"], True,
                           _keep_reason(rows[keeper], ids, rows, framed_less, set(burned)))]
    for i in sorted((i for i in ids if i != keeper), key=lambda i: rows[i]["path"]):
        files.append(DuplicateFile(rows[i]["path"], False,
                                   _drop_reason(rows[i], rows[keeper], contained.get(i), edges,
                                                rows, i in framed_less, burned.get(i))))
    matches = [Match(rows[e.a]["path"], rows[e.b]["path"], round(e.a_range[0], 2),
                     round(e.a_range[1], 2), round(e.b_range[0], 2), round(e.b_range[1], 2),
                     round(float(e.similarity), 3))
               for e in sorted(edges, key=lambda e: (rows[e.a]["path"], rows[e.b]["path"]))]
    return DuplicateGroup(kind, files, matches)


def choose_keeper(ids: list[int], rows: dict[int, dict], lesser: set[int] | frozenset = frozenset(),
                  burned: set[int] | frozenset = frozenset()) -> int:
    """The longest file; among those of about its length, one that shows the whole
    picture (not in ``lesser``: a phone's upright slice of landscape footage, or another
    shown inside a frame), then one without burned-in words (not in ``burned``:
    subtitles, a logo, a player's text another copy lacks), then the most pixels; then
    the earliest recording date (the camera's creation time, which copies lose or get
    anew when made: a re-encode is never better than its source, whatever its bitrate),
    then the highest bitrate, then the first path."""
    longest = max(rows[i]["duration"] or 0.0 for i in ids)
    # Re-encoding moves the end by a frame or two: lengths within SAME_LENGTH are equal.
    near = [i for i in ids if (rows[i]["duration"] or 0.0) >= longest * (1 - SAME_LENGTH)]
    near = [i for i in near if i not in _framed_less(near, rows, lesser)] or near
    near = [i for i in near if i not in burned] or near
    most = max(_pixels(rows[i]) for i in near)
    near = [i for i in near if _pixels(rows[i]) >= most * (1 - SAME_PIXELS)]
    dated = [i for i in near if rows[i].get("created")]
    if dated:
        first = min(rows[i]["created"] for i in dated)
        near = [i for i in dated if rows[i]["created"] == first]
    richest = max(rows[i]["bitrate"] or 0 for i in near)
    near = [i for i in near if (rows[i]["bitrate"] or 0) >= richest * (1 - SAME_BITRATE)]
    return min(near, key=lambda i: rows[i]["path"])


def _burned_in(ids: list[int], edges: list[_Edge], rows: dict[int, dict],
               words: Mapping[int, burned_text.Words]) -> dict[int, str]:
    """Files of the group carrying words burned into the picture that another of about
    their length lacks (``burned_text.carriers``), each with a line of those words.
    Moments are compared where the match between the two put them, or at the same time
    for two files of one length that were not matched directly."""
    if len(words) < 2:
        return {}
    spans = {}
    for e in edges:
        spans[(e.a, e.b)] = (e.a_range, e.b_range, e.rate)
        spans[(e.b, e.a)] = (e.b_range, e.a_range, 1.0 / e.rate if e.rate else 1.0)

    def to_other(x: int, y: int):
        if (x, y) not in spans:
            return lambda t: t
        (x0, x1), (y0, _), rate = spans[(x, y)]
        reach = burned_text.NEAR_SECONDS
        return lambda t: y0 + (t - x0) * rate if x0 - reach <= t <= x1 + reach else None

    same = [(x, y) for n, x in enumerate(ids) for y in ids[n + 1:]
            if x in words and y in words and _same_length(rows[x], rows[y])]
    return burned_text.carriers(same, words, rows, to_other)


def _framed_less(ids: list[int], rows: dict[int, dict], lesser: set[int] | frozenset) -> set[int]:
    """Files holding less of the picture than another among ``ids``: those the matches
    say so of, and upright files beside landscape ones (a phone's vertical reframe or a
    copy turned a quarter: the landscape file is the one with the whole picture)."""
    out = set(lesser) & set(ids)
    if any(_landscape(rows[i]) for i in ids):
        out |= {i for i in ids if _portrait(rows[i])}
    return out


def _landscape(row: dict) -> bool:
    return (row["width"] or 0) > 1.1 * (row["height"] or 0)


def _portrait(row: dict) -> bool:
    return (row["height"] or 0) > 1.1 * (row["width"] or 0)


def _same_length(x: dict, y: dict) -> bool:
    dx, dy = float(x["duration"] or 0.0), float(y["duration"] or 0.0)
    return abs(dx - dy) <= SAME_LENGTH * max(dx, dy, 1e-3)


def _keep_reason(row: dict, ids: list[int], rows: dict[int, dict], framed_less: set[int],
                 burned: set[int] | frozenset = frozenset()) -> str:
    others = [rows[i] for i in ids if i != row["id"]]
    if all(_identical(row, o) for o in others):
        return "identical copies: kept the first by name"
    if not all(_same_length(row, o) for o in others):
        return f"the longest ({row['duration']:.1f} s)"
    framed = any(o["id"] in framed_less for o in others)
    texted = row["id"] not in burned and any(o["id"] in burned for o in others)
    if framed and texted:
        return ("same length; the whole picture, without burned-in words (others are upright "
                "slices, show it in a frame or carry words it lacks)")
    if framed:
        return "same length; the whole picture (others are upright slices or show it in a frame)"
    if texted:
        return ("same length; no burned-in words (others carry subtitles, a logo or other "
                "text it lacks)")
    if not all(_same_pixels(row, o) for o in others):
        return f"same length; the highest resolution ({row['width']}x{row['height']})"
    if any(_recorded_before(row, o) for o in others):
        return ("same length and resolution; the original recording date (the others lost it "
                "or were made later)")
    if not all(_same_bitrate(row, o) for o in others):
        return f"same length and resolution; the highest bitrate ({_kbps(row)})"
    return "same length, resolution and bitrate: kept the first by name"


def _drop_reason(row: dict, keeper: dict, inside: _Edge | None, edges: list[_Edge],
                 rows: dict[int, dict], framed_less: bool = False, burned: str | None = None
                 ) -> str:
    name = Path(keeper["path"]).name
    if _identical(row, keeper):
        return f"identical bytes to {name}"
    if inside is not None:
        lo, hi = inside.b_range
        return f"contained in {Path(rows[inside.b]['path']).name} at {lo:.1f}-{hi:.1f} s"
    if not _same_length(row, keeper):
        notes = [f"shorter ({row['duration']:.1f} s vs {keeper['duration']:.1f} s)"]
    elif framed_less:
        notes = ["shows less of the picture (an upright slice, or inside a frame)"]
    elif burned is not None:
        notes = [f'words burned into the picture ("{_clipped(burned)}")']
    elif not _same_pixels(row, keeper):
        notes = [f"lower resolution ({row['width']}x{row['height']} vs "
                 f"{keeper['width']}x{keeper['height']})"]
    elif _recorded_before(keeper, row):
        notes = ["without its recording date" if not row.get("created")
                 else f"made later ({row['created']} vs {keeper['created']})"]
    elif not _same_bitrate(row, keeper):
        notes = [f"lower bitrate ({_kbps(row)} vs {_kbps(keeper)})"]
    else:
        notes = ["the same length, resolution and bitrate"]
    direct = [e for e in edges if {e.a, e.b} == {row["id"], keeper["id"]}]
    if any(e.mirrored for e in direct):
        notes.append("mirrored")
    if any(abs(e.rate - 1.0) > 0.05 for e in direct):
        notes.append("played at another speed")
    return f"a copy of {name}: " + ", ".join(notes)


def _clipped(text: str, most: int = 40) -> str:
    return text if len(text) <= most else text[:most - 1].rstrip() + "…"


def _identical(x: dict, y: dict) -> bool:
    return x["size"] == y["size"] and x["fingerprint"] == y["fingerprint"]


def _pixels(row: dict) -> int:
    return (row["width"] or 0) * (row["height"] or 0)


def _same_pixels(x: dict, y: dict) -> bool:
    return abs(_pixels(x) - _pixels(y)) <= SAME_PIXELS * max(_pixels(x), _pixels(y), 1)


def _recorded_before(x: dict, y: dict) -> bool:
    """Whether x carries a recording date and y none or a later one."""
    return bool(x.get("created")) and (not y.get("created") or y["created"] > x["created"])


def _same_bitrate(x: dict, y: dict) -> bool:
    bx, by = x["bitrate"] or 0, y["bitrate"] or 0
    return abs(bx - by) <= SAME_BITRATE * max(bx, by, 1)


def _kbps(row: dict) -> str:
    return f"{(row['bitrate'] or 0) / 1000:.0f} kb/s"
