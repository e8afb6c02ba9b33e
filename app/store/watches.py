"""The watch history: one row each time a clip is played (CLI ``watched`` or the player)."""

from __future__ import annotations

from app.store.library import Library


def add_watch(lib: Library, file_id: int, seconds: float | None = None) -> None:
    lib.conn.execute("INSERT INTO watches(file_id, seconds) VALUES (?, ?)", (file_id, seconds))


def file_history(lib: Library, file_id: int) -> dict:
    """How often and how long one file was watched, and when last."""
    row = lib.conn.execute(
        "SELECT count(*) AS watches, total(seconds) AS seconds, max(at) AS last_at "
        "FROM watches WHERE file_id = ?", (file_id,)).fetchone()
    return dict(row)


def watched_files(lib: Library) -> list[dict]:
    """Every file watched at least once: file_id, watches, seconds, last_at (newest first)."""
    return [dict(r) for r in lib.conn.execute(
        "SELECT file_id, count(*) AS watches, total(seconds) AS seconds, max(at) AS last_at "
        "FROM watches GROUP BY file_id ORDER BY last_at DESC, file_id")]
