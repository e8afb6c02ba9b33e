"""Places in the library (schema 5): the only SQL for locations, the user's corrections
and named spots.

- ``files.lat/lon``: the location in the file's own metadata; ``files.location_read``: the
  metadata was read for one; ``files.geoname_id/geo_version``: the place it resolves to.
- ``place_edits``: the user's word on a clip's place (a point, or none at all).
- ``place_names``: spots the user named, with a radius.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.store.library import Library

_PRESENT = "f.status = 'indexed' AND f.presence = 'present'"
_CHUNK = 500


@dataclass
class ClipLocation:
    """Where a clip was shot as the library knows it: the user's edit, else its metadata."""

    file_id: int
    path: str
    lat: float | None
    lon: float | None
    geoname_id: int | None  # resolved with geo_version
    geo_version: str | None
    source: str  # "file" (its metadata), "user" (set by the user), "cleared" (user: none)
    created: str | None
    file_time: str | None


_LOCATION_SQL = (
    "SELECT f.id, f.path, "
    "CASE WHEN e.file_id IS NULL THEN f.lat ELSE e.lat END, "
    "CASE WHEN e.file_id IS NULL THEN f.lon ELSE e.lon END, "
    "CASE WHEN e.file_id IS NULL THEN f.geoname_id ELSE e.geoname_id END, "
    "CASE WHEN e.file_id IS NULL THEN f.geo_version ELSE e.geo_version END, "
    "CASE WHEN e.file_id IS NULL THEN 'file' WHEN e.lat IS NULL THEN 'cleared' "
    "ELSE 'user' END, f.created, f.file_time "
    "FROM files f LEFT JOIN place_edits e ON e.file_id = f.id")


def locations(lib: Library, file_ids: Iterable[int] | None = None,
              located_only: bool = True) -> list[ClipLocation]:
    """Locations of present indexed files (all, or these), by file id; ``located_only``
    leaves out files without one."""
    where = _PRESENT
    if located_only:
        where += " AND (CASE WHEN e.file_id IS NULL THEN f.lat ELSE e.lat END) IS NOT NULL"
    if file_ids is None:
        rows = lib.conn.execute(f"{_LOCATION_SQL} WHERE {where} ORDER BY f.id").fetchall()
    else:
        ids = sorted({int(i) for i in file_ids})
        rows = []
        for lo in range(0, len(ids), _CHUNK):
            chunk = ids[lo:lo + _CHUNK]
            rows += lib.conn.execute(f"{_LOCATION_SQL} WHERE {where} AND f.id IN "
                                     f"({','.join('?' * len(chunk))}) ORDER BY f.id",
                                     chunk).fetchall()
    return [ClipLocation(*r) for r in rows]


def any_located(lib: Library) -> bool:
    """Whether some present indexed file has a location (``locations`` would list one)."""
    return lib.conn.execute(
        "SELECT 1 FROM files f LEFT JOIN place_edits e ON e.file_id = f.id "
        f"WHERE {_PRESENT} AND (CASE WHEN e.file_id IS NULL THEN f.lat ELSE e.lat END) "
        "IS NOT NULL LIMIT 1").fetchone() is not None


def location_of(lib: Library, file_id: int) -> ClipLocation | None:
    """One file's location row (whatever its status), None if the file is unknown."""
    row = lib.conn.execute(f"{_LOCATION_SQL} WHERE f.id = ?", (file_id,)).fetchone()
    return ClipLocation(*row) if row else None


# ---- reading the files' metadata -----------------------------------------------------------
def files_to_locate(lib: Library, file_ids: Iterable[int]) -> list[tuple[int, str]]:
    """(id, path) of these files that are indexed and whose metadata was never read for
    a location (indexed before schema 5)."""
    ids = sorted({int(i) for i in file_ids})
    out = []
    for lo in range(0, len(ids), _CHUNK):
        chunk = ids[lo:lo + _CHUNK]
        out += lib.conn.execute(
            "SELECT id, path FROM files WHERE status = 'indexed' AND location_read IS NULL "
            f"AND id IN ({','.join('?' * len(chunk))}) ORDER BY id", chunk).fetchall()
    return [(int(i), p) for i, p in out]


