"""The People page on a library with faces: listing, a person's clips opening at the
moment they appear, naming in place, merging two, taking a face out."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.gui.library_service import LibraryService
from app.gui.views.people_view import IdRole, PeopleView
from app.store.library import Library
from tests.test_people import _save


@pytest.fixture
def view(qtbot, tmp_path):
    path = tmp_path / "lib.sqlite"
    lib = Library(path)
    _save(lib, "/v/a1.mp4", [[], ["anna"], ["anna"], ["anna"]], seed=1)
    _save(lib, "/v/a2.mp4", [["anna"]] * 3, seed=2)
    _save(lib, "/v/b1.mp4", [["ben"]] * 3, seed=3)
    lib.close()
    v = PeopleView(LibraryService(str(path)))
    qtbot.addWidget(v)
    with qtbot.waitSignal(v.loaded, timeout=20_000) as blocker:
        v.load()
    assert blocker.args == [2]
    return v


def _select(qtbot, view, rows):
    view.grid.clearSelection()
    for r in rows:
        view.grid.item(r).setSelected(True)


def test_people_clips_open_where_they_appear(view, qtbot):
    assert view.grid.item(0).text().startswith("Add a name\n2 clips")
    _select(qtbot, view, [0])
    qtbot.waitUntil(lambda: view.clips.count() == 2, timeout=10_000)
    assert view.faces.count() == 2  # one face per track
    a1 = next(view.clips.item(i) for i in range(2) if "/v/a1.mp4" in view.clips.item(i).text())
    with qtbot.waitSignal(view.clip_activated) as blocker:
        view.clips.itemClicked.emit(a1)
    clip = blocker.args[0]
    assert clip["path"] == "/v/a1.mp4" and clip["start"] == pytest.approx(1.0)


def test_name_in_place_merge_and_remove_a_face(view, qtbot):
    anna_id = view.grid.item(0).data(IdRole)
    item = view.grid.item(0)
    with qtbot.waitSignal(view.loaded, timeout=20_000):
        item.setText("Anna")  # what the in-place editor does when the user types a name
    assert view.grid.item(0).text().startswith("Anna\n")
    assert view.merge_button.isEnabled() is False
    _select(qtbot, view, [0, 1])
    assert view.merge_button.isEnabled()
    with qtbot.waitSignal(view.loaded, timeout=20_000) as blocker:
        view.merge()
    assert blocker.args == [1]
    assert view.people[0]["id"] == anna_id and view.people[0]["name"] == "Anna"
    _select(qtbot, view, [0])
    qtbot.waitUntil(lambda: view.faces.count() == 3, timeout=10_000)
    view.faces.item(0).setSelected(True)
    assert view.not_button.isEnabled()
    with qtbot.waitSignal(view.loaded, timeout=20_000):
        view.remove_faces()
    qtbot.waitUntil(lambda: view.faces.count() == 2, timeout=10_000)
    assert view.grid.item(0).data(IdRole) == anna_id
    assert view.grid.item(0).flags() & Qt.ItemIsEditable


def test_turning_face_recognition_off_asks_then_deletes_face_data(qtbot, tmp_path,
                                                                   monkeypatch):
    from app import settings
    from app.gui import window as window_module
    from app.gui.views.settings_dialog import SettingsDialog
    monkeypatch.setenv("REELVAULT_DATA", str(tmp_path / "data"))
    path = tmp_path / "lib.sqlite"
    lib = Library(path)
    _save(lib, "/v/a1.mp4", [["anna"]] * 3, seed=1)
    lib.close()
    dialog = SettingsDialog(settings.Settings(), [], str(path))
    qtbot.addWidget(dialog)
    assert dialog.faces.isChecked()
    dialog.faces.setChecked(False)
    assert dialog.settings().faces is False

    w = window_module.MainWindow(str(path))
    qtbot.addWidget(w)
    asked = []
    monkeypatch.setattr(window_module, "ask", lambda *a: asked.append(a) or False)
    w.apply_settings(settings.Settings(faces=False))
    assert len(asked) == 1 and w.settings.faces is True  # said no: nothing deleted

    def faces():
        check = Library(path, readonly=True)
        try:
            return check.conn.execute("SELECT COUNT(*) FROM faces").fetchone()[0]
        finally:
            check.close()

    assert faces() == 3
    monkeypatch.setattr(window_module, "ask", lambda *a: True)
    w.apply_settings(settings.Settings(faces=False))
    assert w.settings.faces is False
    qtbot.waitUntil(lambda: faces() == 0, timeout=20_000)
    w.close()


def test_clip_details_name_the_people_in_it(qtbot, tmp_path):
    from app.core import people
    from app.gui import services
    from app.gui.widgets.timeline import SegmentTimeline
    path = tmp_path / "lib.sqlite"
    lib = Library(path)
    fid = _save(lib, "/v/a1.mp4", [[], ["anna"], ["anna"], ["anna"]], seed=1)
    (anna,) = people.refresh_people(lib)
    people.name_person(lib, anna["id"], "Anna")
    lib.close()
    (seen,) = services.file_details(str(path), fid)["people"]
    assert seen["name"] == "Anna" and seen["times"] == [2.0, 4.0, 6.0]
    assert len(seen["boxes"]) == 3
    timeline = SegmentTimeline()
    timeline.set_marks(seen["times"])
    assert timeline.marks == [2.0, 4.0, 6.0]
