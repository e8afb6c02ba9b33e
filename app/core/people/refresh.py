"""People: face tracks of the whole library grouped into people, kept stable across runs
and the user's word.

A run (``refresh_people``) keeps every person and every face already placed and only
places what is in no person: a track joins the person it is surely part of, tracks that
fit no person but fit together become a new person once they have ``MIN_FACES`` faces,
and the rest wait for more. Running again without changes changes nothing, so person ids
stay put.

The user's word is kept as anchors (``app.store.people``): tracks they named or merged
into a person always go to it; a track they took out of a person never goes back to it.
Anchors are face-track vectors, so they hold after a file is indexed again (its faces
get new ids) and for copies of the clip. ``rebuild=True`` re-groups every track that no
anchor holds, and each new group takes the id of the person it shares most faces with:
names, hidden people and ids survive.
"""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from app.core.people import clustering
from app.store import people as store
from app.store.library import Library
from app.store.vectors import change_count

MIN_FACES = 3  # identity faces a new person needs before it is made (and shown)
FILE_CHUNK = 2000  # files whose faces are read at a time
# An album's title names the named people seen in at least this share of its clips.
TITLE_SHARE = 1 / 3
TITLE_NAMES = 3


class PeopleError(Exception):
    """A user operation that cannot be done (unknown person, face not in a person...)."""


