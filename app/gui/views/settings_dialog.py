"""Settings: library folders, excluded patterns, worker threads, data location, theme."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app import config
from app.settings import THEMES, Settings


class SettingsDialog(QDialog):
    add_folder_requested = Signal()
    remove_folder_requested = Signal(str)

    def __init__(self, settings: Settings, roots: list[str], library_path: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self.folders = QListWidget()
        self.folders.addItems(roots)
        self.folders.setMaximumHeight(130)
        add = QPushButton("Add…")
        remove = QPushButton("Remove")
        remove.setToolTip("Forget this folder's clips (the files stay on disk)")
        buttons = QVBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folders, 1)
        folder_row.addLayout(buttons)

        self.exclude = QPlainTextEdit("\n".join(settings.exclude))
        self.exclude.setPlaceholderText("One pattern per line, e.g. *.part or Screen Recordings")
        self.exclude.setMaximumHeight(90)
        self.workers = QSpinBox()
        self.workers.setRange(0, max(1, os.cpu_count() or 1))
        self.workers.setSpecialValueText("automatic")
        self.workers.setValue(settings.workers)
        self.workers.setToolTip("Processes decoding video during a scan (automatic: one per core)")
        self.threads = QSpinBox()
        self.threads.setRange(0, 64)
        self.threads.setSpecialValueText("automatic")
        self.threads.setValue(settings.threads)
        self.threads.setToolTip("Threads the recognition models use during a scan")
        self.faces = QCheckBox("Recognise faces and group them into people")
        self.faces.setChecked(settings.faces)
        self.faces.setToolTip("Faces never leave this computer. Turning this off deletes "
                              "every face, person and name from the library.")
        self.theme = QComboBox()
        for name in THEMES:
            self.theme.addItem(name.capitalize(), name)
        self.theme.setCurrentIndex(max(0, self.theme.findData(settings.theme)))

        data = QLabel(f"{config.data_dir()}<br><span style='font-size:11px'>library: "
                      f"{library_path}</span>")
        data.setTextInteractionFlags(Qt.TextSelectableByMouse)
        data.setWordWrap(True)
        open_data = QPushButton("Open")
        open_data.clicked.connect(lambda: QDesktopServices.openUrl(
            QUrl.fromLocalFile(str(config.data_dir()))))
        data_row = QHBoxLayout()
        data_row.addWidget(data, 1)
        data_row.addWidget(open_data, 0, Qt.AlignTop)

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignRight)
        form.setVerticalSpacing(12)
        form.addRow("Library folders", _wrap(folder_row))
        form.addRow("Excluded", self.exclude)
        form.addRow("Decoding processes", self.workers)
        form.addRow("Model threads", self.threads)
        form.addRow("Theme", self.theme)
        form.addRow("People", self.faces)
        form.addRow("Data location", _wrap(data_row))
        box = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        note = QLabel("Excluded patterns match folder or file names (glob: * and ?); they "
                      "apply from the next scan.")
        note.setObjectName("faint")
        note.setWordWrap(True)
        layout.addWidget(note)
        layout.addWidget(box)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        add.clicked.connect(self.add_folder_requested)
        remove.clicked.connect(self._remove)

    def set_roots(self, roots: list[str]) -> None:
        self.folders.clear()
        self.folders.addItems(roots)

    def _remove(self) -> None:
        item = self.folders.currentItem()
        if item is not None:
            self.remove_folder_requested.emit(item.text())

    def settings(self) -> Settings:
        return Settings(
            exclude=[line.strip() for line in self.exclude.toPlainText().splitlines()
                     if line.strip()],
            workers=self.workers.value(), threads=self.threads.value(),
            theme=self.theme.currentData(), faces=self.faces.isChecked())


def _wrap(layout) -> QWidget:
    w = QWidget()
    layout.setContentsMargins(0, 0, 0, 0)
    w.setLayout(layout)
    return w
