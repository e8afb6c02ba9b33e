"""Albums in the library: the only SQL for auto-albums and the user's edits to them.

Schema (migration 2): ``albums``, ``album_files`` (``source`` = auto | user) and
``album_exclusions``. ``albums.origin`` is ``auto`` (made by clustering), ``user``
(created by the user) or ``dismissed``: an album the user deleted. A dismissed album
keeps its rows but is never shown, so clustering treats its clips as already grouped
and does not bring the deleted album back under a new id. ``album_unsorted`` (migration
10): the clips the last placement left in no album.
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
_CONTEXT = "albums_context"  # ``context_mark`` at the last placement
_NAMED_PEOPLE = "SELECT id, length(name), hidden FROM people WHERE name IS NOT NULL ORDER BY id"
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


def load(lib: Library, album_ids: list[int] | None = None) -> AlbumState:
    """Every album (or these), its clips and exclusions."""
    if album_ids is None:
        chunks, where = [()], ""
    else:
        ids = sorted({int(a) for a in album_ids})
        chunks = [ids[lo:lo + _ID_CHUNK] for lo in range(0, len(ids), _ID_CHUNK)]
    albums: dict[int, AlbumRow] = {}
    members: dict[int, dict[int, str]] = {}
    exclusions: dict[int, set[int]] = {}
    for chunk in chunks:
        if album_ids is not None:
            where = f" WHERE {{}} IN ({','.join('?' * len(chunk))})"
        rows = lib.conn.execute(f"SELECT * FROM albums{where.format('id')} ORDER BY id", chunk)
        albums.update((r["id"], _row(r)) for r in rows)
        members.update((a, {}) for a in albums if a not in members)
        exclusions.update((a, set()) for a in albums if a not in exclusions)
        for r in lib.conn.execute("SELECT album_id, file_id, source FROM album_files"
                                  f"{where.format('album_id')} ORDER BY album_id, file_id",
                                  chunk):
            members[r[0]][r[1]] = r[2]
        for r in lib.conn.execute("SELECT album_id, file_id FROM album_exclusions"
                                  f"{where.format('album_id')}", chunk):
            exclusions[r[0]].add(r[1])
    return AlbumState(dict(sorted(albums.items())), members, exclusions)


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
    # CROSS JOIN fixes the order (albums' clips, then their files, then labels): left
    # to itself, the planner starts from every present file even for a few albums.
    members = f"FROM album_files m CROSS JOIN files f ON f.id = m.file_id AND {_PRESENT}"
    chunks = [None] if album_ids is None else [
        album_ids[lo:lo + _ID_CHUNK] for lo in range(0, len(album_ids), _ID_CHUNK)]
    for chunk in chunks:
        where, params = ("", ()) if chunk is None else (
            f" WHERE m.album_id IN ({','.join('?' * len(chunk))})", tuple(chunk))
        clips = dict(lib.conn.execute(
            f"SELECT m.album_id, COUNT(*) {members}{where} GROUP BY m.album_id", params))
        sound = dict(lib.conn.execute(
            f"SELECT m.album_id, COUNT(DISTINCT m.file_id) {members} "
            f"CROSS JOIN labels l ON l.file_id = m.file_id AND l.kind = 'audio'{where} "
            "GROUP BY m.album_id", params))
        rows = lib.conn.execute(
            f"SELECT m.album_id, l.kind, l.label, SUM(l.score) {members} "
            f"CROSS JOIN labels l ON l.file_id = m.file_id{where} "
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
        _NAMED_PEOPLE))


def placed_mark(lib: Library) -> int | None:
    return marks.read_mark(lib, _PLACED)


def context_mark(lib: Library) -> int:
    """A number for what albums depend on besides their clips' vectors and times: which
    of their clips are missing (titles and covers count present clips), the named
    people (titles name them), and the places of clips placed before (place groups join
    events; titles name places), the user's place corrections and named spots. Another
    number means some albums nobody edited may change: every one is placed and titled
    again. New clips' places do not count (the clips in no album nor in
    ``album_unsorted``): placing them is what a refresh after a scan does anyway."""
    e6 = "CAST(round({} * 1e6) AS INTEGER)"
    return marks.state_mark(lib, 0, (
        "SELECT m.album_id, m.file_id FROM album_files m JOIN files f ON f.id = m.file_id "
        f"WHERE NOT ({_PRESENT}) ORDER BY m.album_id, m.file_id",
        _NAMED_PEOPLE,
        f"SELECT f.id, {e6.format('f.lat')}, {e6.format('f.lon')}, coalesce(f.geoname_id, -1) "
        "FROM files f WHERE f.lat IS NOT NULL AND (EXISTS (SELECT 1 FROM album_files m "
        "WHERE m.file_id = f.id) OR EXISTS (SELECT 1 FROM album_unsorted u "
        "WHERE u.file_id = f.id)) ORDER BY f.id",
        f"SELECT file_id, coalesce({e6.format('lat')}, 0), coalesce({e6.format('lon')}, 0), "
        "lat IS NULL, coalesce(geoname_id, -1) FROM place_edits ORDER BY file_id",
        f"SELECT id, {e6.format('lat')}, {e6.format('lon')}, {e6.format('radius_m')}, "
        "length(name) FROM place_names ORDER BY id"))


def placed_context_mark(lib: Library) -> int | None:
    """``context_mark`` as it was when the albums were last placed whole."""
    return marks.read_mark(lib, _CONTEXT)


def unplaced_files(lib: Library) -> dict[int, str | None]:
    """{file id: indexed_at} of present indexed clips in no album that no placement has
    looked at as they are now indexed: new clips, clips indexed again, and clips taken
    out of an album since (schema 10)."""
    return dict(lib.conn.execute(
        f"SELECT f.id, f.indexed_at FROM files f JOIN clips c ON c.file_id = f.id "
        f"WHERE {_PRESENT} "
        "AND NOT EXISTS (SELECT 1 FROM album_files m WHERE m.file_id = f.id) "
        "AND NOT EXISTS (SELECT 1 FROM album_unsorted u WHERE u.file_id = f.id "
        "AND u.indexed_at IS f.indexed_at)").fetchall())


def indexed_at(lib: Library, file_ids: list[int] | None = None) -> dict[int, str | None]:
    """{file id: indexed_at} of present indexed files (all, or these)."""
    sql = f"SELECT f.id, f.indexed_at FROM files f WHERE {_PRESENT}"
    if file_ids is None:
        return dict(lib.conn.execute(sql).fetchall())
    ids = sorted({int(f) for f in file_ids})
    out: dict[int, str | None] = {}
    for lo in range(0, len(ids), _ID_CHUNK):
        chunk = ids[lo:lo + _ID_CHUNK]
        out.update(lib.conn.execute(f"{sql} AND f.id IN ({','.join('?' * len(chunk))})",
                                    chunk).fetchall())
    return out


# ---- writes (callers group them with ``lib.transaction()``) ------------------------
def set_placed_mark(lib: Library, mark: int) -> None:
    marks.write_mark(lib, _PLACED, mark)


def set_context_mark(lib: Library, mark: int) -> None:
    marks.write_mark(lib, _CONTEXT, mark)


def remember_unsorted(lib: Library, rows: dict[int, str | None]) -> None:
    """Clips a placement left in no album ({file id: indexed_at as it read them})."""
    lib.conn.executemany(
        "INSERT INTO album_unsorted(file_id, indexed_at) VALUES (?, ?) "
        "ON CONFLICT(file_id) DO UPDATE SET indexed_at = excluded.indexed_at", rows.items())


def forget_unsorted(lib: Library, file_ids: list[int] | None = None) -> None:
    """These clips (or all) are no longer known to be unsorted."""
    if file_ids is None:
        lib.conn.execute("DELETE FROM album_unsorted")
        return
    lib.conn.executemany("DELETE FROM album_unsorted WHERE file_id = ?",
                         [(int(f),) for f in file_ids])


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
