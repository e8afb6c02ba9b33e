"""Background work for the GUI, in the spirit of Picard's ``run_task`` and Vorta's jobs.

``run_task(func, on_done)`` runs ``func()`` on a thread pool and calls
``on_done(result=...)`` or ``on_done(error=...)`` back on the GUI thread. No SQL,
decoding or inference ever runs in a slot. Separate pools keep what the person is
waiting for from queueing behind other work: thumbnails behind a search that first
loads the text model, or a first search behind the start-up's album grouping and
duplicates comparison. Only ``LibraryService`` (and the thumbnail cache) call
``run_task``; views ask the service. ``ScanJob`` runs one library scan on its own
thread with progress and cancel.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from app.core.library.scanner import ScanProgress
from app.core.library.workers import lower_priority
from app.settings import Settings

_pools: dict[str, QThreadPool] = {}


class LatestAnswer:
    """Only the latest question's answer counts: typing "c", "ca", "cat" must not end on
    the results for "ca", and details must not arrive for a clip no longer shown."""

    def __init__(self) -> None:
        self._asked = 0

    def ask(self) -> int:
        """A ticket for a new question; earlier tickets stop being the latest."""
        self._asked += 1
        return self._asked

    def forget(self) -> None:
        """Answers still on their way are for something no longer shown."""
        self._asked += 1

    def is_latest(self, ticket: int) -> bool:
        return ticket == self._asked


# name -> threads. ``work``: what the person asked for (search, details, edits, trash).
# ``thumbs``: image decoding for the views. ``snapshot``: the library's rows, one load
# at a time. ``background``: long work nobody waits on (album grouping, duplicates).
# "warm": loading the search indexes and the text model at start, beside the rest.
POOL_THREADS = {"work": 2, "thumbs": 2, "snapshot": 1, "background": 2, "warm": 1}
# Pools whose tasks the person is waiting for (or will be at once: the start's warm-up),
# and the pool whose tasks hold back while any of those run.
FOREGROUND_POOLS = frozenset({"work", "warm"})
BACKGROUND_POOL = "background"
# The longest background work holds back at once: it is delayed, never starved.
YIELD_SECONDS = 10.0
# Background threads (and the worker processes they start) run at this nice value: once
# they run, a search asked meanwhile still gets the cores first. Waiting for the
# foreground (``Foreground``) covers the start; the duplicates comparison's candidate
# search and its verification processes cannot stop between pairs everywhere.
BACKGROUND_NICENESS = 10


class Foreground:
    """How many tasks the person waits for are running. Background work waits for none
    before it starts, and the duplicates comparison between pairs: with two cores and
    one interpreter lock, album grouping and a comparison running beside the first
    similar search made its 0.1 s of work take over a second (the searching thread
    queues for the lock at every SQLite call and numpy step)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._running = 0

    @property
    def busy(self) -> bool:
        return self._running > 0

    def enter(self) -> None:
        with self._cond:
            self._running += 1

    def leave(self) -> None:
        with self._cond:
            self._running -= 1
            self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None, allowed: int = 0) -> bool:
        """Block until at most ``allowed`` foreground tasks run (a foreground task
        waiting for the others allows itself), at most ``timeout`` (default
        YIELD_SECONDS) seconds; whether that was reached."""
        with self._cond:
            return self._cond.wait_for(lambda: self._running <= allowed,
                                       YIELD_SECONDS if timeout is None else timeout)


foreground = Foreground()


def pool(name: str = "work") -> QThreadPool:
    p = _pools.get(name)
    if p is None:
        p = QThreadPool()
        p.setMaxThreadCount(POOL_THREADS.get(name, 2))
        p.setExpiryTimeout(30_000)
        _pools[name] = p
    return p


def busy() -> bool:
    """Whether any pool has work running or queued."""
    return any(p.activeThreadCount() for p in _pools.values())


