"""Duplicates as the library grows: what a run compared is remembered, the next verifies
only pairs that touch new clips and answers as a full run would; verification in worker
processes answers as in one; cancel stops it; groups arrive while it works."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from app.core import duplicates
from app.core.duplicates import finder, screening
from app.core.vectors import l2n
from tests.test_duplicates import _scene_frames, _sound, _write

# ---- the new clips' candidate search, on vectors (no models) -------------------------


def test_new_clips_find_the_partners_the_whole_search_finds():
    """New clips asked about in the cells a full run made: in a library of one cell,
    exactly the pairs of the exhaustive search from their side."""
    rng = np.random.default_rng(3)
    scenes = rng.standard_normal((30, 32))
    owners = np.repeat(np.arange(1, 121), 5)
    base = l2n(scenes[owners % 30] * 2 + rng.standard_normal((len(owners), 32))).astype(np.float16)
    new = owners > 100  # the last 20 files are the new ones
    layout: dict = {}
    screening._inverted_file_search(base[~new], owners[~new], 6, 0.5, layout_out=layout)
    cells = np.concatenate([layout["cells"], screening.assign_cells(base[new], layout["centroids"])])
    found = screening.search_new(base[new], owners[new], cells[len(layout["cells"]):],
                                 np.concatenate([base[~new], base[new]]),
                                 np.concatenate([owners[~new], owners[new]]), cells,
                                 layout["centroids"], 6, 0.5)
    x = base.astype(np.float32)
    whole = screening._pairs_of(screening._pair_keys(owners, screening._nearest(
        x[new], x, owners[new], owners, 6, 0.5, np.flatnonzero(new))))
    assert len(found) and np.array_equal(found, whole)
    assert np.isin(found, owners[new]).any(axis=1).all()


def test_copies_in_a_crowded_kind_of_scene_are_found(monkeypatch):
    """Most moments of one popular kind of scene: its cells are searched in cells of
    their own, and a cell next to it does not compare with all of it; every planted
    copy still meets its original."""
    rng = np.random.default_rng(8)
    # Pooled activations: non-negative, sharing one direction (what makes cells uneven).
    bias = rng.normal(0.5, 0.3, 48)
    themes = rng.standard_normal((20, 48))
    theme_of = np.where(rng.random(6000) < 0.6, 0, rng.integers(1, 20, 6000))
    moments = np.maximum(bias + themes[theme_of] + 0.3 * rng.standard_normal((6000, 48)), 0)
    owners = np.arange(6000) // 6
    copies = rng.choice(6000, 150, replace=False)
    copied = np.maximum(moments[copies] + 0.02 * rng.standard_normal((150, 48)), 0)
    x = l2n(np.concatenate([moments, copied])).astype(np.float16)
    owners = np.concatenate([owners, 10_000 + np.arange(150)])
    monkeypatch.setattr(screening, "CELL_SIZE", 100)
    monkeypatch.setattr(screening, "CROWDED", 4)
    depths = []
    search = screening._inverted_file_search

    def spy(*args, **kwargs):
        depths.append(kwargs.get("depth", args[4] if len(args) > 4 else 0))
        return search(*args, **kwargs)

    monkeypatch.setattr(screening, "_inverted_file_search", spy)
    found = set(map(tuple, screening._pairs_of(spy(x, owners, 40, 0.55)).tolist()))
    assert max(depths) >= 1  # the crowded kind of scene was split
    planted = {(int(owners[c]), 10_000 + i) for i, c in enumerate(copies)}
    assert planted <= found


# ---- the whole pipeline on generated clips, through the real models ------------------


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Clips of two scenes and their copies, in two folders: the second is 'the next scan'."""
    from skimage import data
    folder = tmp_path_factory.mktemp("growth")
    first, later = folder / "first", folder / "later"
    first.mkdir()
    later.mkdir()
    astronaut = _scene_frames(data.astronaut(), 5.0, seed=1)
    coffee = _scene_frames(data.coffee(), 5.0, seed=4)
    sound = _sound(5.0, seed=1)
    _write(first / "astronaut.mp4", astronaut, sound)
    _write(first / "astronaut_small.mkv", astronaut, sound, size=(160, 120))
    _write(first / "coffee.mp4", coffee, _sound(5.0, seed=4))
    _write(first / "astronaut_later.mp4", _scene_frames(data.astronaut(), 5.0, seed=2),
           _sound(5.0, seed=2))
    _write(later / "astronaut_mirrored.mp4", [f[:, ::-1] for f in astronaut], sound)
    _write(later / "coffee_trimmed.mp4", coffee[25:100], _sound(5.0, seed=4)[48000:4 * 48000])
    _write(later / "rocket.mp4", _scene_frames(data.rocket(), 4.0, seed=5), _sound(4.0, seed=5))
    return first, later


