"""The main window: header with search, sidebar, pages, detail pane, scan status.

The window routes: views emit what the person asked for, or ask the window's one
``LibraryService`` (which runs library work off the GUI thread); the window hands the
results to the views.
"""

from __future__ import annotations

import dataclasses
import os

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import settings as app_settings
from app.gui import theme
from app.gui.library_service import LatestAnswer, LibraryService
from app.gui.models.library_model import RowRole
from app.gui.scanning import ScanController, report_text
from app.gui.thumbs import ThumbCache
from app.gui.trashing import TrashFlow
from app.gui.views.albums_view import AlbumsView
from app.gui.views.detail_pane import DetailPane
from app.gui.views.duplicates_view import DuplicatesView
from app.gui.views.folders_view import FoldersView, ProblemsView, WelcomeView
from app.gui.views.library_view import LibraryView
from app.gui.views.people_view import PeopleView
from app.gui.views.places_view import PlacesView
from app.gui.views.results_view import ResultsView
from app.gui.views.settings_dialog import SettingsDialog
from app.gui.widgets.notice import NoticeBar
from app.gui.widgets.search_bar import SearchBar

SIDEBAR = (("library", "Library"), ("albums", "Albums"), ("people", "People"),
           ("duplicates", "Duplicates"), ("foryou", "For you"), ("places", "Places"),
           ("folders", "Folders"), ("problems", "Problems"))
SEARCH_LIMIT = 60
RECOMMEND_LIMIT = 40


def ask(parent, title: str, text: str) -> bool:
    box = QMessageBox(QMessageBox.Question, title, text, QMessageBox.Cancel, parent)
    ok = box.addButton(title, QMessageBox.AcceptRole)
    box.setDefaultButton(ok)
    box.exec()
    return box.clickedButton() is ok


