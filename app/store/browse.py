"""Reads and edits behind the desktop app's browsing: one query per screenful, no BLOBs.

The grid needs every indexed clip at once (sorting and filtering happen in memory), so
its rows are light: numbers and short strings, one query for the whole library.
"""

from __future__ import annotations

from app.store.library import Library

GRID_COLUMNS = ("id", "path", "root_id", "size", "duration", "width", "height", "fps",
                "bitrate", "video_codec", "audio_codec", "has_audio", "created",
                "file_time", "indexed_at", "presence")


def grid_rows(lib: Library) -> list[dict]:
    """Every indexed file with what the grid shows, sorts and filters by (files in the
    trash are left out: Undo brings them back with their data)."""
    cols = ", ".join(f"f.{c}" for c in GRID_COLUMNS)
    return [dict(r) for r in lib.conn.execute(
        f"SELECT {cols}, (SELECT count(*) FROM watches w WHERE w.file_id = f.id) AS watched "
        "FROM files f WHERE f.status = 'indexed' AND f.presence != 'trashed' "
        "ORDER BY coalesce(f.created, f.file_time) DESC, f.path")]


def root_summaries(lib: Library) -> list[dict]:
    """Library folders with how many clips each holds, their size, and problems."""
    return [dict(r) for r in lib.conn.execute(
        "SELECT r.id, r.path, r.added_at, "
        "  count(CASE WHEN f.status = 'indexed' AND f.presence != 'trashed' THEN 1 END) AS clips, "
        "  coalesce(sum(CASE WHEN f.status = 'indexed' AND f.presence != 'trashed' "
        "    THEN f.size END), 0) AS bytes, "
        "  count(CASE WHEN f.status IN ('failed', 'skipped') THEN 1 END) AS problems, "
        "  count(CASE WHEN f.presence = 'offline' THEN 1 END) AS offline, "
        "  count(CASE WHEN f.presence = 'missing' THEN 1 END) AS missing "
        "FROM roots r LEFT JOIN files f ON f.root_id = r.id "
        "GROUP BY r.id ORDER BY r.path")]


def forget_root(lib: Library, path: str) -> int:
    """Take a folder out of the library: its index rows go, the files on disk stay."""
    with lib.transaction() as c:
        row = c.execute("SELECT id FROM roots WHERE path = ?", (path,)).fetchone()
        if row is None:
            return 0
        n = c.execute("DELETE FROM files WHERE root_id = ?", (row[0],)).rowcount
        c.execute("DELETE FROM roots WHERE id = ?", (row[0],))
    return n