@pytest.fixture(scope="module")
def grown_template(tmp_path_factory, clips, real_indexer):
    """A library that was compared after its first scan, then scanned again with more;
    closed, so each test works on a copy of its file."""
    from app.core.library.scanner import Scanner
    from app.store.library import Library
    first, later = clips
    path = tmp_path_factory.mktemp("grown") / "library.sqlite"
    lib = Library(path)
    assert not Scanner(lib, indexer=real_indexer).scan([str(first)]).failed
    before = duplicates.find_duplicates(lib, workers=1)
    assert [f.path for g in before for f in g.files]  # the astronaut's copy, at least
    assert not Scanner(lib, indexer=real_indexer).scan([str(first), str(later)]).failed
    new = {lib.file(str(p))["id"] for p in later.iterdir()}
    lib.close()
    return path, new


@pytest.fixture
def grown(tmp_path, grown_template):
    from app.store.library import Library
    template, new = grown_template
    shutil.copy(template, tmp_path / "library.sqlite")
    lib = Library(tmp_path / "library.sqlite")
    yield lib, new
    lib.close()


def _json(groups) -> list[dict]:
    return [g.as_json() for g in groups]


@pytest.mark.models
def test_after_a_scan_only_pairs_touching_new_clips_are_verified(grown, monkeypatch):
    lib, new = grown
    seen: list[tuple[int, int]] = []
    real_verify = finder.verify

    def counting(tracks, x, y):
        seen.append((x, y))
        return real_verify(tracks, x, y)

    monkeypatch.setattr(finder, "verify", counting)
    stats: dict = {}
    again = duplicates.find_duplicates(lib, workers=1, stats=stats)
    assert stats["fresh"] == len(new) and stats["verified"] == len(seen) > 0
    assert all(x in new or y in new for x, y in seen)
    seen.clear()
    whole: dict = {}
    rebuilt = duplicates.find_duplicates(lib, workers=1, rebuild=True, remember=False,
                                         stats=whole)
    assert _json(again) == _json(rebuilt)
    assert whole["verified"] == len(seen) > stats["verified"]  # the old pairs, again
    paths = {f.path.rsplit("/", 1)[-1] for g in again for f in g.files}
    assert {"astronaut_mirrored.mp4", "coffee_trimmed.mp4", "coffee.mp4"} <= paths
    # Nothing new since: nothing is verified, and the answer holds.
    quiet: dict = {}
    assert _json(duplicates.find_duplicates(lib, workers=1, stats=quiet)) == _json(rebuilt)
    assert quiet["fresh"] == 0 and quiet["verified"] == 0


@pytest.mark.models
def test_a_large_library_searches_new_clips_against_the_remembered_moments(
        tmp_path, clips, real_indexer, monkeypatch):
    """Past EXACT_MOMENTS the moments are reduced and remembered; a grown library's new
    clips are searched against them and the groups are those of a full run."""
    from app.core.library.scanner import Scanner
    from app.store import duplicates as dupstore
    from app.store.library import Library
    monkeypatch.setattr(screening, "EXACT_MOMENTS", 0)
    first, later = clips
    lib = Library(tmp_path / "library.sqlite")
    Scanner(lib, indexer=real_indexer).scan([str(first)])
    duplicates.find_duplicates(lib, workers=1)
    assert {"basis", "centroids", "screen_basis"} <= set(dupstore.load_state(lib).arrays)
    Scanner(lib, indexer=real_indexer).scan([str(first), str(later)])
    stats: dict = {}
    again = duplicates.find_duplicates(lib, workers=1, stats=stats)
    rebuilt = duplicates.find_duplicates(lib, workers=1, rebuild=True, remember=False)
    assert stats["fresh"] == 3 and _json(again) == _json(rebuilt)
    lib.close()


@pytest.mark.models
def test_worker_processes_answer_as_one_process_does(grown, monkeypatch):
    lib, _ = grown
    serial: dict = {}
    one = duplicates.find_duplicates(lib, workers=1, rebuild=True, remember=False,
                                     stats=serial)
    monkeypatch.setattr(finder, "POOL_MIN_PAIRS", 0)
    monkeypatch.setattr(finder, "CHUNK_PAIRS", 2)
    # Screened pairs reach the workers a few at a time, while the rest are screened.
    monkeypatch.setattr(screening, "SCREEN_BATCH", 1)
    pooled: dict = {}
    progress: list[tuple[int, int]] = []
    two = duplicates.find_duplicates(lib, workers=2, rebuild=True, remember=False,
                                     stats=pooled, progress=lambda d, t: progress.append((d, t)))
    assert _json(one) == _json(two) and one
    assert pooled["worker_cpu_s"] > 0  # the pairs really were verified elsewhere
    assert pooled["verified"] == serial["verified"]
    # Every candidate pair is judged: screened out, or verified.
    assert progress[-1] == (serial["candidates"], serial["candidates"])
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)


@pytest.mark.models
def test_screening_in_batches_judges_every_pair_once(grown, monkeypatch):
    lib, _ = grown
    rows = {r["id"]: r for r in lib.files(status="indexed", present_only=True)}
    durations = {i: r["duration"] for i, r in rows.items()}
    pairs = finder.candidate_pairs(lib, set(rows))
    whole = screening.screen_pairs(lib, pairs, durations)
    monkeypatch.setattr(screening, "SCREEN_BATCH", 1)
    batches = list(screening.screen_batches(lib, pairs, durations))
    assert len(batches) > 2 and sum(judged for _, judged in batches) == len(pairs)
    passed = [(int(x), int(y)) for worth, _ in batches for x, y in worth]
    assert sorted(passed) == whole and len(set(passed)) == len(passed)
    assert all(x < y for x, y in passed)


