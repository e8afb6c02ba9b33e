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
    # 4: what the pictures show beyond ImageNet labels (app.core.indexing.analysis):
    # faces, COCO objects, words on screen and colours of sparse analysed frames.
    # Written with the rest of a file's index (app.store.analysis) and cleared with it.
    """
    -- Which frames were analysed, and what is true of each as a whole. A frame stands
    -- for the nearly identical ones after it up to 'until', which were not analysed.
    CREATE TABLE analysed_frames (
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        t REAL NOT NULL,               -- seconds
        until REAL NOT NULL,
        brightness REAL NOT NULL,      -- mean luma 0..1
        light TEXT,                    -- dark | bright | NULL
        faces_seen INTEGER NOT NULL,   -- faces found, usable for identity or not
        text_score REAL NOT NULL,      -- text presence 0..1
        objects_run INTEGER NOT NULL,  -- 1: the object detector looked at this frame
        text_run INTEGER NOT NULL,     -- 1: the text reader looked at this frame
        PRIMARY KEY (file_id, t)
    );
    -- Per file: parts left out for want of a model, and what the analysis cost.
    CREATE TABLE file_analysis (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        missing TEXT NOT NULL,         -- JSON list: faces | objects | text
        stats TEXT NOT NULL            -- JSON {part_s: CPU seconds, counts}
    );
    CREATE TABLE faces (
        id INTEGER PRIMARY KEY,
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        t REAL NOT NULL,
        x REAL NOT NULL, y REAL NOT NULL, w REAL NOT NULL, h REAL NOT NULL,  -- 0..1
        score REAL NOT NULL,           -- detector confidence
        quality REAL NOT NULL,         -- size x sharpness x frontal pose, 0..1
        embedding BLOB,                -- float16 [1024] L2-normed; NULL: too poor for identity
        crop BLOB,                     -- JPEG 112x112 aligned face; NULL without embedding
        track INTEGER NOT NULL,        -- per file: one face followed across analysed frames
        person_id INTEGER              -- set by people clustering
    );
    CREATE INDEX faces_file ON faces(file_id, t);
    CREATE INDEX faces_person ON faces(person_id);
    CREATE TABLE frame_objects (
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        t REAL NOT NULL,
        label TEXT NOT NULL,           -- COCO class name
        score REAL NOT NULL,
        x REAL NOT NULL, y REAL NOT NULL, w REAL NOT NULL, h REAL NOT NULL,  -- 0..1
        colour TEXT                    -- the box's dominant colour
    );
    CREATE INDEX frame_objects_file ON frame_objects(file_id, t);
    CREATE INDEX frame_objects_label ON frame_objects(label);
    CREATE TABLE frame_text (
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        t REAL NOT NULL,
        lines TEXT NOT NULL,           -- JSON list of the lines read, top to bottom
        tokens TEXT NOT NULL,          -- search tokens, space-separated
        PRIMARY KEY (file_id, t)
    );
    CREATE TABLE frame_colours (
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        t REAL NOT NULL,
        colour TEXT NOT NULL,          -- red orange yellow green blue purple pink brown
                                       -- black white grey
        share REAL NOT NULL,           -- of the frame, 0..1
        PRIMARY KEY (file_id, t, colour)
    );
    CREATE INDEX frame_colours_colour ON frame_colours(colour);
    """
)

MIGRATIONS.append(
    # 5: places: where each clip was shot, the user's corrections and named spots
    """
    -- The location in the file's own metadata (ISO 6709), NULL when it has none.
    ALTER TABLE files ADD COLUMN lat REAL;
    ALTER TABLE files ADD COLUMN lon REAL;
    -- 1 once the file's metadata was read for a location: files indexed before places
    -- existed get one cheap metadata read (no decode) on the next scan, then never again.
    ALTER TABLE files ADD COLUMN location_read INTEGER;
    -- The place (GeoNames id) the location resolves to, and the places data it was
    -- resolved with: a new data version resolves again; names are read from the data.
    ALTER TABLE files ADD COLUMN geoname_id INTEGER;
    ALTER TABLE files ADD COLUMN geo_version TEXT;
    -- The user's word on a clip's place; wins over the file's metadata and survives
    -- rescans. lat/lon NULL: the user said the clip has no place.
    CREATE TABLE place_edits (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        lat REAL,
        lon REAL,
        geoname_id INTEGER,
        geo_version TEXT,
        edited_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    );
    -- Spots the user named ("Grandma's house"): clips within radius_m take the name.
    CREATE TABLE place_names (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        lat REAL NOT NULL,
        lon REAL NOT NULL,
        radius_m REAL NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    );
    -- Places change what albums and search show: bump the index counter like files do.
    CREATE TRIGGER files_place_changed AFTER UPDATE OF lat, lon, geoname_id ON files
        WHEN OLD.lat IS NOT NEW.lat OR OLD.lon IS NOT NEW.lon
          OR OLD.geoname_id IS NOT NEW.geoname_id
        BEGIN UPDATE changes SET n = n + 1 WHERE scope = 'index'; END;
    CREATE TRIGGER place_edits_added AFTER INSERT ON place_edits
        BEGIN UPDATE changes SET n = n + 1 WHERE scope = 'index'; END;
    CREATE TRIGGER place_edits_changed AFTER UPDATE ON place_edits
        BEGIN UPDATE changes SET n = n + 1 WHERE scope = 'index'; END;
    CREATE TRIGGER place_edits_removed AFTER DELETE ON place_edits
        BEGIN UPDATE changes SET n = n + 1 WHERE scope = 'index'; END;
    CREATE TRIGGER place_names_added AFTER INSERT ON place_names
        BEGIN UPDATE changes SET n = n + 1 WHERE scope = 'index'; END;
    CREATE TRIGGER place_names_changed AFTER UPDATE ON place_names
        BEGIN UPDATE changes SET n = n + 1 WHERE scope = 'index'; END;
    CREATE TRIGGER place_names_removed AFTER DELETE ON place_names
        BEGIN UPDATE changes SET n = n + 1 WHERE scope = 'index'; END;
    """
)

