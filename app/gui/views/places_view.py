"""Places: where the clips were shot (cities and the user's named spots), with counts;
a place opens to its clips, and a clip shows in the detail pane."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTreeWidget, QTreeWidgetItem

from app.gui.library_service import LatestAnswer, LibraryService
from app.gui.views.page import Page

PathRole = Qt.UserRole + 1


class PlacesView(Page):
    clip_selected = Signal(str)  # a clip's path
    loaded = Signal(object)  # how many places, None on an error

    def __init__(self, library: LibraryService, parent=None):
        super().__init__("Places", parent)
        self.library = library
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Place", "Where", "Clips"])
        self.tree.setSelectionMode(QAbstractItemView.SingleSelection)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeToContents)
        self.empty = QLabel("No clip says where it was shot. Phones write the place into "
                            "their videos; `reelvault place set` gives one to a clip.")
        self.empty.setObjectName("faint")
        self.empty.setWordWrap(True)
        self.body.addWidget(self.tree, 1)
        self.body.addWidget(self.empty)
        self.empty.setVisible(False)
        self._asked = LatestAnswer()
        self.tree.currentItemChanged.connect(self._current_changed)

    def load(self) -> None:
        """Read the places off the GUI thread; only the latest answer is shown."""
        ticket = self._asked.ask()
        self.set_subtitle("Reading places…")
        self.library.places(lambda result=None, error=None: self._done(ticket, result, error),
                            owner=self)

    def _done(self, ticket: int, result, error) -> None:
        if not self._asked.is_latest(ticket):
            return
        if error is not None:
            self.set_subtitle(f"Could not read the places: {error}")
            self.loaded.emit(None)
            return
        self.set_places(result)
        self.loaded.emit(len(result))

    def set_places(self, places: list[dict]) -> None:
        self.tree.clear()
        clips = sum(p["count"] for p in places)
        self.set_subtitle(f"{len(places)} place{'s' if len(places) != 1 else ''}, "
                          f"{clips} clip{'s' if clips != 1 else ''}" if places else "")
        for p in places:
            where = ", ".join(x for x in (p["city"] if p["spot"] else None, p["region"],
                                          p["country"]) if x and x != p["name"])
            item = QTreeWidgetItem([p["name"], where, str(p["count"])])
            item.setToolTip(0, f"{p['lat']:.5f}, {p['lon']:.5f}")
            item.setTextAlignment(2, Qt.AlignRight | Qt.AlignVCenter)
            for path in p["files"]:
                child = QTreeWidgetItem([os.path.basename(path), os.path.dirname(path), ""])
                child.setData(0, PathRole, path)
                child.setToolTip(0, path)
                item.addChild(child)
            self.tree.addTopLevelItem(item)
        self.tree.setVisible(bool(places))
        self.empty.setVisible(not places)

    def _current_changed(self, item, _previous) -> None:
        path = item.data(0, PathRole) if item is not None else None
        if path:
            self.clip_selected.emit(path)
