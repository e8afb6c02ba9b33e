"""The library grid's model: all rows in memory, sorted and filtered in Python.

Rows are plain dicts from ``app.store.browse.grid_rows`` (one query for the whole
library, done in a background task). ``data()`` never touches the database: pictures
come from the shared ``ThumbCache``, which loads only what a painted tile asks for.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt, Signal

from app.gui import fmt
from app.gui.thumbs import ThumbCache

RowRole = Qt.UserRole + 1
FileIdRole = Qt.UserRole + 2
StripRole = Qt.UserRole + 3


def _basename(path: str) -> str:
    """os.path.basename, three times faster where "/" is the only separator (sorting
    100,000 names at start-up)."""
    return path[path.rfind("/") + 1:]


if os.sep != "/" or os.altsep:
    _basename = os.path.basename  # noqa: F811

# key, label, sort key, newest/largest first
SORTS: dict[str, tuple[str, object, bool]] = {
    "date": ("Newest first", lambda r: r.get("created") or r.get("file_time") or "", True),
    "date_old": ("Oldest first", lambda r: r.get("created") or r.get("file_time") or "", False),
    "name": ("Name", lambda r: _basename(r["path"]).casefold(), False),
    "duration": ("Longest first", lambda r: r.get("duration") or 0.0, True),
    "size": ("Largest first", lambda r: r.get("size") or 0, True),
}


class LibraryModel(QAbstractListModel):
    """Sorted, filtered view over grid rows; ``row(i)`` is the dict shown at row i."""

    view_changed = Signal()

    def __init__(self, thumbs: ThumbCache, parent=None):
        super().__init__(parent)
        self.thumbs = thumbs
        self._all: list[dict] = []
        self._keys: dict[str, list] = {}  # sort key -> its value for each of _all
        self._view: list[dict] = []
        self._row_of: dict[int, int] = {}
        self.sort_key = "date"
        self.root_id: int | None = None
        self.only_ids: set[int] | None = None
        thumbs.changed.connect(self._thumb_changed)

    # ---- content -------------------------------------------------------------------
    def set_rows(self, rows: list[dict]) -> None:
        self._all = rows
        self._keys = {}
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

    def _key_values(self, name: str) -> list:
        """Each row's value for a sort, computed once per set of rows: re-sorting and
        filtering a 100,000-clip library then costs two sorts of indices."""
        values = self._keys.get(name)
        if values is None:
            if name == "name":  # the tie-break of every sort: no call per row
                values = [_basename(r["path"]).casefold() for r in self._all]
            else:
                values = [SORTS[name][1](r) for r in self._all]
            self._keys[name] = values
        return values

    def _rebuild(self) -> None:
        rows = self._all
        picked = range(len(rows))
        if self.root_id is not None:
            picked = [i for i in picked if rows[i].get("root_id") == self.root_id]
        if self.only_ids is not None:
            picked = [i for i in picked if rows[i]["id"] in self.only_ids]
        _, _, reverse = SORTS[self.sort_key]
        # Name breaks ties, so equal dates (copies without a timestamp) keep a stable order.
        order = sorted(picked, key=self._key_values("name").__getitem__)
        order.sort(key=self._key_values(self.sort_key).__getitem__, reverse=reverse)
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
