"""Every picture the views show, loaded lazily off the GUI thread and kept in LRU caches.

Views ask (``poster``, ``strip``, ``moment``); a miss queues one background load and
returns None, and ``changed(file_id)`` fires when the picture is ready so models can
repaint just the rows showing that file. JPEG decoding and scaling happen in the
worker; only the QImage -> QPixmap step runs on the GUI thread.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from PySide6.QtCore import QObject, QRect, QSize, Qt, Signal
from PySide6.QtGui import QImage, QPixmap

from app.gui.tasks import run_task
from app.store.library import ThumbReader

POSTER_SIZE = QSize(232, 130)  # 16:9, the grid tile
POSTERS_KEPT = 3000
STRIPS_KEPT = 400
MOMENTS_KEPT = 600


@dataclass
class Strip:
    """The scrubbing strip: ``len(times)`` frames of equal width side by side."""

    pixmap: QPixmap
    times: list[float]

    def frame_rect(self, i: int) -> QRect:
        n = max(1, len(self.times))
        w = self.pixmap.width() // n
        return QRect(i * w, 0, w, self.pixmap.height())

    def nearest(self, seconds: float) -> int:
        if not self.times:
            return 0
        return min(range(len(self.times)), key=lambda i: abs(self.times[i] - seconds))


def fit_poster(image: QImage, size: QSize = POSTER_SIZE) -> QImage:
    """Fill the tile when the aspect is close (crop the edges); fit it otherwise."""
    if image.isNull():
        return image
    src = image.width() / max(1, image.height())
    dst = size.width() / size.height()
    if abs(src - dst) / dst <= 0.3:
        scaled = image.scaled(size, Qt.KeepAspectRatioByExpanding, Qt.SmoothTransformation)
        x = (scaled.width() - size.width()) // 2
        y = (scaled.height() - size.height()) // 2
        return scaled.copy(x, y, size.width(), size.height())
    return image.scaled(size, Qt.KeepAspectRatio, Qt.SmoothTransformation)


class _Lru(OrderedDict):
    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def get_fresh(self, key):
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class ThumbCache(QObject):
    changed = Signal(int)  # file id whose poster, strip or moment picture arrived

    def __init__(self, library_path: str | None = None, parent=None):
        super().__init__(parent)
        self._posters = _Lru(POSTERS_KEPT)
        self._strips = _Lru(STRIPS_KEPT)
        self._moments = _Lru(MOMENTS_KEPT)
        self._pending: set[tuple] = set()
        self._missing: set[tuple] = set()  # loads that found nothing: not retried
        self.reader: ThumbReader | None = None
        self.loads = 0  # background loads started (the 100k-row test counts them)
        if library_path:
            self.set_library(library_path)

    def set_library(self, path: str) -> None:
        self.reader = ThumbReader(path)
        self.forget()

    def forget(self, file_id: int | None = None) -> None:
        """Drop cached pictures (of one file, e.g. after a rescan), so they reload."""
        for cache in (self._posters, self._strips):
            if file_id is None:
                cache.clear()
            else:
                cache.pop(file_id, None)
        if file_id is None:
            self._moments.clear()
            self._missing.clear()
        else:
            for key in [k for k in self._moments if k[0] == file_id]:
                del self._moments[key]
            self._missing = {k for k in self._missing if k[1] != file_id}

    # ---- what views call -----------------------------------------------------------
    def poster(self, file_id: int) -> QPixmap | None:
        pix = self._posters.get_fresh(file_id)
        if pix is None:
            self._load(("poster", file_id), lambda r: _poster_image(r.poster(file_id)))
        return pix

    def strip(self, file_id: int) -> Strip | None:
        strip = self._strips.get_fresh(file_id)
        if strip is None:
            self._load(("strip", file_id), lambda r: _strip_image(r.strip(file_id)))
        return strip

    def moment(self, file_id: int, path: str, seconds: float) -> QPixmap | None:
        """The exact frame at ``seconds`` (decoded in the background); until it arrives,
        the nearest strip frame stands in."""
        key = (file_id, round(seconds, 1))
        pix = self._moments.get_fresh(key)
        if pix is not None:
            return pix
        self._load(("moment", *key), lambda r: _moment_image(path, seconds))
        strip = self.strip(file_id)
        if strip is not None:
            return strip.pixmap.copy(strip.frame_rect(strip.nearest(seconds)))
        return None

    # ---- loading -------------------------------------------------------------------
    def _load(self, key: tuple, func) -> None:
        if key in self._pending or key in self._missing or self.reader is None:
            return
        self._pending.add(key)
        self.loads += 1
        reader = self.reader
        run_task(lambda: func(reader),
                 lambda result=None, error=None: self._arrived(key, reader, result),
                 pool_name="thumbs", owner=self)

    def _arrived(self, key: tuple, reader: ThumbReader, result) -> None:
        self._pending.discard(key)
        if reader is not self.reader:  # the library changed meanwhile
            return
        if result is None:
            self._missing.add(key)
            return
        kind, file_id = key[0], key[1]
        if kind == "poster":
            self._posters.put(file_id, QPixmap.fromImage(result))
        elif kind == "strip":
            image, times = result
            self._strips.put(file_id, Strip(QPixmap.fromImage(image), times))
        else:
            self._moments.put(key[1:], QPixmap.fromImage(result))
        self.changed.emit(file_id)


def _decoded(data: bytes) -> QImage:
    """JPEG bytes as a QImage, decoded by OpenCV. Not QImage.fromData: on a pool thread
    Qt's image plugins take a signal-slot mutex while this thread holds the GIL, and the
    GUI thread, holding that mutex to call into Python, waits for the GIL (a deadlock
    seen in CI)."""
    import cv2
    import numpy as np
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        return QImage()
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()


def _poster_image(data: bytes | None) -> QImage | None:
    if not data:
        return None
    image = _decoded(data)
    return None if image.isNull() else fit_poster(image)


def _strip_image(found) -> tuple[QImage, list[float]] | None:
    if not found:
        return None
    data, times = found
    image = _decoded(data)
    if image.isNull() or not times:
        return None
    return image, list(times)


def _moment_image(path: str, seconds: float) -> QImage | None:
    from app.core.indexing.frames import frame_at
    from app.core.indexing.media import MediaError
    try:
        rgb = frame_at(path, seconds, height=POSTER_SIZE.height())
    except (MediaError, OSError):
        return None
    h, w = rgb.shape[:2]
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()
    return fit_poster(image)
