"""The library grid: a list model over plain rows, posters loaded lazily off the GUI thread."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QAbstractListModel, QModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate

from app.gui.tasks import run_task

RowRole = Qt.UserRole + 1
TILE = QSize(200, 150)
POSTER_CACHE = 2000


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class LibraryModel(QAbstractListModel):
    """Rows are dicts from ``Library.grid_rows``; the model never touches the database."""

    poster_wanted = Signal(int)  # file id

    def __init__(self, load_poster, parent=None):
        super().__init__(parent)
        self._rows: list[dict] = []
        self._posters: OrderedDict[int, QPixmap] = OrderedDict()
        self._pending: set[int] = set()
        self._load_poster = load_poster  # file id -> JPEG bytes | None, runs off the GUI thread
        self._row_of: dict[int, int] = {}

    def set_rows(self, rows: list[dict]) -> None:
        self.beginResetModel()
        self._rows = rows
        self._row_of = {r["id"]: i for i, r in enumerate(rows)}
        self.endResetModel()

    def rowCount(self, parent=None) -> int:  # noqa: N802 (Qt API)
        return 0 if parent is not None and parent.isValid() else len(self._rows)

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role == Qt.DisplayRole:
            return Path(row["path"]).name
        if role == RowRole:
            return row
        if role == Qt.ToolTipRole:
            return row["path"]
        if role == Qt.DecorationRole:
            return self._poster(row["id"])
        return None

    def row(self, i: int) -> dict:
        return self._rows[i]

    def index_of(self, file_id: int) -> QModelIndex:
        i = self._row_of.get(file_id)
        return self.index(i) if i is not None else QModelIndex()

    def _poster(self, file_id: int) -> QPixmap | None:
        pix = self._posters.get(file_id)
        if pix is not None:
            self._posters.move_to_end(file_id)
            return pix
        if file_id not in self._pending:
            self._pending.add(file_id)
            run_task(lambda: self._decode_poster(file_id),
                     lambda result=None, error=None: self._poster_ready(file_id, result))
        return None

    def _decode_poster(self, file_id: int) -> QImage | None:
        data = self._load_poster(file_id)
        if not data:
            return None
        image = QImage.fromData(data)
        return image.scaled(TILE, Qt.KeepAspectRatio, Qt.SmoothTransformation)

    def _poster_ready(self, file_id: int, image: QImage | None) -> None:
        self._pending.discard(file_id)
        if image is None:
            return
        self._posters[file_id] = QPixmap.fromImage(image)
        while len(self._posters) > POSTER_CACHE:
            self._posters.popitem(last=False)
        idx = self.index_of(file_id)
        if idx.isValid():
            self.dataChanged.emit(idx, idx, [Qt.DecorationRole])


class TileDelegate(QStyledItemDelegate):
    """Poster, name, and duration / resolution badges."""

    def sizeHint(self, option, index) -> QSize:  # noqa: N802 (Qt API)
        return QSize(TILE.width() + 12, TILE.height() + 34)

    def paint(self, painter: QPainter, option, index) -> None:
        row = index.data(RowRole)
        rect = option.rect.adjusted(6, 6, -6, -6)
        painter.save()
        painter.setRenderHint(QPainter.Antialiasing)
        selected = option.state & QStyle.State_Selected
        painter.fillRect(option.rect, QColor("#2d5a88") if selected else QColor("#1e1f22"))
        poster_rect = QRect(rect.left(), rect.top(), TILE.width(), TILE.height())
        painter.fillRect(poster_rect, QColor("#111"))
        pix = index.data(Qt.DecorationRole)
        if pix is not None:
            x = poster_rect.left() + (TILE.width() - pix.width()) // 2
            y = poster_rect.top() + (TILE.height() - pix.height()) // 2
            painter.drawPixmap(x, y, pix)
        if row["presence"] != "present":
            painter.fillRect(poster_rect, QColor(0, 0, 0, 150))
        badge_font = QFont(option.font)
        badge_font.setPointSizeF(max(7.0, option.font.pointSizeF() * 0.85))
        painter.setFont(badge_font)
        self._badge(painter, poster_rect, format_duration(row["duration"]), right=True)
        if row["height"]:
            self._badge(painter, poster_rect, _resolution_label(row["width"], row["height"]),
                        right=False)
        painter.setFont(option.font)
        painter.setPen(QColor("#e8e8e8"))
        text_rect = QRect(rect.left(), poster_rect.bottom() + 4, rect.width(), 20)
        name = painter.fontMetrics().elidedText(index.data(Qt.DisplayRole), Qt.ElideMiddle,
                                                text_rect.width())
        painter.drawText(text_rect, Qt.AlignLeft | Qt.AlignVCenter, name)
        painter.restore()

    @staticmethod
    def _badge(painter: QPainter, area: QRect, text: str, right: bool) -> None:
        if not text:
            return
        fm = painter.fontMetrics()
        w, h = fm.horizontalAdvance(text) + 8, fm.height() + 2
        x = area.right() - w - 4 if right else area.left() + 4
        box = QRect(x, area.bottom() - h - 4, w, h)
        painter.fillRect(box, QColor(0, 0, 0, 170))
        painter.setPen(QColor("white"))
        painter.drawText(box, Qt.AlignCenter, text)


def _resolution_label(width: int, height: int) -> str:
    short = min(width, height)
    for limit, name in ((2160, "4K"), (1440, "1440p"), (1080, "1080p"), (720, "720p")):
        if short >= limit:
            return name
    return f"{short}p"
