"""The clip grid: a list view in icon mode, a painted tile per row, hover scrubbing.

Moving the mouse across a tile's picture steps through the clip's thumbnail strip
(frames stored at index time), so a person sees what a clip holds without playing it.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate

from app.gui import fmt, theme
from app.gui.models.library_model import RowRole, StripRole
from app.gui.thumbs import POSTER_SIZE

TEXT_HEIGHT = 40
PAD = 7  # inside a tile, around the picture
GAP = 4  # between tiles
MIN_POSTER_WIDTH = 168  # tiles grow from this to fill each row evenly...
MAX_CELL_WIDTH = 330  # ...up to this: a narrow view keeps modest tiles
FILL_TOLERANCE = 0.3  # crop a picture to fill its frame when the shapes differ less
TILE = QSize(POSTER_SIZE.width() + 2 * PAD, POSTER_SIZE.height() + TEXT_HEIGHT + 2 * PAD)


def scaled_font(base: QFont, factor: float, bold: bool = False) -> QFont:
    """``base`` scaled; style sheets size fonts in pixels, so the point size may be unset."""
    font = QFont(base)
    if base.pointSizeF() > 0:
        font.setPointSizeF(max(7.0, base.pointSizeF() * factor))
    elif base.pixelSize() > 0:
        font.setPixelSize(max(9, round(base.pixelSize() * factor)))
    if bold:
        font.setWeight(QFont.DemiBold)
    return font


def tile_rect(cell: QRect) -> QRect:
    return cell.adjusted(GAP, GAP, -GAP, -GAP)


def poster_rect(tile: QRect) -> QRect:
    """The 16:9 picture at the top of a tile, as wide as the tile allows."""
    width = tile.width() - 2 * PAD
    return QRect(tile.left() + PAD, tile.top() + PAD, width, width * 9 // 16)


def draw_badge(painter: QPainter, area: QRect, text: str, corner: str, accent=None) -> None:
    if not text:
        return
    fm = painter.fontMetrics()
    w, h = fm.horizontalAdvance(text) + 10, fm.height() + 2
    x = area.right() - w - 5 if corner.endswith("right") else area.left() + 5
    y = area.top() + 5 if corner.startswith("top") else area.bottom() - h - 5
    box = QRectF(x, y, w, h)
    path = QPainterPath()
    path.addRoundedRect(box, 4, 4)
    painter.fillPath(path, accent or theme.color("badge"))
    painter.setPen(theme.color("accent_text") if accent else Qt.white)
    painter.drawText(box, Qt.AlignCenter, text)


def draw_picture(painter: QPainter, area: QRect, pix, source: QRect | None = None) -> None:
    """Draw ``pix`` (or its ``source`` part) centred in ``area``: cropped to fill it when
    the shapes are close (4:3 in 16:9), fitted whole otherwise (a portrait clip)."""
    src = QRect(source or pix.rect())
    if src.isEmpty() or area.isEmpty():
        return
    src_ratio = src.width() / src.height()
    dst_ratio = area.width() / area.height()
    if abs(src_ratio - dst_ratio) / dst_ratio <= FILL_TOLERANCE:
        if src_ratio > dst_ratio:
            w = int(src.height() * dst_ratio)
            src = QRect(src.left() + (src.width() - w) // 2, src.top(), w, src.height())
        else:
            h = int(src.width() / dst_ratio)
            src = QRect(src.left(), src.top() + (src.height() - h) // 2, src.width(), h)
        painter.drawPixmap(area, pix, src)
        return
    size = src.size().scaled(area.size(), Qt.KeepAspectRatio)
    target = QRect(0, 0, size.width(), size.height())
    target.moveCenter(area.center())
    painter.drawPixmap(target, pix, src)


class TileDelegate(QStyledItemDelegate):
    """Poster (or the scrubbed strip frame), badges, name, date and size."""

    def __init__(self, view: ClipGridView):
        super().__init__(view)
        self.view = view

    def sizeHint(self, option, index) -> QSize:  # noqa: N802 (Qt API)
        return self.view.gridSize()

    def paint(self, painter: QPainter, option, index) -> None:
        row = index.data(RowRole)
        if row is None:
            return
        tile = tile_rect(option.rect)
        painter.save()
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setRenderHint(QPainter.SmoothPixmapTransform)
        selected = bool(option.state & QStyle.State_Selected)
        hovered = self.view.hover_row == index.row()
        if selected or hovered:
            bg = QPainterPath()
            bg.addRoundedRect(QRectF(tile).adjusted(1, 1, -1, -1), 10, 10)
            painter.fillPath(bg, theme.color("accent_soft" if selected else "hover"))
            if selected:
                painter.setPen(QPen(theme.color("accent"), 2))
                painter.drawPath(bg)
        area = poster_rect(tile)
        clip = QPainterPath()
        clip.addRoundedRect(QRectF(area), 7, 7)
        painter.save()
        painter.setClipPath(clip)
        painter.fillRect(area, theme.color("poster"))
        scrub_time = None
        strip = index.data(StripRole) if hovered and self.view.hover_fraction is not None else None
        if strip is not None and strip.times:
            i = min(len(strip.times) - 1, int(self.view.hover_fraction * len(strip.times)))
            draw_picture(painter, area, strip.pixmap, strip.frame_rect(i))
            scrub_time = strip.times[i]
        else:
            pix = index.data(Qt.DecorationRole)
            if pix is not None:
                draw_picture(painter, area, pix)
        if row.get("presence") != "present":
            painter.fillRect(area, theme.color("badge"))
        painter.restore()

        small = scaled_font(option.font, 0.82, bold=True)
        painter.setFont(small)
        if scrub_time is not None:
            frac = self.view.hover_fraction
            bar = QRect(area.left(), area.bottom() - 2, int(area.width() * frac), 3)
            painter.fillRect(bar, theme.color("accent"))
            draw_badge(painter, area, fmt.clock(scrub_time), "bottom-right", theme.color("accent"))
        else:
            draw_badge(painter, area, fmt.duration(row.get("duration")), "bottom-right")
        draw_badge(painter, area, fmt.resolution_label(row.get("width"), row.get("height")),
                   "top-left")
        if row.get("presence") != "present":
            draw_badge(painter, area, row.get("presence", "").capitalize(), "top-right",
                       theme.color("warn"))

        painter.setFont(option.font)
        painter.setPen(theme.color("text"))
        text = QRect(area.left() + 2, area.bottom() + 6, area.width() - 4, 18)
        name = painter.fontMetrics().elidedText(index.data(Qt.DisplayRole), Qt.ElideMiddle,
                                                text.width())
        painter.drawText(text, Qt.AlignLeft | Qt.AlignVCenter, name)
        painter.setFont(small)
        painter.setPen(theme.color("dim"))
        facts = " · ".join(x for x in (fmt.date(row.get("created") or row.get("file_time")),
                                        fmt.size(row.get("size"))) if x)
        painter.drawText(text.translated(0, 17), Qt.AlignLeft | Qt.AlignVCenter, facts)
        painter.restore()


class ClipGridView(QListView):
    """Icon-mode list with even columns, hover scrubbing and a context-menu signal."""

    context_requested = Signal(list, QPoint)  # rows (dicts), global position

    def __init__(self, parent=None):
        super().__init__(parent)
        self.hover_row: int | None = None
        self.hover_fraction: float | None = None
        self.setViewMode(QListView.IconMode)
        self.setResizeMode(QListView.Adjust)
        self.setMovement(QListView.Static)
        self.setUniformItemSizes(True)
        self.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(32)
        # Always reserve the scroll bar's room: columns are sized to the viewport, and a
        # bar appearing later would push the last column onto the next row.
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOn)
        self.setMouseTracking(True)
        self.setWordWrap(False)
        self.setSpacing(0)
        self.setGridSize(QSize(TILE.width() + 2 * GAP, TILE.height() + 2 * GAP))
        self.setItemDelegate(TileDelegate(self))
        self.setContextMenuPolicy(Qt.CustomContextMenu)
        self.customContextMenuRequested.connect(self._context)

    def selected_rows(self) -> list[dict]:
        rows = [i.data(RowRole) for i in self.selectionModel().selectedIndexes()]
        current = self.currentIndex()
        if not rows and current.isValid():
            rows = [current.data(RowRole)]
        return [r for r in rows if r is not None]

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        # Tiles widen to fill each row evenly: no ragged empty band on the right.
        # A little slack: QListView wraps before the last pixel of the viewport.
        width = max(MIN_POSTER_WIDTH, self.viewport().width() - 12)
        columns = max(1, width // (MIN_POSTER_WIDTH + 2 * (PAD + GAP)))
        cell_w = min(width // columns, MAX_CELL_WIDTH)
        poster_h = (cell_w - 2 * (PAD + GAP)) * 9 // 16
        grid = QSize(cell_w, poster_h + TEXT_HEIGHT + 2 * (PAD + GAP))
        if grid != self.gridSize():
            self.setGridSize(grid)
            self.scheduleDelayedItemsLayout()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().mouseMoveEvent(event)
        pos = event.position().toPoint()
        index = self.indexAt(pos)
        row, fraction = None, None
        if index.isValid():
            area = poster_rect(tile_rect(self.visualRect(index)))
            row = index.row()
            if area.contains(pos):
                fraction = min(0.999, max(0.0, (pos.x() - area.left()) / max(1, area.width())))
        self._set_hover(row, fraction)

    def leaveEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self._set_hover(None, None)
        super().leaveEvent(event)

    def _set_hover(self, row: int | None, fraction: float | None) -> None:
        if (row, fraction) == (self.hover_row, self.hover_fraction):
            return
        old = self.hover_row
        self.hover_row, self.hover_fraction = row, fraction
        for r in {old, row} - {None}:
            self.viewport().update(self.visualRect(self.model().index(r, 0)))

    def _context(self, pos: QPoint) -> None:
        index = self.indexAt(pos)
        if not index.isValid():
            return
        if not self.selectionModel().isSelected(index):
            self.setCurrentIndex(index)
        self.context_requested.emit(self.selected_rows(), self.viewport().mapToGlobal(pos))

    def select_file(self, file_id: int) -> bool:
        model = self.model()
        index = model.index_of(file_id) if hasattr(model, "index_of") else QModelIndex()
        if index.isValid():
            self.setCurrentIndex(index)
            self.scrollTo(index)
            return True
        return False
