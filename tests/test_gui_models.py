"""The grid model and the painted widgets, without models or a real library.

The picture reader is a counting double: the point is to prove the grid never reads
the database per row, only the pictures of the tiles it paints.
"""

from __future__ import annotations

import os
import threading
import time

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from app.gui import fmt
from app.gui.models.library_model import LibraryModel, RowRole
from app.gui.thumbs import ThumbCache
from app.gui.widgets.grid import ClipGridView
from app.gui.widgets.search_bar import SearchBar
from app.gui.widgets.timeline import SegmentTimeline


def _jpeg(width: int, height: int, value: int = 128) -> bytes:
    img = np.full((height, width, 3), value, np.uint8)
    img[:, : width // 2] = 255 - value
    return cv2.imencode(".jpg", img)[1].tobytes()


class CountingReader:
    """Stands in for ThumbReader: hands out tiny JPEGs and counts the reads."""

    def __init__(self, frames: int = 8):
        self.posters: list[int] = []
        self.strips: list[int] = []
        self.lock = threading.Lock()
        self.poster_jpeg = _jpeg(160, 90)
        self.strip_jpeg = _jpeg(160 * frames, 90)
        self.times = [float(i) for i in range(frames)]

    def poster(self, file_id: int) -> bytes:
        with self.lock:
            self.posters.append(file_id)
        return self.poster_jpeg

    def strip(self, file_id: int):
        with self.lock:
            self.strips.append(file_id)
        return self.strip_jpeg, self.times


def _fake_rows(n: int) -> list[dict]:
    rng = np.random.default_rng(1)
    durations = rng.uniform(1, 3600, n)
    sizes = rng.integers(1_000, 5_000_000_000, n)
    return [{"id": i + 1, "path": f"/videos/{'ab'[i % 2]}/clip_{n - i:06d}.mp4",
             "root_id": 1 + i % 2, "size": int(sizes[i]), "duration": float(durations[i]),
             "width": 1920, "height": 1080, "created": f"20{10 + i % 15:02d}-01-01T00:00:00Z",
             "file_time": "2024-01-01T00:00:00Z", "presence": "present"} for i in range(n)]


@pytest.fixture
def thumbs(qtbot):
    cache = ThumbCache()
    cache.reader = CountingReader()
    return cache


def test_grid_model_serves_100k_rows_without_reading_per_row(qtbot, thumbs):
    rows = _fake_rows(100_000)
    model = LibraryModel(thumbs)
    model.set_rows(rows)
    assert model.rowCount() == 100_000
    for i in range(model.rowCount()):
        index = model.index(i)
        assert index.data(Qt.DisplayRole).startswith("clip_")
        assert index.data(RowRole)["id"]
    assert thumbs.reader.posters == [] and thumbs.loads == 0

    # Sorting and filtering run in memory over the same rows.
    model.set_sort("duration")
    durations = [r["duration"] for r in model.rows()]
    assert durations == sorted(durations, reverse=True)
    model.set_sort("name")
    names = [os.path.basename(r["path"]) for r in model.rows()[:1000]]
    assert names == sorted(names)
    model.set_sort("size")
    assert model.row(0)["size"] == max(r["size"] for r in rows)
    model.set_folder(2)
    assert model.rowCount() == 50_000 and all(r["root_id"] == 2 for r in model.rows())
    model.set_folder(None)
    assert model.rowCount() == 100_000

    # A grid on screen asks only for the pictures of the tiles it paints.
    view = ClipGridView()
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.setModel(model)
    view.show()
    qtbot.waitExposed(view)
    qtbot.waitUntil(lambda: len(thumbs.reader.posters) > 0, timeout=5_000)
    qtbot.waitUntil(lambda: thumbs.poster(model.row(0)["id"]) is not None, timeout=5_000)
    assert 0 < len(set(thumbs.reader.posters)) < 100
    visible = {model.row(i)["id"] for i in range(40)}
    assert set(thumbs.reader.posters) <= visible
    # Scrolling to the end loads the tiles there, still a screenful, not the library.
    view.scrollToBottom()
    last = model.row(model.rowCount() - 1)["id"]
    qtbot.waitUntil(lambda: last in thumbs.reader.posters, timeout=5_000)
    assert len(set(thumbs.reader.posters)) < 200


def test_hover_scrubs_through_the_strip(qtbot, thumbs):
    model = LibraryModel(thumbs)
    model.set_rows(_fake_rows(6))
    view = ClipGridView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.setModel(model)
    view.show()
    qtbot.waitExposed(view)
    index = model.index(0)
    from app.gui.widgets.grid import poster_rect, tile_rect
    area = poster_rect(tile_rect(view.visualRect(index)))
    qtbot.mouseMove(view.viewport(), QPoint(area.left() + area.width() * 3 // 4, area.center().y()))
    qtbot.waitUntil(lambda: view.hover_row == 0 and view.hover_fraction is not None, timeout=2_000)
    assert 0.7 < view.hover_fraction < 0.8
    qtbot.waitUntil(lambda: thumbs.strip(model.row(0)["id"]) is not None, timeout=5_000)
    strip = thumbs.strip(model.row(0)["id"])
    assert strip.times == [float(i) for i in range(8)]
    assert strip.frame_rect(6).left() == 6 * strip.pixmap.width() // 8
    # Painting the hovered tile uses the strip frame under the mouse (no errors, a frame).
    pix = view.viewport().grab()
    assert not pix.isNull()
    assert thumbs.reader.strips == [model.row(0)["id"]]  # only the hovered clip's strip


def test_search_bar_words_and_dropped_files(qtbot, tmp_path):
    bar = SearchBar()
    qtbot.addWidget(bar)
    with qtbot.waitSignal(bar.text_search, timeout=2_000) as words:
        bar.setText("birthday cake")
        qtbot.keyClick(bar, Qt.Key_Return)
    assert words.args == ["birthday cake"]

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(clip))])
    event = QDropEvent(QPointF(5, 5), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    with qtbot.waitSignal(bar.similar_search, timeout=2_000) as dropped:
        bar.dropEvent(event)
    assert dropped.args == [str(clip)]
    assert "clip.mp4" in bar.text()

    text = QMimeData()
    text.setUrls([QUrl.fromLocalFile(str(tmp_path / "notes.txt"))])
    event = QDropEvent(QPointF(5, 5), Qt.CopyAction, text, Qt.LeftButton, Qt.NoModifier)
    with qtbot.assertNotEmitted(bar.similar_search):
        bar.dropEvent(event)


def test_segment_timeline_click_seeks_to_the_moment(qtbot):
    timeline = SegmentTimeline()
    qtbot.addWidget(timeline)
    timeline.resize(400, 34)
    timeline.set_segments([{"start": 0.0, "end": 4.0, "label": "coffee"},
                           {"start": 4.0, "end": 10.0, "label": "cat"}], 10.0)
    timeline.show()
    with qtbot.waitSignal(timeline.seek_requested) as seek:
        qtbot.mouseClick(timeline, Qt.LeftButton, pos=QPoint(300, 17))
    assert seek.args == [4.0]
    assert timeline.segment_at(20)["label"] == "coffee"


def test_formats():
    assert fmt.duration(65) == "1:05" and fmt.duration(3725) == "1:02:05"
    assert fmt.time_range(4, 8.4) == "0:04–0:08"
    assert fmt.size(1_500_000) == "1.5 MB" and fmt.bitrate(2_500_000) == "2.5 Mb/s"
    assert fmt.resolution_label(3840, 2160) == "4K" and fmt.resolution_label(1080, 1920) == "1080p"
    assert fmt.date_range("2024-01-14T10:00:00Z", "2024-01-16T10:00:00Z") == "14–16 Jan 2024"


def test_signal_emit_keeps_reference_counts():
    """PySide6 6.12.0 dropped a reference to True on each emit(); the app emits on every
    player position update, so a long enough session aborted the interpreter."""
    import sys

    from PySide6.QtCore import QObject, Signal

    class Source(QObject):
        value = Signal(object)

    source = Source()
    got = []
    source.value.connect(got.append)
    before = sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None)
    for _ in range(2000):
        source.value.emit(1)
    after = sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None)
    assert len(got) == 2000
    got.clear()
    assert all(abs(a - b) < 50 for a, b in zip(before, after, strict=True)), (before, after)


