"""Search, similarity and recommendation results: moments of clips, with why they matched."""

from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt

from app.gui import fmt
from app.gui.models.library_model import FileIdRole, RowRole
from app.gui.thumbs import ThumbCache

ResultRole = Qt.UserRole + 10
MomentRole = Qt.UserRole + 11


def why_text(why) -> str:
    """Core results explain themselves as a sentence, a list of reasons or a mapping."""
    if why is None:
        return ""
    if isinstance(why, str):
        return why
    if isinstance(why, dict):
        return " · ".join(f"{k}: {v}" if not isinstance(v, (list, tuple)) else
                          f"{k}: {', '.join(map(str, v))}" for k, v in why.items())
    if isinstance(why, (list, tuple)):
        return " · ".join(why_text(x) for x in why)
    return str(why)


def moment_time(result: dict) -> float:
    """Where to show a result's picture: the middle of its moment."""
    start = result.get("start")
    end = result.get("end")
    if start is None:
        return 0.0
    return (start + end) / 2 if end is not None and end > start else start


class ResultsModel(QAbstractListModel):
    def __init__(self, thumbs: ThumbCache, parent=None):
        super().__init__(parent)
        self.thumbs = thumbs
        self._results: list[dict] = []
        self._rows_by_id: dict[int, dict] = {}
        thumbs.changed.connect(self._thumb_changed)

    def set_results(self, results: list[dict], rows_by_id: dict[int, dict]) -> None:
        self.beginResetModel()
        self._results = list(results)
        self._rows_by_id = rows_by_id
        self.endResetModel()

    def set_rows_by_id(self, rows_by_id: dict[int, dict]) -> None:
        self._rows_by_id = rows_by_id
        if self._results:
            self.dataChanged.emit(self.index(0), self.index(len(self._results) - 1))

    def results(self) -> list[dict]:
        return self._results

    def rowCount(self, parent=None) -> int:  # noqa: N802 (Qt API)
        return 0 if parent is not None and parent.isValid() else len(self._results)

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid():
            return None
        r = self._results[index.row()]
        if role == Qt.DisplayRole:
            return fmt.file_name(r["path"])
        if role == ResultRole:
            return r
        if role == RowRole:
            return self._rows_by_id.get(r.get("file_id"))
        if role == FileIdRole:
            return r.get("file_id")
        if role == Qt.ToolTipRole:
            return f"{r['path']}\n{why_text(r.get('why'))}"
        if role == MomentRole:
            fid = r.get("file_id")
            return self.thumbs.moment(fid, r["path"], moment_time(r)) if fid is not None else None
        return None

    def flags(self, index: QModelIndex):
        return Qt.ItemIsEnabled | Qt.ItemIsSelectable if index.isValid() else Qt.NoItemFlags

    def _thumb_changed(self, file_id: int) -> None:
        for i, r in enumerate(self._results):
            if r.get("file_id") == file_id:
                idx = self.index(i)
                self.dataChanged.emit(idx, idx, [MomentRole])