@pytest.mark.models
def test_cancel_stops_verifying_and_remembers_nothing(grown, monkeypatch):
    lib, new = grown
    monkeypatch.setattr(finder, "POOL_MIN_PAIRS", 0)
    monkeypatch.setattr(finder, "CHUNK_PAIRS", 1)
    monkeypatch.setattr(screening, "SCREEN_BATCH", 1)
    progress: list[int] = []
    stats: dict = {}
    # Cancelled once the workers have answered: while pairs are verified (and screened).
    duplicates.find_duplicates(lib, workers=2, progress=lambda d, t: progress.append(d),
                               cancelled=lambda: stats.get("worker_cpu_s", 0.0) > 0,
                               stats=stats)
    assert stats["worker_cpu_s"] > 0
    assert progress and max(progress) < stats["candidates"]
    after: dict = {}
    duplicates.find_duplicates(lib, workers=1, stats=after)
    assert after["fresh"] == len(new)  # the cancelled run's clips are still new


@pytest.mark.models
def test_groups_found_so_far_arrive_before_the_end(grown, monkeypatch):
    lib, _ = grown
    monkeypatch.setattr(finder, "PARTIAL_EVERY", 0.0)
    events: list = []
    final = duplicates.find_duplicates(
        lib, workers=1, rebuild=True, remember=False,
        progress=lambda d, t: events.append(("progress", d, t)),
        found=lambda groups: events.append(("found", _json(groups))))
    partial = [i for i, e in enumerate(events) if e[0] == "found"]
    assert partial
    last_progress = max(i for i, e in enumerate(events) if e[0] == "progress")
    assert partial[0] < last_progress  # while pairs were still being verified
    # Every file shown early is in the final answer: a group only grows.
    final_paths = {f["path"] for g in _json(final) for f in g["files"]}
    assert {f["path"] for g in events[partial[0]][1] for f in g["files"]} <= final_paths


@pytest.mark.models
def test_a_trashed_copy_leaves_the_remembered_groups(grown, tmp_path):
    lib, new = grown
    duplicates.find_duplicates(lib, workers=1)
    mirrored = next(i for i in new if lib.file_by_id(i)["path"].endswith("mirrored.mp4"))
    path = lib.file_by_id(mirrored)["path"]
    shutil.move(path, tmp_path / "elsewhere.mp4")
    lib.mark([mirrored], "missing")
    stats: dict = {}
    groups = duplicates.find_duplicates(lib, workers=1, stats=stats)
    assert stats["verified"] == 0
    assert path not in {f.path for g in groups for f in g.files}
    assert _json(groups) == _json(duplicates.find_duplicates(lib, workers=1, rebuild=True,
                                                             remember=False))


@pytest.mark.models
def test_cli_rebuild_answers_as_the_remembering_run(grown, capsys):
    import json

    from app.cli import main
    lib, _ = grown
    assert main(["--library", str(lib.path), "duplicates", "--json"]) == 0
    remembered = json.loads(capsys.readouterr().out)
    assert main(["--library", str(lib.path), "duplicates", "--rebuild", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == remembered and remembered["groups"]


def test_a_remembered_copy_keeps_which_file_holds_less_of_the_picture(library):
    """A phone's upright slice of landscape footage is found once; the next run reads
    the match from the remembered run, and still keeps the landscape file."""
    from app.records import FileStat
    from app.store import duplicates as dupstore
    from tests.test_store import _clip
    ids = [library.save_index(FileStat(f"/v/{name}", 10, 1.5, name), None, _clip(i))
           for i, name in enumerate(("landscape.mp4", "slice.mp4"))]
    edge = finder._Edge(ids[1], ids[0], "full", (0.0, 2.0), (0.0, 2.0), 0.9, lesser=ids[1])
    assert dupstore.save_state(library, {i: ("now", None) for i in ids}, [finder._row_of(edge)],
                               [], None, {}, full=True)
    remembered = [finder._edge_of(row) for row in dupstore.load_state(library).edges]
    assert remembered == [edge]
    # The slice is sharper and richer: only what the match said keeps the landscape file.
    rows = {ids[0]: {"id": ids[0], "path": "/v/landscape.mp4", "duration": 2.0, "width": 640,
                     "height": 480, "bitrate": 1_000_000, "created": None, "size": 10,
                     "fingerprint": "a"},
            ids[1]: {"id": ids[1], "path": "/v/slice.mp4", "duration": 2.0, "width": 640,
                     "height": 480, "bitrate": 3_000_000, "created": None, "size": 20,
                     "fingerprint": "b"}}
    (group,) = finder.build_groups(remembered, rows)
    assert [f.path for f in group.files if f.keep] == ["/v/landscape.mp4"]