MIGRATIONS.append(
    # 6: people (app.core.people, app.store.people): faces grouped into people, and what
    # the user said about them. faces.person_id (schema 4) says which person a face is in.
    """
    CREATE TABLE people (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a merged person's id stays gone
        name TEXT,                     -- the user's; NULL: not named yet
        name_key TEXT,                 -- the name lower-cased, accents folded: search matches it
        hidden INTEGER NOT NULL DEFAULT 0,  -- 1: the user hid this person
        cover_face_id INTEGER          -- the face whose crop shows the person
    );
    CREATE INDEX people_name ON people(name_key);
    -- The user's word, by face appearance rather than face id (face ids change when a
    -- file is indexed again): a track like 'vector' (one face followed in one clip) is
    -- in this person ('must': named or merged) or never in it ('never': removed).
    CREATE TABLE person_anchors (
        id INTEGER PRIMARY KEY,
        person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,            -- must | never
        file_id INTEGER REFERENCES files(id) ON DELETE CASCADE,
        vector BLOB NOT NULL           -- float16 [1024] L2-normed: the track's mean face
    );
    CREATE INDEX person_anchors_person ON person_anchors(person_id);
    """
)

MIGRATIONS.append(
    # 7: tiny grey thumbnails of each sampled frame, and of a picture found inside the
    # frame, for duplicate detection (app/core/indexing/regions.py).
    """
    CREATE TABLE frame_thumbs (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        width INTEGER NOT NULL,       -- of each thumbnail
        height INTEGER NOT NULL,
        thumbs BLOB NOT NULL,         -- uint8 [n, height, width], one per row of frames
        region_box TEXT,              -- JSON [x0, y0, x1, y1] as shares of the frame
        region_width INTEGER,
        region_height INTEGER,
        region BLOB                   -- uint8 [n, region_height, region_width]
    );
    """
)

MIGRATIONS.append(
    # 8: which library this is, and which file a row is (not only by which name)
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

MIGRATIONS.append(
    # 9: what the last duplicates run compared and found (app/core/duplicates/finder.py),
    # so the next run verifies only pairs that touch a new or re-indexed clip.
    """
    -- Files whose pairs with every other compared file were considered, as indexed then;
    -- byte_copy_of: a file of identical bytes that stood for it (it was not compared).
    CREATE TABLE duplicate_files (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        indexed_at TEXT,
        byte_copy_of INTEGER
    );
    -- Verified copies (before a file joining two clips turns its matches partial).
    CREATE TABLE duplicate_edges (
        a INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,  -- the shorter clip
        b INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        a_start REAL, a_end REAL, b_start REAL, b_end REAL,
        similarity REAL, mirrored INTEGER, rate REAL,
        PRIMARY KEY (a, b)
    );
    CREATE INDEX duplicate_edges_b ON duplicate_edges(b);
    -- A large library's moments reduced for the candidate search (float16 rows) and the
    -- two search cells each is found in (int32 pairs): new clips are searched against
    -- them without reading every moment's full vector again.
    CREATE TABLE duplicate_moments (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        vectors BLOB NOT NULL,
        cells BLOB NOT NULL
    );
    -- Arrays of the last full run (.npy bytes): the bases moments and frame changes were
    -- reduced with, the cells' centres.
    CREATE TABLE duplicate_state (key TEXT PRIMARY KEY, value BLOB);
    """
)

MIGRATIONS.append(
    # 10: which clips the last album placement left in no album (app/core/albums/events.py),
    # so the refresh after a scan places the new clips, not every unsorted clip again.
    """
    -- Clips a placement looked at and left unsorted (they fit no album), as indexed then.
    -- A clip in no album that is not here (new, indexed again, taken out of its album
    -- since) is placed by the next refresh.
    CREATE TABLE album_unsorted (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        indexed_at TEXT
    );
    """
)

# Migration 11: which file of a remembered copy holds less of the picture (a vertical
# slice, a crop, the picture inside a player's frame), so a later run chooses the same
# copy to keep. Runs remembered without it are forgotten: the next run compares all.
MIGRATIONS.append(
    """
    ALTER TABLE duplicate_edges ADD COLUMN lesser INTEGER;
    DELETE FROM duplicate_files;
    DELETE FROM duplicate_edges;
    DELETE FROM duplicate_moments;
    DELETE FROM duplicate_state;
    """
)

MIGRATIONS.append(
    # 12: each file's moments' picture vectors in one row, for the duplicates' candidate
    # search (app.core.duplicates.screening), which reads every moment of a library.
    """
    -- The same vectors as segments.visual, packed in idx order: a segment row carries
    -- its fused vector before its visual one and spills over into further pages, so
    -- reading visual alone read about four times its bytes (a 100,000-clip library: 12 GB
    -- for 2.5 GB of vectors). Written with the segments; filled here from them.
    CREATE TABLE segment_visuals (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        moments INTEGER NOT NULL,     -- k
        vectors BLOB NOT NULL         -- float16 [k, d], L2-normed, segments in idx order
    );
    -- group_concat keeps a BLOB's bytes (NULs too) in the order rows arrive; the
    -- subquery hands them over by file and idx.
    INSERT INTO segment_visuals (file_id, moments, vectors)
        SELECT file_id, count(*), CAST(group_concat(visual, x'') AS BLOB)
        FROM (SELECT file_id, visual FROM segments ORDER BY file_id, idx)
        GROUP BY file_id;
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
