"""The Library page: every clip in a grid, sorted by date, name, duration or size,
filtered by folder."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel
from PySide6.QtWidgets import QComboBox, QLabel

from app.gui import fmt
from app.gui.models.library_model import SORTS, FileIdRole, LibraryModel
from app.gui.thumbs import ThumbCache
from app.gui.views.page import Page
from app.gui.widgets.grid import ClipGridView


class LibraryView(Page):
    def __init__(self, thumbs: ThumbCache, parent=None):
        super().__init__("Library", parent)
        self.model = LibraryModel(thumbs, self)
        self.grid = ClipGridView()
        self.grid.setModel(self.model)
        self.sort = QComboBox()
        for key, (label, _, _) in SORTS.items():
            self.sort.addItem(label, key)
        self.sort.setToolTip("Sort the clips")
        self.folder = QComboBox()
        self.folder.setToolTip("Show the clips of one library folder")
        self.folder.setMinimumWidth(180)
        self.folder.addItem("All folders", None)
        self.empty = QLabel("No clips here.")
        self.empty.setObjectName("dim")
        self.empty.setVisible(False)
        self.controls.addWidget(self.folder)
        self.controls.addWidget(self.sort)
        self.body.addWidget(self.grid, 1)
        self.body.addWidget(self.empty)
        self.sort.currentIndexChanged.connect(
            lambda _: self.model.set_sort(self.sort.currentData()))
        self.folder.currentIndexChanged.connect(
            lambda _: self.model.set_folder(self.folder.currentData()))
        self.model.view_changed.connect(self._summarize)

    def set_rows(self, rows: list[dict], roots: list[dict],
                 orders: dict[str, list[int]] | None = None) -> None:
        """New library contents (``orders``: their sort orders, computed in the
        background); keeps the current clip and scroll position."""
        current = self.grid.currentIndex()
        keep = current.data(FileIdRole) if current.isValid() else None
        scroll = self.grid.verticalScrollBar().value()
        self._set_roots(roots)
        self.model.set_rows(rows, orders)
        if keep is not None:
            index = self.model.index_of(keep)
            if index.isValid():
                self.grid.selectionModel().setCurrentIndex(
                    index, QItemSelectionModel.ClearAndSelect)
        self.grid.verticalScrollBar().setValue(scroll)

    def _set_roots(self, roots: list[dict]) -> None:
        chosen = self.folder.currentData()
        self.folder.blockSignals(True)
        self.folder.clear()
        self.folder.addItem("All folders", None)
        for r in roots:
            self.folder.addItem(f"{r['path']}  ({r['clips']})", r["id"])
        i = self.folder.findData(chosen)
        self.folder.setCurrentIndex(max(0, i))
        self.folder.blockSignals(False)
        if i < 0 and chosen is not None:
            self.model.root_id = None

    def show_folder(self, root_id: int | None) -> None:
        i = self.folder.findData(root_id)
        if i >= 0:
            self.folder.setCurrentIndex(i)

    def _summarize(self) -> None:
        rows = self.model.rows()
        total = sum(r.get("size") or 0 for r in rows)
        length = sum(r.get("duration") or 0 for r in rows)
        self.set_subtitle(f"{len(rows):,} clip{'s' if len(rows) != 1 else ''} · "
                          f"{fmt.duration(length)} of video · "
                          f"{fmt.size(total)}" if rows else "")
        self.empty.setVisible(not rows and bool(self.model.all_rows()))
