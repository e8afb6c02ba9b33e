"""Library folders (add, remove, scan), the first-run welcome, and the Problems list."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.gui import fmt, theme
from app.gui.views.page import Page


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setSelectionBehavior(QAbstractItemView.SelectRows)
    table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.setWordWrap(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.Stretch)
    for i in range(1, len(headers)):
        header.setSectionResizeMode(i, QHeaderView.ResizeToContents)
    return table


class FoldersView(Page):
    add_requested = Signal()
    remove_requested = Signal(str)
    scan_requested = Signal()
    show_requested = Signal(int)  # root id: show its clips in the Library

    def __init__(self, parent=None):
        super().__init__("Folders", parent)
        self.add_button = QPushButton(theme.icon("add", "accent_text"), "Add folder…")
        self.add_button.setObjectName("primary")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Forget this folder's clips (the files stay on disk)")
        self.scan_button = QPushButton(theme.icon("scan"), "Scan all")
        for b in (self.scan_button, self.remove_button, self.add_button):
            self.controls.addWidget(b)
        self.table = _table(["Folder", "Clips", "Size", "Problems", "State"])
        self.body.addWidget(self.table, 1)
        hint = QLabel("Reelvault watches these folders. Scanning is incremental: unchanged "
                      "files are not decoded again, renamed files keep what was learnt about "
                      "them, and a folder on an unplugged drive goes offline until it is back.")
        hint.setObjectName("faint")
        hint.setWordWrap(True)
        hint.setContentsMargins(8, 4, 8, 12)
        self.body.addWidget(hint)
        self.add_button.clicked.connect(self.add_requested)
        self.scan_button.clicked.connect(self.scan_requested)
        self.remove_button.clicked.connect(self._remove)
        self.table.cellDoubleClicked.connect(
            lambda r, _c: self.show_requested.emit(self.table.item(r, 0).data(Qt.UserRole)))
        self.table.itemSelectionChanged.connect(
            lambda: self.remove_button.setEnabled(bool(self.table.selectedItems())))
        self.remove_button.setEnabled(False)

    def set_roots(self, roots: list[dict]) -> None:
        self.table.setRowCount(len(roots))
        for i, r in enumerate(roots):
            state = ("offline" if r["offline"] and r["offline"] >= r["clips"] else
                     f"{r['missing']} missing" if r["missing"] else
                     "" if os.path.isdir(r["path"]) else "not found")
            cells = [r["path"], f"{r['clips']:,}", fmt.size(r["bytes"]),
                     f"{r['problems']:,}" if r["problems"] else "", state or "ok"]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j == 0:
                    item.setData(Qt.UserRole, r["id"])
                    item.setToolTip("Double-click to see its clips")
                if j > 0:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter if j < 4
                                          else Qt.AlignLeft | Qt.AlignVCenter)
                self.table.setItem(i, j, item)
        self.set_subtitle(f"{len(roots)} folder{'s' if len(roots) != 1 else ''}")

    def _remove(self) -> None:
        rows = {i.row() for i in self.table.selectedItems()}
        for r in sorted(rows):
            self.remove_requested.emit(self.table.item(r, 0).text())


class ProblemsView(Page):
    """Files that were skipped (not videos) or failed (damaged), with the reason."""

    def __init__(self, parent=None):
        super().__init__("Problems", parent)
        self.table = _table(["File", "Status", "Reason"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Interactive)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.Stretch)
        self.table.setColumnWidth(0, 360)
        self.empty = QLabel("No problems: every file found was indexed.")
        self.empty.setObjectName("dim")
        self.empty.setAlignment(Qt.AlignCenter)
        self.body.addWidget(self.table, 1)
        self.body.addWidget(self.empty, 1)

    def set_problems(self, problems: list[dict]) -> None:
        self.table.setRowCount(len(problems))
        for i, p in enumerate(problems):
            name = QTableWidgetItem(fmt.file_name(p["path"]))
            name.setToolTip(p["path"])
            status = QTableWidgetItem("not a video" if p["status"] == "skipped" else "failed")
            status.setForeground(theme.color("warn" if p["status"] == "skipped" else "danger"))
            reason = QTableWidgetItem(p["reason"] or "")
            reason.setToolTip(p["reason"] or "")
            for j, item in enumerate((name, status, reason)):
                self.table.setItem(i, j, item)
        failed = sum(p["status"] == "failed" for p in problems)
        self.set_subtitle(f"{failed} failed, {len(problems) - failed} skipped" if problems else "")
        self.table.setVisible(bool(problems))
        self.empty.setVisible(not problems)


class WelcomeView(QWidget):
    """First run: no folders yet."""

    add_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("page")
        self.setAttribute(Qt.WA_StyledBackground, True)
        card = QWidget()
        card.setObjectName("card")
        card.setAttribute(Qt.WA_StyledBackground, True)
        card.setMaximumWidth(560)
        logo = QLabel()
        logo.setPixmap(theme.icon("reelvault").pixmap(72, 72))
        logo.setAlignment(Qt.AlignCenter)
        title = QLabel("Welcome to Reelvault")
        title.setObjectName("pageTitle")
        title.setAlignment(Qt.AlignCenter)
        text = QLabel(
            "Add the folders where your videos live. Reelvault looks at every clip — what it "
            "shows, what it sounds like, when it was shot — so you can search them in your "
            "own words, find duplicates and browse them as albums.\n\n"
            "Everything happens on this computer: nothing is uploaded, ever.")
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignCenter)
        text.setObjectName("dim")
        self.add_button = QPushButton(theme.icon("add", "accent_text"), "  Add a folder of videos…")
        self.add_button.setObjectName("primary")
        self.add_button.setMinimumHeight(38)
        self.add_button.clicked.connect(self.add_requested)
        inner = QVBoxLayout(card)
        inner.setContentsMargins(36, 32, 36, 32)
        inner.setSpacing(14)
        for w in (logo, title, text):
            inner.addWidget(w)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.add_button)
        row.addStretch(1)
        inner.addLayout(row)
        # The first scan, from its first second: what it is doing, and how far it got.
        self.scan_text = QLabel()
        self.scan_text.setAlignment(Qt.AlignCenter)
        self.scan_text.setWordWrap(True)
        self.scan_bar = QProgressBar()
        self.scan_bar.setTextVisible(False)
        inner.addWidget(self.scan_text)
        inner.addWidget(self.scan_bar)
        self.show_scan(None)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        line = QHBoxLayout()
        line.addStretch(1)
        line.addWidget(card, 3)
        line.addStretch(1)
        outer.addLayout(line)
        outer.addStretch(2)

    def show_scan(self, text: str | None, done: int = 0, total: int = 0) -> None:
        """A scan's progress on this page (None: no scan running)."""
        for w in (self.scan_text, self.scan_bar):
            w.setVisible(text is not None)
        self.add_button.setText("  Add a folder of videos…" if text is None else
                                "  Add another folder…")
        if text is None:
            return
        self.scan_text.setText(text)
        self.scan_bar.setRange(0, total)  # 0, 0: busy
        self.scan_bar.setValue(done)
