"""The People page on a library with faces: listing, a person's clips opening at the
moment they appear, naming in place, merging two, taking a face out."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

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
    v = PeopleView(str(path))
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