def set_file_locations(lib: Library, found: Iterable[tuple[int, float | None, float | None]]
                       ) -> None:
    """(file id, lat, lon) read from the files' metadata (None, None: none there)."""
    rows = [(lat, lon, int(f)) for f, lat, lon in found]
    with lib.transaction() as c:
        c.executemany("UPDATE files SET lat = ?, lon = ?, location_read = 1, geoname_id = NULL, "
                      "geo_version = NULL WHERE id = ?", rows)


# ---- resolving locations to places ---------------------------------------------------------
def unresolved(lib: Library, version: str) -> list[tuple[str, int, float, float]]:
    """("file" | "edit", file id, lat, lon) of locations not resolved with ``version``."""
    rows = lib.conn.execute(
        "SELECT 'file', id, lat, lon FROM files WHERE lat IS NOT NULL "
        "AND geo_version IS NOT ? UNION ALL "
        "SELECT 'edit', file_id, lat, lon FROM place_edits WHERE lat IS NOT NULL "
        "AND geo_version IS NOT ?", (version, version)).fetchall()
    return [(k, int(f), float(a), float(b)) for k, f, a, b in rows]


def set_resolved(lib: Library, resolved: Iterable[tuple[str, int, int | None]],
                 version: str) -> None:
    """("file" | "edit", file id, geoname id or None) resolved with ``version``."""
    files, edits = [], []
    for kind, file_id, geoname_id in resolved:
        (files if kind == "file" else edits).append((geoname_id, version, int(file_id)))
    with lib.transaction() as c:
        c.executemany("UPDATE files SET geoname_id = ?, geo_version = ? WHERE id = ?", files)
        c.executemany("UPDATE place_edits SET geoname_id = ?, geo_version = ? "
                      "WHERE file_id = ?", edits)


# ---- the user's edits ----------------------------------------------------------------------
def set_edit(lib: Library, file_id: int, lat: float | None, lon: float | None,
             geoname_id: int | None = None, geo_version: str | None = None) -> None:
    """The user's place for a clip; lat/lon None: the clip has no place."""
    lib.conn.execute(
        "INSERT INTO place_edits(file_id, lat, lon, geoname_id, geo_version) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT(file_id) DO UPDATE SET lat = excluded.lat, "
        "lon = excluded.lon, geoname_id = excluded.geoname_id, "
        "geo_version = excluded.geo_version, "
        "edited_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
        (file_id, lat, lon, geoname_id, geo_version))


def delete_edit(lib: Library, file_id: int) -> bool:
    """Forget the user's place for a clip (its metadata counts again)."""
    return lib.conn.execute("DELETE FROM place_edits WHERE file_id = ?",
                            (file_id,)).rowcount > 0


# ---- named spots ---------------------------------------------------------------------------
@dataclass
class Spot:
    id: int
    name: str
    lat: float
    lon: float
    radius_m: float


def spots(lib: Library) -> list[Spot]:
    return [Spot(*r) for r in lib.conn.execute(
        "SELECT id, name, lat, lon, radius_m FROM place_names ORDER BY name")]


def save_spot(lib: Library, name: str, lat: float, lon: float, radius_m: float) -> Spot:
    """Name a spot; a spot of that name already there moves."""
    lib.conn.execute(
        "INSERT INTO place_names(name, lat, lon, radius_m) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET lat = excluded.lat, lon = excluded.lon, "
        "radius_m = excluded.radius_m", (name, lat, lon, radius_m))
    row = lib.conn.execute("SELECT id, name, lat, lon, radius_m FROM place_names "
                           "WHERE name = ?", (name,)).fetchone()
    return Spot(*row)


def delete_spot(lib: Library, name: str) -> bool:
    return lib.conn.execute("DELETE FROM place_names WHERE name = ?", (name,)).rowcount > 0
