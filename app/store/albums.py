"""Albums in the library: the only SQL for auto-albums and the user's edits to them.

Schema (migration 2): ``albums``, ``album_files`` (``source`` = auto | user) and
``album_exclusions``. ``albums.origin`` is ``auto`` (made by clustering), ``user``
(created by the user) or ``dismissed``: an album the user deleted. A dismissed album
keeps its rows but is never shown, so clustering treats its clips as already grouped
and does not bring the deleted album back under a new id.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.store.library import Library

AUTO, USER, DISMISSED = "auto", "user", "dismissed"


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


def file_labels(lib: Library, file_ids: list[int] | None = None,
                ) -> dict[int, list[tuple[str, str, float]]]:
    """Top labels of files (all indexed files by default): {file id: [(kind, label, score)]}."""
    sql = "SELECT file_id, kind, label, score FROM labels"
    params: tuple = ()
    if file_ids is not None:
        sql += f" WHERE file_id IN ({','.join('?' * len(file_ids))})"
        params = tuple(file_ids)
    out: dict[int, list[tuple[str, str, float]]] = {}
    for r in lib.conn.execute(sql + " ORDER BY file_id, kind, score DESC", params):
        out.setdefault(r[0], []).append((r[1], r[2], r[3]))
    return out


# ---- writes (callers group them with ``lib.transaction()``) ------------------------
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
