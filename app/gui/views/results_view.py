"""A page of moments: search results, clips like a dropped file, or picks For you."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton

from app.gui.models.results_model import ResultRole, ResultsModel
from app.gui.thumbs import ThumbCache
from app.gui.views.page import Page
from app.gui.widgets.moments import results_list


class ResultsView(Page):
    result_selected = Signal(dict)  # the current result changed: show it at its moment
    result_activated = Signal(dict)  # Enter or double-click: play it

    def __init__(self, thumbs: ThumbCache, title: str, parent=None):
        super().__init__(title, parent)
        self.model = ResultsModel(thumbs, self)
        self.list = results_list()
        self.list.setModel(self.model)
        self.message = QLabel()
        self.message.setObjectName("dim")
        self.message.setAlignment(Qt.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setVisible(False)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setVisible(False)
        self.controls.addWidget(self.refresh_button)
        self.body.addWidget(self.message)
        self.body.addWidget(self.list, 1)
        self.list.selectionModel().currentChanged.connect(self._current)
        self.list.activated.connect(lambda idx: self.result_activated.emit(idx.data(ResultRole)))

    def _current(self, current, _previous) -> None:
        if current.isValid():
            self.result_selected.emit(current.data(ResultRole))

    def show_busy(self, title: str, text: str) -> None:
        self.title.setText(title)
        self.set_subtitle(text)
        self.model.set_results([], {})
        self.message.setVisible(False)

    def show_results(self, title: str, subtitle: str, results: list[dict],
                     rows_by_id: dict[int, dict], empty_text: str) -> None:
        self.title.setText(title)
        self.set_subtitle(subtitle)
        self.model.set_results(results, rows_by_id)
        self.message.setText(empty_text)
        self.message.setVisible(not results)
        self.list.setVisible(bool(results))

    def show_error(self, title: str, text: str) -> None:
        self.title.setText(title)
        self.set_subtitle("")
        self.model.set_results([], {})
        self.message.setText(text)
        self.message.setVisible(True)
        self.list.setVisible(False)

    def current_result(self) -> dict | None:
        index = self.list.currentIndex()
        return index.data(ResultRole) if index.isValid() else None

    def select_first(self) -> None:
        if self.model.rowCount():
            self.list.setCurrentIndex(self.model.index(0))
