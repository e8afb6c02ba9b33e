"""Start the desktop app, or render its main window to a PNG (``--screenshot``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from app import config
from app import settings as app_settings

# The multimedia backend logs every file it opens; a person running the app from a
# terminal does not need FFmpeg's stream dump.
QUIET_LOGGING = "qt.multimedia.*=false;qt.multimedia.ffmpeg.*=false"
SCREENSHOT_TIMEOUT_MS = 60_000
CAPTURE_ROUNDS = 20  # at most, QUIET_MS apart
QUIET_MS = 200
EXIT_WAIT_MS = 3_000  # at most, for each of: last writes, the cancelled scan


def run_gui(library: str | None = None, screenshot: str | None = None,
            page: str | None = None, search: str | None = None) -> int:
    library_path = Path(library) if library else config.default_library()
    problem = _library_problem(library_path)
    if problem is not None and screenshot:
        raise problem  # the CLI prints its one line and exit code
    if screenshot and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a headless render
    os.environ.setdefault("QT_LOGGING_RULES", QUIET_LOGGING)
    from PySide6.QtWidgets import QApplication

    from app.gui import tasks, theme
    from app.gui.window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Reelvault")
    app.setApplicationDisplayName("Reelvault")
    app.setDesktopFileName("reelvault")
    prefs = app_settings.load()
    theme.apply(app, prefs.theme)
    app.setWindowIcon(theme.icon("reelvault"))
    if problem is not None:
        from PySide6.QtWidgets import QMessageBox
        QMessageBox.critical(None, "Reelvault cannot open this library", str(problem))
        raise problem
    window = MainWindow(str(library_path), prefs)
    window.show()
    if screenshot:
        _schedule_screenshot(app, window, screenshot, page, search)
    try:
        return app.exec()
    finally:
        # The window is gone and has cancelled its scan and comparisons; a last watch
        # record or edit gets a bounded moment to finish writing, and so does the scan.
        window.scanner.cancel()
        tasks.wait_idle(EXIT_WAIT_MS, names=("work",))
        window.scanner.wait(EXIT_WAIT_MS / 1000)


def _library_problem(path: Path):
    """A ``LibraryError`` when the library file exists but cannot be used (damaged, not a
    library, another program's database), so the app says so before any window opens."""
    from app.store.health import LibraryError
    from app.store.library import Library
    if not path.exists():
        return None  # a first run: the window creates it
    try:
        Library(path, readonly=True).close()
    except LibraryError as e:
        return e
    except RuntimeError:
        return None  # an older schema: the app upgrades it
    return None


def _schedule_screenshot(app, window, path: str, page: str | None, search: str | None) -> None:
    """Wait until the library, albums and duplicates are on screen (and the chosen page or
    search has answered), let the pictures load, then save the window."""
    from PySide6.QtCore import QTimer

    from app.gui import tasks

    rounds = {"left": CAPTURE_ROUNDS}

    def capture():
        # Work finishing starts more work (a selection's similar moments after a short
        # delay, then the pictures their paint asks for): wait in rounds, letting timers
        # fire between them, until a round starts nothing.
        tasks.wait_idle(15_000)
        app.processEvents()
        rounds["left"] -= 1
        if tasks.busy() and rounds["left"] > 0 or rounds["left"] > CAPTURE_ROUNDS - 3:
            QTimer.singleShot(QUIET_MS, capture)
            return
        window.grab().save(path)
        print(path)
        app.quit()

    def settle(ms: int = 400):
        QTimer.singleShot(ms, capture)

    def started():
        if search:
            window.search_done.connect(lambda: settle(1200))  # the player shows the moment
            window.search_bar.search_for(search)
        elif page:
            signal = {"albums": window.albums_loaded, "duplicates": window.duplicates_loaded,
                      "foryou": window.foryou_loaded}.get(page)
            if signal is not None and window._stale.get(page, False):
                signal.connect(lambda: settle())
            else:
                QTimer.singleShot(0, settle)
            window.show_page(page)
        else:
            settle()

    window.startup_done.connect(started)
    QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, app.quit)  # never hang a headless run
