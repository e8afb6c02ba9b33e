"""Painted rows for results: the moment's picture, its time range, and why it matched."""

from __future__ import annotations

from PySide6.QtCore import QRect, QRectF, QSize, Qt
from PySide6.QtGui import QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate

from app.gui import fmt, theme
from app.gui.models.library_model import RowRole
from app.gui.models.results_model import MomentRole, ResultRole, why_text
from app.gui.widgets.grid import draw_badge, draw_picture, scaled_font

THUMB = QSize(176, 99)
ROW_HEIGHT = THUMB.height() + 18
STRIP_THUMB = QSize(144, 81)


def _rounded_picture(painter: QPainter, area: QRect, pix) -> None:
    clip = QPainterPath()
    clip.addRoundedRect(QRectF(area), 6, 6)
    painter.save()
    painter.setClipPath(clip)
    painter.fillRect(area, theme.color("poster"))
    if pix is not None:
        draw_picture(painter, area, pix)
    painter.restore()


def _background(painter: QPainter, option, rect: QRect) -> None:
    selected = bool(option.state & QStyle.State_Selected)
    hovered = bool(option.state & QStyle.State_MouseOver)
    if selected or hovered:
        path = QPainterPath()
        path.addRoundedRect(QRectF(rect).adjusted(2, 2, -2, -2), 9, 9)
        painter.fillPath(path, theme.color("accent_soft" if selected else "hover"))
        if selected:
            painter.setPen(QPen(theme.color("accent"), 1.5))
            painter.drawPath(path)


class ResultDelegate(QStyledItemDelegate):
    """One result per row: picture of the moment, name, where, why, a position bar."""

    def sizeHint(self, option, index) -> QSize:  # noqa: N802 (Qt API)
        return QSize(480, ROW_HEIGHT)

    def paint(self, painter: QPainter, option, index) -> None:
        r = index.data(ResultRole)
        row = index.data(RowRole) or {}
        painter.save()
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setRenderHint(QPainter.SmoothPixmapTransform)
        _background(painter, option, option.rect)
        pic = QRect(option.rect.left() + 10, option.rect.top() + 9, THUMB.width(), THUMB.height())
        _rounded_picture(painter, pic, index.data(MomentRole))
        small = scaled_font(option.font, 0.85, bold=True)
        painter.setFont(small)
        draw_badge(painter, pic, fmt.time_range(r.get("start"), r.get("end")), "bottom-right",
                   theme.color("accent"))

        x = pic.right() + 14
        width = option.rect.right() - x - 12
        title = scaled_font(option.font, 1.08, bold=True)
        painter.setFont(title)
        painter.setPen(theme.color("text"))
        name = painter.fontMetrics().elidedText(index.data(Qt.DisplayRole), Qt.ElideMiddle, width)
        painter.drawText(QRect(x, pic.top(), width, 20), Qt.AlignLeft | Qt.AlignVCenter, name)

        painter.setFont(option.font)
        painter.setPen(theme.color("dim"))
        where = [f"{fmt.time_range(r.get('start'), r.get('end'))} of "
                 f"{fmt.duration(row.get('duration'))}" if row.get("duration") else "",
                 fmt.date(row.get("created") or row.get("file_time"))]
        if r.get("score") is not None:
            where.append(f"match {float(r['score']):.2f}")
        painter.drawText(QRect(x, pic.top() + 22, width, 18), Qt.AlignLeft | Qt.AlignVCenter,
                         "  ·  ".join(w for w in where if w))

        painter.setPen(theme.color("text"))
        why = why_text(r.get("why"))
        painter.drawText(QRect(x, pic.top() + 44, width, 36),
                         Qt.AlignLeft | Qt.AlignTop | Qt.TextWordWrap,
                         painter.fontMetrics().elidedText(why, Qt.ElideRight, width * 2 - 20))

        duration = row.get("duration") or 0
        if duration and r.get("start") is not None:
            bar = QRectF(x, pic.bottom() - 6, min(width, 260), 5)
            path = QPainterPath()
            path.addRoundedRect(bar, 2.5, 2.5)
            painter.fillPath(path, theme.color("sunken"))
            a = bar.left() + bar.width() * min(1.0, r["start"] / duration)
            b = bar.left() + bar.width() * min(1.0, (r.get("end") or r["start"]) / duration)
            painter.fillRect(QRectF(a, bar.top(), max(3.0, b - a), bar.height()),
                             theme.color("accent"))
        painter.restore()


class MomentTileDelegate(QStyledItemDelegate):
    """A small tile for the "Similar moments" strip."""

    def sizeHint(self, option, index) -> QSize:  # noqa: N802 (Qt API)
        return QSize(STRIP_THUMB.width() + 12, STRIP_THUMB.height() + 34)

    def paint(self, painter: QPainter, option, index) -> None:
        r = index.data(ResultRole)
        painter.save()
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setRenderHint(QPainter.SmoothPixmapTransform)
        _background(painter, option, option.rect)
        pic = QRect(option.rect.left() + 6, option.rect.top() + 6, STRIP_THUMB.width(),
                    STRIP_THUMB.height())
        _rounded_picture(painter, pic, index.data(MomentRole))
        small = scaled_font(option.font, 0.8, bold=True)
        painter.setFont(small)
        draw_badge(painter, pic, fmt.time_range(r.get("start"), r.get("end")), "bottom-right")
        painter.setPen(theme.color("dim"))
        text = QRect(pic.left(), pic.bottom() + 4, pic.width(), 18)
        painter.drawText(text, Qt.AlignLeft | Qt.AlignVCenter,
                         painter.fontMetrics().elidedText(index.data(Qt.DisplayRole),
                                                          Qt.ElideMiddle, text.width()))
        painter.restore()


def results_list(parent=None) -> QListView:
    view = QListView(parent)
    view.setItemDelegate(ResultDelegate(view))
    view.setUniformItemSizes(True)
    view.setVerticalScrollMode(QAbstractItemView.ScrollPerPixel)
    view.verticalScrollBar().setSingleStep(24)
    view.setMouseTracking(True)
    return view


def moment_strip(parent=None) -> QListView:
    view = QListView(parent)
    view.setItemDelegate(MomentTileDelegate(view))
    view.setFlow(QListView.LeftToRight)
    view.setWrapping(False)
    view.setUniformItemSizes(True)
    view.setHorizontalScrollMode(QAbstractItemView.ScrollPerPixel)
    view.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    view.setFixedHeight(STRIP_THUMB.height() + 50)
    view.setMouseTracking(True)
    return view
