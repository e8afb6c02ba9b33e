"""Auto-albums: clips grouped into events, kept stable across runs and the user's edits.

Every album is an event and a clip belongs to at most one album. A run
(``refresh_albums``) keeps the albums that exist and only places the clips that are in
none: a clip joins the album it fits (average linkage against all of the album's clips),
clips that fit together but no album form a new one, and a clip that fits nothing stays
unsorted (an album of one clip is not much of an album). Running again without changes
therefore changes nothing, and album ids stay put. A clip left unsorted is remembered
(``album_unsorted``), so the run after a scan places only the new clips: it reads the
vectors of their neighbourhood and retitles the albums they join (``_refresh_new``).

``rebuild=True`` re-clusters from scratch and hands each new cluster the id of the album
it overlaps most, so ids and the user's titles survive; what the user decided survives
as well: clips they added (``source = user``), clips they took out (exclusions), and
the contents of albums they renamed, edited, created or deleted.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime

import numpy as np

from app.core import vocabulary
from app.core.albums import clip_index, trips
from app.core.albums.clustering import (
    ClipFeatures,
    Seed,
    central_rows,
    cluster,
    parse_times,
    reach,
    reached,
    trusted_times,
)
from app.core.library.places import ClipPlace, clip_places
from app.core.people import names_in_files
from app.store import albums as store
from app.store.library import Library
from app.store.vectors import change_count, present_files

MIN_NEW_ALBUM = 2
FEATURE_CHUNK = 5000  # clips compared at a time: the vectors of one chunk, never the library's
# A label names an album when the model is more sure than not, on average over the
# album's clips (softmax probability for pictures, per-class score for sound).
LABEL_CONFIDENCE = 0.5
# AudioSet classes that describe the recording or the room, not what the clip shows.
AMBIENT_SOUNDS = frozenset({
    "Silence", "Sine wave", "Harmonic", "Chirp tone", "Sound effect", "Pulse",
    "Inside, small room", "Inside, large room or hall", "Inside, public space",
    "Outside, urban or manmade", "Outside, rural or natural", "Reverberation", "Echo",
    "Noise", "Environmental noise", "Static", "Mains hum", "Distortion", "Sidetone",
    "Cacophony", "White noise", "Pink noise", "Throbbing", "Vibration", "Television",
    "Radio", "Field recording"})
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class AlbumError(Exception):
    """A user operation that cannot be done (unknown album, clip not in it...)."""


# ---- features --------------------------------------------------------------------
def load_features(lib: Library, file_ids=None, files: dict[int, dict] | None = None,
                  ) -> ClipFeatures:
    """Clip vectors and trusted capture times of present indexed files (or of these files,
    those with clip rows), in file id order. ``files``: ``_file_rows`` already read.

    The vectors come from the albums' index on disk (``clip_index``) when there is one
    (brought up to date with what changed), else from SQLite; a read of every clip
    builds the index on the way, as it reads every vector anyway."""
    ids = np.array(sorted(present_files(lib)) if file_ids is None
                   else sorted({int(f) for f in file_ids}), np.int64)
    index = clip_index.clip_rows(lib, build=file_ids is None)
    if index is None:
        rows = clip_index.read_rows(lib, ids)
    else:
        rows = index.rows(ids)
        if len(rows) < len(ids):  # not in the index (no clip row, or written since)
            rows = clip_index.join([rows, clip_index.read_rows(
                lib, np.setdiff1d(ids, rows.file_ids, assume_unique=True))])
    ids = rows.file_ids
    if files is None:
        files = _file_rows(lib, None if file_ids is None else ids.tolist())
    times = trusted_times([files.get(f, {}).get("created") for f in ids.tolist()])
    return ClipFeatures(ids, rows.visual, rows.audio, times)


def _join(a: ClipFeatures, b: ClipFeatures) -> ClipFeatures:
    """The rows of both (no file in both; vectors as ``load_features`` gives them), in
    file id order."""
    rows = clip_index.join([clip_index.Rows(f.file_ids, f.visual, f.audio) for f in (a, b)])
    order = np.argsort(np.concatenate([a.file_ids, b.file_ids]), kind="stable")
    return ClipFeatures(rows.file_ids, rows.visual, rows.audio,
                        np.concatenate([a.times, b.times])[order])


def _file_rows(lib: Library, file_ids: list[int] | None = None) -> dict[int, dict]:
    """Path, creation and file time of indexed, present files (all, or these)."""
    return store.file_times(lib, file_ids)


# ---- titles, dates, covers --------------------------------------------------------
def dominant_label(member_labels: list[list[tuple[str, str, float]]]) -> str | None:
    """The label the album's clips agree on with confidence, in words a person uses."""
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for labels in member_labels:
        for kind, label, score in labels:
            totals[kind, label] += score
    with_sound = sum(1 for labels in member_labels if any(k == "audio" for k, _, _ in labels))
    return _dominant(store.AlbumLabels(len(member_labels), with_sound, totals))


