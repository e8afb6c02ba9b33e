"""The app's main window as the GUI tests open it."""

from __future__ import annotations

from pathlib import Path


def open_window(qtbot, library: str | Path, timeout: int = 60_000):
    """The window on ``library``, shown, once its start-up work (warm-up, albums) is done."""
    from app.gui.window import MainWindow
    window = MainWindow(str(library))
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.startup_done, timeout=timeout):
        pass
    return window