def wait_idle(timeout_ms: int = 10_000, names=None) -> bool:
    """Block until the pools (``names``, default all) are idle, at most ``timeout_ms`` in
    all (screenshots, tests and the last writes at exit; never called in a slot)."""
    deadline = time.monotonic() + timeout_ms / 1000
    idle = True
    for name, p in list(_pools.items()):
        if names is None or name in names:
            left = max(0, int((deadline - time.monotonic()) * 1000))
            idle = p.waitForDone(left) and idle
    return idle


def drop_queued(names) -> None:
    """Forget work not started yet in these pools (closing the window: nobody will see
    its answer). What runs already finishes on its own."""
    for name in names:
        if name in _pools:
            _pools[name].clear()


class _Relay(QObject):
    finished = Signal(object, object)  # result, error


class _Task(QRunnable):
    def __init__(self, func: Callable, relay: _Relay, pool_name: str = "work"):
        super().__init__()
        self.func = func
        self.relay = relay
        self.pool_name = pool_name

    def run(self) -> None:
        ahead = self.pool_name in FOREGROUND_POOLS  # counted since run_task queued it
        if self.pool_name == BACKGROUND_POOL:
            lower_priority(BACKGROUND_NICENESS)
            foreground.wait_idle()
        try:
            result, error = self.func(), None
        except Exception as e:  # handed to the GUI thread, which reports it
            result, error = None, e
        finally:
            if ahead:
                foreground.leave()
        try:
            self.relay.finished.emit(result, error)
        except RuntimeError:  # its owner (or the application) is gone: no one to tell
            _live.discard(self.relay)


_live: set[_Relay] = set()  # keeps relays alive until their task reports back


def run_task(func: Callable, on_done: Callable | None = None,
             pool_name: str = "work", owner: QObject | None = None) -> None:
    """``owner``: the widget the answer is for. If it is destroyed first (a closed
    window), the answer is dropped instead of reaching a deleted widget."""
    relay = _Relay(owner)
    _live.add(relay)

    def deliver(result, error):
        _live.discard(relay)
        if on_done is not None:
            on_done(result=result) if error is None else on_done(error=error)

    relay.finished.connect(deliver)
    if pool_name in FOREGROUND_POOLS:
        # From the moment it is asked, not when a thread picks it up: background work
        # queued just after (the start's album grouping after its warm-up) must see it.
        foreground.enter()
    pool(pool_name).start(_Task(func, relay, pool_name))


class ScanJob(QObject):
    """A library scan on its own thread, with progress, cancel and a final report."""

    progress = Signal(object)  # ScanProgress
    finished = Signal(object, object)  # ScanReport or None, error or None

    def __init__(self, library_path: str, folders: list[str], settings: Settings,
                 indexer_factory=None):
        """``settings`` choose processes, threads and excluded patterns, as for the CLI
        (``Scanner.from_settings``); ``indexer_factory`` replaces the installed models."""
        super().__init__()
        self.library_path = library_path
        self.folders = folders
        self.settings = settings
        self.indexer_factory = indexer_factory
        self.cancel_event = threading.Event()
        self.pause_event = threading.Event()  # set: the scan waits between files
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="scan", daemon=True)
        self._thread.start()

    @Slot()
    def cancel(self) -> None:
        self.cancel_event.set()

    def set_paused(self, paused: bool) -> None:
        if paused:
            self.pause_event.set()
        else:
            self.pause_event.clear()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        from app.core.library.scanner import Scanner
        from app.store.library import Library
        try:
            # The scan writes through its own connection: SQLite connections stay per thread.
            lib = Library(self.library_path)
            try:
                kwargs = {}
                if self.indexer_factory is not None:
                    kwargs["indexer_factory"] = self.indexer_factory
                scanner = Scanner.from_settings(lib, self.settings, **kwargs)
                report = scanner.scan(self.folders, progress=self._report,
                                      cancel=self.cancel_event, pause=self.pause_event)
            finally:
                lib.close()
        except Exception as e:
            self.finished.emit(None, e)
        else:
            self.finished.emit(report, None)

    def _report(self, p: ScanProgress) -> None:
        self.progress.emit(p)

