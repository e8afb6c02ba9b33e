"""The main window: sidebar, library grid, problems, detail pane with the player."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.gui.library_model import LibraryModel, RowRole, TileDelegate, format_duration
from app.gui.tasks import ScanJob, run_task
from app.store.library import Library, ThumbReader

PAGES = ("Library", "Problems")


class DetailPane(QWidget):
    """File facts, moments with labels, and a player that opens at a moment."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.player = None
        self.video = None
        layout = QVBoxLayout(self)
        self.video_holder = QVBoxLayout()
        layout.addLayout(self.video_holder, 3)
        self.info = QLabel("Select a clip")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.info.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        layout.addWidget(self.info, 2)
        self.moments = QListWidget()
        layout.addWidget(self.moments, 2)
        self.play_button = QPushButton("Play")
        self.play_button.setEnabled(False)
        layout.addWidget(self.play_button)
        self.play_button.clicked.connect(self.toggle_play)
        self.moments.itemActivated.connect(
            lambda item: self.play(item.data(Qt.UserRole)))
        self._path: str | None = None

    def _ensure_player(self) -> None:
        # QtMultimedia loads its backend on first use, not at window start-up.
        if self.player is None:
            from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer
            from PySide6.QtMultimediaWidgets import QVideoWidget
            self.video = QVideoWidget()
            self.video_holder.addWidget(self.video)
            self.player = QMediaPlayer(self)
            self.audio = QAudioOutput(self)
            self.player.setAudioOutput(self.audio)
            self.player.setVideoOutput(self.video)

    def show_file(self, row: dict, details: dict) -> None:
        self._path = row["path"]
        facts = [f"<b>{Path(row['path']).name}</b>", row["path"],
                 f"{format_duration(row['duration'])} · {row['width']}×{row['height']}",
                 f"created {row['created'] or row['file_time']}"]
        tags = details.get("tags", {})
        if tags.get("visual"):
            facts.append("sees: " + ", ".join(t["label"] for t in tags["visual"][:5]))
        if tags.get("audio"):
            facts.append("hears: " + ", ".join(t["label"] for t in tags["audio"][:3]))
        self.info.setText("<br>".join(facts))
        self.moments.clear()
        for seg in details.get("segments", []):
            labels = ", ".join(name for _, name, _ in seg["labels"]["visual"][:3])
            self.moments.addItem(f"{seg['start']:6.1f}–{seg['end']:6.1f} s  {labels}")
            self.moments.item(self.moments.count() - 1).setData(Qt.UserRole, seg["start"])
        self.play_button.setEnabled(True)

    def play(self, start: float = 0.0) -> None:
        if not self._path:
            return
        self._ensure_player()
        self.player.setSource(QUrl.fromLocalFile(self._path))
        self.player.setPosition(int(start * 1000))
        self.player.play()

    def toggle_play(self) -> None:
        if self.player is not None and self.player.isPlaying():
            self.player.pause()
        else:
            self.play(0.0)


