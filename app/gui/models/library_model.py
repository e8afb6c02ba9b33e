"""The library grid's model: all rows in memory, filtered in Python.

Rows are plain dicts from ``app.store.browse.grid_rows`` (one query for the whole
library, done in a background task, which also sorts them: ``sorting.sorted_orders``). ``data()`` never touches the database: pictures
come from the shared ``ThumbCache``, which loads only what a painted tile asks for.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt, Signal

from app.gui import fmt
from app.gui.models.sorting import SORTS, sorted_orders
from app.gui.thumbs import ThumbCache

RowRole = Qt.UserRole + 1
FileIdRole = Qt.UserRole + 2
StripRole = Qt.UserRole + 3

__all__ = ["SORTS", "FileIdRole", "LibraryModel", "RowRole", "StripRole"]


class LibraryModel(QAbstractListModel):
    """Sorted, filtered view over grid rows; ``row(i)`` is the dict shown at row i."""

    view_changed = Signal()

    def __init__(self, thumbs: ThumbCache, parent=None):
        super().__init__(parent)
        self.thumbs = thumbs
        self._all: list[dict] = []
        self._orders: dict[str, list[int]] = {}  # sort key -> indices of _all in order
        self._view: list[dict] = []
        self._row_of: dict[int, int] = {}
        self.sort_key = "date"
        self.root_id: int | None = None
        self.only_ids: set[int] | None = None
        thumbs.changed.connect(self._thumb_changed)

    # ---- content -------------------------------------------------------------------
    def set_rows(self, rows: list[dict], orders: dict[str, list[int]] | None = None) -> None:
        """``orders``: the rows' sort orders, computed with them in the background
        (``sorting.sorted_orders``); a sort missing there is computed when first shown."""
        self._all = rows
        self._orders = dict(orders or {})
        self._rebuild()

    def set_sort(self, key: str) -> None:
        if key in SORTS and key != self.sort_key:
            self.sort_key = key
            self._rebuild()

    def set_folder(self, root_id: int | None) -> None:
        if root_id != self.root_id:
            self.root_id = root_id
            self._rebuild()

    def set_only(self, ids: set[int] | None) -> None:
        """Show only these files (an album's clips); None shows the whole library."""
        self.only_ids = set(ids) if ids is not None else None
        self._rebuild()

    def _order(self, key: str) -> list[int]:
        """Each sort is computed once per set of rows: filtering a 100,000-clip library
        then costs one pass over the order, not a sort."""
        order = self._orders.get(key)
        if order is None:
            order = sorted_orders(self._all, [key])[key]
            self._orders[key] = order
        return order

    def _rebuild(self) -> None:
        rows = self._all
        order = self._order(self.sort_key)
        if self.root_id is not None:
            order = [i for i in order if rows[i].get("root_id") == self.root_id]
        if self.only_ids is not None:
            only = self.only_ids
            order = [i for i in order if rows[i]["id"] in only]
        rows = [rows[i] for i in order]
        self.beginResetModel()
        self._view = rows
        self._row_of = {r["id"]: i for i, r in enumerate(rows)}
        self.endResetModel()
        self.view_changed.emit()

    # ---- Qt API --------------------------------------------------------------------
    def rowCount(self, parent=None) -> int:  # noqa: N802 (Qt API)
        return 0 if parent is not None and parent.isValid() else len(self._view)

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid():
            return None
        row = self._view[index.row()]
        if role == Qt.DisplayRole:
            return fmt.file_name(row["path"])
        if role == RowRole:
            return row
        if role == FileIdRole:
            return row["id"]
        if role == Qt.ToolTipRole:
            return row["path"]
        if role == Qt.DecorationRole:
            return self.thumbs.poster(row["id"])
        if role == StripRole:
            return self.thumbs.strip(row["id"])
        return None

    def flags(self, index: QModelIndex):
        return Qt.ItemIsEnabled | Qt.ItemIsSelectable if index.isValid() else Qt.NoItemFlags

    # ---- lookups -------------------------------------------------------------------
    def row(self, i: int) -> dict:
        return self._view[i]

    def rows(self) -> list[dict]:
        return self._view

    def all_rows(self) -> list[dict]:
        return self._all

    def index_of(self, file_id: int) -> QModelIndex:
        i = self._row_of.get(file_id)
        return self.index(i) if i is not None else QModelIndex()

    def _thumb_changed(self, file_id: int) -> None:
        idx = self.index_of(file_id)
        if idx.isValid():
            self.dataChanged.emit(idx, idx, [Qt.DecorationRole, StripRole])
