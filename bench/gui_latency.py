"""GUI responsiveness during a scan: the longest the event loop is blocked.

A benchmark, not a test: it prints figures and asserts nothing.

    .venv/bin/python bench/gui_latency.py [--corpus ../shared/corpus/library] [--json]
        [--tick-ms 10] [--settle 5] [--workers N]

The app's main window is opened offscreen on a fresh library (in a temporary folder),
then a scan of the corpus is started the way the Scan button does (``MainWindow.scan``:
``ScanController`` / ``ScanJob`` on their own thread, the library view refreshing as
clips arrive). A 10 ms QTimer records when it fires, from the scan's start until
``--settle`` seconds after the scan has finished (the window then refreshes the library,
albums and duplicates). A gap between ticks is how long the event loop could not
run: the target is no gap above 100 ms. The longest gaps are listed with what the
window was doing then (scan phase, or after the scan).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
TARGET_MS = 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path,
                        default=REPO.parent / "shared" / "corpus" / "library")
    parser.add_argument("--tick-ms", type=int, default=10)
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds measured after the scan finished")
    parser.add_argument("--workers", type=int, default=None,
                        help="decoding processes (default: the app's setting)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    sys.path.insert(0, str(REPO))
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app import settings as app_settings
    from app.gui import tasks, theme
    from app.gui.window import MainWindow

    app = QApplication.instance() or QApplication([])
    prefs = app_settings.Settings()
    if args.workers:
        prefs.workers = args.workers
    theme.apply(app, prefs.theme)
    folder = Path(tempfile.mkdtemp(prefix="reelvault-gui-latency-"))
    window = MainWindow(str(folder / "library.sqlite"), prefs)
    window.show()

    ticks: list[float] = []
    phases: list[tuple[float, str]] = []  # (time, what the scan reported)
    marks: dict[str, float] = {}
    timer = QTimer()
    timer.setInterval(args.tick_ms)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))

    def on_progress(p) -> None:
        label = p.phase if p.phase != "indexing" else f"indexing {p.done}/{p.total}"
        if not phases or phases[-1][1] != label:
            phases.append((time.perf_counter(), label))

    def finished(report, error) -> None:
        marks["finished"] = time.perf_counter()
        marks["error"] = str(error) if error else None
        marks["indexed"] = len(report.indexed) if report is not None else 0
        phases.append((marks["finished"], "after the scan"))
        QTimer.singleShot(int(args.settle * 1000), app.quit)

    def start() -> None:
        window.scanner.progress.connect(on_progress)
        window.scanner.finished.connect(finished)
        marks["start"] = time.perf_counter()
        ticks.append(marks["start"])
        timer.start()
        window.scan([str(args.corpus)])

    # The empty library's start-up first (not measured), then the scan.
    window.startup_done.connect(lambda: QTimer.singleShot(200, start))
    QTimer.singleShot(15 * 60 * 1000, app.quit)  # never hang
    app.exec()
    timer.stop()
    tasks.wait_idle(10_000)
    window.close()
    shutil.rmtree(folder, ignore_errors=True)

    if "finished" not in marks:
        print("the scan did not finish", file=sys.stderr)
        return 1
    import numpy as np
    t = np.array(ticks)
    gaps = np.diff(t) * 1000
    where = []
    for k in np.argsort(-gaps)[:5]:
        at = t[k]
        label = next((name for when, name in reversed(phases) if when <= at), "starting")
        where.append({"gap_ms": round(float(gaps[k]), 1),
                      "at_s": round(float(at - marks["start"]), 2), "during": label})
    figures = {
        "cores": os.cpu_count(), "tick_ms": args.tick_ms,
        "scan_s": round(marks["finished"] - marks["start"], 1), "indexed": marks["indexed"],
        "error": marks["error"], "ticks": len(t),
        "max_gap_ms": round(float(gaps.max()), 1),
        "p99_gap_ms": round(float(np.percentile(gaps, 99)), 1),
        "gaps_over_target": int((gaps > TARGET_MS).sum()), "target_ms": TARGET_MS,
        "longest": where,
    }
    if args.json:
        print(json.dumps(figures, indent=1))
        return 0
    print(f"scan of {args.corpus}: {figures['indexed']} clips in {figures['scan_s']} s "
          f"({figures['cores']} cores)" + (f", error: {figures['error']}" if figures["error"] else ""))
    print(f"event loop: {figures['ticks']} ticks of {args.tick_ms} ms; max gap "
          f"{figures['max_gap_ms']} ms, p99 {figures['p99_gap_ms']} ms, "
          f"{figures['gaps_over_target']} gaps over {TARGET_MS} ms")
    for w in where:
        print(f"  {w['gap_ms']:7.1f} ms at {w['at_s']:6.2f} s ({w['during']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
