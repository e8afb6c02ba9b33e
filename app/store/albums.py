"""Albums in the library: the only SQL for auto-albums and the user's edits to them.

Schema (migration 2): ``albums``, ``album_files`` (``source`` = auto | user) and
``album_exclusions``. ``albums.origin`` is ``auto`` (made by clustering), ``user``
(created by the user) or ``dismissed``: an album the user deleted. A dismissed album
keeps its rows but is never shown, so clustering treats its clips as already grouped
and does not bring the deleted album back under a new id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby

from app.store import marks
from app.store.library import Library

AUTO, USER, DISMISSED = "auto", "user", "dismissed"
# A row of the ``changes`` table (schema 3): the state (``state_mark``) the albums were
# last placed against. Equal to the current state: nothing new to place.
_PLACED = "albums_placed"
_PRESENT = "f.status = 'indexed' AND f.presence = 'present'"
_ID_CHUNK = 900  # ids per IN (...) list: under SQLite's bound-parameter limit everywhere


@dataclass
class AlbumRow:
    id: int
    title: str
    auto_title: str | None
    origin: str
    renamed: bool
    edited: bool
    cover_file_id: int | None

    @property
    def shown(self) -> bool:
        return self.origin != DISMISSED

    @property
    def touched(self) -> bool:
        """The user has had a say in this album: a rebuild keeps what it holds."""
        return self.renamed or self.edited or self.origin != AUTO


@dataclass
class AlbumState:
    albums: dict[int, AlbumRow]
    members: dict[int, dict[int, str]]  # album id -> {file id: source}
    exclusions: dict[int, set[int]]  # album id -> file ids the user took out


def _row(r) -> AlbumRow:
    return AlbumRow(r["id"], r["title"], r["auto_title"], r["origin"], bool(r["renamed"]),
                    bool(r["edited"]), r["cover_file_id"])


def load(lib: Library) -> AlbumState:
    albums = {r["id"]: _row(r) for r in lib.conn.execute("SELECT * FROM albums ORDER BY id")}
    members: dict[int, dict[int, str]] = {a: {} for a in albums}
    for r in lib.conn.execute("SELECT album_id, file_id, source FROM album_files "
                              "ORDER BY album_id, file_id"):
        members[r[0]][r[1]] = r[2]
    exclusions: dict[int, set[int]] = {a: set() for a in albums}
    for r in lib.conn.execute("SELECT album_id, file_id FROM album_exclusions"):
        exclusions[r[0]].add(r[1])
    return AlbumState(albums, members, exclusions)


def album(lib: Library, album_id: int) -> AlbumRow | None:
    r = lib.conn.execute("SELECT * FROM albums WHERE id = ?", (album_id,)).fetchone()
    return _row(r) if r else None


def members(lib: Library, album_id: int) -> dict[int, str]:
    return {r[0]: r[1] for r in lib.conn.execute(
        "SELECT file_id, source FROM album_files WHERE album_id = ? ORDER BY file_id",
        (album_id,))}


def albums_of_file(lib: Library, file_id: int) -> list[AlbumRow]:
    return [_row(r) for r in lib.conn.execute(
        "SELECT a.* FROM albums a JOIN album_files m ON m.album_id = a.id "
        "WHERE m.file_id = ? ORDER BY a.id", (file_id,))]


def file_times(lib: Library, file_ids: list[int] | None = None) -> dict[int, dict]:
    """{file id: {"path", "created", "file_time"}} of indexed, present files (all, or
    these): what albums show and date, without the rest of the files' rows."""
    sql = f"SELECT f.id, f.path, f.created, f.file_time FROM files f WHERE {_PRESENT}"
    if file_ids is None:
        rows = lib.conn.execute(sql).fetchall()
    else:
        ids = sorted({int(f) for f in file_ids})
        rows = []
        for lo in range(0, len(ids), _ID_CHUNK):
            chunk = ids[lo:lo + _ID_CHUNK]
            rows += lib.conn.execute(f"{sql} AND f.id IN ({','.join('?' * len(chunk))})",
                                     chunk).fetchall()
    return {r[0]: {"path": r[1], "created": r[2], "file_time": r[3]} for r in rows}


@dataclass
class AlbumLabels:
    """The labels of an album's present clips, summed."""

    clips: int
    with_sound: int  # clips with at least one sound label
    totals: dict[tuple[str, str], float]  # (kind, label) -> sum of scores


