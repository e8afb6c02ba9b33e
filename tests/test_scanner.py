"""Scanning with the real models on generated media: incremental, renames, copies, drives."""

from __future__ import annotations

import shutil

import pytest

from app.core.library.scanner import Scanner
from tests.media_factory import make_audio_only, make_clip

pytestmark = pytest.mark.models


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "videos"
    (root / "trip").mkdir(parents=True)
    make_clip(root / "trip" / "a.mp4", seconds=3, audio="tone")
    make_clip(root / "b.webm", seconds=2, pattern="moving", audio=None)
    make_audio_only(root / "song.m4a")
    (root / "empty.mp4").write_bytes(b"")
    (root / "notes.txt").write_text("not a video")
    return root


def _scan(library, indexer, *paths):
    return Scanner(library, indexer=indexer).scan([str(p) for p in paths])


def test_first_scan_indexes_skips_and_fails(library, real_indexer, folder):
    report = _scan(library, real_indexer, folder)
    names = sorted(p.rsplit("/", 1)[1] for p in report.indexed)
    assert names == ["a.mp4", "b.webm"]
    assert [s["path"].rsplit("/", 1)[1] for s in report.skipped] == ["song.m4a"]
    assert [f["path"].rsplit("/", 1)[1] for f in report.failed] == ["empty.mp4"]
    row = library.file(str(folder / "trip" / "a.mp4"))
    segs = library.segments(row["id"])
    assert segs[0]["start"] == 0.0 and abs(segs[-1]["end"] - row["duration"]) < 0.05
    frames = library.frames(row["id"])
    assert frames["visual"].shape[1] == 1280 and frames["audio"].shape[1] == 1024
    assert library.thumbs(row["id"])["poster"][:2] == b"\xff\xd8"  # a JPEG
    # The 2 kHz test tone is heard as such.
    audio = [x["label"] for x in library.labels(row["id"], "audio")[:3]]
    assert "Sine wave" in audio


def test_rescan_of_unchanged_folder_decodes_nothing(library, real_indexer, folder):
    _scan(library, real_indexer, folder)
    again = _scan(library, real_indexer, folder)
    assert again.changes["new"] == 0 and again.changes["updated"] == 0
    assert again.changes["unchanged"] == 4
    assert again.stages == {}  # the decode pool never started
    assert len(again.indexed) == 2 and len(again.failed) == 1 and len(again.skipped) == 1


def test_rename_keeps_data_and_copy_reuses_it(library, real_indexer, folder):
    _scan(library, real_indexer, folder)
    old = library.file(str(folder / "trip" / "a.mp4"))
    (folder / "trip" / "a.mp4").rename(folder / "renamed.mp4")
    shutil.copy2(folder / "b.webm", folder / "trip" / "b copy.webm")
    report = _scan(library, real_indexer, folder)
    assert report.changes["moved"] == 1 and report.changes["copies"] == 1
    assert report.changes["new"] == 0
    moved = library.file(str(folder / "renamed.mp4"))
    assert moved["id"] == old["id"] and library.file(str(folder / "trip" / "a.mp4")) is None
    copy = library.file(str(folder / "trip" / "b copy.webm"))
    assert copy["status"] == "indexed" and library.frames(copy["id"]) is not None


def test_vanished_file_is_missing_not_deleted(library, real_indexer, folder):
    _scan(library, real_indexer, folder)
    (folder / "b.webm").unlink()
    report = _scan(library, real_indexer, folder)
    assert report.changes["missing"] == 1
    row = library.file(str(folder / "b.webm"))
    assert row["presence"] == "missing" and library.clip(row["id"]) is not None


def test_absent_root_goes_offline_and_comes_back(library, real_indexer, folder, tmp_path):
    _scan(library, real_indexer, folder)
    before = library.conn.execute("SELECT count(*) FROM files").fetchone()[0]
    unplugged = tmp_path / "elsewhere"
    folder.rename(unplugged)  # the drive is gone
    report = _scan(library, real_indexer, folder)
    assert report.changes["offline"] == before
    assert library.conn.execute("SELECT count(*) FROM files").fetchone()[0] == before
    assert {r["presence"] for r in library.files(status=None)} == {"offline"}
    folder.mkdir()  # an empty mount point is offline too
    _scan(library, real_indexer, folder)
    assert {r["presence"] for r in library.files(status=None)} == {"offline"}
    folder.rmdir()
    unplugged.rename(folder)  # plugged back in
    report = _scan(library, real_indexer, folder)
    assert report.changes["new"] == 0 and report.changes["unchanged"] == before
    assert {r["presence"] for r in library.files(status=None)} == {"present"}


