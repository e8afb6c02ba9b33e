"""SQL of the trash journal (table ``trash``, migration 2) and of purging missing files.

A journal entry walks through states: ``intent`` (written before anything moves),
then ``trashed`` or ``failed``; Undo takes a trashed entry through ``restoring`` to
``restored`` (or back to ``trashed``). The file's own row stays in ``files`` with
presence ``trashed``, so Undo brings back its vectors and labels untouched.

A trashed row belongs to its trash entry until the trash is emptied, whatever now lives
at its old path: its ``path`` is set aside (``aside_path``; the journal keeps the
original), so a new file created there is indexed as a new row and a scan never
overwrites the trashed clip's rows. Undo gives the path back. When the file is no
longer in the trash (emptied by hand), Undo settles the entry as ``gone`` and the row
becomes ``missing``, which ``purge-missing`` forgets.
"""

from __future__ import annotations

from app.store.library import Library, aside_path, now_iso

UNFINISHED = ("intent", "restoring")


class TrashLog:
    def __init__(self, library: Library):
        self.lib = library
        self.conn = library.conn

    def add_intents(self, batch: str, files: list[dict]) -> list[int]:
        """One ``intent`` entry per file, in one transaction, before anything moves."""
        ids = []
        with self.lib.transaction() as c:
            for f in files:
                cur = c.execute(
                    "INSERT INTO trash(file_id, path, size, mtime, fingerprint, state, batch, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, 'intent', ?, ?)",
                    (f["id"], f["path"], f["size"], f["mtime"], f["fingerprint"], batch,
                     now_iso()))
                ids.append(cur.lastrowid)
        return ids

    def plan(self, entry_id: int, method: str, trashed_path: str | None) -> None:
        """Where the file is about to go: written before the move, for reconcile."""
        self.conn.execute("UPDATE trash SET method = ?, trashed_path = ?, updated_at = ? "
                          "WHERE id = ?", (method, trashed_path, now_iso(), entry_id))

    def finish_trashed(self, entry_id: int, method: str, trashed_path: str | None) -> None:
        with self.lib.transaction() as c:
            c.execute("UPDATE trash SET state = 'trashed', method = ?, trashed_path = ?, "
                      "reason = NULL, updated_at = ? WHERE id = ?",
                      (method, trashed_path, now_iso(), entry_id))
            file_id, path = c.execute("SELECT file_id, path FROM trash WHERE id = ?",
                                      (entry_id,)).fetchone()
            c.execute("UPDATE files SET presence = 'trashed', path = ? WHERE id = ?",
                      (aside_path("trash", entry_id, path), file_id))

    def fail(self, entry_id: int, reason: str) -> None:
        self.conn.execute("UPDATE trash SET state = 'failed', reason = ?, updated_at = ? "
                          "WHERE id = ?", (reason, now_iso(), entry_id))

    def set_state(self, entry_id: int, state: str, reason: str | None = None) -> None:
        self.conn.execute("UPDATE trash SET state = ?, reason = ?, updated_at = ? WHERE id = ?",
                          (state, reason, now_iso(), entry_id))

    def finish_restored(self, entry_id: int) -> None:
        """The file is back at its path: so are its rows. A row a scan made meanwhile for
        another file at that path describes a file no longer there: it is set aside as
        missing (a later scan that finds it elsewhere moves it; purge-missing forgets it)."""
        with self.lib.transaction() as c:
            c.execute("UPDATE trash SET state = 'restored', reason = NULL, updated_at = ? "
                      "WHERE id = ?", (now_iso(), entry_id))
            file_id, path = c.execute("SELECT file_id, path FROM trash WHERE id = ?",
                                      (entry_id,)).fetchone()
            if file_id is None:
                return
            for (other,) in c.execute("SELECT id FROM files WHERE path = ? AND id != ?",
                                      (path, file_id)).fetchall():
                c.execute("UPDATE files SET path = ?, presence = 'missing' WHERE id = ?",
                          (aside_path("replaced", other, path), other))
            c.execute("UPDATE files SET presence = 'present', path = ?, seen_at = ? "
                      "WHERE id = ?", (path, now_iso(), file_id))

    def settle_gone(self, entry_id: int, reason: str) -> None:
        """The file left the trash without Undo (the trash was emptied): the entry is
        closed, and its rows are those of a missing file (purge-missing forgets them)."""
        with self.lib.transaction() as c:
            c.execute("UPDATE trash SET state = 'gone', reason = ?, updated_at = ? "
                      "WHERE id = ?", (reason, now_iso(), entry_id))
            c.execute("UPDATE files SET presence = 'missing' WHERE id = "
                      "(SELECT file_id FROM trash WHERE id = ?)", (entry_id,))

    def entry(self, entry_id: int) -> dict | None:
        row = self.conn.execute("SELECT * FROM trash WHERE id = ?", (entry_id,)).fetchone()
        return dict(row) if row else None

    def entries(self, batch: str | None = None, states: tuple[str, ...] = ()) -> list[dict]:
        where, args = [], []
        if batch is not None:
            where.append("batch = ?")
            args.append(batch)
        if states:
            where.append(f"state IN ({','.join('?' * len(states))})")
            args += states
        sql = "SELECT * FROM trash" + (" WHERE " + " AND ".join(where) if where else "")
        return [dict(r) for r in self.conn.execute(sql + " ORDER BY id", args)]

    def last_batch(self) -> str | None:
        """The most recent batch that still has files in the trash."""
        row = self.conn.execute("SELECT batch FROM trash WHERE state = 'trashed' "
                                "ORDER BY id DESC LIMIT 1").fetchone()
        return row[0] if row else None


def missing_files(library: Library) -> list[dict]:
    return [dict(r) for r in library.conn.execute(
        "SELECT f.id, f.path, f.root_id, r.path AS root_path FROM files f "
        "LEFT JOIN roots r ON r.id = f.root_id WHERE f.presence = 'missing' ORDER BY f.path")]


def delete_missing(library: Library, file_ids: list[int]) -> int:
    """Delete files (and, by cascade, their index rows) still marked missing."""
    deleted = 0
    with library.transaction() as c:
        for i in range(0, len(file_ids), 500):
            chunk = file_ids[i:i + 500]
            # The presence test is repeated here: an offline or returned file is never purged.
            deleted += c.execute(
                f"DELETE FROM files WHERE presence = 'missing' AND id IN "
                f"({','.join('?' * len(chunk))})", chunk).rowcount
    return deleted
