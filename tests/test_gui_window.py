"""The main window on a real indexed library: opening, searching, playing at the matched
moment, the duplicates review with trash and Undo, and a scan that keeps the window alive.

Clips are generated from scikit-image photographs and indexed with the real models.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QTimer, QUrl

from app.core.library.scanner import Scanner
from app.store.library import Library
from tests.app_window import open_window
from tests.media_factory import make_clip

pytestmark = pytest.mark.models


def _photo(name: str) -> np.ndarray:
    from skimage import data
    img = getattr(data, name)()
    return np.ascontiguousarray(img[..., :3]) if img.ndim == 3 else np.stack([img] * 3, -1)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, real_indexer) -> dict:
    """holiday/: a clip cut from coffee (0-4 s) to a cat (4-8 s), a rocket, a coffee;
    copies/: a byte copy of the rocket; a damaged file. Scanned once for the module."""
    root = tmp_path_factory.mktemp("gui_lib")
    holiday, copies = root / "holiday", root / "copies"
    holiday.mkdir()
    copies.mkdir()
    coffee, cat, rocket = _photo("coffee"), _photo("chelsea"), _photo("rocket")
    make_clip(holiday / "afternoon.mp4", seconds=8, width=224, height=168,
              scenes=[coffee, cat], creation_time="2023-06-01T15:00:00Z")
    make_clip(holiday / "launch.mp4", seconds=4, width=224, height=168, scenes=[rocket],
              creation_time="2023-06-02T10:00:00Z")
    make_clip(holiday / "breakfast.mp4", seconds=4, width=224, height=168, scenes=[coffee],
              creation_time="2023-06-02T08:00:00Z")
    (holiday / "damaged.mp4").write_bytes(b"\x00" * 4096)
    shutil.copy2(holiday / "launch.mp4", copies / "launch (copy).mp4")
    db = root / "library.sqlite"
    lib = Library(db)
    try:
        report = Scanner(lib, indexer=real_indexer).scan([str(holiday), str(copies)])
    finally:
        lib.close()
    assert len(report.indexed) == 4 and len(report.failed) == 1
    return {"db": str(db), "root": root, "holiday": holiday, "copies": copies}


def _unloaded(player) -> bool:
    try:
        return player.media is None or player.media.source().isEmpty()
    except RuntimeError:  # the test closed the window: the player is gone already
        return True


@pytest.fixture
def window(qtbot, indexed):
    w = open_window(qtbot, indexed["db"])
    yield w
    player = w.detail.player
    player.close_media()
    # The stop runs from the event loop (see Player._load): let it, before closing.
    qtbot.waitUntil(lambda: _unloaded(player), timeout=10_000)
    with contextlib.suppress(RuntimeError):  # a test that closed the window deleted it
        w.close()


def test_window_opens_on_an_indexed_library(window, qtbot, indexed):
    model = window.library_view.model
    assert model.rowCount() == 4
    names = {Path(model.row(i)["path"]).name for i in range(model.rowCount())}
    assert names == {"afternoon.mp4", "launch.mp4", "breakfast.mp4", "launch (copy).mp4"}
    assert window.current_page() == "library"
    assert window.sidebar.item(0).text().endswith("4")
    # The damaged file is a problem with a reason, not a clip.
    problems = window.problems_view.table
    assert problems.rowCount() == 1 and problems.item(0, 0).text() == "damaged.mp4"
    assert problems.item(0, 2).text()
    # The first clip is shown in the detail pane; its moments and labels arrive.
    assert window.detail.row is not None
    qtbot.waitUntil(lambda: bool(window.detail.timeline.segments), timeout=10_000)
    # Posters were asked for by the painted tiles and arrived off the GUI thread.
    qtbot.waitUntil(lambda: window.thumbs.poster(model.row(0)["id"]) is not None, timeout=10_000)
    # Sorting by name and filtering by folder.
    window.library_view.sort.setCurrentIndex(window.library_view.sort.findData("name"))
    assert [Path(r["path"]).name for r in model.rows()] == [
        "afternoon.mp4", "breakfast.mp4", "launch (copy).mp4", "launch.mp4"]
    copies = next(r for r in window.roots if r["path"] == str(indexed["copies"]))
    window.library_view.folder.setCurrentIndex(window.library_view.folder.findData(copies["id"]))
    assert [Path(r["path"]).name for r in model.rows()] == ["launch (copy).mp4"]


def test_search_shows_results_and_opens_the_player_at_the_moment(window, qtbot, indexed):
    with qtbot.waitSignal(window.search_done, timeout=60_000):
        window.search_bar.search_for("cat")
    assert window.current_page() == "search"
    results = window.search_view.model.results()
    assert results, "searching for a cat found nothing"
    top = results[0]
    assert Path(top["path"]).name == "afternoon.mp4"
    # The cat is in the second half: the matched moment starts there, not at 0.
    assert top["start"] >= 3.0 and top["end"] > top["start"]
    assert top["why"]

    view = window.search_view.list
    view.setCurrentIndex(window.search_view.model.index(0))
    player = window.detail.player
    url = QUrl.fromLocalFile(top["path"])
    qtbot.waitUntil(lambda: player.media is not None and player.media.source() == url,
                    timeout=10_000)
    qtbot.waitUntil(lambda: abs(player.media.position() - top["start"] * 1000) < 300,
                    timeout=15_000)
    assert not player.is_playing()  # selecting shows the moment; Enter plays
    assert window.detail.timeline.highlight == (top["start"], top["end"])
    assert "Matched" in window.detail.match.text()

    # Enter on the result plays from the moment.
    from PySide6.QtCore import Qt
    view.setFocus()
    qtbot.keyClick(view, Qt.Key_Return)
    qtbot.waitUntil(player.is_playing, timeout=10_000)
    assert player.media.position() >= top["start"] * 1000 - 300
    player.media.pause()


def test_search_says_which_part_matched_nothing_and_when_it_only_guesses(window, qtbot,
                                                                         monkeypatch):
    with qtbot.waitSignal(window.search_done, timeout=60_000):
        window.search_bar.search_for('"ZEBRA CROSSING"')
    assert not window.search_view.model.results()
    assert "ZEBRA CROSSING (text)" in window.search_view.message.text()
    # The detector saw no dog and the classifier only guesses: the closest clips are
    # shown as such (the search's side of this is tests/test_picture_search.py).
    from app.gui.services import SearchAnswer
    closest = SearchAnswer([window.library_view.model.row(0)], ["dog (object)"], weak=True)
    monkeypatch.setattr(window.library, "search_text",
                        lambda words, limit, done, owner=None: done(result=closest))
    with qtbot.waitSignal(window.search_done, timeout=10_000):
        window.search_bar.search_for("a dog")
    subtitle = window.search_view.subtitle.text()
    assert "No clip surely matches" in subtitle and "dog (object)" in subtitle


def test_watching_records_watch_history(window, qtbot, indexed):
    row = next(r for r in window.library_view.model.rows() if r["path"].endswith("launch.mp4"))
    window.detail.show_clip(row, open_player=True, autoplay=True)
    player = window.detail.player
    qtbot.waitUntil(player.is_playing, timeout=20_000)
    player.media.setPlaybackRate(4.0)  # watched seconds are media seconds: 1.5 s sooner
    qtbot.waitUntil(lambda: player.media.position() > 1500, timeout=20_000)
    with qtbot.waitSignal(player.watched, timeout=5_000) as watched:
        window.detail.clear()
    file_id, seconds = watched.args
    assert file_id == row["id"] and seconds >= 1.0

    def recorded() -> bool:
        lib = Library(indexed["db"], readonly=True)
        try:
            return lib.conn.execute("SELECT count(*) FROM watches WHERE file_id = ?",
                                    (row["id"],)).fetchone()[0] > 0
        finally:
            lib.close()

    qtbot.waitUntil(recorded, timeout=10_000)


def test_duplicates_move_a_copy_to_the_trash_and_undo_restores_it(
        window, qtbot, indexed, monkeypatch, tmp_path):
    # The system trash lives under the (temporary) home of this test.
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    window.confirm = lambda title, text: True
    with qtbot.waitSignal(window.duplicates_loaded, timeout=60_000):
        window.load_duplicates()
    window.show_page("duplicates")
    cards = window.duplicates_view.cards
    group = next(c for c in cards if {Path(f.file["path"]).name for f in c.cards}
                 >= {"launch.mp4", "launch (copy).mp4"})
    keeper = next(f for f in group.cards if f.keep.isChecked())
    assert keeper.file.get("keep")  # the suggested keeper is preselected
    others = [f.file["path"] for f in group.cards if f is not keeper]
    assert others and all(Path(p).exists() for p in others)

    with qtbot.waitSignal(window.trash_done, timeout=30_000) as moved:
        group.trash_button.click()
    assert [d["path"] for d in moved.args[0].done] == others
    assert not any(Path(p).exists() for p in others)
    assert Path(keeper.file["path"]).exists()
    trashed = list((tmp_path / "share" / "Trash" / "files").iterdir()) \
        if (tmp_path / "share" / "Trash" / "files").exists() else []
    assert trashed or moved.args[0].done[0]["method"] == "app"
    qtbot.waitUntil(lambda: window.library_view.model.rowCount() == 3, timeout=10_000)

    # Undo from the notice bar puts the file back and the library shows it again.
    assert window.notice.isVisible() and window.notice.action.isVisible()
    with qtbot.waitSignal(window.trash_done, timeout=30_000) as restored:
        window.notice.action.click()
    assert [d["path"] for d in restored.args[0].done] == others
    assert all(Path(p).exists() for p in others)
    qtbot.waitUntil(lambda: window.library_view.model.rowCount() == 4, timeout=10_000)


def _three_photo_clips(folder: Path) -> Path:
    """A folder of three short clips of different photos, not yet scanned."""
    folder.mkdir()
    for i, name in enumerate(("astronaut", "coffee", "rocket")):
        make_clip(folder / f"clip_{i}.mp4", seconds=3, width=224, height=168,
                  scenes=[_photo(name)])
    return folder


def test_a_scan_runs_while_the_event_loop_keeps_processing(qtbot, tmp_path, real_indexer):
    folder = _three_photo_clips(tmp_path / "videos")
    w = open_window(qtbot, tmp_path / "library.sqlite", timeout=30_000)
    assert w.current_page() == "welcome"  # no folders yet: the first-run screen
    w.scanner.indexer_factory = lambda: real_indexer

    # The GUI thread keeps running timers and relaying progress while the scan runs on
    # its own thread (how long the loop may stall is measured by bench/gui_latency.py).
    ticks_while_scanning = []
    timer = QTimer()
    timer.timeout.connect(lambda: w.scanner.running and ticks_while_scanning.append(1))
    timer.start(20)
    progress = []
    w.scanner.progress.connect(lambda p: progress.append((p.phase, p.done, w.scanner.running)))
    with qtbot.waitSignal(w.scanner.finished, timeout=180_000) as finished:
        w.scan([str(folder)])
        assert w.scanner.running and not w.scanner.widget.isHidden()
    timer.stop()
    report, error = finished.args
    assert error is None and len(report.indexed) == 3
    assert [(done, running) for phase, done, running in progress if phase == "indexing"] == [
        (1, True), (2, True), (3, True)]
    assert ticks_while_scanning
    # The new clips appear, and the first-run screen gives way to the library.
    qtbot.waitUntil(lambda: w.library_view.model.rowCount() == 3, timeout=10_000)
    assert w.current_page() == "library"
    w.close()


def test_delete_key_asks_first_then_moves_to_the_trash_and_undo_restores(
        window, qtbot, monkeypatch, tmp_path):
    from PySide6.QtCore import Qt
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    grid = window.library_view.grid
    model = window.library_view.model
    index = next(model.index(i) for i in range(model.rowCount())
                 if model.row(i)["path"].endswith("breakfast.mp4"))
    path = Path(model.row(index.row())["path"])
    window.activateWindow()  # window shortcuts (Delete) act in the active window
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    grid.setFocus()
    grid.setCurrentIndex(index)
    asked = []
    window.confirm = lambda title, text: asked.append(text) or False
    qtbot.keyClick(grid, Qt.Key_Delete)
    assert asked and "breakfast.mp4" in asked[0]
    assert path.exists()  # the person said no: nothing moved

    window.confirm = lambda title, text: True
    with qtbot.waitSignal(window.trash_done, timeout=30_000):
        qtbot.keyClick(grid, Qt.Key_Delete)
    assert not path.exists()
    qtbot.waitUntil(lambda: model.rowCount() == 3, timeout=10_000)
    with qtbot.waitSignal(window.trash_done, timeout=30_000):
        window.notice.action.click()
    assert path.exists()
    qtbot.waitUntil(lambda: model.rowCount() == 4, timeout=10_000)


def test_albums_rename_and_remove_a_clip(window, qtbot, monkeypatch):
    from PySide6.QtWidgets import QInputDialog
    window.show_page("albums")
    view = window.albums_view
    qtbot.waitUntil(lambda: view.albums.rowCount() > 0, timeout=30_000)
    album = max(view.albums.albums, key=lambda a: len(a["files"]))
    view.list.setCurrentIndex(view.albums.index(view.albums.row_of(album["id"])))
    assert view.clips.rowCount() == len(album["files"]) >= 2

    monkeypatch.setattr(QInputDialog, "getText",
                        staticmethod(lambda *a, **k: ("Summer trip", True)))
    with qtbot.waitSignal(window.albums_loaded, timeout=30_000):
        view.rename()
    renamed = view.current_album()
    assert renamed["id"] == album["id"] and renamed["title"] == "Summer trip"

    view.grid.setCurrentIndex(view.clips.index(0))
    gone = view.clips.row(0)["path"]
    with qtbot.waitSignal(window.albums_loaded, timeout=30_000):
        view.remove_clips()
    after = view.current_album()
    assert after["title"] == "Summer trip" and gone not in after["files"]
    assert len(after["files"]) == len(album["files"]) - 1
    assert view.clips.rowCount() == len(after["files"])


def test_screenshot_command_renders_the_window(indexed, tmp_path):
    import os
    import subprocess
    import sys

    from PySide6.QtGui import QImage
    shot = tmp_path / "window.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-m", "app", "--library", indexed["db"], "gui",
                           "--screenshot", str(shot)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith(str(shot))
    image = QImage(str(shot))
    assert image.width() >= 1000 and image.height() >= 600
    # Not a blank frame: the grid's posters and the detail pane are painted.
    colors = {image.pixelColor(x, y).rgb() for x in range(0, image.width(), 37)
              for y in range(0, image.height(), 29)}
    assert len(colors) > 200


def test_duplicates_comparison_reports_progress_and_can_be_cancelled(window, qtbot):
    found, progress = [], []
    window.library.find_duplicates(lambda result=None, error=None: found.append((result, error)),
                                   progress=lambda done, total: progress.append((done, total)))
    qtbot.waitUntil(lambda: bool(found), timeout=60_000)
    groups, error = found[0]
    assert error is None and groups
    assert progress and progress[-1][0] == progress[-1][1]  # reported up to the end

    view = window.duplicates_view
    with qtbot.waitSignal(window.duplicates_loaded, timeout=60_000):
        window.load_duplicates()
        assert view.cancel_button.isVisible() or not view.isVisible()
        assert view.cancel_button.isEnabled() and not view.refresh_button.isEnabled()
        search = view.search
        view.cancel_button.click()  # before the answer can arrive: the loop has not run
    assert search.cancelled and view.search is None
    assert "Cancelled" in view.message.text()
    assert window._stale["duplicates"]  # shown again later, compared from the start
    assert not view.cancel_button.isEnabled() and view.refresh_button.isEnabled()


def test_duplicates_found_so_far_arrive_before_the_answer(window, qtbot, monkeypatch):
    from app.core.duplicates import finder
    monkeypatch.setattr(finder, "PARTIAL_EVERY", 0.0)  # every confirmed copy, at once
    events = []
    window.library.find_duplicates(
        lambda result=None, error=None: events.append(("done", result, error)),
        found=lambda groups: events.append(("found", groups, None)), rebuild=True)
    qtbot.waitUntil(lambda: any(e[0] == "done" for e in events), timeout=60_000)
    kinds = [e[0] for e in events]
    assert kinds[-1] == "done" and "found" in kinds[:-1]
    _, final, error = events[-1]
    assert error is None
    first = next(e[1] for e in events if e[0] == "found")
    assert first and {f["path"] for g in first for f in g["files"]} <= \
        {f["path"] for g in final for f in g["files"]}


def test_closing_during_a_scan_cancels_it_without_waiting(qtbot, tmp_path, real_indexer):
    folder = _three_photo_clips(tmp_path / "videos")
    w = open_window(qtbot, tmp_path / "library.sqlite", timeout=30_000)
    w.scanner.indexer_factory = lambda: real_indexer
    finished = []
    w.scanner.finished.connect(lambda report, error: finished.append((report, error)))
    w.scan([str(folder)])
    job = w.scanner.job
    w.close()
    # close() returned with the scan thread still at work: it asked, it did not wait.
    assert job.cancel_event.is_set() and job._thread.is_alive()
    qtbot.waitUntil(lambda: bool(finished), timeout=120_000)  # it stops on its own
    report, error = finished[0]
    assert error is None and report.cancelled and len(report.indexed) < 3