def test_grid_model_takes_the_sort_order_computed_with_the_rows(qtbot, thumbs):
    """The snapshot load sorts in the background; the model only swaps the rows in."""
    from app.gui.models.sorting import sorted_orders
    rows = _fake_rows(2_000)
    orders = sorted_orders(rows, ["date", "name", "date_old"])
    assert set(orders) == {"date", "name", "date_old"}
    computed = LibraryModel(thumbs)
    computed.set_rows(rows)  # no orders given: the model sorts itself
    given = LibraryModel(thumbs)
    given.set_rows(rows, orders)
    assert given.rows() == computed.rows()
    newest = [r["created"] for r in given.rows()]
    assert newest == sorted(newest, reverse=True)
    # Taken as given, not sorted again: a reversed order shows reversed.
    backwards = LibraryModel(thumbs)
    backwards.set_rows(rows, {"date": orders["date"][::-1]})
    assert backwards.rows() == computed.rows()[::-1]
    # Filters keep the given order.
    backwards.set_folder(2)
    assert backwards.rows() == [r for r in computed.rows()[::-1] if r["root_id"] == 2]
    # Names break ties in every sort: equal dates keep a stable, named order.
    by_date = given.rows()
    for a, b in zip(by_date[:-1], by_date[1:], strict=True):
        if a["created"] == b["created"]:
            assert os.path.basename(a["path"]).casefold() <= os.path.basename(b["path"]).casefold()