def _dominant(labels: store.AlbumLabels) -> str | None:
    if not labels.clips:
        return None
    best, best_score = None, LABEL_CONFIDENCE
    for (kind, label), total in sorted(labels.totals.items()):
        if kind == "audio":
            # A soundtrack names the album only if most clips have one.
            if label in AMBIENT_SOUNDS or 2 * labels.with_sound < labels.clips:
                continue
            mean = total / labels.with_sound
        else:
            mean = total / labels.clips
        # A title that embarrasses when wrong ("Fart · 3 Jun") needs much more evidence.
        if mean >= best_score and vocabulary.is_shown(kind, label, mean):
            best, best_score = label, mean
    return _words(best) if best else None


def _words(label: str) -> str:
    """'Motor vehicle (road)' -> 'Motor vehicle'; 'Boat, Water vehicle' -> 'Boat'."""
    text = re.sub(r"\s*\(.*?\)", "", label).split(",")[0].strip() or label
    return text[:1].upper() + text[1:]


def date_span(start: float, end: float) -> str:
    """'9 Mar 2024', '9-11 Mar 2024', '30 Mar - 2 Apr 2024', in the user's time zone."""
    a, b = datetime.fromtimestamp(start).date(), datetime.fromtimestamp(end).date()

    def day(d, year=True):
        return f"{d.day} {MONTHS[d.month - 1]}" + (f" {d.year}" if year else "")

    if a == b:
        return day(a)
    if (a.year, a.month) == (b.year, b.month):
        return f"{a.day}\u2013{day(b)}"
    if a.year == b.year:
        return f"{day(a, year=False)} \u2013 {day(b)}"
    return f"{day(a)} \u2013 {day(b)}"


def album_title(member_labels: list[list[tuple[str, str, float]]], start: float | None,
                end: float | None) -> str:
    return _title(dominant_label(member_labels), start, end)


def _title(what: str | None, start: float | None, end: float | None,
           where: str | None = None) -> str:
    when = date_span(start, end) if start is not None and end is not None else None
    return " \u00b7 ".join(p for p in (what, where, when) if p) or "Untitled"


class _Places:
    """The library's clip places, its home bases, and the place groups of some features:
    loaded once per run; empty (and free) on a library without locations."""

    def __init__(self, lib: Library, feats: ClipFeatures | None = None):
        self.by_file: dict[int, ClipPlace] = clip_places(lib)
        self.homes = trips.home_bases(self.by_file) if self.by_file else []
        self.groups = trips.place_groups(feats.file_ids, feats.times, self.by_file,
                                         self.homes) if feats is not None and self.by_file else []

    def title_parts(self, fids: list[int], what: str | None) -> tuple[str | None, str | None]:
        """(what, where) of an album: a trip is titled by place and dates alone."""
        members = [self.by_file[f] for f in fids if f in self.by_file]
        where = trips.place_name(members)
        if where and trips.is_trip(members, self.homes):
            return None, where
        return what, where


def album_span(rows: list[dict]) -> tuple[float | None, float | None]:
    """First and last capture time. File times only when no clip has a creation time:
    a copy's file time is the day it was copied and would stretch the span."""
    return _span(trusted_times([r.get("created") for r in rows]),
                 parse_times([r.get("file_time") for r in rows]))


