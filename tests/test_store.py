"""The library database: schema, migrations with backup, WAL, round trips of the index."""

from __future__ import annotations

import sqlite3

import numpy as np

from app.records import ClipIndex, FileStat, Segment
from app.store import migrations
from app.store import vectors as store_vectors
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


def _moments_clip(seed: int, count: int) -> ClipIndex:
    """A clip of ``count`` moments, each with a picture vector of its own."""
    clip = _clip(seed)
    rng = np.random.default_rng(seed + 100)
    clip.segments = [Segment(float(k), float(k + 1), rng.random(2304), rng.random(1280),
                             None, {"visual": [], "audio": []}) for k in range(count)]
    return clip


def _segment_visuals_read_from_segments(lib: Library, file_ids) -> tuple[np.ndarray, np.ndarray]:
    seg = store_vectors.segment_vectors(lib, file_ids, "visual")
    return seg.file_ids, seg.vectors


def test_packed_moment_vectors_follow_the_index_a_copy_and_a_purge(library):
    """The duplicates' packed moment vectors (segment_visuals) hold what the segments hold,
    through a re-index, a copy of the index and the file's rows going."""
    a = library.save_index(FileStat("/v/a.mp4", 10, 1.5, "fp"), None, _moments_clip(0, 3))
    b = library.save_index(FileStat("/v/b.mp4", 11, 1.5, "fpb"), None, _moments_clip(1, 2))
    owners, vectors = store_vectors.segment_visuals(library, [a, b])
    want_owners, want = _segment_visuals_read_from_segments(library, [a, b])
    assert owners.tolist() == [a, a, a, b, b] == want_owners.tolist()
    assert vectors.dtype == np.float16 and np.array_equal(vectors, want)
    # Re-indexed with fewer moments: the packed row is replaced, not added to.
    library.save_index(FileStat("/v/a.mp4", 10, 2.5, "fp"), None, _moments_clip(7, 1))
    owners, vectors = store_vectors.segment_visuals(library, [a])
    assert owners.tolist() == [a]
    assert np.array_equal(vectors, _segment_visuals_read_from_segments(library, [a])[1])
    copy = library.copy_index(b, FileStat("/v/c.mp4", 11, 2.0, "fpb"), None)
    assert np.array_equal(store_vectors.segment_visuals(library, [copy])[1],
                          store_vectors.segment_visuals(library, [b])[1])
    # A file whose rows go (a purged missing file, a removed folder) takes them along.
    with library.transaction() as c:
        c.execute("DELETE FROM files WHERE id = ?", (b,))
    assert library.conn.execute("SELECT count(*) FROM segment_visuals WHERE file_id = ?",
                                (b,)).fetchone()[0] == 0
    assert store_vectors.segment_visuals(library, [b])[0].tolist() == []


def test_packed_moment_vectors_missing_for_a_file_are_read_from_its_segments(library):
    a = library.save_index(FileStat("/v/a.mp4", 10, 1.5, "fp"), None, _moments_clip(0, 3))
    b = library.save_index(FileStat("/v/b.mp4", 11, 1.5, "fpb"), None, _moments_clip(1, 2))
    c = library.save_index(FileStat("/v/c.mp4", 12, 1.5, "fpc"), None, _moments_clip(2, 4))
    with library.transaction() as conn:
        conn.execute("DELETE FROM segment_visuals WHERE file_id = ?", (b,))
    owners, vectors = store_vectors.segment_visuals(library, [c, b, a])
    want_owners, want = _segment_visuals_read_from_segments(library, [a, b, c])
    assert owners.tolist() == want_owners.tolist() == [a] * 3 + [b] * 2 + [c] * 4
    assert np.array_equal(vectors, want)


def test_upgrade_to_schema_12_packs_every_files_moment_vectors(tmp_path):
    """A library from before schema 12 gets segment_visuals filled from its segments,
    moments in idx order whatever order their rows were written in."""
    path = tmp_path / "lib.sqlite"
    old = sqlite3.connect(path)
    for number, script in enumerate(migrations.MIGRATIONS[:9], start=1):
        old.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
    rng = np.random.default_rng(3)
    moments = {1: rng.random((4, 1280)).astype(np.float16),
               2: rng.random((1, 1280)).astype(np.float16)}
    moments[1][2] = 0  # a row of zero bytes: kept whole, not cut at the first NUL
    for file_id in (1, 2, 3):  # 3: indexed without moments
        old.execute("INSERT INTO files(id, path, size, mtime, fingerprint, status) "
                    "VALUES (?, ?, 10, 1.5, ?, 'indexed')", (file_id, f"/v/{file_id}.mp4",
                                                            f"fp{file_id}"))
    for file_id, vectors in moments.items():
        for idx in reversed(range(len(vectors))):
            old.execute("INSERT INTO segments(file_id, idx, start, end, fused, visual, labels) "
                        "VALUES (?, ?, ?, ?, ?, ?, '{}')", (file_id, idx, idx, idx + 1,
                                                            b"f", vectors[idx].tobytes()))
    old.commit()
    old.close()

    lib = Library(path)
    assert lib.conn.execute("PRAGMA user_version").fetchone()[0] == migrations.LATEST
    rows = {r[0]: (r[1], r[2]) for r in lib.conn.execute("SELECT * FROM segment_visuals")}
    assert sorted(rows) == [1, 2]
    for file_id, vectors in moments.items():
        assert rows[file_id] == (len(vectors), vectors.tobytes())
    owners, vectors = store_vectors.segment_visuals(lib, [1, 2, 3])
    assert owners.tolist() == [1, 1, 1, 1, 2]
    assert np.array_equal(vectors, np.concatenate([moments[1], moments[2]]))
    lib.close()