def test_snapshot_load_sorts_off_the_gui_thread(tmp_path):
    from app.gui import services
    from app.store.library import Library
    from tests.test_trash import index_file
    folder = tmp_path / "v"
    folder.mkdir()
    lib = Library(tmp_path / "lib.sqlite")
    for name in ("b.mp4", "a.mp4", "c.mp4"):
        (folder / name).write_bytes(os.urandom(1000 + len(name)))
        index_file(lib, folder / name, folder)
    lib.close()
    snap = services.load_snapshot(str(tmp_path / "lib.sqlite"), ("name",))
    assert [os.path.basename(snap.rows[i]["path"]) for i in snap.orders["name"]] == [
        "a.mp4", "b.mp4", "c.mp4"]
    assert set(snap.orders) == {"name"}
    assert snap.by_id == {r["id"]: r for r in snap.rows}
    assert snap.by_path == {r["path"]: r for r in snap.rows}


def test_what_the_person_waits_for_does_not_queue_behind_start_up_work(qtbot, tmp_path):
    """Album grouping and the duplicates comparison run on their own pool: with it busy,
    a clip's details still answer at once."""
    from app.gui import tasks
    from app.gui.library_service import LibraryService
    from app.store.library import Library
    from tests.test_trash import index_file
    clip = tmp_path / "v" / "a.mp4"
    clip.parent.mkdir()
    clip.write_bytes(os.urandom(3000))
    lib = Library(tmp_path / "lib.sqlite")
    file_id = index_file(lib, clip, clip.parent)
    lib.close()
    service = LibraryService(str(tmp_path / "lib.sqlite"))
    release = threading.Event()
    try:
        for _ in range(tasks.POOL_THREADS["background"]):  # start-up work still running
            tasks.run_task(release.wait, pool_name="background")
        albums, details = [], []
        service.refresh_albums(lambda result=None, error=None: albums.append(error or result))
        service.file_details(file_id, lambda result=None, error=None: details.append(result))
        qtbot.waitUntil(lambda: bool(details), timeout=10_000)
        assert details[0]["file"]["path"] == str(clip)
        assert not albums  # queued behind the start-up work, as it should be
    finally:
        release.set()
    qtbot.waitUntil(lambda: bool(albums), timeout=10_000)


