"""Scanning from the window: progress, current file, time left, Pause/Resume and Cancel
in the status bar (``status`` repeats it for the first-run page); the library view
refreshes while clips are indexed, at most every few seconds."""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from app.gui import fmt
from app.gui.tasks import ScanJob

REFRESH_EVERY_MS = 2_000


def eta_text(seconds: float | None) -> str:
    if not seconds:
        return ""
    if seconds < 60:
        return f"about {max(1, round(seconds / 5) * 5):.0f} s left"
    minutes = seconds / 60
    return f"about {minutes:.0f} min left" if minutes < 90 else f"about {minutes / 60:.1f} h left"


class ScanController(QObject):
    started = Signal()
    progress = Signal(object)  # ScanProgress, relayed from the scan thread
    indexed_more = Signal()  # new clips are in the library: refresh the views (throttled)
    finished = Signal(object, object)  # ScanReport or None, error or None
    status = Signal(str, int, int)  # what the status bar says, done, total (0: unknown)

    def __init__(self, library_path: str, parent=None):
        super().__init__(parent)
        self.library_path = library_path
        self.job: ScanJob | None = None
        self.queued: list[str] = []
        self.indexer_factory = None  # None: the scanner's default (the installed models)
        self.settings = None
        self.label = QLabel()
        self.label.setObjectName("dim")
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Stop after the current file; Resume goes on from there")
        self.widget = QWidget()
        lay = QHBoxLayout(self.widget)
        lay.setContentsMargins(8, 0, 8, 0)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.bar)
        lay.addWidget(self.pause_button)
        lay.addWidget(self.cancel_button)
        self._show(False)
        self._refresh = QTimer(self, singleShot=True, interval=REFRESH_EVERY_MS)
        self._refresh.timeout.connect(self.indexed_more)
        self.cancel_button.clicked.connect(self.cancel)
        self.pause_button.clicked.connect(lambda: self.set_paused(not self.paused))
        self.paused = False
        self._said = ""

    @property
    def running(self) -> bool:
        return self.job is not None

    def scan(self, folders: list[str]) -> bool:
        """Start scanning ``folders``; while a scan runs, they are queued for the next."""
        if not folders:
            return False
        if self.job is not None:
            self.queued += [f for f in folders if f not in self.queued]
            return False
        from app.settings import Settings
        self.job = ScanJob(self.library_path, folders, self.settings or Settings(),
                           indexer_factory=self.indexer_factory)
        self.job.progress.connect(self._progress)
        self.job.finished.connect(self._finished)
        self.bar.setRange(0, 0)
        self.cancel_button.setEnabled(True)
        self.paused = False
        self.pause_button.setText("Pause")
        self.pause_button.setEnabled(True)
        self._say(f"Looking for videos in {', '.join(os.path.basename(f) or f for f in folders)}…")
        self._show(True)
        self.job.start()
        self.started.emit()
        return True

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.queued.clear()
            self.cancel_button.setEnabled(False)
            self.pause_button.setEnabled(False)
            self.paused = False
            self._say("Cancelling after the current file…")

    def set_paused(self, paused: bool) -> None:
        """Pause (the scan stops between files: no new file starts) or resume it."""
        if self.job is None or paused == self.paused:
            return
        self.paused = paused
        self.job.set_paused(paused)
        self.pause_button.setText("Resume" if paused else "Pause")
        self._say(self._said)

    def _say(self, text: str) -> None:
        """The status line (kept while paused, shown again on Resume)."""
        self._said = text
        total = max(0, self.bar.maximum())
        if self.paused:
            text = (f"Paused · {self.bar.value()} of {total} indexed" if total else "Paused")
        self.label.setText(text)
        self.status.emit(text, self.bar.value() if total else 0, total)

    def wait(self, seconds: float) -> None:
        """At exit, after ``cancel``: a bounded moment for the scan to stop after its
        current file (what it has not committed is rolled back by SQLite anyway)."""
        if self.job is not None:
            self.job.wait(seconds)

    def _progress(self, p) -> None:
        self.progress.emit(p)
        if p.phase == "walking" and p.path is not None:
            # Still walking: how many it found so far, with the busy bar.
            self._say(f"Looking for videos… {p.total} found so far" if p.total else
                      "Looking for videos…")
            return
        if p.total:
            self.bar.setRange(0, p.total)
            self.bar.setValue(p.done)
        if p.phase == "locating":
            self._say(f"Reading places {p.done} of {p.total}")
        if p.phase == "walking":
            self._say(f"Found {p.total} new or changed videos: loading the models…"
                      if p.total else "Nothing new to index")
        if p.phase == "indexing":
            name = fmt.file_name(p.path) if p.path else ""
            parts = [f"Indexing {p.done} of {p.total}", name, eta_text(p.eta)]
            self._say("  ·  ".join(x for x in parts if x))
            if not self._refresh.isActive():
                self._refresh.start()

    def _finished(self, report, error) -> None:
        self.job = None
        self.paused = False
        self._refresh.stop()
        self._show(False)
        self.finished.emit(report, error)
        if self.queued:
            folders, self.queued = self.queued, []
            self.scan(folders)

    def _show(self, on: bool) -> None:
        self.widget.setVisible(on)


def report_text(report) -> str:
    c = report.changes
    parts = [f"{len(report.indexed)} clips in the library"]
    if c.get("new"):
        parts.append(f"{c['new']} new")
    if c.get("updated"):
        parts.append(f"{c['updated']} updated")
    if c.get("moved"):
        parts.append(f"{c['moved']} moved")
    if report.failed or report.skipped:
        parts.append(f"{len(report.failed) + len(report.skipped)} problems")
    head = "Scan cancelled" if report.cancelled else "Scan finished"
    return f"{head}: " + ", ".join(parts) + f" ({report.seconds:.0f} s)"
