"""The albums' clip vectors kept on disk (``app.core.albums.clip_index``): what a refresh
after a scan maps instead of reading every clip's vectors from SQLite.

- It holds exactly what SQLite holds, after new clips, clips indexed again and clips
  gone, in the process that made it and in a new one.
- An update writes only what changed: the base arrays of the new version are the old
  version's files (linked); past MERGE_SHARE of changes they are merged into a new base.
- A damaged version is never trusted (built again); a refresh after a scan of dated
  clips does not build a missing index (it reads their neighbourhood from SQLite), one
  with a clip without a date (which reads every clip anyway) builds it.
- Placing new clips through an index from an earlier process equals placing the whole
  library.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core import albums, cached_index, index_files
from app.core.albums import clip_index
from app.core.albums.clip_index import ClipVectorIndex, clip_rows, read_rows
from app.core.cached_index import CachedIndex
from app.records import ClipIndex, FileStat
from app.store import library as library_store
from app.store.vectors import present_files
from tests.test_album_refresh import placed_both_ways
from tests.test_albums import DAY, Shelf

DIM, SOUND = 64, 32


@pytest.fixture(autouse=True)
def _new_process():
    CachedIndex.forget_all()  # no snapshot of an earlier test's library in memory
    yield
    CachedIndex.forget_all()


def _unit(v):
    return (v / np.linalg.norm(v)).astype(np.float32)


def _add(lib, name: str, rng: np.random.Generator, sound: bool) -> int:
    visual = _unit(rng.normal(size=DIM))
    audio = _unit(rng.normal(size=SOUND)) if sound else None
    info = {"duration": 5.0, "width": 160, "height": 120, "fps": 25.0, "video_codec": "h264",
            "audio_codec": "aac" if sound else None, "has_audio": int(sound), "rotation": 0,
            "bitrate": 1000, "container": "mp4", "created": None}
    clip = ClipIndex(
        info=info, fused=visual, visual=visual, audio=audio, visual_probs=np.zeros(1000),
        audio_scores=np.zeros(521) if sound else None, segments=[],
        frame_times=np.zeros(1, np.float32), frame_visual=visual[None], audio_times=None,
        audio_vectors=None, labels=[], poster=b"", strip=b"", strip_times=[])
    return lib.save_index(FileStat(f"/videos/{name}.mp4", 1000, 1.7e9, name), None, clip)


def _same_as_sqlite(lib, rows: clip_index.Rows) -> None:
    """The index's rows are SQLite's rows of the present clips, byte for byte."""
    stored = read_rows(lib, sorted(present_files(lib)))
    assert rows.file_ids.tolist() == stored.file_ids.tolist()
    assert rows.visual.dtype == np.float16 and np.array_equal(rows.visual, stored.visual)
    audio = stored.audio if stored.audio.shape[1] else np.zeros((len(stored), 0), np.float16)
    assert np.array_equal(rows.audio[:, :audio.shape[1]], audio)
    assert not rows.audio[:, audio.shape[1]:].any()


def _versions(lib) -> list[Path]:
    return sorted(index_files.beside(Path(lib.path)).glob(f"{ClipVectorIndex.KIND}-*"))


def _library(library, n: int = 80):
    rng = np.random.default_rng(1)
    names = {f"c{i}": _add(library, f"c{i}", rng, sound=i % 3 == 0) for i in range(n)}
    return rng, names


def test_the_index_holds_what_sqlite_holds_through_new_reindexed_and_gone_clips(
        library, monkeypatch):
    rng, names = _library(library)
    _same_as_sqlite(library, clip_rows(library).all())
    assert ClipVectorIndex.of(library).source == "build"
    [first] = _versions(library)
    base = (first / "visual.npy").stat().st_ino
    # A scan in another process: two new clips, one indexed again (other vectors, a
    # later time), one gone missing.
    CachedIndex.forget_all()
    _add(library, "late", rng, sound=True)
    _add(library, "quiet", rng, sound=False)
    monkeypatch.setattr(library_store, "now_iso", lambda: "2030-01-01T00:00:00Z")
    before = library.clip(names["c4"])["visual"]
    _add(library, "c4", rng, sound=True)
    assert not np.array_equal(library.clip(names["c4"])["visual"], before)
    library.mark([names["c7"]], "missing")

    rows = clip_rows(library)
    assert ClipVectorIndex.of(library).source == "update"
    _same_as_sqlite(library, rows.all())
    assert names["c7"] not in rows.all().file_ids
    one = rows.rows([names["c4"], names["c7"], names["c9"]])
    assert one.file_ids.tolist() == [names["c4"], names["c9"]]
    assert np.array_equal(one.visual[0], library.clip(names["c4"])["visual"].astype(np.float16))
    # Only what changed was written: the base is the first version's file, linked.
    [second] = _versions(library)
    assert second != first and not first.exists()
    assert (second / "visual.npy").stat().st_ino == base
    assert len(rows.extra) == 3 and int((~rows.alive).sum()) == 2
    # A new process maps that version as it is.
    CachedIndex.forget_all()
    _same_as_sqlite(library, clip_rows(library).all())
    assert ClipVectorIndex.of(library).source == "disk"


def test_many_changes_are_merged_into_a_new_base(library, monkeypatch):
    rng, names = _library(library, 20)
    clip_rows(library)
    [first] = _versions(library)
    base_inode = (first / "visual.npy").stat().st_ino
    for i in range(3):  # past a tenth of the base
        _add(library, f"more{i}", rng, sound=i == 0)
    library.mark([names["c3"]], "missing")
    rows = clip_rows(library)
    assert len(rows.extra) == 0 and rows.alive.all()
    _same_as_sqlite(library, rows.all())
    [second] = _versions(library)
    assert (second / "visual.npy").stat().st_ino != base_inode
    CachedIndex.forget_all()
    _same_as_sqlite(library, clip_rows(library).all())


def test_an_update_whose_base_version_was_removed_meanwhile_writes_the_base_again(library):
    rng, _ = _library(library, 40)
    clip_rows(library)
    [first] = _versions(library)
    index_files.remove(first)  # another process pruned it; this one still maps it
    _add(library, "late", rng, sound=True)
    rows = clip_rows(library)
    assert ClipVectorIndex.of(library).source == "update" and len(rows.extra) == 1
    [second] = _versions(library)
    assert (second / "visual.npy").stat().st_size > 40 * DIM * 2
    CachedIndex.forget_all()
    _same_as_sqlite(library, clip_rows(library).all())
    assert ClipVectorIndex.of(library).source == "disk"


@pytest.mark.parametrize("damage", ["short visual", "alive of another size", "no header"])
def test_a_damaged_version_is_built_again_never_trusted(library, damage):
    _library(library, 30)
    clip_rows(library)
    [folder] = _versions(library)
    if damage == "short visual":
        data = (folder / "visual.npy").read_bytes()
        (folder / "visual.npy").write_bytes(data[:len(data) // 2])
    elif damage == "alive of another size":
        np.save(folder / "alive.npy", np.ones(29, bool))
    else:
        (folder / "header.json").unlink()
    CachedIndex.forget_all()
    rows = clip_rows(library)
    assert ClipVectorIndex.of(library).source == "build"
    _same_as_sqlite(library, rows.all())


def test_a_refresh_of_dated_clips_reads_sqlite_without_an_index_an_undated_one_builds_it(
        library):
    shelf = Shelf.weeks(library, ("park", "lake"))
    albums.refresh_albums(library)
    assert len(_versions(library)) == 1  # the first placement read every clip: it built it
    index_files.remove(index_files.beside(Path(library.path)))
    CachedIndex.forget_all()
    shelf.add("lake_3", "lake", DAY.format(9, 40))
    found = albums.refresh_albums(library)
    assert _versions(library) == []
    assert "lake_3" in shelf.names(next(a for a in found if "lake_0" in shelf.names(a)))
    shelf.add("park_1_copy", "park", None, copy_of="park_1")
    found = albums.refresh_albums(library)
    assert len(_versions(library)) == 1
    assert "park_1_copy" in shelf.names(next(a for a in found if "park_0" in shelf.names(a)))
    _same_as_sqlite(library, clip_rows(library).all())


@pytest.mark.parametrize("seed", range(3))
def test_placing_through_an_index_from_an_earlier_process_equals_placing_the_whole_library(
        tmp_path, monkeypatch, seed):
    def patch(m, whole):
        if not whole:  # the shares only choose the cheaper way: here, always the update
            m.setattr(cached_index, "REBUILD_SHARE", 1.0)

        def check(lib):
            assert whole or ClipVectorIndex.of(lib).source == "update"
        return check
    found = placed_both_ways(
        tmp_path, monkeypatch, seed,
        forget=CachedIndex.forget_all,  # the scan and the refresh after it in a new process
        extra=lambda shelf: shelf.add("undated", "old0", None, copy_of="old0_0"),  # vs all
        patch=patch)
    assert found[0] == found[1]


@pytest.mark.parametrize("values", [
    ["2021-05-31T10:17:57Z", None, "1969-12-31T23:59:59Z", "", "2024-02-29T12:00:00Z"],
    ["2021-05-31T10:17:57Z", "2021-02-30T10:00:00Z"],  # a day out of range: one at a time
    ["2021-05-31T10:17:57Z", "2021-05-31T23:59:60Z", "2021-05-31T24:00:00Z"],
    ["2021-05-31T10:17:57+02:00", "2021-05-31T10:17:57.250Z", "2021-05-31", "garbage"],
    [None, None], [],
])
def test_times_parsed_at_once_are_those_parsed_one_by_one(values):
    from app.core.albums import clustering as ac
    assert ac.parse_times(values).tolist() == pytest.approx(
        [ac.parse_time(v) for v in values], nan_ok=True, rel=0, abs=0)
    now = ac.parse_time("2025-01-01T00:00:00Z")
    assert ac.trusted_times(values + ["1985-01-01T00:00:00Z", "2025-01-03T00:00:00Z"],
                            now).tolist() == pytest.approx(
        [ac.trusted_time(v, now) for v in values + ["1985-01-01T00:00:00Z",
                                                     "2025-01-03T00:00:00Z"]],
        nan_ok=True, rel=0, abs=0)
