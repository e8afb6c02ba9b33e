"""Schema, as an append-only list of migrations; ``PRAGMA user_version`` counts them.

Never edit or reorder a migration that has shipped: append a new one. Each runs in
one transaction, and the database file is copied aside before the first pending one
runs, so a failed upgrade never costs the user their library.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

MIGRATIONS: list[str] = [
    # 1: the index
    """
    CREATE TABLE roots (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    );
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        root_id INTEGER REFERENCES roots(id) ON DELETE SET NULL,
        size INTEGER NOT NULL,
        mtime REAL NOT NULL,
        fingerprint TEXT NOT NULL,
        status TEXT NOT NULL,          -- indexed | failed | skipped
        -- present | missing (gone under a present root) | offline (its root is absent)
        presence TEXT NOT NULL DEFAULT 'present',
        reason TEXT,
        duration REAL, width INTEGER, height INTEGER, fps REAL,
        video_codec TEXT, audio_codec TEXT, has_audio INTEGER, rotation INTEGER,
        bitrate INTEGER, container TEXT,
        created TEXT,          -- container creation_time, ISO 8601 UTC
        file_time TEXT,        -- file modification time, ISO 8601 UTC
        indexed_at TEXT,
        seen_at TEXT
    );
    CREATE INDEX files_fingerprint ON files(fingerprint, size);
    CREATE INDEX files_status ON files(status);
    CREATE INDEX files_root ON files(root_id);

    -- One row per indexed file: clip-level vectors and label scores.
    CREATE TABLE clips (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        fused BLOB NOT NULL,          -- float16, L2-normed
        visual BLOB NOT NULL,         -- float16 [1280], L2-normed
        audio BLOB,                   -- float16 [1024], L2-normed; NULL without sound
        visual_probs BLOB NOT NULL,   -- float16 [1000] ImageNet probabilities (mean)
        audio_scores BLOB             -- float16 [521] AudioSet scores (mean)
    );
    -- Moments: segments split at visual changes.
    CREATE TABLE segments (
        id INTEGER PRIMARY KEY,
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        start REAL NOT NULL,
        end REAL NOT NULL,
        fused BLOB NOT NULL,
        visual BLOB NOT NULL,
        audio BLOB,
        labels TEXT NOT NULL,         -- JSON {"visual": [[class, score]...], "audio": [...]}
        UNIQUE(file_id, idx)
    );
    -- Per-frame and per-patch vectors, kept for duplicate detection and moment search.
    CREATE TABLE frames (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        times BLOB NOT NULL,          -- float32 [n] seconds
        visual BLOB NOT NULL,         -- float16 [n, 1280], L2-normed
        audio_times BLOB,             -- float32 [p] patch start seconds
        audio BLOB                    -- float16 [p, 1024], L2-normed
    );
    CREATE TABLE labels (
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,           -- visual | audio
        class INTEGER NOT NULL,
        label TEXT NOT NULL,
        score REAL NOT NULL,
        PRIMARY KEY (file_id, kind, class)
    );
    CREATE INDEX labels_label ON labels(label);
    CREATE TABLE thumbs (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        poster BLOB NOT NULL,         -- JPEG
        strip BLOB NOT NULL,          -- JPEG, frames side by side
        strip_times TEXT NOT NULL     -- JSON list of seconds
    );
    CREATE TABLE watches (
        id INTEGER PRIMARY KEY,
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
        seconds REAL
    );
    CREATE INDEX watches_file ON watches(file_id);
    """,
]

MIGRATIONS.append(
    # 2: albums that keep the user's edits, the trash journal, extra per-frame features
    """
    CREATE TABLE albums (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,
        auto_title TEXT,               -- the title clustering proposed
        origin TEXT NOT NULL,          -- auto | user (created by the user)
        renamed INTEGER NOT NULL DEFAULT 0,   -- the user chose the title: keep it
        edited INTEGER NOT NULL DEFAULT 0,    -- the user changed membership: keep it
        cover_file_id INTEGER REFERENCES files(id) ON DELETE SET NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    );
    CREATE TABLE album_files (
        album_id INTEGER NOT NULL REFERENCES albums(id) ON DELETE CASCADE,
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        source TEXT NOT NULL,          -- auto | user (added by the user)
        PRIMARY KEY (album_id, file_id)
    );
    CREATE INDEX album_files_file ON album_files(file_id);
    -- Clips the user took out of an album: re-clustering must not put them back.
    CREATE TABLE album_exclusions (
        album_id INTEGER NOT NULL REFERENCES albums(id) ON DELETE CASCADE,
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        PRIMARY KEY (album_id, file_id)
    );
    -- Moving files to the trash: the intent is written before the move, so a crash in
    -- between is reconciled at start-up, and Undo knows where each file went.
    CREATE TABLE trash (
        id INTEGER PRIMARY KEY,
        file_id INTEGER REFERENCES files(id) ON DELETE SET NULL,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime REAL NOT NULL,
        fingerprint TEXT NOT NULL,
        method TEXT,                   -- os (send2trash) | app (app-managed folder)
        trashed_path TEXT,             -- where an app-managed trash put it
        state TEXT NOT NULL,           -- intent | trashed | restored | failed
        reason TEXT,
        batch TEXT,                    -- one user action = one batch = one Undo
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
        updated_at TEXT
    );
    CREATE INDEX trash_state ON trash(state);
    -- Per-frame vectors of the mirrored frames (mirror-invariant duplicate matching).
    ALTER TABLE frames ADD COLUMN visual_flip BLOB;
    -- Which version of the indexing recipe produced a file's rows: older ones are redone.
    ALTER TABLE files ADD COLUMN index_version INTEGER;
    """
)

MIGRATIONS.append(
    # 3: what caches of the whole index (search, similar) need to stay fresh and load fast
    """
    -- A counter bumped by every change that matters to search: a cache in memory reads
    -- it (one row) to know whether it is still current, instead of re-reading the index.
    -- 'identity' tells a library from another one made later under the same file name.
    CREATE TABLE changes (scope TEXT PRIMARY KEY, n INTEGER NOT NULL);
    INSERT INTO changes VALUES ('index', 0), ('identity', abs(random() % 1000000000000));
    CREATE TRIGGER files_added AFTER INSERT ON files
        BEGIN UPDATE changes SET n = n + 1 WHERE scope = 'index'; END;
    CREATE TRIGGER files_removed AFTER DELETE ON files
        BEGIN UPDATE changes SET n = n + 1 WHERE scope = 'index'; END;
    -- Not seen_at or mtime: a rescan that finds nothing new changes nothing.
    CREATE TRIGGER files_changed AFTER UPDATE ON files
        WHEN OLD.path IS NOT NEW.path OR OLD.root_id IS NOT NEW.root_id
          OR OLD.status IS NOT NEW.status OR OLD.presence IS NOT NEW.presence
          OR OLD.duration IS NOT NEW.duration OR OLD.created IS NOT NEW.created
          OR OLD.file_time IS NOT NEW.file_time OR OLD.indexed_at IS NOT NEW.indexed_at
        BEGIN UPDATE changes SET n = n + 1 WHERE scope = 'index'; END;
    CREATE TRIGGER clips_added AFTER INSERT ON clips
        BEGIN UPDATE changes SET n = n + 1 WHERE scope = 'index'; END;
    CREATE TRIGGER clips_removed AFTER DELETE ON clips
        BEGIN UPDATE changes SET n = n + 1 WHERE scope = 'index'; END;
    CREATE TRIGGER roots_changed AFTER UPDATE ON roots
        BEGIN UPDATE changes SET n = n + 1 WHERE scope = 'index'; END;
    -- One row per file with its moments' times and top labels packed (numpy arrays):
    -- a million segment rows cost a page read and a JSON parse each; this is one read
    -- per file. Written with the segments; libraries from before are filled on upgrade.
    CREATE TABLE moment_index (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        starts BLOB NOT NULL,          -- float32 [k], segments in idx order
        ends BLOB NOT NULL,            -- float32 [k]
        classes BLOB NOT NULL,         -- int16 [k, 20]: 10 visual, then 10 audio; -1: none
        scores BLOB NOT NULL           -- float32 [k, 20]
    );
    """
)

MIGRATIONS.append(
    # 4: which library this is, and which file a row is (not only by which name)
    """
    -- 'RVLT' (app.store.health.APPLICATION_ID): a Reelvault library says so in its
    -- header, so another program's SQLite file is never taken for one and written to.
    PRAGMA application_id = 1381387348;
    -- Device and inode of the file when it was last seen: one folder under two names
    -- (a symbolic link, a bind mount) or a second hard link is the same file, indexed
    -- once, never offered as its own copy.
    ALTER TABLE files ADD COLUMN dev INTEGER;
    ALTER TABLE files ADD COLUMN ino INTEGER;
    CREATE INDEX files_inode ON files(ino, dev);
    """
)

LATEST = len(MIGRATIONS)


def pending(conn: sqlite3.Connection) -> int:
    return LATEST - conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection, path: Path | None) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > LATEST:
        raise RuntimeError(f"library schema {version} is newer than this Reelvault ({LATEST})")
    if version == LATEST:
        return
    if path is not None and version > 0 and path.exists():
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copy2(path, path.with_name(f"{path.name}.v{version}.bak"))
    for number in range(version + 1, LATEST + 1):
        # executescript commits first, so the BEGIN/COMMIT here make each step atomic.
        conn.executescript(f"BEGIN;\n{MIGRATIONS[number - 1]}\nPRAGMA user_version = {number};\nCOMMIT;")
