"""The one object that runs library work for the GUI, held by the window and handed to
the views (in the spirit of Vorta's job runner and Picard's tagger object).

Views and the window ask (``library.file_details(file_id, done, owner=self)``); the
service runs the matching ``services`` function on a background pool and calls
``done(result=...)`` or ``done(error=...)`` back on the GUI thread. Which pool a request
runs on is decided here, so what the person waits for (a search, a clip's details, an
edit) never queues behind start-up work (album grouping, the duplicates comparison).
Views never import ``services`` or ``run_task`` (an import-linter contract).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from app.gui import services, tasks
from app.gui.tasks import LatestAnswer, run_task

__all__ = ["DuplicatesSearch", "LatestAnswer", "LibraryService"]

Done = Callable[..., None]  # done(result=...) or done(error=...)


class DuplicatesSearch(QObject):
    """One comparison of the library's clips: progress while it runs, cancel any time."""

    progress = Signal(int, int)  # pairs compared, pairs to compare
    found = Signal(list)  # the groups confirmed so far, while it works

    def __init__(self, parent=None):
        super().__init__(parent)
        self._cancel = threading.Event()
        self._percent = -1

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _report(self, done: int, total: int) -> None:
        """On the pool thread; the signal reaches the GUI thread queued. At most one per
        percent: the comparison calls this for every pair, and between pairs it holds
        back while a search or anything else the person waits for runs."""
        if tasks.foreground.busy:
            tasks.foreground.wait_idle()
        percent = done * 100 // total if total else 100
        if percent != self._percent:
            self._percent = percent
            self.progress.emit(done, total)