def _span(trusted: np.ndarray, file_times: np.ndarray) -> tuple[float | None, float | None]:
    times = trusted[np.isfinite(trusted)]
    if not len(times):
        times = file_times[np.isfinite(file_times)]
    return (float(times.min()), float(times.max())) if len(times) else (None, None)


class _Times:
    """Files' trusted creation times and file times, parsed once for many albums."""

    def __init__(self, files: dict[int, dict]):
        ids = list(files)
        trusted = trusted_times([files[f]["created"] for f in ids])
        file_times = parse_times([files[f]["file_time"] for f in ids])
        self.row = {f: r for r, f in enumerate(ids)}
        self.trusted, self.file_times = trusted, file_times
        # When each clip was shot, as well as we know: its creation time, else its file time.
        self.shot = np.where(np.isfinite(trusted), trusted, file_times).tolist()

    def span(self, fids: list[int]) -> tuple[float | None, float | None]:
        rows = [self.row[f] for f in fids]
        return _span(self.trusted[rows], self.file_times[rows])


# ---- runs --------------------------------------------------------------------------
# Past this share of the library new (a first scan), a refresh places the whole library
# at once: the neighbourhoods of that many clips are most of it anyway.
WHOLE_SHARE = 0.25


def refresh_albums(lib: Library, rebuild: bool = False) -> list[dict]:
    """Place new clips (or re-cluster with ``rebuild``), retitle, and list the albums.

    A run remembers the state it left (``store.state_mark``: the index's change counter
    and the albums' contents). When nothing changed since, placing would change nothing
    (a run on its own result is a fixed point), so the app's run at every start only
    lists; a scan or an edit changes the state, and the next run places and retitles.

    After a scan, only the clips no run has placed yet are placed (``_refresh_new``):
    the work grows with them and the albums they reach, not with the library."""
    index = change_count(lib)  # before the reads: a scan meanwhile makes the mark stale
    start = store.state_mark(lib, index)
    if rebuild or store.placed_mark(lib) != start:
        context = store.context_mark(lib)
        if rebuild or store.placed_context_mark(lib) != context or \
                not _refresh_new(lib, index, start, context):
            _refresh_all(lib, rebuild, index, context)
    return list_albums(lib)


def _refresh_all(lib: Library, rebuild: bool, index: int, context: int) -> None:
    """Place every clip in no album (re-cluster all first with ``rebuild``), retitle all."""
    seen = store.indexed_at(lib)  # before the vectors: a clip indexed again meanwhile
    feats = load_features(lib)  # is placed again by the next run
    places = _Places(lib, feats)
    with lib.transaction():
        current = store.context_mark(lib) == context  # else a writer since: look again
        if rebuild:
            _recluster(lib, feats, store.load(lib), places.groups)
        _place(lib, feats, store.load(lib), places.groups)
        state = store.load(lib)
        retitle(lib, feats, state, places=places)
        grouped = {f for members in state.members.values() for f in members}
        store.forget_unsorted(lib)
        store.remember_unsorted(lib, {f: seen[f] for f in feats.file_ids.tolist()
                                      if f not in grouped and f in seen})
        if current:  # what placed clips' places now are: the next run compares with it
            store.set_context_mark(lib, store.context_mark(lib))
        store.set_placed_mark(lib, store.state_mark(lib, index))