class MainWindow(QMainWindow):
    grid_filled = Signal()  # a library snapshot is on screen
    startup_done = Signal()  # snapshot, albums and duplicates have all reported once
    search_done = Signal()
    duplicates_loaded = Signal()
    albums_loaded = Signal()
    foryou_loaded = Signal()
    trash_done = Signal(object)  # TrashResult of a move or an undo

    def __init__(self, library_path: str, settings: app_settings.Settings | None = None):
        super().__init__()
        self.library_path = str(library_path)
        self.settings = settings or app_settings.Settings()
        self.confirm = lambda title, text: ask(self, title, text)  # tests answer for the person
        self.rows_by_id: dict[int, dict] = {}
        self.rows_by_path: dict[str, dict] = {}
        self.roots: list[dict] = []
        self._stale = {"albums": True, "duplicates": True, "foryou": True, "places": True}
        self._startup_waiting = {"snapshot", "albums", "duplicates"}
        self._page_before_search = "library"
        self._asked: dict[int, LatestAnswer] = {}  # per results view
        # One snapshot load at a time; asks meanwhile (a scan's every 2 s) make one more.
        self._snapshot_loading = False
        self._snapshot_again = False
        self.setWindowTitle("Reelvault")
        self.setWindowIcon(theme.icon("reelvault"))
        self.resize(1360, 840)

        self.library = LibraryService(self.library_path, self)
        self.thumbs = ThumbCache(self.library_path, self)
        self.scanner = ScanController(self.library_path, self)
        self.scanner.settings = self.settings
        self._build()
        self._connect()
        self.refresh(first=True)

    # ---- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        header = self._build_header()
        self._build_sidebar()
        self._build_pages()
        self._build_body(header)
        self._build_status_bar()

    def _build_header(self) -> QWidget:
        """Logo and name, the search bar, Scan and Settings."""
        self.search_bar = SearchBar()
        self.scan_button = QToolButton()
        self.scan_button.setIcon(theme.icon("scan"))
        self.scan_button.setText("Scan")
        self.scan_button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.scan_button.setToolTip("Look for new and changed videos in the library folders")
        self.settings_button = QToolButton()
        self.settings_button.setIcon(theme.icon("settings"))
        self.settings_button.setObjectName("flat")
        self.settings_button.setIconSize(QSize(20, 20))
        self.settings_button.setToolTip("Settings")
        logo = QLabel()
        logo.setPixmap(theme.icon("reelvault").pixmap(26, 26))
        name = QLabel("Reelvault")
        name.setObjectName("appName")
        header = QWidget()
        header.setObjectName("header")
        header.setAttribute(Qt.WA_StyledBackground, True)
        top = QHBoxLayout(header)
        top.setContentsMargins(14, 8, 12, 8)
        top.setSpacing(10)
        top.addWidget(logo)
        top.addWidget(name)
        top.addSpacing(60)
        top.addWidget(self.search_bar, 1)
        top.addSpacing(60)
        top.addWidget(self.scan_button)
        top.addWidget(self.settings_button)
        return header

    def _build_sidebar(self) -> None:
        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setIconSize(QSize(18, 18))
        self.sidebar.setFixedWidth(190)
        for key, label in SIDEBAR:
            item = QListWidgetItem(theme.icon(key), label)
            item.setData(Qt.UserRole, key)
            self.sidebar.addItem(item)

    def _build_pages(self) -> None:
        """Every page in one stack, the detail pane, the notice bar and the trash flow."""
        self.welcome = WelcomeView()
        self.library_view = LibraryView(self.thumbs)
        self.search_view = ResultsView(self.thumbs, "Search")
        self.albums_view = AlbumsView(self.thumbs, self.library)
        self.duplicates_view = DuplicatesView(self.thumbs, self.library)
        self.people_view = PeopleView(self.library)
        self.foryou_view = ResultsView(self.thumbs, "For you")
        self.foryou_view.refresh_button.setVisible(True)
        self.folders_view = FoldersView()
        self.problems_view = ProblemsView()
        self.places_view = PlacesView(self.library)
        self.pages = QStackedWidget()
        self.page_of = {"welcome": self.welcome, "library": self.library_view,
                        "search": self.search_view, "albums": self.albums_view,
                        "duplicates": self.duplicates_view, "foryou": self.foryou_view,
                        "folders": self.folders_view, "problems": self.problems_view,
                        "places": self.places_view, "people": self.people_view}
        for page in self.page_of.values():
            self.pages.addWidget(page)
        self.detail = DetailPane(self.thumbs, self.library)
        self.notice = NoticeBar()
        self.trasher = TrashFlow(self.library, lambda t, q: self.confirm(t, q),
                                 self.notice, self)

    def _build_body(self, header: QWidget) -> None:
        """Header on top; below, the sidebar, the pages (notice bar above them) and the
        detail pane in a splitter."""
        center = QWidget()
        col = QVBoxLayout(center)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(0)
        notice_row = QHBoxLayout()
        notice_row.setContentsMargins(12, 8, 12, 0)
        notice_row.addWidget(self.notice)
        col.addLayout(notice_row)
        col.addWidget(self.pages, 1)
        self.splitter = QSplitter()
        self.splitter.addWidget(center)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setCollapsible(0, False)
        self.splitter.setSizes([960, 400])

        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(0)
        body.addWidget(self.sidebar)
        body.addWidget(self.splitter, 1)
        root = QWidget()
        outer = QVBoxLayout(root)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(header)
        outer.addLayout(body, 1)
        self.setCentralWidget(root)

    def _build_status_bar(self) -> None:
        """Where the library is; while a scan runs, its progress and Cancel instead."""
        self.statusBar().addPermanentWidget(self.scanner.widget, 1)
        self.where = QLabel(f"Library: {self.library_path}   ·   nothing leaves this computer")
        self.where.setObjectName("faint")
        self.where.setContentsMargins(10, 0, 0, 0)
        self.statusBar().addWidget(self.where)
        self.scanner.started.connect(lambda: self.where.setVisible(False))
        self.scanner.finished.connect(lambda *_: self.where.setVisible(True))
        self.statusBar().setSizeGripEnabled(False)

    def _connect(self) -> None:
        self.sidebar.currentRowChanged.connect(self._sidebar_changed)
        self.search_bar.text_search.connect(self.search)
        self.search_bar.similar_search.connect(self.search_similar)
        self.search_bar.cleared.connect(lambda: self.show_page(self._page_before_search))
        self.scan_button.clicked.connect(lambda: self.scan())
        self.settings_button.clicked.connect(self.open_settings)
        self.welcome.add_requested.connect(self.add_folder)
        self.folders_view.add_requested.connect(self.add_folder)
        self.folders_view.scan_requested.connect(lambda: self.scan())
        self.folders_view.remove_requested.connect(self.remove_folder)
        self.folders_view.show_requested.connect(self._show_folder)
        for grid in (self.library_view.grid, self.albums_view.grid):
            grid.selectionModel().currentChanged.connect(
                lambda cur, _prev: cur.isValid() and self.detail.show_clip(cur.data(RowRole)))
            grid.activated.connect(lambda idx: self.detail.show_clip(
                idx.data(RowRole), open_player=True, autoplay=True))
        self.library_view.grid.context_requested.connect(self._clip_menu)
        for view in (self.search_view, self.foryou_view):
            view.result_selected.connect(lambda r: self.open_result(r))
            view.result_activated.connect(lambda r: self.open_result(r, autoplay=True))
        self.foryou_view.refresh_button.clicked.connect(self.load_foryou)
        self.detail.similar_activated.connect(lambda r: self.open_result(r, autoplay=True))
        self.detail.notice.connect(lambda text: self.notice.show_message(text, error=True))
        self.detail.player.watched.connect(lambda *_: self._stale.update(foryou=True))
        self.duplicates_view.trash_requested.connect(self.trash_files)
        self.duplicates_view.refresh_requested.connect(self.load_duplicates)
        self.duplicates_view.loaded.connect(self._duplicates_done)
        self.duplicates_view.file_selected.connect(lambda row: self.detail.show_clip(row))
        self.albums_view.loaded.connect(self._albums_done)
        self.places_view.loaded.connect(lambda n: self._set_count("places", n))
        self.places_view.clip_selected.connect(
            lambda path: path in self.rows_by_path and self.detail.show_clip(self.rows_by_path[path]))
        self.albums_view.notice.connect(
            lambda text, error: self.notice.show_message(text, error=error))
        self.albums_view.create_requested.connect(self.new_album_from_selection)
        self.people_view.clip_activated.connect(lambda r: self.open_result(r, autoplay=True))
        self.people_view.loaded.connect(lambda n: self._set_count("people", n))
        self.people_view.notice.connect(
            lambda text, error: self.notice.show_message(text, error=error))
        self.trasher.moved.connect(self._trash_changed)
        self.trasher.restored.connect(self._trash_undone)
        self.scanner.indexed_more.connect(self.refresh)
        self.scanner.finished.connect(self._scan_finished)
        self.scanner.status.connect(self.welcome.show_scan)  # the first scan, on the first page
        self.scanner.finished.connect(lambda *_: self.welcome.show_scan(None))
        self.scanner.started.connect(lambda: self.scan_button.setEnabled(False))

        for keys, func in (("Ctrl+F", self.focus_search), ("Space", self.detail.toggle),
                           (QKeySequence.Delete, self.trash_selection),
                           ("Ctrl+,", self.open_settings), ("F5", lambda: self.scan())):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.activated.connect(func)

    # ---- pages ------------------------------------------------------------------------------
    def current_page(self) -> str:
        widget = self.pages.currentWidget()
        return next(k for k, w in self.page_of.items() if w is widget)

    def show_page(self, key: str) -> None:
        if key == "library" and not self.roots:
            key = "welcome"
        self.pages.setCurrentWidget(self.page_of[key])
        self.detail.setVisible(key != "welcome")  # nothing to show beside the welcome
        keys = [k for k, _ in SIDEBAR]
        self.sidebar.blockSignals(True)
        if key in keys:
            self.sidebar.setCurrentRow(keys.index(key))
        elif key == "welcome":
            self.sidebar.setCurrentRow(0)
        else:
            self.sidebar.clearSelection()
            self.sidebar.setCurrentRow(-1)
        self.sidebar.blockSignals(False)
        if key == "albums" and self._stale["albums"]:
            self.load_albums()
        elif key == "duplicates" and self._stale["duplicates"]:
            self.load_duplicates()
        elif key == "foryou" and self._stale["foryou"]:
            self.load_foryou()
        elif key == "places" and self._stale["places"]:
            self._stale["places"] = False
            self.places_view.load()
        elif key == "people":
            self.people_view.load()  # places new faces first; nothing to do when none

    def _sidebar_changed(self, row: int) -> None:
        if row >= 0:
            self.show_page(SIDEBAR[row][0])

    def _set_count(self, key: str, count: int | None) -> None:
        keys = [k for k, _ in SIDEBAR]
        label = dict(SIDEBAR)[key]
        item = self.sidebar.item(keys.index(key))
        item.setText(f"{label}   {count:,}" if count else label)

    def focus_search(self) -> None:
        self.search_bar.setFocus(Qt.ShortcutFocusReason)
        self.search_bar.selectAll()

    # ---- the library snapshot ---------------------------------------------------------------
    def refresh(self, first: bool = False) -> None:
        """Load the library's rows again, sorted as the grids show them, in the
        background; the grids then only swap the rows in."""
        if self._snapshot_loading:
            self._snapshot_again = True
            return
        self._snapshot_loading = True
        sorts = (self.library_view.model.sort_key, self.albums_view.clips.sort_key)
        self.library.load_snapshot(self._snapshot, sorts=sorts, prepare=first, owner=self)

    def _snapshot(self, result=None, error=None) -> None:
        self._snapshot_loading = False
        if self._snapshot_again:  # the library changed while this one loaded
            self._snapshot_again = False
            self.refresh()
        if error is not None:
            self.notice.show_message(f"Could not read the library: {error}", error=True)
            self._startup_step("snapshot")
            return
        first = not self.rows_by_id and "snapshot" in self._startup_waiting
        self.rows_by_id = result.by_id
        self.rows_by_path = result.by_path
        self.roots = result.roots
        self.library_view.set_rows(result.rows, result.roots, result.orders)
        self.albums_view.set_rows(result.rows, self.rows_by_path, result.orders)
        self.duplicates_view.rows_by_path = self.rows_by_path
        self.search_view.model.set_rows_by_id(self.rows_by_id)
        self.foryou_view.model.set_rows_by_id(self.rows_by_id)
        self.folders_view.set_roots(result.roots)
        self.problems_view.set_problems(result.problems)
        self._set_count("library", len(result.rows))
        self._set_count("folders", len(result.roots))
        self._set_count("problems", len(result.problems))
        page = self.current_page()
        if page in ("welcome", "library"):
            self.show_page("library")
        if first and result.rows and not self.library_view.grid.currentIndex().isValid():
            self.library_view.grid.setCurrentIndex(self.library_view.model.index(0))
        self.grid_filled.emit()
        if "snapshot" in self._startup_waiting:
            self._startup_step("snapshot")
            if result.rows:
                # Its own pool: the user's first search must not queue behind it. First:
                # album grouping and the duplicates comparison wait while it runs.
                self.library.warm(owner=self)
                self.load_albums()
                self.load_duplicates()
            else:
                self._startup_step("albums")
                self._startup_step("duplicates")

    def _startup_step(self, name: str) -> None:
        if name in self._startup_waiting:
            self._startup_waiting.discard(name)
            if not self._startup_waiting:
                self.startup_done.emit()

    def _file_row(self, result: dict) -> dict:
        row = self.rows_by_id.get(result.get("file_id"))
        return row or {"id": result.get("file_id"), "path": result["path"]}

    # ---- search and results -----------------------------------------------------------------
    def search(self, words: str) -> None:
        self._ask(self.search_view, f"“{words}”", "Searching…",
                  lambda done: self.library.search_text(words, SEARCH_LIMIT, done, owner=self),
                  "No clip matches these words. Try other words, a date (“march 2024”), "
                  "or drop a clip or a photo on the search bar.")

    def search_similar(self, target: str) -> None:
        self._ask(self.search_view, f"Like {os.path.basename(target)}",
                  "Looking at the picture and the sound…",
                  lambda done: self.library.similar(target, done, limit=SEARCH_LIMIT, owner=self),
                  "Nothing in the library looks like it.")

    def _ask(self, view: ResultsView, title: str, busy: str, ask, empty: str) -> None:
        """Ask a search of the library service (``ask(done)``); only the latest
        question's answer is shown (typing "c", "ca", "cat" must not end on the results
        for "ca")."""
        if view is self.search_view and self.current_page() != "search":
            self._page_before_search = self.current_page()
        latest = self._asked.setdefault(id(view), LatestAnswer())
        ticket = latest.ask()
        view.show_busy(title, busy)
        self.show_page("search" if view is self.search_view else "foryou")

        def done(result=None, error=None):
            if latest.is_latest(ticket):
                self._results(view, title, result, error, empty)

        ask(done)

    def _results(self, view: ResultsView, title: str, result, error, empty: str) -> None:
        if error is not None:
            view.show_error(title, f"Search failed: {error}")
        else:
            n = len(result)
            unmatched = getattr(result, "unmatched", [])
            if unmatched and not n:
                empty = "Nothing matched " + ", ".join(unmatched) + "."
            subtitle = f"{n} clip{'s' if n != 1 else ''}, best first" if n else ""
            if n and getattr(result, "weak", False):
                subtitle = f"No clip surely matches: the {n} closest, best first"
            if n and unmatched:
                subtitle += " · nothing matched " + ", ".join(unmatched)
            view.show_results(title, subtitle, result, self.rows_by_id, empty)
            view.select_first()
        (self.search_done if view is self.search_view else self.foryou_loaded).emit()

    def open_result(self, result: dict, autoplay: bool = False) -> None:
        """Show a result's file in the detail pane, the player at the matched moment."""
        if result is None or result.get("file_id") is None:
            return
        self.detail.show_clip(self._file_row(result), moment=result, autoplay=autoplay)

    def load_foryou(self) -> None:
        self._stale["foryou"] = False
        self._ask(self.foryou_view, "For you", "Picking clips…",
                  lambda done: self.library.recommend(RECOMMEND_LIMIT, done, owner=self),
                  "Watch a few clips: picks like them will show up here.")

    # ---- duplicates and trash ---------------------------------------------------------------
    def load_duplicates(self) -> None:
        self._stale["duplicates"] = False
        self.duplicates_view.load()

    def _duplicates_done(self, count: int | None) -> None:
        if count is None:
            self._stale["duplicates"] = True
        self._set_count("duplicates", count)
        self.duplicates_loaded.emit()
        self._startup_step("duplicates")

    def trash_selection(self) -> None:
        """Delete: the selected clips (Library, album) or result go to the trash."""
        page = self.current_page()
        if page in ("library", "albums"):
            grid = self.library_view.grid if page == "library" else self.albums_view.grid
            rows = grid.selected_rows()
        elif page in ("search", "foryou"):
            r = self.page_of[page].current_result()
            rows = [self._file_row(r)] if r else []
        else:
            return
        if not rows:
            return
        what = (f"“{os.path.basename(rows[0]['path'])}”" if len(rows) == 1
                else f"these {len(rows)} clips")
        self.trash_files([r["id"] for r in rows], f"Move {what} to the trash?")

    def trash_files(self, file_ids: list[int], question: str) -> None:
        def release() -> None:
            if self.detail.row is not None and self.detail.row["id"] in file_ids:
                self.detail.clear()  # the player lets go of the file before it moves

        self.trasher.trash(file_ids, question, before=release)

    def _trash_changed(self, result) -> None:
        done_ids = [self.rows_by_path[d["path"]]["id"] for d in result.done
                    if d.get("path") in self.rows_by_path]
        self.duplicates_view.files_trashed(done_ids)
        self._stale.update(albums=True, foryou=True, places=True)
        if self.current_page() != "duplicates":
            self._stale["duplicates"] = True
        self.refresh()
        self.trash_done.emit(result)

    def _trash_undone(self, result) -> None:
        self._stale.update(albums=True, duplicates=True, foryou=True, places=True)
        self.refresh()
        if self.current_page() == "duplicates":
            self.load_duplicates()
        self.trash_done.emit(result)

    # ---- albums -----------------------------------------------------------------------------
    def load_albums(self) -> None:
        self._stale["albums"] = False
        self.albums_view.load()

    def _albums_done(self, count: int | None) -> None:
        if count is None:
            self._stale["albums"] = True
        self._set_count("albums", count)
        self.albums_loaded.emit()
        self._startup_step("albums")

    def new_album_from_selection(self) -> None:
        grid = self.library_view.grid if self.current_page() == "library" \
            else self.albums_view.grid
        self.albums_view.create_from(grid.selected_rows())

    def _clip_menu(self, rows: list[dict], pos) -> None:
        menu = QMenu(self)
        first = rows[0]
        menu.addAction("Play", lambda: self.detail.show_clip(first, open_player=True,
                                                             autoplay=True))
        menu.addAction("Find similar clips", lambda: self.search_similar(first["path"]))
        albums = self.albums_view.albums.albums
        if albums:
            sub = menu.addMenu("Add to album")
            for a in albums[:40]:
                sub.addAction(a["title"], lambda a=a: self.albums_view.add_clips(a, rows))
        menu.addAction("New album from selection…", self.new_album_from_selection)
        menu.addAction("Show in folder", lambda: QDesktopServices.openUrl(
            QUrl.fromLocalFile(os.path.dirname(first["path"]))))
        menu.addSeparator()
        menu.addAction(theme.icon("trash"), "Move to trash…", self.trash_selection)
        menu.exec(pos)

    # ---- folders and scanning -----------------------------------------------------------------
    def add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of videos")
        if folder:
            self.scan([folder])

    def remove_folder(self, folder: str) -> None:
        if not self.confirm("Remove folder", f"Remove {folder} from the library?\n\nWhat "
                            "Reelvault learnt about its clips is forgotten; the files on "
                            "disk are not touched."):
            return
        self.library.forget_folder(
            folder, lambda result=None, error=None: (
                self.notice.show_message(f"Could not remove the folder: {error}", error=True)
                if error else (self.notice.show_message(
                    f"Removed {folder} ({result} clips forgotten)."), self._after_change())),
            owner=self)

    def _show_folder(self, root_id: int) -> None:
        self.show_page("library")
        self.library_view.show_folder(root_id)

    def scan(self, folders: list[str] | None = None) -> None:
        folders = folders or [r["path"] for r in self.roots]
        if not folders:
            self.add_folder()
            return
        if not self.scanner.scan(folders):
            self.notice.show_message("A scan is running: these folders are next.")

    def _scan_finished(self, report, error) -> None:
        self.scan_button.setEnabled(True)
        if error is not None:
            self.notice.show_message(f"The scan stopped: {error}", error=True)
        else:
            self.notice.show_message(report_text(report))
        self._after_change()

    def _after_change(self) -> None:
        self._stale.update(albums=True, duplicates=True, foryou=True, places=True)
        self.thumbs.forget()
        self.refresh()
        page = self.current_page()
        if page in ("albums", "duplicates", "foryou"):
            self.show_page(page)

    # ---- settings ---------------------------------------------------------------------------
    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, [r["path"] for r in self.roots],
                                self.library_path, self)
        dialog.add_folder_requested.connect(self.add_folder)
        dialog.remove_folder_requested.connect(self.remove_folder)

        def roots_changed() -> None:  # folders added or removed while the dialog is open
            dialog.set_roots([r["path"] for r in self.roots])

        self.grid_filled.connect(roots_changed)
        try:
            if dialog.exec():
                self.apply_settings(dialog.settings(), save=True)
        finally:
            self.grid_filled.disconnect(roots_changed)
            dialog.deleteLater()

    def apply_settings(self, new: app_settings.Settings, save: bool = False) -> None:
        from PySide6.QtWidgets import QApplication
        theme_changed = new.theme != self.settings.theme
        if self.settings.faces and not new.faces:
            if ask(self, "Turn off face recognition",
                   "Every face, person and name will be deleted from the library. "
                   "Turning it on again finds faces in clips indexed from then on."):
                self.library.delete_face_data(self._faces_deleted, owner=self)
            else:
                new = dataclasses.replace(new, faces=True)
        self.settings = new
        self.scanner.settings = new
        if save:
            try:
                app_settings.save(new)
            except OSError as e:
                self.notice.show_message(f"Settings not saved: {e}", error=True)
        if theme_changed:
            theme.apply(QApplication.instance(), new.theme)
            self._tint_icons()
            self.update()

    def _faces_deleted(self, result=None, error=None) -> None:
        if error is not None:
            self.notice.show_message(f"Face data not deleted: {error}", error=True)
        else:
            self.notice.show_message(f"Deleted {result:,} faces and every person")
            if self.current_page() == "people":
                self.people_view.load()

    def _tint_icons(self) -> None:
        """Icons are rendered in the theme's colours: render the window's again."""
        for i, (key, _) in enumerate(SIDEBAR):
            self.sidebar.item(i).setIcon(theme.icon(key))
        self.scan_button.setIcon(theme.icon("scan"))
        self.settings_button.setIcon(theme.icon("settings"))
        self.search_bar.search_action.setIcon(theme.icon("search"))

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        """Never blocks: the last watch is recorded in the background, a scan and a
        duplicates comparison are cancelled and end on their own (``main.run_gui``
        gives them a bounded moment before the process exits)."""
        self.detail.player.flush_watch()
        self.scanner.cancel()
        self.library.close()
        super().closeEvent(event)
