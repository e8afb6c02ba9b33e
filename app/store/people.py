"""People in the library: the only SQL for people and the user's word about them.

Schema (migration 5): ``people`` (name, hidden, cover face) and ``person_anchors``: the
user's decisions kept as face-track vectors (a track the user put in a person, or took
out of it), so they outlive face ids, which change when a file is indexed again. Which
person a face is in is ``faces.person_id`` (schema 4, written by ``app.store.analysis``).

Face vectors and crops never leave this file except to the clustering in the core.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from app.store import marks
from app.store.library import Library

FACE_DIM = 1024
MUST, NEVER = "must", "never"
_PRESENT = "f.status = 'indexed' AND f.presence = 'present'"
_ID_CHUNK = 900  # ids per IN (...) list: under SQLite's bound-parameter limit everywhere
_PLACED = "people_placed"  # row of ``changes``: the state people were last placed against


@dataclass
class PersonRow:
    id: int
    name: str | None
    hidden: bool
    cover_face_id: int | None


@dataclass
class FaceBlock:
    """Faces with identity vectors of some files, ordered by (file, track, face id)."""

    face_ids: np.ndarray  # int64 [n]
    file_ids: np.ndarray  # int64 [n]
    tracks: np.ndarray  # int64 [n]
    quality: np.ndarray  # float32 [n]
    person_ids: np.ndarray  # int64 [n], -1: in no person
    vectors: np.ndarray  # float16 [n, 1024]


def _in_chunks(ids: list[int]) -> Iterator[list[int]]:
    for lo in range(0, len(ids), _ID_CHUNK):
        yield ids[lo:lo + _ID_CHUNK]


# ---- faces ------------------------------------------------------------------------
def face_files(lib: Library) -> list[int]:
    """Present indexed files that have at least one face with an identity vector."""
    return [r[0] for r in lib.conn.execute(
        f"SELECT DISTINCT fc.file_id FROM faces fc JOIN files f ON f.id = fc.file_id "
        f"WHERE fc.embedding IS NOT NULL AND {_PRESENT} ORDER BY fc.file_id")]


def face_block(lib: Library, file_ids: list[int]) -> FaceBlock:
    """The identity faces of these files (a chunk: the caller bounds the memory)."""
    rows = []
    for chunk in _in_chunks(sorted(file_ids)):
        rows += lib.conn.execute(
            "SELECT id, file_id, track, quality, person_id, embedding FROM faces "
            f"WHERE embedding IS NOT NULL AND file_id IN ({','.join('?' * len(chunk))})",
            chunk).fetchall()
    rows.sort(key=lambda r: (r[1], r[2], r[0]))
    vectors = (np.frombuffer(b"".join(r[5] for r in rows), np.float16).reshape(-1, FACE_DIM)
               if rows else np.zeros((0, FACE_DIM), np.float16))
    return FaceBlock(np.array([r[0] for r in rows], np.int64),
                     np.array([r[1] for r in rows], np.int64),
                     np.array([r[2] for r in rows], np.int64),
                     np.array([r[3] for r in rows], np.float32),
                     np.array([-1 if r[4] is None else r[4] for r in rows], np.int64),
                     vectors)


def face(lib: Library, face_id: int) -> dict | None:
    r = lib.conn.execute("SELECT id, file_id, t, track, person_id, embedding IS NOT NULL "
                         "FROM faces WHERE id = ?", (face_id,)).fetchone()
    return None if r is None else {"id": r[0], "file_id": r[1], "t": r[2], "track": r[3],
                                   "person_id": r[4], "identity": bool(r[5])}


def track_faces(lib: Library, file_id: int, track: int) -> list[int]:
    return [r[0] for r in lib.conn.execute(
        "SELECT id FROM faces WHERE file_id = ? AND track = ? AND embedding IS NOT NULL",
        (file_id, track))]


def track_vector(lib: Library, file_id: int, track: int) -> np.ndarray | None:
    """(quality-weighted) mean identity vector of a track, float32, not normalized."""
    rows = lib.conn.execute(
        "SELECT quality, embedding FROM faces WHERE file_id = ? AND track = ? "
        "AND embedding IS NOT NULL", (file_id, track)).fetchall()
    if not rows:
        return None
    v = np.frombuffer(b"".join(r[1] for r in rows), np.float16).reshape(-1, FACE_DIM)
    w = np.array([max(r[0], 1e-3) for r in rows], np.float32)
    return (w[:, None] * v.astype(np.float32)).sum(0)


def face_crop(lib: Library, face_id: int) -> bytes | None:
    row = lib.conn.execute("SELECT crop FROM faces WHERE id = ?", (face_id,)).fetchone()
    return row[0] if row else None


# ---- people -----------------------------------------------------------------------
def people(lib: Library) -> dict[int, PersonRow]:
    return {r[0]: PersonRow(r[0], r[1], bool(r[2]), r[3]) for r in lib.conn.execute(
        "SELECT id, name, hidden, cover_face_id FROM people ORDER BY id")}


def person(lib: Library, person_id: int) -> PersonRow | None:
    r = lib.conn.execute("SELECT id, name, hidden, cover_face_id FROM people WHERE id = ?",
                         (person_id,)).fetchone()
    return None if r is None else PersonRow(r[0], r[1], bool(r[2]), r[3])


@dataclass
class PersonCounts:
    faces: int
    file_ids: list[int]  # present files, most faces first
    best_face: int  # the face of highest quality


def person_counts(lib: Library) -> dict[int, PersonCounts]:
    """Per person: faces in present indexed files, those files and the best face."""
    out: dict[int, PersonCounts] = {}
    for pid, n, best in lib.conn.execute(
            "SELECT fc.person_id, COUNT(*), (SELECT b.id FROM faces b JOIN files bf ON "
            f"bf.id = b.file_id WHERE b.person_id = fc.person_id AND "
            f"{_PRESENT.replace('f.', 'bf.')} ORDER BY b.quality DESC, b.id LIMIT 1) "
            "FROM faces fc JOIN files f ON f.id = fc.file_id "
            f"WHERE fc.person_id IS NOT NULL AND {_PRESENT} GROUP BY fc.person_id"):
        out[pid] = PersonCounts(n, [], best)
    for pid, fid, _ in lib.conn.execute(
            "SELECT fc.person_id, fc.file_id, COUNT(*) AS n FROM faces fc JOIN files f ON "
            f"f.id = fc.file_id WHERE fc.person_id IS NOT NULL AND {_PRESENT} "
            "GROUP BY fc.person_id, fc.file_id ORDER BY fc.person_id, n DESC, fc.file_id"):
        out[pid].file_ids.append(fid)
    return out


def person_faces(lib: Library, person_id: int) -> list[dict]:
    """A person's faces in present files: id, file, path, time, box, quality, track."""
    return [{"id": r[0], "file_id": r[1], "path": r[2], "time": r[3],
             "box": [r[4], r[5], r[6], r[7]], "quality": r[8], "track": r[9]}
            for r in lib.conn.execute(
                "SELECT fc.id, fc.file_id, f.path, fc.t, fc.x, fc.y, fc.w, fc.h, fc.quality, "
                "fc.track FROM faces fc JOIN files f ON f.id = fc.file_id "
                f"WHERE fc.person_id = ? AND {_PRESENT} ORDER BY f.path, fc.t", (person_id,))]


