"""The player: QtMultimedia decoding into a painted surface, opened at a moment.

Frames arrive through a QVideoSink and are painted by a plain widget, so the picture
is part of the window (screenshots, offscreen tests) rather than a native child
window. The player counts the seconds actually watched per file and reports them when
the person moves on: that is the watch history recommendations learn from.
"""

from __future__ import annotations

from PySide6.QtCore import Q_ARG, QMetaObject, QRect, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.gui import fmt, theme

MIN_WATCH_SECONDS = 1.0
# Position jumps larger than this are seeks, not watching.
MAX_WATCH_STEP_MS = 1500


class VideoSurface(QWidget):
    clicked = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("videoSurface")
        self.setMinimumSize(QSize(240, 135))
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.frame = None
        self.placeholder: QPixmap | None = None
        self.message = ""

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(400, 225)

    def heightForWidth(self, w: int) -> int:  # noqa: N802 (Qt API)
        return w * 9 // 16

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt API)
        return True

    def show_frame(self, frame) -> None:
        self.frame = frame if frame is not None and frame.isValid() else None
        self.update()

    def show_placeholder(self, pix: QPixmap | None, message: str = "") -> None:
        self.frame = None
        self.placeholder = pix
        self.message = message
        self.update()

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if event.button() == Qt.LeftButton:
            self.clicked.emit()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.SmoothPixmapTransform)
        painter.fillRect(self.rect(), Qt.black)
        image = self.frame.toImage() if self.frame is not None else None
        if image is not None and not image.isNull():
            size = image.size().scaled(self.size(), Qt.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(self.rect().center())
            painter.drawImage(target, image)
            return
        if self.placeholder is not None:
            size = self.placeholder.size().scaled(self.size(), Qt.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(self.rect().center())
            painter.drawPixmap(target, self.placeholder)
            painter.fillRect(self.rect(), theme.color("badge"))
            self._play_glyph(painter)
        if self.message:
            painter.setPen(theme.color("dim"))
            painter.drawText(self.rect().adjusted(12, 12, -12, -12),
                             Qt.AlignCenter | Qt.TextWordWrap, self.message)

    def _play_glyph(self, painter: QPainter) -> None:
        painter.setRenderHint(QPainter.Antialiasing)
        c = self.rect().center()
        painter.setPen(Qt.NoPen)
        painter.setBrush(theme.color("accent"))
        painter.drawEllipse(c, 26, 26)
        from PySide6.QtCore import QPointF
        from PySide6.QtGui import QPolygonF
        painter.setBrush(Qt.white)
        painter.drawPolygon(QPolygonF([QPointF(c.x() - 8, c.y() - 12),
                                       QPointF(c.x() - 8, c.y() + 12),
                                       QPointF(c.x() + 13, c.y())]))


class Player(QWidget):
    position_changed = Signal(float)  # seconds
    duration_changed = Signal(float)
    watched = Signal(int, float)  # file id, seconds watched, when leaving a file
    failed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.media = None  # QMediaPlayer, created on first use (loads the backend)
        self._source = QUrl()  # what is loaded, or asked to be (see _load)
        self.audio = None
        self.sink = None
        self.file_id: int | None = None
        self.path: str | None = None
        self._pending_start: float | None = None
        self._autoplay = False
        self._last_ms: int | None = None
        self._watched_ms = 0
        self._dragging = False

        self.surface = VideoSurface()
        self.play_button = QToolButton()
        self.play_button.setObjectName("flat")
        self.play_button.setIcon(theme.icon("play"))
        self.play_button.setIconSize(QSize(20, 20))
        self.play_button.setEnabled(False)
        self.play_button.setToolTip("Play / pause (Space)")
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setEnabled(False)
        self.time_label = QLabel("0:00 / 0:00")
        self.time_label.setObjectName("dim")

        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self.play_button)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.time_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.surface, 1)
        layout.addLayout(controls)

        self.play_button.clicked.connect(self.toggle)
        self.surface.clicked.connect(self.toggle)
        self.slider.sliderPressed.connect(lambda: setattr(self, "_dragging", True))
        self.slider.sliderReleased.connect(self._slider_released)

    # ---- opening ----------------------------------------------------------------------
    def _ensure_media(self) -> None:
        if self.media is not None:
            return
        from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer, QVideoSink
        self.media = QMediaPlayer(self)
        self.audio = QAudioOutput(self)
        self.sink = QVideoSink(self)
        self.media.setAudioOutput(self.audio)
        self.media.setVideoSink(self.sink)
        self.sink.videoFrameChanged.connect(self.surface.show_frame)
        self.media.mediaStatusChanged.connect(self._status)
        self.media.positionChanged.connect(self._position)
        self.media.durationChanged.connect(self._duration)
        self.media.playbackStateChanged.connect(self._state)
        self.media.errorOccurred.connect(lambda _e, text: self.failed.emit(text))

    def _load(self, url: QUrl) -> None:
        """Stop and load ``url`` (an empty one unloads) through the event loop.

        Called from Python, QMediaPlayer.stop() and setSource() hold the GIL while they
        wait for the FFmpeg backend's threads; those threads, tearing their renderers
        down, call into the PySide wrappers of our sink and audio output, which need the
        GIL: a deadlock (seen in the GUI tests). Queued, the calls run from the event
        loop with the GIL released."""
        self._source = url
        QMetaObject.invokeMethod(self.media, "stop", Qt.ConnectionType.QueuedConnection)
        QMetaObject.invokeMethod(self.media, "setSource", Qt.ConnectionType.QueuedConnection,
                                 Q_ARG(QUrl, url))

    def show_poster(self, file_id: int, path: str, poster: QPixmap | None) -> None:
        """Show a clip without loading it: its poster with a play glyph."""
        if file_id != self.file_id:
            self.close_media()
            self.file_id, self.path = file_id, path
        if not self.loaded():
            self.surface.show_placeholder(poster)
        self.play_button.setEnabled(True)

    def open(self, file_id: int, path: str, start: float = 0.0, autoplay: bool = False) -> None:
        """Load ``path`` and show it at ``start`` seconds; play if ``autoplay``."""
        self._ensure_media()
        self._autoplay = autoplay
        url = QUrl.fromLocalFile(path)
        if self._source == url and self._pending_start is None:
            self.media.setPosition(int(start * 1000))
            self.media.play() if autoplay else self.media.pause()
            return
        self.flush_watch()
        self.file_id, self.path = file_id, path
        self._pending_start = start
        self._last_ms = None
        self._load(url)
        self.play_button.setEnabled(True)
        self.slider.setEnabled(True)

    def _status(self, status) -> None:
        from PySide6.QtMultimedia import QMediaPlayer
        if status == QMediaPlayer.LoadedMedia and self._pending_start is not None:
            start, self._pending_start = self._pending_start, None
            self.media.setPosition(int(start * 1000))
            # pause() on a loaded file decodes and shows the frame at the position.
            self.media.play() if self._autoplay else self.media.pause()
        elif status == QMediaPlayer.InvalidMedia:
            self.surface.show_placeholder(None, "This file cannot be played.")

    # ---- transport --------------------------------------------------------------------
    def toggle(self) -> None:
        if self.path is None:
            return
        if self.media is not None and self.media.isPlaying():
            self.media.pause()
        elif self.media is not None and not self._source.isEmpty() \
                and self._pending_start is None:
            self.media.play()
        else:
            self.open(self.file_id, self.path, self._pending_start or 0.0, autoplay=True)

    def play(self) -> None:
        if self.path is not None:
            self.open(self.file_id, self.path, self.position(), autoplay=True)

    def seek(self, seconds: float) -> None:
        if self.path is None:
            return
        if self.media is None or self._source.isEmpty() or self._pending_start is not None:
            self.open(self.file_id, self.path, seconds, autoplay=False)
        else:
            self.media.setPosition(int(seconds * 1000))
            self._last_ms = None  # a seek is not watching

    def position(self) -> float:
        if self._pending_start is not None:
            return self._pending_start
        return self.media.position() / 1000 if self.media is not None else 0.0

    def loaded(self) -> bool:
        """A file is loaded in the media player (not just its poster on show)."""
        return self.media is not None and not self._source.isEmpty()

    def is_playing(self) -> bool:
        return self.media is not None and self.media.isPlaying()

    def close_media(self) -> None:
        self.flush_watch()
        if self.media is not None:
            self._load(QUrl())
        self._pending_start = None
        self.surface.show_frame(None)
        self.slider.setValue(0)
        self.time_label.setText("0:00 / 0:00")

    # ---- watching -----------------------------------------------------------------------
    def flush_watch(self) -> None:
        """Report the seconds watched of the current file, once."""
        seconds = self._watched_ms / 1000
        self._watched_ms = 0
        if self.file_id is not None and seconds >= MIN_WATCH_SECONDS:
            self.watched.emit(self.file_id, seconds)

    def _position(self, ms: int) -> None:
        if self.is_playing() and self._last_ms is not None and 0 < ms - self._last_ms <= MAX_WATCH_STEP_MS:
            self._watched_ms += ms - self._last_ms
        self._last_ms = ms
        if not self._dragging:
            self.slider.setValue(ms)
        self.time_label.setText(f"{fmt.clock(ms / 1000)} / {fmt.clock(self.media.duration() / 1000)}")
        self.position_changed.emit(ms / 1000)

    def _duration(self, ms: int) -> None:
        self.slider.setRange(0, max(0, ms))
        self.time_label.setText(f"{fmt.clock(self.media.position() / 1000)} / {fmt.clock(ms / 1000)}")
        self.duration_changed.emit(ms / 1000)

    def _state(self, state) -> None:
        from PySide6.QtMultimedia import QMediaPlayer
        playing = state == QMediaPlayer.PlayingState
        self.play_button.setIcon(theme.icon("pause" if playing else "play"))
        self._last_ms = self.media.position() if playing else None

    def _slider_released(self) -> None:
        self._dragging = False
        self.seek(self.slider.value() / 1000)
