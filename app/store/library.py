"""The library database: the only module that writes SQL.

One SQLite file in WAL mode (readers never block the writer), foreign keys on,
vectors as float16 BLOBs. Methods return plain dicts and numpy arrays.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from app.records import ClipIndex, FileStat
from app.store import analysis, frame_thumbs, fsnames, health, lock, migrations


def to_blob(vec: np.ndarray | None, dtype=np.float16) -> bytes | None:
    return None if vec is None else np.ascontiguousarray(vec, dtype=dtype).tobytes()


def from_blob(blob: bytes | None, dtype=np.float16, dim: int | None = None) -> np.ndarray | None:
    if blob is None:
        return None
    arr = np.frombuffer(blob, dtype=dtype)
    return arr.reshape(-1, dim) if dim else arr


LABELS_PER_KIND = 10  # top labels kept per moment and per kind (pictures, sound)
LABEL_KINDS = ("visual", "audio")


def pack_moment_labels(labels: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Moments' top labels ``{"visual": [[class, name, score]...], "audio": [...]}`` as
    classes int16 [k, 2, w] (-1 where a list is shorter) and scores float32 [k, 2, w]."""
    width = max([LABELS_PER_KIND] + [len(lab.get(kind, [])) for lab in labels
                                     for kind in LABEL_KINDS])
    classes = np.full((len(labels), 2, width), -1, np.int16)
    scores = np.zeros((len(labels), 2, width), np.float32)
    for i, lab in enumerate(labels):
        for j, kind in enumerate(LABEL_KINDS):
            for n, (c, _, s) in enumerate(lab.get(kind, [])):
                classes[i, j, n] = c
                scores[i, j, n] = s
    return classes, scores


def utc_iso(timestamp: float) -> str | None:
    """ISO 8601 UTC, or None for a time no calendar date can hold (a file touched to the
    year 11476, NaN): the raw value stays in ``mtime`` and the date reads "unknown"."""
    try:
        return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return None


def aside_path(why: str, number: int, path: str) -> str:
    """The ``path`` a row holds while its file is not at its path for the library (in
    the trash, or replaced there by another file), so a file now at that path gets its
    own row. Relative, so never a real scanned (absolute) path; readable in a dump."""
    return f"({why} {number}) {path}"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


INFO_COLUMNS = ("duration", "width", "height", "fps", "video_codec", "audio_codec",
                "has_audio", "rotation", "bitrate", "container", "created", "lat", "lon")


class NeedsUpgrade(RuntimeError):
    """A reader met a library written by an older version: a reader never migrates
    (it takes no lock), so a writer has to open it once first."""