def file_people(lib: Library, file_id: int) -> list[dict]:
    """The shown people in a file, each with the times they are seen at."""
    out: dict[int, dict] = {}
    for pid, name, t, x, y, w, h in lib.conn.execute(
            "SELECT p.id, p.name, fc.t, fc.x, fc.y, fc.w, fc.h FROM faces fc "
            "JOIN people p ON p.id = fc.person_id WHERE fc.file_id = ? AND p.hidden = 0 "
            "ORDER BY p.id, fc.t", (file_id,)):
        entry = out.setdefault(pid, {"id": pid, "name": name, "times": [], "boxes": []})
        entry["times"].append(t)
        entry["boxes"].append([x, y, w, h])
    return list(out.values())


def files_with_people(lib: Library, person_ids: Iterable[int]) -> dict[int, dict[int, list[float]]]:
    """person id -> {present file id: times the person is seen at}."""
    ids = sorted({int(p) for p in person_ids})
    out: dict[int, dict[int, list[float]]] = {p: {} for p in ids}
    for chunk in _in_chunks(ids):
        for pid, fid, t in lib.conn.execute(
                "SELECT fc.person_id, fc.file_id, fc.t FROM faces fc JOIN files f ON "
                f"f.id = fc.file_id WHERE {_PRESENT} AND fc.person_id IN "
                f"({','.join('?' * len(chunk))}) ORDER BY fc.file_id, fc.t", chunk):
            out[pid].setdefault(fid, []).append(t)
    return out


def named_people(lib: Library) -> dict[str, list[int]]:
    """name key -> ids of the shown people with that name."""
    out: dict[str, list[int]] = {}
    for key, pid in lib.conn.execute("SELECT name_key, id FROM people WHERE name_key IS NOT "
                                     "NULL AND hidden = 0 ORDER BY id"):
        out.setdefault(key, []).append(pid)
    return out


def file_names(lib: Library, file_ids: Iterable[int]) -> dict[int, list[str]]:
    """file id -> names of the named, shown people in it (most faces first)."""
    ids = sorted({int(f) for f in file_ids})
    out: dict[int, list[str]] = {}
    for chunk in _in_chunks(ids):
        for fid, name, _ in lib.conn.execute(
                "SELECT fc.file_id, p.name, COUNT(*) AS n FROM faces fc JOIN people p ON "
                "p.id = fc.person_id WHERE p.name IS NOT NULL AND p.hidden = 0 AND "
                f"fc.file_id IN ({','.join('?' * len(chunk))}) "
                "GROUP BY fc.file_id, p.id ORDER BY fc.file_id, n DESC, p.id", chunk):
            out.setdefault(fid, []).append(name)
    return out


