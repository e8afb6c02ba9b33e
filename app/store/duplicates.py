"""What the last duplicates run compared and found (schema 9), so the next run verifies
only the pairs that touch a new or re-indexed clip (app/core/duplicates/finder.py).

The finder reads with whatever library it was given (the CLI and the app read without
the writer's lock, beside a scan); ``save_state`` writes through a writer of its own,
and skips when another process holds the lock: the state is a cache, the next run
redoes what was not remembered.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np

from app.store.library import Library
from app.store.lock import LibraryLocked
from app.store.vectors import rows_for_files

EDGE_COLUMNS = ("a", "b", "kind", "a_start", "a_end", "b_start", "b_end", "similarity",
                "mirrored", "rate")


@dataclass
class State:
    # file id -> (indexed_at when compared, the file of identical bytes it was left out
    # for, or None)
    files: dict[int, tuple[str | None, int | None]]
    edges: list[tuple]  # EDGE_COLUMNS
    basis: np.ndarray | None  # [r, d] float32: how duplicate_moments were reduced


def load_state(lib: Library) -> State:
    files = {r[0]: (r[1], r[2]) for r in lib.conn.execute(
        "SELECT file_id, indexed_at, byte_copy_of FROM duplicate_files")}
    edges = [tuple(r) for r in lib.conn.execute(
        f"SELECT {', '.join(EDGE_COLUMNS)} FROM duplicate_edges")]
    row = lib.conn.execute("SELECT value FROM duplicate_state WHERE key = 'basis'").fetchone()
    basis = None
    if row is not None and row[0] is not None:
        flat = np.frombuffer(row[0], np.float32)
        dim = int(flat[0])
        basis = flat[1:].reshape(-1, dim) if dim else None
    return State(files, edges, basis)


def moment_vectors(lib: Library, file_ids) -> tuple[np.ndarray, np.ndarray]:
    """(owner file of each row [m] int64, rows [m, r] float16) of these files' reduced
    moments, by file id; files without stored rows are left out."""
    owners, blocks = [], []
    dim = 0
    for file_id, blob in rows_for_files(
            lib, "SELECT file_id, vectors FROM duplicate_moments WHERE file_id IN ({ids}) "
            "ORDER BY file_id", file_ids):
        v = np.frombuffer(blob, np.float16)
        blocks.append(v)
        owners.append((file_id, len(v)))
    if not blocks:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float16)
    flat = np.concatenate(blocks)
    state_dim = lib.conn.execute(
        "SELECT value FROM duplicate_state WHERE key = 'moment_dim'").fetchone()
    dim = int(np.frombuffer(state_dim[0], np.int64)[0]) if state_dim else 0
    if not dim:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float16)
    counts = np.array([n // dim for _, n in owners], np.int64)
    return (np.repeat(np.array([f for f, _ in owners], np.int64), counts),
            flat.reshape(-1, dim))


def save_state(lib: Library, files: dict[int, tuple[str | None, int | None]],
               edges: list[tuple], dropped: list[int], moments: dict[int, np.ndarray] | None,
               basis: np.ndarray | None, full: bool) -> bool:
    """Remember a run: ``full`` replaces everything; otherwise the rows of ``dropped``
    files (gone, re-indexed, or compared again) go and ``files``, ``edges`` and
    ``moments`` are added. ``basis`` None keeps the stored one (a full run without
    reduced moments clears them). False when the library could not be written now."""
    writer = lib
    try:
        if lib.readonly:
            writer = Library(lib.path)
    except (LibraryLocked, sqlite3.Error, OSError, RuntimeError):
        return False
    try:
        with writer.transaction() as conn:
            if full:
                for table in ("duplicate_files", "duplicate_edges", "duplicate_moments",
                              "duplicate_state"):
                    conn.execute(f"DELETE FROM {table}")
            else:
                for chunk in _chunks(dropped):
                    marks = ",".join("?" * len(chunk))
                    conn.execute(f"DELETE FROM duplicate_files WHERE file_id IN ({marks})", chunk)
                    conn.execute(f"DELETE FROM duplicate_moments WHERE file_id IN ({marks})",
                                 chunk)
                    conn.execute(f"DELETE FROM duplicate_edges WHERE a IN ({marks}) "
                                 f"OR b IN ({marks})", chunk + chunk)
            conn.executemany("INSERT OR REPLACE INTO duplicate_files VALUES (?, ?, ?)",
                             [(f, at, rep) for f, (at, rep) in files.items()])
            conn.executemany(
                f"INSERT OR REPLACE INTO duplicate_edges VALUES ({','.join('?' * len(EDGE_COLUMNS))})",
                edges)
            if moments:
                dim = next(iter(moments.values())).shape[1]
                conn.executemany("INSERT OR REPLACE INTO duplicate_moments VALUES (?, ?)",
                                 [(f, np.ascontiguousarray(v, np.float16).tobytes())
                                  for f, v in moments.items()])
                conn.execute("INSERT OR REPLACE INTO duplicate_state VALUES ('moment_dim', ?)",
                             (np.array([dim], np.int64).tobytes(),))
            if basis is not None:
                b = np.asarray(basis, np.float32)
                conn.execute("INSERT OR REPLACE INTO duplicate_state VALUES ('basis', ?)",
                             (np.concatenate([[b.shape[1]], b.ravel()]).astype(np.float32)
                              .tobytes(),))
        return True
    except (sqlite3.Error, OSError):
        return False
    finally:
        if writer is not lib:
            writer.close()


def forget_state(lib: Library) -> None:
    """Nothing remembered: the next run compares everything (``duplicates --rebuild``)."""
    with lib.transaction() as conn:
        for table in ("duplicate_files", "duplicate_edges", "duplicate_moments",
                      "duplicate_state"):
            conn.execute(f"DELETE FROM {table}")


def forget_files(lib: Library, file_ids) -> None:
    """These files as if never compared (bench/scale.py: the clips of a scan to come)."""
    with lib.transaction() as conn:
        for chunk in _chunks(sorted(set(int(i) for i in file_ids))):
            marks = ",".join("?" * len(chunk))
            conn.execute(f"DELETE FROM duplicate_files WHERE file_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM duplicate_moments WHERE file_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM duplicate_edges WHERE a IN ({marks}) OR b IN ({marks})",
                         chunk + chunk)


def frame_times(lib: Library, file_ids) -> dict[int, np.ndarray]:
    """file id -> the times of its sampled frames (float32), without their vectors."""
    return {f: np.frombuffer(t, np.float32) for f, t in rows_for_files(
        lib, "SELECT file_id, times FROM frames WHERE file_id IN ({ids})", file_ids)
        if t is not None}


def files_with_thumbnails(lib: Library, file_ids) -> list[int]:
    """Those of these files that have frame thumbnails (``frame_thumbs``), by id."""
    return [r[0] for r in rows_for_files(
        lib, "SELECT file_id FROM frame_thumbs WHERE file_id IN ({ids}) ORDER BY file_id",
        file_ids)]


def _chunks(ids) -> list[list[int]]:
    ids = [int(i) for i in ids]
    return [ids[i:i + 400] for i in range(0, len(ids), 400)]