class Library:
    def __init__(self, path: Path | str, readonly: bool = False):
        """Open (and create or upgrade) a library.

        A writer holds the library's lock (``app.store.lock``) until ``close()``: a second
        process opening it for writing gets ``LibraryLocked``. ``readonly=True`` takes no
        lock, never writes, and reads alongside a writer (WAL).
        """
        self.path = Path(path)
        self.readonly = readonly
        self._lock_key: str | None = None
        fsnames.install()
        # The real file: a symbolic link and its target are one library, with one lock
        # and one WAL, whichever name opened it.
        real = Path(os.path.realpath(self.path))
        health.check_file(real)
        try:
            # Before anything writes (the lock file, the WAL switch writes the header):
            # never touch another program's database.
            health.check_owner_of(real)
            if not readonly:
                real.parent.mkdir(parents=True, exist_ok=True)
                self._lock_key = lock.acquire(real)
            elif not real.exists():
                raise FileNotFoundError(f"no library at {self.path}")
            # PARSE_DECLTYPES: TEXT columns go through fsnames, so odd file names round-trip.
            # A reader on a read-only folder or disk (a backup DVD): see read_only_uri.
            target = real if not readonly or os.access(real.parent, os.W_OK) else \
                health.read_only_uri(real)
            self.conn = sqlite3.connect(target, timeout=30, isolation_level=None, uri=True,
                                        check_same_thread=False,
                                        detect_types=sqlite3.PARSE_DECLTYPES)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA foreign_keys=ON")
            if readonly:
                self.conn.execute("PRAGMA query_only=ON")
                if migrations.pending(self.conn):
                    raise NeedsUpgrade(f"the library {self.path} needs an upgrade: open it "
                                       f"once for writing (a scan or the app)")
            else:
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=NORMAL")
            health.quick_check(self.conn, real)
            if not readonly:
                migrations.migrate(self.conn, real)
                self._fill_moment_index()
                self._set_trashed_paths_aside()
        except (sqlite3.Error, OSError) as e:
            self.close()
            if isinstance(e, FileNotFoundError) and readonly:
                raise
            raise health.describe(e, real) from e
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()
        if self._lock_key is not None:
            lock.release(self._lock_key)
            self._lock_key = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # ---- roots -------------------------------------------------------------------
    def add_root(self, path: str) -> int:
        self.conn.execute("INSERT OR IGNORE INTO roots(path) VALUES (?)", (path,))
        return self.conn.execute("SELECT id FROM roots WHERE path = ?", (path,)).fetchone()[0]

    def roots(self) -> list[dict]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM roots ORDER BY path")]

    def remove_root(self, path: str) -> None:
        self.conn.execute("DELETE FROM roots WHERE path = ?", (path,))

    # ---- files -------------------------------------------------------------------
    def file(self, path: str) -> dict | None:
        row = self.conn.execute("SELECT * FROM files WHERE path = ?", (path,)).fetchone()
        return dict(row) if row else None

    def file_by_id(self, file_id: int) -> dict | None:
        row = self.conn.execute("SELECT * FROM files WHERE id = ?", (file_id,)).fetchone()
        return dict(row) if row else None

    def files_under(self, root_id: int) -> list[dict]:
        return [dict(r) for r in self.conn.execute(
            "SELECT id, path, size, mtime, fingerprint, status, presence FROM files "
            "WHERE root_id = ?",
            (root_id,))]

    def indexed_with_fingerprint(self, fingerprint: str, size: int) -> list[dict]:
        return [dict(r) for r in self.conn.execute(
            # Not a trashed file's rows: they belong to its trash entry until Undo.
            "SELECT * FROM files WHERE fingerprint = ? AND size = ? AND status = 'indexed' "
            "AND presence != 'trashed'",
            (fingerprint, size))]

    def files(self, status: str | None = "indexed", present_only: bool = False) -> list[dict]:
        where = [w for w in ("status = ?" if status else "",
                             "presence = 'present'" if present_only else "") if w]
        sql = "SELECT * FROM files" + (" WHERE " + " AND ".join(where) if where else "")
        return [dict(r) for r in self.conn.execute(sql + " ORDER BY path",
                                                   (status,) if status else ())]

    def problems(self) -> list[dict]:
        return [dict(r) for r in self.conn.execute(
            "SELECT path, status, reason FROM files WHERE status IN ('failed', 'skipped') "
            "ORDER BY path")]

    def _upsert_file(self, stat: FileStat, root_id: int | None, status: str,
                     reason: str | None, info: dict | None) -> int:
        info = info or {}
        cols = {"path": stat.path, "root_id": root_id, "size": stat.size, "mtime": stat.mtime,
                "fingerprint": stat.fingerprint, "dev": stat.dev, "ino": stat.ino,
                "status": status, "reason": reason,
                "file_time": utc_iso(stat.mtime), "seen_at": now_iso(), "presence": "present",
                "indexed_at": now_iso() if status == "indexed" else None,
                **{c: info.get(c) for c in INFO_COLUMNS},
                # An info with a "lat" key (None or not) comes from a read of the file's
                # location; the place is resolved again after the scan (schema 5).
                "location_read": 1 if "lat" in info else None,
                "geoname_id": None, "geo_version": None}
        names = ", ".join(cols)
        marks = ", ".join("?" for _ in cols)
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "path")
        self.conn.execute(f"INSERT INTO files({names}) VALUES ({marks}) "
                          f"ON CONFLICT(path) DO UPDATE SET {updates}", tuple(cols.values()))
        return self.conn.execute("SELECT id FROM files WHERE path = ?", (stat.path,)).fetchone()[0]

    def record_problem(self, stat: FileStat, root_id: int | None, status: str, reason: str) -> None:
        """A failed or skipped file: its earlier index rows (if any) go, the reason stays."""
        with self.transaction():
            file_id = self._upsert_file(stat, root_id, status, reason, None)
            self._clear_index(file_id)

    def _clear_index(self, file_id: int) -> None:
        for table in ("clips", "segments", "segment_visuals", "moment_index", "frames",
                      "labels", "thumbs", "frame_thumbs"):
            self.conn.execute(f"DELETE FROM {table} WHERE file_id = ?", (file_id,))
        analysis.clear_analysis(self.conn, file_id)

    def _insert_moment_index(self, rows: Iterable[tuple[int, list, list, list[dict]]]) -> None:
        """(file_id, starts, ends, labels) of files' moments, in idx order."""
        def packed():
            for file_id, starts, ends, labels in rows:
                classes, scores = pack_moment_labels(labels)
                yield (file_id, to_blob(starts, np.float32), to_blob(ends, np.float32),
                       classes.tobytes(), scores.tobytes())
        self.conn.executemany("INSERT INTO moment_index VALUES (?, ?, ?, ?, ?)", packed())

    def _fill_moment_index(self) -> None:
        """A library from before the moment index (schema 3) gets it once, from the
        segments' JSON labels; files written since carry it already."""
        empty = self.conn.execute("SELECT NOT EXISTS (SELECT 1 FROM moment_index)").fetchone()[0]
        if not empty:
            return
        ids = [r[0] for r in self.conn.execute("SELECT file_id FROM clips ORDER BY file_id")]
        with self.transaction():
            for i in range(0, len(ids), 500):  # bounded memory on large libraries
                chunk = ids[i:i + 500]
                per_file: dict[int, tuple[list, list, list]] = {f: ([], [], []) for f in chunk}
                for file_id, start, end, text in self.conn.execute(
                        "SELECT file_id, start, end, labels FROM segments WHERE file_id IN "
                        f"({','.join('?' * len(chunk))}) ORDER BY file_id, idx", chunk):
                    starts, ends, labels = per_file[file_id]
                    starts.append(start)
                    ends.append(end)
                    labels.append(json.loads(text))
                self._insert_moment_index((f, *v) for f, v in per_file.items())

    def _set_trashed_paths_aside(self) -> None:
        """Trashed rows from before paths were set aside (app.store.trash) get theirs."""
        rows = self.conn.execute(
            "SELECT f.id, f.path, (SELECT max(t.id) FROM trash t WHERE t.file_id = f.id) "
            "FROM files f WHERE f.presence = 'trashed' AND f.path NOT LIKE '(trash %'"
        ).fetchall()
        if not rows:
            return
        with self.transaction() as c:
            for file_id, path, entry_id in rows:
                c.execute("UPDATE files SET path = ? WHERE id = ?",
                          (aside_path("trash", entry_id or 0, path), file_id))

    def save_index(self, stat: FileStat, root_id: int | None, clip: ClipIndex,
                   index_version: int | None = None) -> int:
        with self.transaction() as c:
            file_id = self._upsert_file(stat, root_id, "indexed", None, clip.info)
            c.execute("UPDATE files SET index_version = ? WHERE id = ?", (index_version, file_id))
            self._clear_index(file_id)
            c.execute("INSERT INTO clips VALUES (?, ?, ?, ?, ?, ?)",
                      (file_id, to_blob(clip.fused), to_blob(clip.visual), to_blob(clip.audio),
                       to_blob(clip.visual_probs), to_blob(clip.audio_scores)))
            c.executemany(
                "INSERT INTO segments(file_id, idx, start, end, fused, visual, audio, labels) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(file_id, i, s.start, s.end, to_blob(s.fused), to_blob(s.visual),
                  to_blob(s.audio), json.dumps(s.labels)) for i, s in enumerate(clip.segments)])
            if clip.segments:
                c.execute("INSERT INTO segment_visuals VALUES (?, ?, ?)",
                          (file_id, len(clip.segments),
                           to_blob(np.stack([s.visual for s in clip.segments]))))
            c.execute("INSERT INTO frames(file_id, times, visual, audio_times, audio, visual_flip) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
                      (file_id, to_blob(clip.frame_times, np.float32), to_blob(clip.frame_visual),
                       to_blob(clip.audio_times, np.float32), to_blob(clip.audio_vectors),
                       to_blob(clip.frame_visual_flip)))
            self._insert_moment_index([(file_id, [s.start for s in clip.segments],
                                        [s.end for s in clip.segments],
                                        [s.labels for s in clip.segments])])
            c.executemany("INSERT INTO labels VALUES (?, ?, ?, ?, ?)",
                          [(file_id, *lab) for lab in clip.labels])
            c.execute("INSERT INTO thumbs VALUES (?, ?, ?, ?)",
                      (file_id, clip.poster, clip.strip, json.dumps(clip.strip_times)))
            # The picture analysis's results (a hook of another kind stores nothing here).
            if clip.analysis is not None and hasattr(clip.analysis, "frames"):
                analysis.write_analysis(c, file_id, clip.analysis)
            if clip.frame_thumbnails is not None:
                frame_thumbs.write_thumbnails(c, file_id, clip.frame_thumbnails)
        return file_id

    def copy_index(self, source_id: int, stat: FileStat, root_id: int | None) -> int:
        """Index a byte-identical copy by duplicating the rows of the file it equals."""
        src = self.file_by_id(source_id)
        info = {c: src[c] for c in INFO_COLUMNS if src["location_read"] or c not in ("lat", "lon")}
        with self.transaction() as c:
            file_id = self._upsert_file(stat, root_id, "indexed", None, info)
            c.execute("UPDATE files SET index_version = ? WHERE id = ?",
                      (src["index_version"], file_id))
            self._clear_index(file_id)
            c.execute("INSERT INTO clips SELECT ?, fused, visual, audio, visual_probs, "
                      "audio_scores FROM clips WHERE file_id = ?", (file_id, source_id))
            c.execute("INSERT INTO segments(file_id, idx, start, end, fused, visual, audio, "
                      "labels) SELECT ?, idx, start, end, fused, visual, audio, labels "
                      "FROM segments WHERE file_id = ?", (file_id, source_id))
            for table in ("segment_visuals", "moment_index", "frames", "labels", "thumbs",
                          "frame_thumbs"):
                cols = [r[1] for r in c.execute(f"PRAGMA table_info({table})") if r[1] != "file_id"]
                c.execute(f"INSERT INTO {table}(file_id, {', '.join(cols)}) "
                          f"SELECT ?, {', '.join(cols)} FROM {table} WHERE file_id = ?",
                          (file_id, source_id))
            analysis.copy_analysis(c, source_id, file_id)
        return file_id

    def move_file(self, file_id: int, stat: FileStat, root_id: int | None) -> None:
        """A file seen at a new path with the same content: its rows follow it."""
        self.conn.execute(
            "UPDATE files SET path = ?, root_id = ?, mtime = ?, dev = ?, ino = ?, "
            "presence = 'present', seen_at = ? WHERE id = ?",
            (stat.path, root_id, stat.mtime, stat.dev, stat.ino, now_iso(), file_id))

    def set_identity(self, file_id: int, dev: int, ino: int) -> None:
        """Device and inode of a file seen unchanged (rows from before schema 8 lack them)."""
        self.conn.execute("UPDATE files SET dev = ?, ino = ? WHERE id = ?", (dev, ino, file_id))

    def files_with_identity(self, dev: int, ino: int) -> list[dict]:
        """Rows of files last seen as this device and inode (any name), not in the trash."""
        return [dict(r) for r in self.conn.execute(
            "SELECT * FROM files WHERE ino = ? AND dev = ? AND presence != 'trashed'",
            (ino, dev))]

    def mark(self, file_ids: Iterable[int], presence: str) -> int:
        """Mark files present, missing or offline. Rows are never deleted here."""
        ids = list(file_ids)
        with self.transaction() as c:
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                c.execute(f"UPDATE files SET presence = ? WHERE id IN ({','.join('?' * len(chunk))})",
                          (presence, *chunk))
        return len(ids)

    # ---- reading the index -------------------------------------------------------
    def clip(self, file_id: int) -> dict | None:
        row = self.conn.execute("SELECT * FROM clips WHERE file_id = ?", (file_id,)).fetchone()
        if not row:
            return None
        return {"fused": from_blob(row["fused"]), "visual": from_blob(row["visual"]),
                "audio": from_blob(row["audio"]), "visual_probs": from_blob(row["visual_probs"]),
                "audio_scores": from_blob(row["audio_scores"])}

    def segments(self, file_id: int) -> list[dict]:
        return [{"idx": r["idx"], "start": r["start"], "end": r["end"],
                 "labels": json.loads(r["labels"])}
                for r in self.conn.execute(
                    "SELECT idx, start, end, labels FROM segments WHERE file_id = ? ORDER BY idx",
                    (file_id,))]

    def frames(self, file_id: int) -> dict | None:
        row = self.conn.execute("SELECT * FROM frames WHERE file_id = ?", (file_id,)).fetchone()
        if not row:
            return None
        visual = from_blob(row["visual"])
        times = from_blob(row["times"], np.float32)
        audio = from_blob(row["audio"])
        audio_times = from_blob(row["audio_times"], np.float32)
        flip = from_blob(row["visual_flip"])
        return {"times": times, "visual": visual.reshape(len(times), -1),
                "visual_flip": flip.reshape(len(times), -1) if flip is not None else None,
                "audio_times": audio_times,
                "audio": audio.reshape(len(audio_times), -1) if audio is not None else None}

    def labels(self, file_id: int, kind: str) -> list[dict]:
        return [{"label": r["label"], "class": r["class"], "score": round(r["score"], 4)}
                for r in self.conn.execute(
                    "SELECT class, label, score FROM labels WHERE file_id = ? AND kind = ? "
                    "ORDER BY score DESC", (file_id, kind))]

    def thumbs(self, file_id: int) -> dict | None:
        row = self.conn.execute("SELECT * FROM thumbs WHERE file_id = ?", (file_id,)).fetchone()
        return dict(row) if row else None

    def counts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.conn.execute(
            "SELECT status, count(*) FROM files GROUP BY status")}

    def integrity_ok(self) -> bool:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


class ThumbReader:
    """Poster and strip JPEGs for GUI loader threads: one read connection per thread."""

    def __init__(self, path: Path | str):
        self.path = str(path)
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            self._local.conn = conn
        return conn

    def poster(self, file_id: int) -> bytes | None:
        row = self._conn().execute("SELECT poster FROM thumbs WHERE file_id = ?",
                                   (file_id,)).fetchone()
        return row[0] if row else None

    def strip(self, file_id: int) -> tuple[bytes, list[float]] | None:
        """The scrubbing strip (equal-width frames side by side) and each frame's time."""
        row = self._conn().execute("SELECT strip, strip_times FROM thumbs WHERE file_id = ?",
                                   (file_id,)).fetchone()
        return (row[0], json.loads(row[1])) if row else None
