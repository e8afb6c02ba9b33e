"""State marks: a number for what a derived result (albums placed, people placed) was
computed from, kept in the ``changes`` table, so a run with nothing new can skip."""

from __future__ import annotations

import hashlib

import numpy as np

from app.store.library import Library


def state_mark(lib: Library, index_changes: int, queries: tuple[str, ...]) -> int:
    """A 63-bit hash of the index's change counter and the rows ``queries`` return (all
    integer columns, in a stable order): any edit, by any writer, gives another."""
    h = hashlib.blake2b(str(index_changes).encode(), digest_size=8)
    cur = lib.conn.cursor()
    cur.row_factory = None
    for sql in queries:
        h.update(np.array(cur.execute(sql).fetchall(), np.int64).tobytes())
        h.update(b"|")
    return int.from_bytes(h.digest(), "little") >> 1


def read_mark(lib: Library, scope: str) -> int | None:
    row = lib.conn.execute("SELECT n FROM changes WHERE scope = ?", (scope,)).fetchone()
    return None if row is None else row[0]


def write_mark(lib: Library, scope: str, mark: int) -> None:
    """Callers group it with their writes in ``lib.transaction()``."""
    lib.conn.execute("INSERT INTO changes(scope, n) VALUES (?, ?) "
                     "ON CONFLICT(scope) DO UPDATE SET n = excluded.n", (scope, mark))