def _refresh_new(lib: Library, index: int, start: int, context: int) -> bool:
    """Place the clips no run has placed as they are (``store.unplaced_files``: new, indexed
    again, or taken out of their album), reading only the vectors they need, and retitle
    only the albums whose clips changed. False, doing nothing, when they are so many
    that placing the whole library costs no more.

    The clips a new one may link with are those ``_near_pairs`` compares it with: the
    clips of nearby days and those without a trusted time (every clip, when the new one
    has none: only content links a copy to its event). Among those, what it comes
    closer than the threshold to decides what takes part: the albums holding them,
    whole (an album's average distance counts all its clips), and the clips left
    unsorted before. The result equals placing the whole library (``_refresh_all``)
    when the albums were not edited since the last run: an album no new clip reaches
    cannot be joined (its average distance to any group of clips is a mean of
    distances at or above the threshold), and an earlier unsorted clip that no new clip
    reaches stays unsorted (every album and every other unsorted clip was at or above
    the threshold from it when it was left, and new clips are too). After the user
    edited an album, clips left unsorted earlier are not offered to it again, as a
    whole placement would (a rebuild does); place groups (a day at one place, a trip)
    join new clips as a whole run does, with the home bases of all clips."""
    files = _file_rows(lib)
    new = store.unplaced_files(lib)
    if len(new) > WHOLE_SHARE * max(len(files), 1):
        return False
    if new:
        state = store.load(lib)
        ids = np.array(sorted(files), np.int64)
        times = trusted_times([files[f]["created"] for f in ids.tolist()])
        fresh = np.isin(ids, np.fromiter(new, np.int64, len(new)))
        places = _Places(lib)
        groups = []
        if places.by_file:  # metadata only: which place groups a new clip is in
            groups = [ids[g] for g in trips.place_groups(ids, times, places.by_file,
                                                         places.homes) if fresh[g].any()]
        owner = {f: aid for aid in reversed(state.albums) for f in state.members[aid]}
        joined = _linked(lib, files, ids, times, fresh).union(*(g.tolist() for g in groups))
        albums = sorted({owner[f] for f in joined if f in owner})
        # The albums reached, whole; the clips in none (the new, the unsorted reached).
        wanted = {f for aid in albums for f in state.members[aid] if f in files}
        wanted |= {f for f in joined if f not in owner}
        feats = load_features(lib, wanted, files)
        row_of = {int(f): r for r, f in enumerate(feats.file_ids)}
        place_groups = [[row_of[int(f)] for f in g if int(f) in row_of] for g in groups]
    with lib.transaction():
        # Another writer since the start (an edit, a scan): place anyway, but leave the
        # marks stale, so that the next run looks again.
        current = store.state_mark(lib, index) == start and store.context_mark(lib) == context
        if new:
            state = state if current else store.load(lib)
            reached_state = store.AlbumState(
                {aid: state.albums[aid] for aid in albums if aid in state.albums},
                state.members, state.exclusions)
            touched, placed, left = _place(lib, feats, reached_state, place_groups)
            retitle(lib, feats, store.load(lib, sorted(touched)), only=touched, places=places)
            store.forget_unsorted(lib, sorted(placed))
            store.remember_unsorted(lib, {f: new[f] for f in left if f in new})
        if current:
            store.set_context_mark(lib, store.context_mark(lib))
            store.set_placed_mark(lib, store.state_mark(lib, index))
    return True


def _linked(lib: Library, files: dict[int, dict], ids: np.ndarray, times: np.ndarray,
            fresh: np.ndarray) -> set[int]:
    """The clips (file ids) closer than the threshold to one of the ``fresh`` ones, and
    those, found among their neighbourhood a chunk at a time: the neighbourhood of a
    clip without a date is the whole library, which is never held at once. Exact, as
    every pair ``clustering.reached`` finds has a fresh clip in it."""
    near = _neighbourhood(times, fresh)
    # A neighbourhood of the whole library (a new clip without a date) reads every
    # vector anyway: the index is built for it where there is none yet. Else an index
    # that exists is brought up to date, and without one the neighbourhood is read
    # from SQLite.
    clip_index.clip_rows(lib, build=bool(near.all()))
    new = load_features(lib, ids[fresh], files)
    out = set(new.file_ids.tolist())
    near &= ~fresh
    # Chunks in time order (clips without a date last): the nearby days of a new clip
    # then fall in one or two chunks, instead of a few clips in every chunk.
    others = ids[near][np.argsort(np.where(np.isfinite(times[near]), times[near], np.inf),
                                  kind="stable")]
    for lo in range(0, max(len(others), 1), FEATURE_CHUNK):
        part = _join(new, load_features(lib, others[lo:lo + FEATURE_CHUNK], files))
        out.update(part.file_ids[reached(part, np.flatnonzero(
            np.isin(part.file_ids, new.file_ids)))].tolist())
    return out


