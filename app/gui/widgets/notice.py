"""A slim bar at the top of the window: what just happened, and Undo when it can be undone."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from app.gui import theme

SHOW_MS = 8_000
SHOW_WITH_ACTION_MS = 30_000


class NoticeBar(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("notice")
        self.setAttribute(Qt.WA_StyledBackground, True)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.action = QPushButton()
        self.action.setObjectName("link")
        self.close_button = QToolButton()
        self.close_button.setObjectName("flat")
        self.close_button.setText("✕")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(12, 6, 6, 6)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.action)
        lay.addWidget(self.close_button)
        self._callback: Callable | None = None
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self.hide)
        self.action.clicked.connect(self._act)
        self.close_button.clicked.connect(self.hide)
        self.hide()

    def show_message(self, text: str, action: str | None = None,
                     callback: Callable | None = None, error: bool = False) -> None:
        self.label.setText(text)
        self._callback = callback
        self.action.setText(action or "")
        self.action.setIcon(theme.icon("undo") if action == "Undo" else theme.icon(""))
        self.action.setVisible(bool(action and callback))
        self.setProperty("kind", "error" if error else "info")
        self.style().unpolish(self)
        self.style().polish(self)
        self.show()
        self._timer.start(SHOW_WITH_ACTION_MS if callback else SHOW_MS)

    def _act(self) -> None:
        callback, self._callback = self._callback, None
        self.hide()
        if callback is not None:
            callback()