def name_key(name: str) -> str:
    """What a name is matched by: lower case, accents folded, spaces collapsed."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(text.split())


@dataclass
class Tracks:
    """The identity-face tracks of the library, and which faces make them."""

    keys: np.ndarray  # int64 [n, 2]: file id, track number
    vectors: np.ndarray  # float16 [n, 1024], L2-normed quality-weighted mean
    faces: np.ndarray  # int64 [n]: identity faces in the track
    person: np.ndarray  # int64 [n]: the person its faces are in, -1 none
    face_ids: np.ndarray  # int64 [m]
    face_track: np.ndarray  # int64 [m]: row in keys of each face
    face_person: np.ndarray  # int64 [m]: as stored


def load_tracks(lib: Library) -> Tracks:
    files = store.face_files(lib)
    keys, vectors, counts, persons = [], [], [], []
    face_ids, face_track, face_person = [], [], []
    n_tracks = 0
    for lo in range(0, len(files), FILE_CHUNK):
        b = store.face_block(lib, files[lo:lo + FILE_CHUNK])
        if not len(b.face_ids):
            continue
        key = np.stack([b.file_ids, b.tracks], axis=1)
        starts = np.flatnonzero(np.r_[True, np.any(key[1:] != key[:-1], axis=1)])
        track_of = np.cumsum(np.r_[False, np.any(key[1:] != key[:-1], axis=1)])
        w = np.maximum(b.quality, 1e-3)[:, None]
        sums = np.add.reduceat(b.vectors.astype(np.float32) * w, starts, axis=0)
        keys.append(key[starts])
        vectors.append(clustering.normalized(sums).astype(np.float16))
        counts.append(np.diff(np.r_[starts, len(key)]))
        # A track's person: what most of its faces say (they agree unless edited by hand).
        per = []
        for s, e in zip(starts, np.r_[starts[1:], len(key)], strict=True):
            values = b.person_ids[s:e]
            per.append(Counter(values.tolist()).most_common(1)[0][0])
        persons.append(np.array(per, np.int64))
        face_ids.append(b.face_ids)
        face_track.append(track_of + n_tracks)
        face_person.append(b.person_ids)
        n_tracks += len(starts)
    if not keys:
        z = np.zeros(0, np.int64)
        return Tracks(np.zeros((0, 2), np.int64), np.zeros((0, store.FACE_DIM), np.float16),
                      z, z, z, z, z)
    return Tracks(np.concatenate(keys), np.concatenate(vectors), np.concatenate(counts),
                  np.concatenate(persons), np.concatenate(face_ids),
                  np.concatenate(face_track), np.concatenate(face_person))


# ---- runs --------------------------------------------------------------------------
def refresh_people(lib: Library, rebuild: bool = False) -> list[dict]:
    """Place new faces into people (or re-group with ``rebuild``), and list the people.

    Like albums, a run remembers the state it left; when nothing changed since, it only
    lists."""
    index = change_count(lib)
    if rebuild or store.placed_mark(lib) != store.state_mark(lib, index):
        tracks = load_tracks(lib)
        with lib.transaction():
            place(lib, tracks, rebuild=rebuild)
            store.set_placed_mark(lib, store.state_mark(lib, index))
        del tracks
    return list_people(lib)


def _constraints(tracks: Tracks, anchors: store.Anchors, known: set[int]
                 ) -> tuple[dict[int, int], set[tuple[int, int]]]:
    """Track row -> person its 'must' anchors put it in; (track row, person) pairs its
    'never' anchors forbid. Where a track is like both kinds of one person's anchors
    (one face the user kept, a look-alike the user took out), the closer one holds."""
    best: dict[tuple[int, int, bool], float] = {}
    a = anchors.vectors.astype(np.float32)
    for row, k in clustering.anchor_matches(tracks.vectors, anchors.vectors):
        person = int(anchors.person_ids[k])
        if person in known:
            key = (row, person, bool(anchors.must[k]))
            best[key] = max(best.get(key, -1.0),
                            float(tracks.vectors[row].astype(np.float32) @ a[k]))
    must: dict[int, int] = {}
    must_score: dict[int, float] = {}
    never: set[tuple[int, int]] = set()
    for (row, person, is_must), sim in best.items():
        if is_must:
            if sim > best.get((row, person, False), -1.0) and sim > must_score.get(row, -1.0):
                must[row], must_score[row] = person, sim
        elif sim >= best.get((row, person, True), -1.0):
            never.add((row, person))
    return must, never


def place(lib: Library, tracks: Tracks, rebuild: bool = False) -> None:
    """Assign tracks to people (within the caller's transaction)."""
    people = store.people(lib)
    known = set(people)
    anchors = store.anchors(lib)
    must, never = _constraints(tracks, anchors, known)
    before = np.where(np.isin(tracks.person, list(known)), tracks.person, -1)
    assign = before.copy()
    if rebuild:
        # Only what anchors hold is placed now; the groups found below take their old
        # ids by overlap.
        assign[:] = -1
    for row, person in must.items():
        assign[row] = person
    for row, person in never:
        if assign[row] == person:
            assign[row] = -1

    # Join: unplaced tracks to the person they are surely part of.
    vectors = tracks.vectors
    placed = np.flatnonzero(assign >= 0)
    waiting = np.flatnonzero(assign < 0)
    best, score, _ = clustering.best_people(vectors[waiting], vectors[placed], assign[placed])
    for i, row in enumerate(waiting.tolist()):
        if best[i] >= 0 and score[i] >= clustering.JOIN and (row, int(best[i])) not in never:
            assign[row] = int(best[i])

    # Group what is left; groups with enough faces become people.
    waiting = np.flatnonzero(assign < 0)
    labels = clustering.group(vectors[waiting])
    groups = defaultdict(list)
    for row, label in zip(waiting.tolist(), labels.tolist(), strict=True):
        groups[label].append(row)
    new_groups = [rows for rows in groups.values()
                  if int(tracks.faces[rows].sum()) >= MIN_FACES]
    # Each group takes the id of the person it held most faces of before (a rebuild, or
    # a person whose tracks were all released), so ids and names survive.
    candidates = []
    for g, rows in enumerate(new_groups):
        shared: Counter = Counter()
        for row in rows:
            if before[row] >= 0:
                shared[int(before[row])] += int(tracks.faces[row])
        candidates += [(-n, person, g) for person, n in shared.items()]
    taken_people = set(assign[assign >= 0].tolist())
    id_of: dict[int, int] = {}
    for _, person, g in sorted(candidates):
        if g not in id_of and person not in taken_people:
            id_of[g] = person
            taken_people.add(person)
    for g, rows in enumerate(new_groups):
        person = id_of.get(g)
        if person is None:
            person = store.insert_person(lib)
            people[person] = store.PersonRow(person, None, False, None)
        for row in rows:
            if (row, person) not in never:
                assign[row] = person

    # Write the faces whose person changed, then tidy the people.
    new_face_person = assign[tracks.face_track]
    changed = np.flatnonzero(new_face_person != tracks.face_person)
    store.set_face_people(lib, ((int(tracks.face_ids[i]),
                                 None if new_face_person[i] < 0 else int(new_face_person[i]))
                                for i in changed))
    _tidy(lib, people, set(assign[assign >= 0].tolist()))


def _tidy(lib: Library, people: dict[int, store.PersonRow], holding: set[int]) -> None:
    """People holding no face and not the user's (unnamed, not hidden, no anchors) go;
    the rest get the cover of their best face."""
    anchored = set(store.anchors(lib).person_ids.tolist())
    counts = store.person_counts(lib)
    for pid, row in people.items():
        if pid not in holding and pid not in counts and row.name is None and not row.hidden \
                and pid not in anchored:
            store.delete_person(lib, pid)
            continue
        best = counts[pid].best_face if pid in counts else None
        if best is not None and best != row.cover_face_id:
            store.update_person(lib, pid, cover_face_id=best)


# ---- reading -------------------------------------------------------------------------
def _view(row: store.PersonRow, counts: store.PersonCounts, paths: dict[int, str]) -> dict:
    return {"id": row.id, "name": row.name, "faces": counts.faces,
            "files": [paths[f] for f in counts.file_ids if f in paths],
            "cover": row.cover_face_id if row.cover_face_id is not None else counts.best_face}


def list_people(lib: Library, hidden: bool = False) -> list[dict]:
    """Shown people (or only the hidden ones) with faces in present files, most faces
    first: {"id", "name", "faces", "files": [paths, most faces first], "cover": face id}."""
    counts = store.person_counts(lib)
    paths = _paths(lib, {f for c in counts.values() for f in c.file_ids})
    out = [_view(row, counts[pid], paths) for pid, row in store.people(lib).items()
           if pid in counts and row.hidden == hidden
           and (counts[pid].faces >= MIN_FACES or row.name)]
    out.sort(key=lambda p: (-p["faces"], p["id"]))
    return out


def person_view(lib: Library, person_id: int) -> dict:
    row = store.person(lib, person_id)
    if row is None:
        raise PeopleError(f"no person {person_id}")
    counts = store.person_counts(lib).get(person_id, store.PersonCounts(0, [], None))
    return _view(row, counts, _paths(lib, counts.file_ids))


def person_faces(lib: Library, person_id: int) -> list[dict]:
    """Every face of a person (for the face grid): id, file, path, time, box, track."""
    if store.person(lib, person_id) is None:
        raise PeopleError(f"no person {person_id}")
    return store.person_faces(lib, person_id)


def file_people(lib: Library, file_id: int) -> list[dict]:
    """The shown people in a clip: {"id", "name", "times", "boxes"}."""
    return store.file_people(lib, file_id)


def names_in_files(lib: Library, file_ids: list[int], share: float = TITLE_SHARE,
                   most: int = TITLE_NAMES) -> list[str]:
    """Names of the named people seen in at least ``share`` of these clips, most clips
    first (at most ``most``): what an album of these clips is titled with."""
    if not file_ids:
        return []
    counts: Counter = Counter()
    for names in store.file_names(lib, file_ids).values():
        counts.update(set(names))
    need = max(1.0, share * len(set(file_ids)))
    return [name for name, n in sorted(counts.items(), key=lambda x: (-x[1], x[0]))
            if n >= need][:most]


def _paths(lib: Library, file_ids) -> dict[int, str]:
    return store.file_paths(lib, file_ids)