def _person_waits(qtbot, what: str, asked: str, order: list, release: threading.Event) -> None:
    """A foreground task the person waits for: "<what> <asked>" goes in ``order`` when it
    starts, "<what> answered" once ``release`` is set; returns when it has started."""
    from app.gui import tasks

    def answer():
        order.append(f"{what} {asked}")
        release.wait(10)
        order.append(f"{what} answered")

    tasks.run_task(answer, pool_name="work")
    qtbot.waitUntil(lambda: order == [f"{what} {asked}"], timeout=10_000)


def test_start_up_work_holds_back_while_the_person_waits_for_an_answer(qtbot, monkeypatch):
    """A search running: album grouping (or the duplicates comparison) starts after it
    answers, not beside it; and never waits longer than YIELD_SECONDS."""
    from app.gui import tasks
    release, order = threading.Event(), []
    _person_waits(qtbot, "search", "started", order, release)
    tasks.run_task(lambda: order.append("albums started"), pool_name="background")
    time.sleep(0.5)
    assert order == ["search started"]
    release.set()
    qtbot.waitUntil(lambda: len(order) == 3, timeout=10_000)
    assert order == ["search started", "search answered", "albums started"]

    monkeypatch.setattr(tasks, "YIELD_SECONDS", 0.3)
    release.clear()
    order.clear()
    _person_waits(qtbot, "search", "started", order, release)
    tasks.run_task(lambda: order.append("albums started"), pool_name="background")
    qtbot.waitUntil(lambda: "albums started" in order, timeout=10_000)
    assert order == ["search started", "albums started"]  # held back, not starved
    release.set()
    qtbot.waitUntil(lambda: "search answered" in order, timeout=10_000)


def test_the_warm_up_loads_the_text_model_after_what_the_person_asked(qtbot, tmp_path,
                                                                     monkeypatch):
    """The indexes are mapped at once; the text model, which a similar strip does not
    need, waits for the similar search asked meanwhile to answer."""
    from app.gui import services
    from app.gui.library_service import LibraryService
    order, release = [], threading.Event()
    monkeypatch.setattr(services, "warm", lambda path, text_model=True: order.append("indexes"))
    monkeypatch.setattr(services, "warm_text_model", lambda: order.append("text model"))
    _person_waits(qtbot, "similar", "asked", order, release)
    LibraryService(str(tmp_path / "lib.sqlite")).warm()
    qtbot.waitUntil(lambda: "indexes" in order, timeout=10_000)
    time.sleep(0.3)
    assert "text model" not in order
    release.set()
    qtbot.waitUntil(lambda: "text model" in order, timeout=10_000)
    assert order == ["similar asked", "indexes", "similar answered", "text model"]


def test_background_work_queued_right_after_the_warm_up_waits_for_it(qtbot):
    """The window starts its warm-up, then album grouping, in one go: the grouping must
    not slip in before a thread has picked the warm-up up."""
    from app.gui import tasks
    release, order = threading.Event(), []

    def warm():
        release.wait(10)
        order.append("warm-up done")

    tasks.run_task(warm, pool_name="warm")
    tasks.run_task(lambda: order.append("albums started"), pool_name="background")
    time.sleep(0.3)
    assert order == []
    release.set()
    qtbot.waitUntil(lambda: len(order) == 2, timeout=10_000)
    assert order == ["warm-up done", "albums started"]


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no nice values here")
def test_background_work_runs_below_what_the_person_asked_for(qtbot):
    """Once started, album grouping or a duplicates comparison must not take the cores
    from a search asked meanwhile: the background pool's threads run at a lower priority."""
    from app.gui import tasks
    base = os.getpriority(os.PRIO_PROCESS, 0)
    seen: dict = {}
    tasks.run_task(lambda: seen.update(search=os.getpriority(os.PRIO_PROCESS, 0)))
    qtbot.waitUntil(lambda: "search" in seen, timeout=10_000)
    tasks.run_task(lambda: seen.update(albums=os.getpriority(os.PRIO_PROCESS, 0)),
                   pool_name="background")
    qtbot.waitUntil(lambda: "albums" in seen, timeout=20_000)
    assert seen == {"search": base, "albums": max(base, tasks.BACKGROUND_NICENESS)}
    assert os.getpriority(os.PRIO_PROCESS, 0) == base
