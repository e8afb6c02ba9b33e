"""Start the desktop app, or render its main window to a PNG (``--screenshot``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from app import config


def run_gui(library: str | None = None, screenshot: str | None = None) -> int:
    if screenshot and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a headless render
    from PySide6.QtCore import QThreadPool, QTimer
    from PySide6.QtWidgets import QApplication

    from app.gui.window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Reelvault")
    style = config.resources_dir() / "style.qss"
    if style.exists():
        app.setStyleSheet(style.read_text(encoding="utf-8"))
    window = MainWindow(str(Path(library) if library else config.default_library()))
    window.show()
    if screenshot:
        def capture():
            # Posters load on the thread pool: wait for them, then paint once more.
            QThreadPool.globalInstance().waitForDone(10_000)
            app.processEvents()
            window.grab().save(screenshot)
            print(screenshot)
            app.quit()

        window.grid_filled.connect(lambda: QTimer.singleShot(300, capture))
        QTimer.singleShot(20_000, app.quit)  # never hang a headless run
    return app.exec()