def file_paths(lib: Library, file_ids: Iterable[int]) -> dict[int, str]:
    """file id -> path, of these files that are present and indexed."""
    out: dict[int, str] = {}
    for chunk in _in_chunks(sorted({int(f) for f in file_ids})):
        out.update(lib.conn.execute(
            f"SELECT f.id, f.path FROM files f WHERE {_PRESENT} AND f.id IN "
            f"({','.join('?' * len(chunk))})", chunk).fetchall())
    return out


# ---- anchors ----------------------------------------------------------------------
@dataclass
class Anchors:
    ids: np.ndarray  # int64 [k]
    person_ids: np.ndarray  # int64 [k]
    must: np.ndarray  # bool [k]: True must, False never
    vectors: np.ndarray  # float16 [k, 1024]


def anchors(lib: Library, person_id: int | None = None) -> Anchors:
    sql = "SELECT id, person_id, kind, vector FROM person_anchors"
    rows = lib.conn.execute(sql + " ORDER BY id" if person_id is None else
                            sql + " WHERE person_id = ? ORDER BY id",
                            () if person_id is None else (person_id,)).fetchall()
    return Anchors(np.array([r[0] for r in rows], np.int64),
                   np.array([r[1] for r in rows], np.int64),
                   np.array([r[2] == MUST for r in rows], bool),
                   np.frombuffer(b"".join(r[3] for r in rows), np.float16).reshape(-1, FACE_DIM)
                   if rows else np.zeros((0, FACE_DIM), np.float16))


# ---- state --------------------------------------------------------------------------
def state_mark(lib: Library, index_changes: int) -> int:
    """A number for what placing faces into people reads: the index's change counter,
    the faces (ids and people), the people and the anchors. Any change gives another."""
    return marks.state_mark(lib, index_changes, (
        "SELECT COUNT(*), COALESCE(MAX(id), 0), COALESCE(SUM(person_id), 0), "
        "COUNT(person_id) FROM faces WHERE embedding IS NOT NULL",
        "SELECT id, hidden FROM people ORDER BY id",
        "SELECT id, person_id, kind = 'must' FROM person_anchors ORDER BY id"))


def placed_mark(lib: Library) -> int | None:
    return marks.read_mark(lib, _PLACED)


# ---- writes (callers group them with ``lib.transaction()``) ------------------------
def set_placed_mark(lib: Library, mark: int) -> None:
    marks.write_mark(lib, _PLACED, mark)


def insert_person(lib: Library) -> int:
    return int(lib.conn.execute("INSERT INTO people(hidden) VALUES (0)").lastrowid)


def update_person(lib: Library, person_id: int, **cols) -> None:
    allowed = {"name", "name_key", "hidden", "cover_face_id"}
    if not cols:
        return
    if not set(cols) <= allowed:
        raise ValueError(sorted(set(cols) - allowed))
    values = [int(v) if isinstance(v, bool) else v for v in cols.values()]
    lib.conn.execute(f"UPDATE people SET {', '.join(f'{c} = ?' for c in cols)} WHERE id = ?",
                     (*values, person_id))


def delete_person(lib: Library, person_id: int) -> None:
    lib.conn.execute("UPDATE faces SET person_id = NULL WHERE person_id = ?", (person_id,))
    lib.conn.execute("DELETE FROM people WHERE id = ?", (person_id,))


def set_face_people(lib: Library, pairs: Iterable[tuple[int, int | None]]) -> None:
    """(face id, person id or None) pairs."""
    lib.conn.executemany("UPDATE faces SET person_id = ? WHERE id = ?",
                         [(p, f) for f, p in pairs])


def move_faces(lib: Library, from_person: int, to_person: int) -> None:
    lib.conn.execute("UPDATE faces SET person_id = ? WHERE person_id = ?",
                     (to_person, from_person))


def add_anchor(lib: Library, person_id: int, kind: str, file_id: int | None,
               vector: np.ndarray) -> None:
    if kind not in (MUST, NEVER):
        raise ValueError(kind)
    lib.conn.execute("INSERT INTO person_anchors(person_id, kind, file_id, vector) "
                     "VALUES (?, ?, ?, ?)",
                     (person_id, kind, file_id, np.asarray(vector, np.float16).tobytes()))


def delete_anchors(lib: Library, anchor_ids: Iterable[int]) -> None:
    lib.conn.executemany("DELETE FROM person_anchors WHERE id = ?",
                         [(int(a),) for a in anchor_ids])


def move_anchors(lib: Library, from_person: int, to_person: int) -> None:
    lib.conn.execute("UPDATE person_anchors SET person_id = ? WHERE person_id = ?",
                     (to_person, from_person))


def delete_face_data(lib: Library) -> int:
    """Every face, person and anchor goes (face recognition turned off). Returns the
    number of faces deleted. Files stay indexed: their other analysis is kept."""
    n = lib.conn.execute("SELECT COUNT(*) FROM faces").fetchone()[0]
    lib.conn.execute("DELETE FROM person_anchors")
    lib.conn.execute("DELETE FROM people")
    lib.conn.execute("DELETE FROM faces")
    lib.conn.execute("DELETE FROM changes WHERE scope = ?", (_PLACED,))
    return int(n)
