"""The search field: words search the library, a dropped clip or photo finds similar ones."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLineEdit

from app.core.library.scanner import VIDEO_EXTENSIONS
from app.gui import theme

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif",
                              ".tiff", ".heic"})


def droppable_path(mime) -> str | None:
    """The first local video or image file in a drag, if any."""
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile():
            path = url.toLocalFile()
            if Path(path).suffix.lower() in VIDEO_EXTENSIONS | IMAGE_EXTENSIONS:
                return path
    return None


class SearchBar(QLineEdit):
    text_search = Signal(str)  # words: run a search
    similar_search = Signal(str)  # a path: find clips like this file
    cleared = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("searchBar")
        self.setPlaceholderText("Search your videos…   or drop a clip or a photo here")
        self.setClearButtonEnabled(True)
        self.setAcceptDrops(True)
        self.search_action = self.addAction(theme.icon("search"), QLineEdit.LeadingPosition)
        self._last = ""
        # Search as the person pauses typing, not on every key.
        self._debounce = QTimer(self, singleShot=True, interval=350)
        self._debounce.timeout.connect(self._submit)
        self.textEdited.connect(lambda _: self._debounce.start())
        self.returnPressed.connect(self._submit)

    def _submit(self) -> None:
        self._debounce.stop()
        words = self.text().strip()
        if words == self._last:
            return
        self._last = words
        if words:
            self.text_search.emit(words)
        else:
            self.cleared.emit()

    def search_for(self, words: str) -> None:
        self.setText(words)
        self._submit()

    def show_similar(self, path: str) -> None:
        """Show which file a similarity search is about, without searching for its name."""
        self._last = f"Like {Path(path).name}"
        self.setText(self._last)

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if event.key() == Qt.Key_Escape and self.text():
            self.clear()
            self._submit()
            return
        super().keyPressEvent(event)

    # ---- drag and drop --------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if droppable_path(event.mimeData()):
            self._set_dropping(True)
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if droppable_path(event.mimeData()):
            event.acceptProposedAction()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self._set_dropping(False)

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self._set_dropping(False)
        path = droppable_path(event.mimeData())
        if path:
            event.acceptProposedAction()
            self.show_similar(path)
            self.similar_search.emit(path)

    def _set_dropping(self, on: bool) -> None:
        self.setProperty("dropping", "true" if on else "false")
        self.style().unpolish(self)
        self.style().polish(self)
