"""What the last duplicates run compared and found (schema 9), so the next run verifies
only the pairs that touch a new or re-indexed clip (app/core/duplicates/finder.py).

The finder reads with whatever library it was given (the CLI and the app read without
the writer's lock, beside a scan); ``save_state`` writes through a writer of its own,
and skips when another process holds the lock: the state is a cache, the next run
redoes what was not remembered.
"""

from __future__ import annotations

import io
import sqlite3
from dataclasses import dataclass

import numpy as np

from app.store.library import Library
from app.store.lock import LibraryLocked
from app.store.vectors import rows_for_files

EDGE_COLUMNS = ("a", "b", "kind", "a_start", "a_end", "b_start", "b_end", "similarity",
                "mirrored", "rate", "lesser")


@dataclass
class State:
    # file id -> (indexed_at when compared, the file of identical bytes it was left out
    # for, or None)
    files: dict[int, tuple[str | None, int | None]]
    edges: list[tuple]  # EDGE_COLUMNS
    arrays: dict[str, np.ndarray]  # the last full run's bases and cell centres


FILE_COLUMNS = ("id", "path", "size", "fingerprint", "duration", "width", "height", "bitrate",
                "created", "indexed_at")


def present_files(lib: Library) -> list[dict]:
    """The indexed, present files with what comparing and choosing the copy to keep
    read (FILE_COLUMNS), by id: lighter than every column of every file."""
    return [dict(zip(FILE_COLUMNS, r, strict=True)) for r in lib.conn.execute(
        f"SELECT {', '.join(FILE_COLUMNS)} FROM files WHERE status = 'indexed' "
        "AND presence = 'present' ORDER BY id")]


def load_state(lib: Library) -> State:
    files = {r[0]: (r[1], r[2]) for r in lib.conn.execute(
        "SELECT file_id, indexed_at, byte_copy_of FROM duplicate_files")}
    edges = [tuple(r) for r in lib.conn.execute(
        f"SELECT {', '.join(EDGE_COLUMNS)} FROM duplicate_edges")]
    arrays = {}
    for key, value in lib.conn.execute("SELECT key, value FROM duplicate_state"):
        try:
            arrays[key] = np.load(io.BytesIO(value), allow_pickle=False)
        except (ValueError, OSError, EOFError):
            continue  # unreadable: as if never stored
    return State(files, edges, arrays)


def moment_vectors(lib: Library, file_ids, dim: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(owner file of each row [m] int64, rows [m, dim] float16, cells [m, 2] int32) of
    these files' reduced moments, by file id; files without stored rows are left out."""
    owners, vectors, cells = [], [], []
    for file_id, blob, where in rows_for_files(
            lib, "SELECT file_id, vectors, cells FROM duplicate_moments WHERE file_id IN "
            "({ids}) ORDER BY file_id", file_ids):
        vectors.append(blob)
        cells.append(where)
        owners.append((file_id, len(where) // 8))
    if not owners:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float16), np.zeros((0, 2), np.int32)
    counts = np.array([n for _, n in owners], np.int64)
    return (np.repeat(np.array([f for f, _ in owners], np.int64), counts),
            np.frombuffer(b"".join(vectors), np.float16).reshape(-1, dim),
            np.frombuffer(b"".join(cells), np.int32).reshape(-1, 2))


def save_state(lib: Library, files: dict[int, tuple[str | None, int | None]],
               edges: list[tuple], dropped: list[int],
               moments: dict[int, tuple[np.ndarray, np.ndarray]] | None,
               arrays: dict[str, np.ndarray], full: bool) -> bool:
    """Remember a run: ``full`` replaces everything; otherwise the rows of ``dropped``
    files (gone, re-indexed, or compared again) go and ``files``, ``edges``, ``moments``
    (file id -> (reduced rows, cells)) and ``arrays`` are added. False when the library
    could not be written now."""
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
            conn.executemany("INSERT OR REPLACE INTO duplicate_moments VALUES (?, ?, ?)",
                             [(f, np.ascontiguousarray(v, np.float16).tobytes(),
                               np.ascontiguousarray(c, np.int32).tobytes())
                              for f, (v, c) in (moments or {}).items()])
            for key, value in arrays.items():
                out = io.BytesIO()
                np.save(out, np.asarray(value), allow_pickle=False)
                conn.execute("INSERT OR REPLACE INTO duplicate_state VALUES (?, ?)",
                             (key, out.getvalue()))
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