def _neighbourhood(times: np.ndarray, fresh: np.ndarray) -> np.ndarray:
    """Which clips (a mask) ``clustering._near_pairs`` compares the ``fresh`` ones with:
    every clip when one of them has no trusted time, else those without one and those
    of nearby days (``reach``) of each."""
    timed = np.isfinite(times)
    if (fresh & ~timed).any():
        return np.ones(len(times), bool)
    near = fresh | ~timed
    order = np.flatnonzero(timed)
    order = order[np.argsort(times[order], kind="stable")]
    when = times[order]
    far = reach()
    lo = np.searchsorted(when, times[fresh] - far, side="left")
    hi = np.searchsorted(when, times[fresh] + far, side="right")
    inside = np.zeros(len(order) + 1, np.int64)  # +1 where a window opens, -1 after it
    np.add.at(inside, lo, 1)
    np.add.at(inside, hi, -1)
    near[order[np.cumsum(inside[:-1]) > 0]] = True
    return near


def _place(lib: Library, feats: ClipFeatures, state: store.AlbumState,
           place_groups: list[list[int]] = ()) -> tuple[set[int], set[int], list[int]]:
    """Clips of ``feats`` in none of ``state.albums`` join one or make new albums.
    Returns the albums that changed or are new, the clips placed, and those left
    unsorted."""
    row_of = {int(f): r for r, f in enumerate(feats.file_ids)}
    seeds, taken = [], set()
    for aid in state.albums:
        rows = [row_of[f] for f in state.members[aid] if f in row_of and f not in taken]
        taken.update(feats.file_ids[rows].tolist())
        excluded = frozenset(row_of[f] for f in state.exclusions[aid] if f in row_of)
        seeds.append(Seed(aid, rows, excluded))
    clusters = trips.join(cluster(feats, seeds), list(place_groups),
                          {s.key: s.excluded for s in seeds})
    touched, placed, left = set(), set(), []
    for c in clusters:
        fids = [int(feats.file_ids[r]) for r in c.rows]
        if c.key is None:
            if len(fids) < MIN_NEW_ALBUM:
                left += fids
                continue
            aid = store.insert_album(lib, "", store.AUTO)
            for f in fids:
                store.set_member(lib, aid, f, store.AUTO)
            touched.add(aid)
            placed.update(fids)
        else:
            for f in fids:
                if f not in state.members[c.key]:
                    store.set_member(lib, c.key, f, store.AUTO)
                    touched.add(c.key)
                    placed.add(f)
    return touched, placed, left


def _recluster(lib: Library, feats: ClipFeatures, state: store.AlbumState,
               place_groups: list[list[int]] = ()) -> None:
    present = {int(f) for f in feats.file_ids}
    groups = [{int(feats.file_ids[r]) for r in c.rows}
              for c in trips.join(cluster(feats), list(place_groups))]
    group_of = {f: g for g, fids in enumerate(groups) for f in fids}
    # Each cluster takes the id of the album it shares most clips with.
    candidates = []
    for aid, album in state.albums.items():
        shared: dict[int, int] = defaultdict(int)
        for f in state.members[aid]:
            if f in group_of:
                shared[group_of[f]] += 1
        candidates += [(-n, not album.touched, aid, g) for g, n in shared.items()]
    match: dict[int, int] = {}
    used: set[int] = set()
    for _, _, aid, g in sorted(candidates):
        if aid not in match and g not in used:
            match[aid] = g
            used.add(g)

    members = {aid: dict(m) for aid, m in state.members.items()}
    # What the user decided stays: clips they put somewhere, and what albums they
    # renamed, edited, created or deleted hold when no cluster matches them.
    claimed = {f for m in members.values() for f, src in m.items() if src == store.USER}
    for aid, album in state.albums.items():
        if aid not in match and album.touched:
            claimed.update(f for f in members[aid] if f in present)
    for aid, album in state.albums.items():
        if aid in match or not album.touched:
            for f, src in list(members[aid].items()):
                if src == store.AUTO and f in present:
                    store.remove_member(lib, aid, f)
                    del members[aid][f]
    for aid, g in sorted(match.items()):
        for f in sorted(groups[g] - claimed - state.exclusions[aid]):
            store.set_member(lib, aid, f, store.AUTO)
            members[aid][f] = store.AUTO
    for g, fids in enumerate(groups):
        fids = fids - claimed
        if g not in used and len(fids) >= MIN_NEW_ALBUM:
            aid = store.insert_album(lib, "", store.AUTO)
            for f in sorted(fids):
                store.set_member(lib, aid, f, store.AUTO)
    for aid in state.albums:
        if not members[aid]:
            store.delete_album(lib, aid)