class MainWindow(QMainWindow):
    grid_filled = Signal()

    def __init__(self, library_path: str):
        super().__init__()
        self.library_path = library_path
        self.library = Library(library_path)  # GUI-thread reads only; the scan writes on its own
        self.scan_job: ScanJob | None = None
        self.setWindowTitle("Reelvault")
        self.resize(1280, 800)

        self.sidebar = QListWidget()
        self.sidebar.addItems(PAGES)
        self.sidebar.setFixedWidth(150)
        self.model = LibraryModel(ThumbReader(library_path).poster, self)
        self.grid = QListView()
        self.grid.setViewMode(QListView.IconMode)
        self.grid.setResizeMode(QListView.Adjust)
        self.grid.setUniformItemSizes(True)
        self.grid.setMovement(QListView.Static)
        self.grid.setSpacing(4)
        self.grid.setIconSize(QSize(200, 150))
        self.grid.setModel(self.model)
        self.grid.setItemDelegate(TileDelegate(self.grid))
        self.problems = QTableWidget(0, 3)
        self.problems.setHorizontalHeaderLabels(["File", "Status", "Reason"])
        self.problems.horizontalHeader().setStretchLastSection(True)
        self.empty = QLabel("No videos yet.\n\nAdd a folder to index the clips in it.")
        self.empty.setAlignment(Qt.AlignCenter)
        self.pages = QStackedWidget()
        for widget in (self.grid, self.problems, self.empty):
            self.pages.addWidget(widget)
        self.detail = DetailPane()

        splitter = QSplitter()
        splitter.addWidget(self.sidebar)
        splitter.addWidget(self.pages)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 1)
        self.setCentralWidget(splitter)

        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        bar = QWidget()
        bar_layout = QHBoxLayout(bar)
        bar_layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.progress_label, self.progress, self.cancel_button):
            bar_layout.addWidget(w)
        self.statusBar().addPermanentWidget(bar, 1)

        toolbar = self.addToolBar("Main")
        self.add_folder_action = QAction("Add folder…", self)
        self.scan_action = QAction("Scan", self)
        toolbar.addAction(self.add_folder_action)
        toolbar.addAction(self.scan_action)
        self.add_folder_action.triggered.connect(self.add_folder)
        self.scan_action.triggered.connect(self.scan)
        self.cancel_button.clicked.connect(self.cancel_scan)
        self.sidebar.currentRowChanged.connect(self.show_page)
        self.grid.selectionModel().currentChanged.connect(self.select_clip)
        self.grid.activated.connect(lambda idx: self.detail.play(0.0))
        play = QAction("Play", self)
        play.setShortcut(QKeySequence(Qt.Key_Space))
        play.triggered.connect(self.detail.toggle_play)
        self.addAction(play)

        self.sidebar.setCurrentRow(0)
        self.refresh()

    # ---- data --------------------------------------------------------------------
    def refresh(self) -> None:
        path = self.library_path

        def load():
            lib = Library(path)
            try:
                return lib.grid_rows(), lib.problems(), lib.roots()
            finally:
                lib.close()

        run_task(load, self._loaded)

    def _loaded(self, result=None, error=None) -> None:
        if error is not None:
            self.statusBar().showMessage(f"Could not read the library: {error}")
            return
        rows, problems, roots = result
        self.model.set_rows(rows)
        self.problems.setRowCount(len(problems))
        for i, p in enumerate(problems):
            for j, key in enumerate(("path", "status", "reason")):
                self.problems.setItem(i, j, QTableWidgetItem(str(p[key])))
        self.sidebar.item(1).setText(f"Problems ({len(problems)})" if problems else "Problems")
        if not rows and self.sidebar.currentRow() == 0:
            self.pages.setCurrentWidget(self.empty)
        elif self.sidebar.currentRow() == 0:
            self.pages.setCurrentWidget(self.grid)
        self.statusBar().showMessage(f"{len(rows)} clips in {len(roots)} folders")
        self.grid_filled.emit()

    def show_page(self, i: int) -> None:
        if i == 1:
            self.pages.setCurrentWidget(self.problems)
        else:
            self.pages.setCurrentWidget(self.grid if self.model.rowCount() else self.empty)

    def select_clip(self, current, _previous=None) -> None:
        if not current.isValid():
            return
        row = current.data(RowRole)
        path = self.library_path

        def load():
            lib = Library(path)
            try:
                return {"segments": lib.segments(row["id"]),
                        "tags": {"visual": lib.labels(row["id"], "visual"),
                                 "audio": lib.labels(row["id"], "audio")}}
            finally:
                lib.close()

        run_task(load, lambda result=None, error=None: result and self.detail.show_file(row, result))

    # ---- scanning ------------------------------------------------------------------
    def add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of videos")
        if folder:
            self.scan([folder])

    def scan(self, folders: list[str] | None = None) -> None:
        if self.scan_job is not None:
            return
        folders = folders or [r["path"] for r in self.library.roots()]
        if not folders:
            self.add_folder()
            return
        self.scan_job = ScanJob(self.library_path, folders)
        self.scan_job.progress.connect(self._scan_progress)
        self.scan_job.finished.connect(self._scan_finished)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.progress.setRange(0, 0)
        self.progress_label.setText("Looking for videos…")
        self.scan_job.start()

    def cancel_scan(self) -> None:
        if self.scan_job is not None:
            self.scan_job.cancel()
            self.progress_label.setText("Cancelling…")

    def _scan_progress(self, p) -> None:
        if p.total:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.done)
        eta = f", about {p.eta:.0f} s left" if p.eta else ""
        name = Path(p.path).name if p.path else ""
        self.progress_label.setText(f"Indexing {p.done}/{p.total}{eta} {name}")
        if p.phase == "indexing":
            self.refresh()  # new clips appear as they are indexed

    def _scan_finished(self, report, error) -> None:
        self.scan_job = None
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        if error is not None:
            self.progress_label.setText("")
            QMessageBox.warning(self, "Scan failed", str(error))
        else:
            self.progress_label.setText(
                f"Scan done: {len(report.indexed)} clips, {len(report.failed)} failed, "
                f"{len(report.skipped)} skipped" + (" (cancelled)" if report.cancelled else ""))
        self.refresh()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if self.scan_job is not None:
            self.scan_job.cancel()
            self.scan_job.wait(10)
        self.library.close()
        super().closeEvent(event)
