"""The library database: schema, migrations with backup, WAL, round trips of the index."""

from __future__ import annotations

import sqlite3

import numpy as np

from app.records import ClipIndex, FileStat, Segment
from app.store import migrations
from app.store.library import Library


def _clip(seed: int = 0) -> ClipIndex:
    rng = np.random.default_rng(seed)
    v = rng.random(1280).astype(np.float32)
    return ClipIndex(
        info={"duration": 2.0, "width": 64, "height": 48, "fps": 25.0, "video_codec": "h264",
              "audio_codec": None, "has_audio": 0, "rotation": 0, "bitrate": 1000,
              "container": "mp4", "created": None},
        fused=rng.random(2304), visual=v, audio=None, visual_probs=rng.random(1000),
        audio_scores=None,
        segments=[Segment(0.0, 2.0, rng.random(2304), v, None, {"visual": [[1, "x", 0.5]], "audio": []})],
        frame_times=np.array([0.0, 1.0]), frame_visual=rng.random((2, 1280)),
        audio_times=None, audio_vectors=None, labels=[("visual", 1, "goldfish", 0.5)],
        poster=b"jpeg", strip=b"jpeg", strip_times=[0.0, 1.0])


def test_fresh_library_is_wal_with_latest_schema(tmp_path):
    lib = Library(tmp_path / "lib.sqlite")
    assert lib.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert lib.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert lib.conn.execute("PRAGMA user_version").fetchone()[0] == migrations.LATEST
    assert lib.integrity_ok()


def test_save_and_read_back(library):
    stat = FileStat("/v/a.mp4", 10, 1.5, "fp")
    file_id = library.save_index(stat, None, _clip())
    row = library.file("/v/a.mp4")
    assert row["status"] == "indexed" and row["width"] == 64 and row["presence"] == "present"
    frames = library.frames(file_id)
    assert frames["visual"].shape == (2, 1280) and frames["audio"] is None
    assert library.segments(file_id)[0]["labels"]["visual"][0][1] == "x"
    assert library.labels(file_id, "visual")[0]["label"] == "goldfish"
    # Re-indexing replaces the rows instead of adding to them.
    library.save_index(stat, None, _clip(1))
    assert len(library.segments(file_id)) == 1


def test_copy_index_duplicates_rows(library):
    src = library.save_index(FileStat("/v/a.mp4", 10, 1.5, "fp"), None, _clip())
    dst = library.copy_index(src, FileStat("/v/b.mp4", 10, 2.0, "fp"), None)
    assert dst != src
    assert np.array_equal(library.frames(dst)["visual"], library.frames(src)["visual"])
    assert library.thumbs(dst)["poster"] == b"jpeg"


def test_problem_rows_keep_their_reason(library):
    library.record_problem(FileStat("/v/bad.mp4", 0, 1.0, "fp0"), None, "failed", "zero bytes")
    assert library.problems() == [{"path": "/v/bad.mp4", "status": "failed", "reason": "zero bytes"}]


def test_migration_from_previous_version_backs_up_first(tmp_path, monkeypatch):
    path = tmp_path / "lib.sqlite"
    # A library at the current schema, then a newer schema appears.
    Library(path).close()
    extra = "CREATE TABLE future_things (id INTEGER PRIMARY KEY);"
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, extra])
    monkeypatch.setattr(migrations, "LATEST", len(migrations.MIGRATIONS))
    lib = Library(path)
    assert lib.conn.execute("PRAGMA user_version").fetchone()[0] == migrations.LATEST
    backup = tmp_path / f"lib.sqlite.v{migrations.LATEST - 1}.bak"
    assert backup.exists()
    old = sqlite3.connect(backup)
    assert old.execute("PRAGMA user_version").fetchone()[0] == migrations.LATEST - 1
    old.close()
    lib.close()


def test_upgrade_from_schema_1_keeps_the_data_and_a_backup(tmp_path):
    """A library written by the first release, opened by this one."""
    path = tmp_path / "lib.sqlite"
    old = sqlite3.connect(path)
    old.executescript(f"BEGIN;\n{migrations.MIGRATIONS[0]}\nPRAGMA user_version = 1;\nCOMMIT;")
    vec = np.arange(1280, dtype=np.float16)
    old.execute("INSERT INTO roots(id, path) VALUES (1, '/v')")
    old.execute("INSERT INTO files(id, path, root_id, size, mtime, fingerprint, status, width) "
                "VALUES (1, '/v/a.mp4', 1, 10, 1.5, 'fp', 'indexed', 64)")
    old.execute("INSERT INTO clips VALUES (1, ?, ?, NULL, ?, NULL)",
                (vec.tobytes(), vec.tobytes(), vec[:1000].tobytes()))
    old.execute("INSERT INTO frames(file_id, times, visual) VALUES (1, ?, ?)",
                (np.zeros(1, np.float32).tobytes(), vec.tobytes()))
    old.execute("INSERT INTO labels VALUES (1, 'visual', 1, 'goldfish', 0.5)")
    old.commit()
    old.close()

    lib = Library(path)
    assert lib.conn.execute("PRAGMA user_version").fetchone()[0] == migrations.LATEST
    row = lib.file("/v/a.mp4")
    assert row["width"] == 64 and row["status"] == "indexed" and row["index_version"] is None
    assert np.array_equal(lib.clip(1)["visual"], vec)
    assert np.array_equal(lib.frames(1)["visual"][0], vec) and lib.frames(1)["visual_flip"] is None
    assert lib.labels(1, "visual")[0]["label"] == "goldfish"
    assert lib.integrity_ok()
    lib.close()
    backup = sqlite3.connect(tmp_path / "lib.sqlite.v1.bak")
    assert backup.execute("PRAGMA user_version").fetchone()[0] == 1
    assert backup.execute("SELECT path FROM files").fetchall() == [("/v/a.mp4",)]
    backup.close()