def album_labels(lib: Library, album_ids: list[int] | None = None,
                 ) -> Iterator[tuple[int, AlbumLabels]]:
    """Per album (all, or these), one album at a time: SQLite sums the scores, so a
    whole library's labels (millions of rows) never come to Python one by one, nor
    their sums all at once (hundreds of thousands: 100+ MB of small objects)."""
    members = f"FROM album_files m JOIN files f ON f.id = m.file_id AND {_PRESENT}"
    chunks = [None] if album_ids is None else [
        album_ids[lo:lo + _ID_CHUNK] for lo in range(0, len(album_ids), _ID_CHUNK)]
    for chunk in chunks:
        where, params = ("", ()) if chunk is None else (
            f" WHERE m.album_id IN ({','.join('?' * len(chunk))})", tuple(chunk))
        clips = dict(lib.conn.execute(
            f"SELECT m.album_id, COUNT(*) {members}{where} GROUP BY m.album_id", params))
        sound = dict(lib.conn.execute(
            f"SELECT m.album_id, COUNT(DISTINCT m.file_id) {members} "
            f"JOIN labels l ON l.file_id = m.file_id AND l.kind = 'audio'{where} "
            "GROUP BY m.album_id", params))
        rows = lib.conn.execute(
            f"SELECT m.album_id, l.kind, l.label, SUM(l.score) {members} "
            f"JOIN labels l ON l.file_id = m.file_id{where} "
            "GROUP BY m.album_id, l.kind, l.label ORDER BY m.album_id", params)
        for aid, sums in groupby(rows, key=lambda r: r[0]):
            yield aid, AlbumLabels(clips.pop(aid), sound.get(aid, 0),
                                   {(kind, label): total for _, kind, label, total in sums})
        for aid, n in clips.items():  # albums whose clips have no labels
            yield aid, AlbumLabels(n, 0, {})


def state_mark(lib: Library, index_changes: int) -> int:
    """A number for what placing clips in albums reads: the index (its change counter,
    ``index_changes``) and the albums, their clips and the user's exclusions. Any edit,
    by any writer, gives another number (a 63-bit hash)."""
    return marks.state_mark(lib, index_changes, (
        "SELECT id, origin = 'dismissed', renamed, edited FROM albums ORDER BY id",
        "SELECT album_id, file_id FROM album_files ORDER BY album_id, file_id",
        "SELECT album_id, file_id FROM album_exclusions ORDER BY album_id, file_id",
        # Titles name the named people (schema 6): a name given changes them.
        "SELECT id, length(name), hidden FROM people WHERE name IS NOT NULL ORDER BY id"))


def placed_mark(lib: Library) -> int | None:
    return marks.read_mark(lib, _PLACED)


# ---- writes (callers group them with ``lib.transaction()``) ------------------------
def set_placed_mark(lib: Library, mark: int) -> None:
    marks.write_mark(lib, _PLACED, mark)


def insert_album(lib: Library, title: str, origin: str, auto_title: str | None = None,
                 renamed: bool = False, edited: bool = False) -> int:
    cur = lib.conn.execute(
        "INSERT INTO albums(title, auto_title, origin, renamed, edited) VALUES (?, ?, ?, ?, ?)",
        (title, auto_title, origin, int(renamed), int(edited)))
    return int(cur.lastrowid)


_UPDATABLE = {"title", "auto_title", "origin", "renamed", "edited", "cover_file_id"}


def update_album(lib: Library, album_id: int, **cols) -> None:
    if not cols:
        return
    if not set(cols) <= _UPDATABLE:
        raise ValueError(sorted(set(cols) - _UPDATABLE))
    sets = ", ".join(f"{c} = ?" for c in cols)
    values = [int(v) if isinstance(v, bool) else v for v in cols.values()]
    lib.conn.execute(f"UPDATE albums SET {sets} WHERE id = ?", (*values, album_id))


def delete_album(lib: Library, album_id: int) -> None:
    lib.conn.execute("DELETE FROM albums WHERE id = ?", (album_id,))


def set_member(lib: Library, album_id: int, file_id: int, source: str) -> None:
    lib.conn.execute(
        "INSERT INTO album_files(album_id, file_id, source) VALUES (?, ?, ?) "
        "ON CONFLICT(album_id, file_id) DO UPDATE SET source = excluded.source",
        (album_id, file_id, source))


def remove_member(lib: Library, album_id: int, file_id: int) -> None:
    lib.conn.execute("DELETE FROM album_files WHERE album_id = ? AND file_id = ?",
                     (album_id, file_id))


def exclude(lib: Library, album_id: int, file_id: int) -> None:
    lib.conn.execute("INSERT OR IGNORE INTO album_exclusions(album_id, file_id) VALUES (?, ?)",
                     (album_id, file_id))


def unexclude(lib: Library, album_id: int, file_id: int) -> None:
    lib.conn.execute("DELETE FROM album_exclusions WHERE album_id = ? AND file_id = ?",
                     (album_id, file_id))