class LibraryService(QObject):
    def __init__(self, library_path: str, parent=None):
        super().__init__(parent)
        self.library_path = str(library_path)
        self._searches: set[DuplicatesSearch] = set()

    def _run(self, func: Callable, done: Done | None, owner: QObject | None,
             pool: str = "work") -> None:
        """``owner``: the widget the answer is for; if it is gone first, so is the answer."""
        run_task(func, done, pool_name=pool, owner=owner or self)

    # ---- browsing ------------------------------------------------------------------------
    def load_snapshot(self, done: Done, sorts: tuple[str, ...] = (), prepare: bool = False,
                      owner: QObject | None = None) -> None:
        """The library's rows (sorted for ``sorts``), problems and folders; ``prepare``
        creates or upgrades the library first (the window's first load)."""
        path = self.library_path

        def load():
            if prepare:
                services.prepare_library(path)
            return services.load_snapshot(path, tuple(sorts))

        self._run(load, done, owner, pool="snapshot")

    def places(self, done: Done, owner: QObject | None = None) -> None:
        """Places with their clip counts and files."""
        path = self.library_path
        self._run(lambda: services.library_places(path), done, owner)

    def warm(self, owner: QObject | None = None) -> None:
        """Map (or build) the search indexes and load the text model, on a pool of its
        own, so the first search and similar strip answer at once."""
        path = self.library_path

        def work():
            services.warm(path, text_model=False)
            # The text model (a third of a second of CPU) after what the person asked
            # meanwhile: a similar strip needs none of it, and a first word search that
            # comes before loads it itself (once: see labelquery).
            tasks.foreground.wait_idle(allowed=1)  # 1: this warm-up itself
            services.warm_text_model()

        self._run(work, None, owner, pool="warm")

    def people(self, done: Done, owner: QObject | None = None,
               edits: tuple[tuple[str, tuple], ...] = ()) -> None:
        """Faces grouped into people (new faces placed first) and the covers' crops;
        ``edits`` ((action, args), ...) are the user's, made first, in order."""
        path = self.library_path

        def work():
            for action, args in edits:
                services.people_edit(path, action, *args)
            found = services.people_refreshed(path)
            return found, services.face_crops(path, [p["cover"] for p in found
                                                     if p["cover"] is not None])
        self._run(work, done, owner)

    def person_details(self, person_id: int, done: Done, owner: QObject | None = None) -> None:
        """A person's clips (where they are first seen) and faces."""
        path = self.library_path
        self._run(lambda: services.person_details(path, person_id), done, owner)

    def delete_face_data(self, done: Done, owner: QObject | None = None) -> None:
        """Every face, person and name out of the library (face recognition turned off)."""
        path = self.library_path
        self._run(lambda: services.delete_face_data(path), done, owner)

    def file_details(self, file_id: int, done: Done, owner: QObject | None = None) -> None:
        path = self.library_path
        self._run(lambda: services.file_details(path, file_id), done, owner)

    def forget_folder(self, folder: str, done: Done, owner: QObject | None = None) -> None:
        path = self.library_path
        self._run(lambda: services.forget_folder(path, folder), done, owner)

    # ---- search --------------------------------------------------------------------------
    def search_text(self, words: str, limit: int, done: Done,
                    owner: QObject | None = None) -> None:
        path = self.library_path
        self._run(lambda: services.search_text(path, words, limit), done, owner)

    def similar(self, target: str | int, done: Done, at: float | None = None, limit: int = 24,
                owner: QObject | None = None) -> None:
        path = self.library_path
        self._run(lambda: services.similar(path, target, at=at, limit=limit), done, owner)

    def recommend(self, limit: int, done: Done, owner: QObject | None = None) -> None:
        path = self.library_path
        self._run(lambda: services.recommend(path, limit), done, owner)

    def record_watch(self, file_id: int, seconds: float, done: Done | None = None,
                     owner: QObject | None = None) -> None:
        path = self.library_path
        self._run(lambda: services.record_watch(path, file_id, seconds), done, owner)

    # ---- duplicates and trash --------------------------------------------------------------
    def find_duplicates(self, done: Done, progress: Callable[[int, int], None] | None = None,
                        owner: QObject | None = None,
                        found: Callable[[list], None] | None = None,
                        rebuild: bool = False) -> DuplicatesSearch:
        """Compare the library's clips in the background, calling ``progress(done,
        total)`` on the GUI thread as pairs are compared and ``found(groups)`` with the
        groups confirmed so far; the returned search can be cancelled (its answer then
        holds what was found so far)."""
        path = self.library_path
        search = DuplicatesSearch(self)
        if progress is not None:  # before the task starts: no report is missed
            search.progress.connect(progress)
        if found is not None:
            search.found.connect(found)
        self._searches.add(search)

        def finished(result=None, error=None):
            self._searches.discard(search)
            search.deleteLater()
            if done is not None:
                done(result=result) if error is None else done(error=error)

        self._run(lambda: services.find_duplicates(path, search._report,
                                                   lambda: search.cancelled, search.found.emit,
                                                   rebuild),
                  finished, owner, pool="background")
        return search

    def move_to_trash(self, file_ids: list[int], done: Done,
                      owner: QObject | None = None) -> None:
        path, ids = self.library_path, list(file_ids)
        self._run(lambda: services.move_to_trash(path, ids), done, owner)

    def undo_trash(self, batch, done: Done, owner: QObject | None = None) -> None:
        path = self.library_path
        self._run(lambda: services.undo_trash(path, batch), done, owner)

    # ---- albums ----------------------------------------------------------------------------
    def refresh_albums(self, done: Done, owner: QObject | None = None) -> None:
        """Place new clips into albums (re-clustering keeps the person's edits), then list
        them: start-up work, on the background pool."""
        path = self.library_path
        self._run(lambda: services.albums_refreshed(path), done, owner, pool="background")

    def list_albums(self, done: Done, owner: QObject | None = None) -> None:
        path = self.library_path
        self._run(lambda: services.list_albums(path), done, owner)

    def edit_album(self, action: str, args: tuple, done: Done,
                   owner: QObject | None = None) -> None:
        """One edit (``services.album_edit``: rename, merge, add, remove, create, delete)."""
        path = self.library_path
        self._run(lambda: services.album_edit(path, action, *args), done, owner)

    # ---- closing ---------------------------------------------------------------------------
    def close(self) -> None:
        """The window is closing: stop comparisons, forget work not started that nobody
        will see. Writes already asked for (a watch record, an edit) still run."""
        for search in list(self._searches):
            search.cancel()
        tasks.drop_queued(("snapshot", "background", "thumbs"))