def retitle(lib: Library, feats: ClipFeatures, state: store.AlbumState,
            only: int | set[int] | None = None, places: _Places | None = None) -> None:
    """Title and cover every shown album (or ``only`` this one, or these): ``feats``
    holds the present clips of those albums."""
    if isinstance(only, int):
        only = {only}
    row_of = {int(f): r for r, f in enumerate(feats.file_ids)}
    wanted = [a for a in state.albums.values() if a.shown and (only is None or a.id in only)]
    if not wanted:
        return
    fids = sorted({f for a in wanted for f in state.members[a.id] if f in row_of})
    files = _file_rows(lib, fids if only is not None else None)
    named = {aid: _dominant(labels) for aid, labels in
             store.album_labels(lib, None if only is None else [a.id for a in wanted])}
    shown = {a.id: [f for f in state.members[a.id] if f in row_of and f in files]
             for a in wanted}
    shown = {aid: present for aid, present in shown.items() if present}
    places = places or _Places(lib)
    covers = dict(zip(shown, central_rows(feats, [sorted(row_of[f] for f in present)
                                                  for present in shown.values()]), strict=True))
    for album in wanted:
        present = shown.get(album.id)
        if not present:
            continue
        start, end = album_span([files[f] for f in present])
        # Named people seen in the album's clips title it ("Anna · Ben · 3 Jun 2023").
        who = " \u00b7 ".join(names_in_files(lib, present))
        what, where = places.title_parts(present, who or named.get(album.id))
        auto_title = _title(what, start, end, where)
        cover = int(feats.file_ids[covers[album.id]])
        changes = {}
        if auto_title != album.auto_title:
            changes["auto_title"] = auto_title
        if not album.renamed and album.title != auto_title:
            changes["title"] = auto_title
        if cover != album.cover_file_id:
            changes["cover_file_id"] = cover
        store.update_album(lib, album.id, **changes)


# ---- reading -------------------------------------------------------------------------
def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _view(album: store.AlbumRow, fids: list[int], files: dict[int, dict],
          times: _Times) -> dict:
    shot = times.shot
    rows = [files[f] for f in sorted(fids, key=lambda f: (shot[times.row[f]], files[f]["path"]))]
    start, end = times.span(fids)
    cover = files[album.cover_file_id]["path"] if album.cover_file_id in fids else rows[0]["path"]
    return {"id": album.id, "title": album.title, "files": [r["path"] for r in rows],
            "start": _iso(start), "end": _iso(end), "cover": cover}


def list_albums(lib: Library) -> list[dict]:
    """Shown albums with at least one present clip, newest first."""
    state = store.load(lib)
    files = _file_rows(lib)
    times = _Times(files)
    views = []
    for album in state.albums.values():
        fids = [f for f in state.members[album.id] if f in files]
        if album.shown and fids:
            views.append(_view(album, fids, files, times))
    views.sort(key=lambda v: (v["start"] or "", v["id"]), reverse=True)
    return views


def album_view(lib: Library, album_id: int) -> dict:
    album = shown_album(lib, album_id)
    fids = list(store.members(lib, album_id))
    files = _file_rows(lib, fids)
    present = [f for f in fids if f in files]
    if not present:
        return {"id": album.id, "title": album.title, "files": [], "start": None,
                "end": None, "cover": None}
    return _view(album, present, files, _Times(files))


def shown_album(lib: Library, album_id: int) -> store.AlbumRow:
    album = store.album(lib, album_id)
    if album is None or not album.shown:
        raise AlbumError(f"no album {album_id}")
    return album
