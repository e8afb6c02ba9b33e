"""Background work for the GUI: one helper, in the spirit of Picard's ``run_task``.

``run_task(func, on_done)`` runs ``func()`` on the global thread pool and calls
``on_done(result=...)`` or ``on_done(error=...)`` back on the GUI thread. No SQL,
decoding or inference ever runs in a slot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from app.core.scanner import ScanProgress


class _Relay(QObject):
    finished = Signal(object, object)  # result, error


class _Task(QRunnable):
    def __init__(self, func: Callable, relay: _Relay):
        super().__init__()
        self.func = func
        self.relay = relay

    def run(self) -> None:
        try:
            result = self.func()
        except Exception as e:  # handed to the GUI thread, which reports it
            self.relay.finished.emit(None, e)
        else:
            self.relay.finished.emit(result, None)


_live: set[_Relay] = set()  # keeps relays alive until their task reports back


def run_task(func: Callable, on_done: Callable | None = None,
             pool: QThreadPool | None = None) -> None:
    relay = _Relay()
    _live.add(relay)

    def deliver(result, error):
        _live.discard(relay)
        if on_done is not None:
            on_done(result=result) if error is None else on_done(error=error)

    relay.finished.connect(deliver)
    (pool or QThreadPool.globalInstance()).start(_Task(func, relay))


class ScanJob(QObject):
    """A library scan on its own thread, with progress, cancel and a final report."""

    progress = Signal(object)  # ScanProgress
    finished = Signal(object, object)  # ScanReport or None, error or None

    def __init__(self, library_path: str, folders: list[str]):
        super().__init__()
        self.library_path = library_path
        self.folders = folders
        self.cancel_event = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="scan", daemon=True)
        self._thread.start()

    @Slot()
    def cancel(self) -> None:
        self.cancel_event.set()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        from app.core.scanner import Scanner
        from app.store.library import Library
        try:
            # The scan writes through its own connection: SQLite connections stay per thread.
            lib = Library(self.library_path)
            try:
                report = Scanner(lib).scan(self.folders, progress=self._report,
                                           cancel=self.cancel_event)
            finally:
                lib.close()
        except Exception as e:
            self.finished.emit(None, e)
        else:
            self.finished.emit(report, None)

    def _report(self, p: ScanProgress) -> None:
        self.progress.emit(p)
