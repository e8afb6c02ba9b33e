"""Painted time bars: a clip's moments with their labels, and matched ranges."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from app.gui import fmt, theme


class SegmentTimeline(QWidget):
    """Moments side by side along the clip; click one to jump there."""

    seek_requested = Signal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.segments: list[dict] = []  # {"start", "end", "label", "detail"}
        self.duration = 0.0
        self.position: float | None = None
        self.highlight: tuple[float, float] | None = None
        self.marks: list[float] = []  # times a named person is seen
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setMinimumHeight(34)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(300, 34)

    def set_segments(self, segments: list[dict], duration: float) -> None:
        self.segments = segments
        self.duration = max(duration or 0.0, max((s["end"] for s in segments), default=0.0))
        self.position = None
        self.update()

    def set_position(self, seconds: float | None) -> None:
        self.position = seconds
        self.update()

    def set_highlight(self, start: float | None, end: float | None) -> None:
        self.highlight = (start, end) if start is not None and end is not None else None
        self.update()

    def set_marks(self, times: list[float]) -> None:
        """Ticks where named people are seen."""
        self.marks = list(times)
        self.update()

    def _x(self, seconds: float, bar: QRectF) -> float:
        return bar.left() + bar.width() * (seconds / self.duration if self.duration else 0)

    def _bar(self) -> QRectF:
        return QRectF(self.rect()).adjusted(1, 4, -1, -4)

    def segment_at(self, x: float) -> dict | None:
        bar = self._bar()
        for s in self.segments:
            if self._x(s["start"], bar) <= x < self._x(s["end"], bar):
                return s
        return None

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        bar = self._bar()
        outline = QPainterPath()
        outline.addRoundedRect(bar, 6, 6)
        p.fillPath(outline, theme.color("sunken"))
        if not self.duration:
            return
        p.save()
        p.setClipPath(outline)
        for i, s in enumerate(self.segments):
            r = QRectF(self._x(s["start"], bar), bar.top(),
                       self._x(s["end"], bar) - self._x(s["start"], bar), bar.height())
            p.fillRect(r, theme.color("raised" if i % 2 else "accent_soft"))
            p.setPen(QPen(theme.color("bg"), 1))
            p.drawLine(r.topLeft(), r.bottomLeft())
            label = p.fontMetrics().elidedText(s.get("label", ""), Qt.ElideRight, int(r.width()) - 8)
            if r.width() > 30 and label:
                p.setPen(theme.color("text"))
                p.drawText(r.adjusted(4, 0, -4, 0), Qt.AlignVCenter | Qt.AlignLeft, label)
        if self.highlight:
            a, b = self.highlight
            r = QRectF(self._x(a, bar), bar.top(), max(3.0, self._x(b, bar) - self._x(a, bar)),
                       bar.height())
            p.setPen(QPen(theme.color("accent"), 2))
            p.setBrush(Qt.NoBrush)
            p.drawRoundedRect(r.adjusted(1, 1, -1, -1), 4, 4)
        p.restore()
        p.setPen(QPen(theme.color("accent"), 3))
        for t in self.marks:
            x = int(self._x(t, bar))
            p.drawLine(x, int(bar.top()) - 3, x, int(bar.top()) + 4)
        if self.position is not None:
            x = self._x(self.position, bar)
            p.setPen(QPen(theme.color("text"), 2))
            p.drawLine(int(x), int(bar.top()) - 3, int(x), int(bar.bottom()) + 3)

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt API)
        seg = self.segment_at(event.position().x())
        if seg is not None:
            self.seek_requested.emit(float(seg["start"]))

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 (Qt API)
        seg = self.segment_at(event.position().x())
        if seg is not None:
            QToolTip.showText(event.globalPosition().toPoint(),
                              f"{fmt.time_range(seg['start'], seg['end'])}  {seg.get('detail', '')}",
                              self)
        else:
            QToolTip.hideText()


class RangeBar(QWidget):
    """A thin bar for one file: where in its length the match with another file lies."""

    def __init__(self, duration: float, ranges: list[tuple[float, float]], parent=None):
        super().__init__(parent)
        self.duration = duration or 0.0
        self.ranges = ranges
        self.setFixedHeight(8)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setToolTip("Where this file matches the others: "
                        + ", ".join(fmt.time_range(a, b) for a, b in ranges))

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        bar = QRectF(self.rect())
        path = QPainterPath()
        path.addRoundedRect(bar, 4, 4)
        p.fillPath(path, theme.color("sunken"))
        if not self.duration:
            return
        p.setClipPath(path)
        for a, b in self.ranges:
            x0 = bar.left() + bar.width() * max(0.0, a) / self.duration
            x1 = bar.left() + bar.width() * min(self.duration, b) / self.duration
            p.fillRect(QRectF(x0, bar.top(), max(3.0, x1 - x0), bar.height()), theme.color("accent"))