def test_progress_is_reported(library, real_indexer, folder):
    seen = []
    Scanner(library, indexer=real_indexer).scan([str(folder)], progress=seen.append)
    indexing = [p for p in seen if p.phase == "indexing"]
    assert [p.done for p in indexing] == list(range(1, len(indexing) + 1))
    assert seen[-1].phase == "done" and seen[-1].done == seen[-1].total == 4


def test_files_from_an_older_index_recipe_are_redone(library, real_indexer, folder, monkeypatch):
    from app.core.library import scanner
    _scan(library, real_indexer, folder)
    monkeypatch.setattr(scanner, "INDEX_VERSION", scanner.INDEX_VERSION + 1)
    report = _scan(library, real_indexer, folder)
    assert report.changes["updated"] == 2 and report.changes["unchanged"] == 2


def test_byte_copies_found_in_one_scan_are_decoded_once(library, real_indexer, tmp_path):
    folder = tmp_path / "copies"
    folder.mkdir()
    original = make_clip(folder / "a.mp4", seconds=2, audio="tone")
    for name in ("b.mp4", "c.mp4"):
        shutil.copy2(original, folder / name)
    report = _scan(library, real_indexer, folder)
    assert report.changes["new"] == 1 and report.changes["copies"] == 2
    assert sorted(p.rsplit("/", 1)[1] for p in report.indexed) == ["a.mp4", "b.mp4", "c.mp4"]
    rows = [library.file(str(folder / n)) for n in ("a.mp4", "b.mp4", "c.mp4")]
    assert all(library.frames(r["id"]) is not None for r in rows)


def test_defaults_give_each_core_a_decoder(library, monkeypatch):
    import pickle
    from types import SimpleNamespace

    from app.core.library import scanner
    assert [scanner.default_workers(c) for c in (1, 2, 3, 64)] == [1, 2, 3, scanner.MAX_WORKERS]
    assert scanner.decode_threads(2, 2) == 1 and scanner.decode_threads(1, 2) == 2
    assert scanner.model_threads(1) == 1 and scanner.model_threads(16) == 2
    assert Scanner(library).workers == scanner.default_workers(scanner.usable_cores())

    pools = []

    class Pool:  # records how the scan sets up its decode processes, decodes nothing
        def __init__(self, func, size, **kwargs):
            pools.append((pickle.loads(pickle.dumps(func)), size))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def map_unordered(self, jobs, should_stop):
            return iter(())

    monkeypatch.setattr(scanner, "WorkerPool", Pool)
    monkeypatch.setattr(scanner, "usable_cores", lambda: 2)
    monkeypatch.setattr(scanner, "analysis_hook", lambda: None)  # no detectors: threads only
    folder = library.path.parent / "videos"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        (folder / name).write_bytes(name.encode())
    idle = SimpleNamespace(timings={})  # never called: the pool returns no decode
    Scanner(library, indexer=idle).scan([str(folder / "a.mp4")])
    Scanner(library, indexer=idle).scan([str(folder)])
    # One file: one process with a decoder thread per core; more: a process per core.
    (one, one_size), (many, many_size) = pools
    assert one.func is scanner.prepare_located and one.keywords == {"threads": 2} and one_size == 1
    assert many.keywords == {"threads": 1} and many_size == 2


def test_one_factory_builds_the_scanner_from_settings_for_cli_and_app(library):
    """Settings' 0 means "what suits this machine"; a command-line flag wins over both."""
    from app.core.library import scanner as scanner_mod
    from app.settings import Settings
    auto = Scanner.from_settings(library, Settings())
    assert auto.workers == scanner_mod.default_workers(auto.cores)
    chosen = Scanner.from_settings(library, Settings(workers=3, threads=2, exclude=["*.part"]))
    assert chosen.workers == 3 and chosen.exclude == ["*.part"]
    assert chosen._indexer_factory.keywords == {"threads": 2}
    flagged = Scanner.from_settings(library, Settings(workers=3), workers=1, threads=1)
    assert flagged.workers == 1 and flagged._indexer_factory.keywords == {"threads": 1}


def test_face_recognition_off_in_settings_means_no_face_is_looked_for(library):
    from app.settings import Settings
    assert Scanner.from_settings(library, Settings()).analyse is None  # the default hook
    off = Scanner.from_settings(library, Settings(faces=False))
    assert off.analyse == "app.core.indexing.analysis:analyse_without_faces"
