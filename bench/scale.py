"""Scale: the app's answers on a library of 100,000 clips (about 1M moments).

A benchmark, not a test: it prints figures and asserts nothing.

    .venv/bin/python bench/scale.py                    # 100,000 clips
    .venv/bin/python bench/scale.py --clips 10000      # the growth comparison
    .venv/bin/python bench/scale.py --growth           # both sizes and the growth factors
    ... [--only grid,similar,search,albums,duplicates,cli] [--queries 100] [--json]
        [--timeout 900] [--refill]

The library is synthetic (``_synthetic.py``: rows shaped like real ones through the real
schema, no decoding) and cached in ``bench/.cache/scale-N.sqlite``: built once (about
3 ms per clip), reused by later runs. Each figure is measured in a process of its own, so
its peak memory (VmHWM) is its own:

- grid: the app's MainWindow opened offscreen on the library, from the process start
  to the first paint of the grid with rows in it (and from the window's creation).
- similar, similar --at, search: in-process through ``app.core.search.service`` with the models
  loaded once; the first query (which loads what later ones reuse) is reported on its
  own, then p50/p95 over ``--queries`` other queries.
- cli: one ``reelvault similar`` and one ``reelvault search`` process each (cold), with
  the library's indexes on disk (``<library>.index/``, written by an earlier process);
  and first, with that folder moved away, the same two building and writing them
  (``similar_building`` / ``search_building``: once per library, or after its recipe
  changes); and a search with an empty user cache folder (``search_uncached``: the query
  not embedded before, so the text model loads).
- app: the app's window, as a person who clicks at once: from the grid's first paint, a
  similar search on a clip, then a word search; seconds each to the answer on screen.
- albums: ``refresh_albums(rebuild=True)`` over the whole library, then the plain
  refresh the app runs at every start (nothing new to place), then the refresh after
  100 clips are taken out of their albums (as a scan's new clips are in none), and
  after 100 clips with a capture time are (fresh footage; wall and CPU seconds each).
- duplicates: ``find_duplicates(rebuild=True)`` over the whole library (wall, and CPU
  with the verifying workers'), then the run after a scan that added 100 clips (their
  remembered state dropped: only pairs touching them are verified); killed after
  ``--timeout`` seconds, with the time and pair count of its candidate stage.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CACHE = BENCH / ".cache"
MB = 1024 * 1024
OPS = ("grid", "similar", "search", "cli", "app", "albums", "duplicates")

# Search queries a person types: labels of pictures and sounds, folder words, dates,
# and mixes. Distinct, so no answer is a repeat of another.
LABEL_WORDS = (
    "dog", "cat", "birds singing", "people talking", "music", "church bell", "car horn",
    "applause", "baby crying", "waves", "snow", "mountain", "boat", "train", "bicycle",
    "pizza", "birthday cake", "guitar", "piano", "laughter", "wind", "rain", "fireworks",
    "horse", "beach", "street", "kitchen", "football", "swimming pool", "ice cream",
    "butterfly", "fish", "tree", "flower", "truck", "airplane", "crowd", "speech",
    "dancing", "drums")
NAME_WORDS = ("beach trip", "birthday", "garden", "hike", "christmas", "school play",
              "concert", "zoo", "wedding", "camping", "harbour", "museum", "picnic",
              "graduation", "dog park", "halloween", "fishing", "grandma", "lake", "market")
DATES = ("2019", "march 2021", "july 2016", "2023-08", "9 Mar 2024", "december 2014",
         "2013", "june 2022", "14 feb 2020", "2017", "october 2018", "2024", "may 2015",
         "2021-01", "august 2019", "2012", "april 2023", "25 december 2017", "2020",
         "september 2016")


def search_queries(n: int) -> list[str]:
    mixed = [f"{w} {d}" for w, d in zip(LABEL_WORDS[::2], DATES, strict=False)]
    mixed += [f"{a} {b}" for a, b in zip(NAME_WORDS, LABEL_WORDS[1::2], strict=False)]
    pool = list(LABEL_WORDS) + list(NAME_WORDS) + list(DATES) + mixed
    return (pool * (n // len(pool) + 1))[:n]


# ---- the library -----------------------------------------------------------------------
def ensure_library(clips: int, refill: bool = False) -> Path:
    sys.path.insert(0, str(REPO))
    import _synthetic
    path = CACHE / f"scale-{clips}.sqlite"
    marker = path.with_suffix(".json")
    want = {"generator": _synthetic.GENERATOR_VERSION, "clips": clips}
    if not refill and path.exists() and marker.exists():
        meta = json.loads(marker.read_text())
        if {k: meta.get(k) for k in want} == want:
            _upgrade(path)
            return path
    print(f"building a synthetic library of {clips:,} clips in {path} (once)...", file=sys.stderr)
    marker.unlink(missing_ok=True)
    stats = _synthetic.build(path, clips, log=lambda m: print(m, file=sys.stderr))
    marker.write_text(json.dumps({**want, **stats}))
    print(f"built: {stats}", file=sys.stderr)
    return path


def _upgrade(path: Path) -> None:
    """A library cached by an earlier schema gets the later tables (the migrations a
    writer runs when it opens a user's library), so readers can open it. Without the
    copy a user's upgrade sets aside first: the generator can make this one again, and
    at 100,000 clips that copy is 16 GB."""
    import sqlite3

    from app.store import migrations
    conn = sqlite3.connect(path)
    try:
        if migrations.pending(conn):
            print(f"upgrading {path} to schema {migrations.LATEST} (once)...", file=sys.stderr)
            migrations.migrate(conn, None)
    finally:
        conn.close()


# ---- helpers for the measuring processes ------------------------------------------------
def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentiles(seconds: list[float]) -> dict:
    import numpy as np
    ms = np.array(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "max_ms": round(float(ms.max()), 1), "n": len(ms)}


def sample_files(lib, n: int, seed: int = 7) -> list[dict]:
    import numpy as np
    rows = lib.conn.execute("SELECT id, path, duration FROM files WHERE status = 'indexed' "
                            "AND presence = 'present' ORDER BY id").fetchall()
    picks = np.random.default_rng(seed).choice(len(rows), size=min(n, len(rows)), replace=False)
    return [dict(rows[int(i)]) for i in picks]


def child_grid(library: Path, args) -> dict:
    """The app's window on the library: time to the first paint of a grid with rows."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    from app import settings as app_settings
    from app.gui import theme
    from app.gui.window import MainWindow

    app = QApplication.instance() or QApplication([])
    theme.apply(app, app_settings.Settings().theme)
    made = time.time()
    window = MainWindow(str(library), app_settings.Settings())
    window.show()
    out: dict = {}

    class PaintWatch(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 (Qt API)
            if event.type() == QEvent.Paint and window.library_view.model.rowCount() > 0 \
                    and "painted" not in out:
                out["painted"] = True
                QTimer.singleShot(0, done)  # right after this paint
            return False

    def done():
        now = time.time()
        out.update(first_paint_s=round(now - args.started, 3),
                   from_window_s=round(now - made, 3),
                   rows=window.library_view.model.rowCount(), peak_rss_mb=round(peak_rss_mb()))
        print(json.dumps(out), flush=True)
        os._exit(0)  # the start-up's background work (albums, duplicates) is not measured

    watch = PaintWatch()
    window.library_view.grid.viewport().installEventFilter(watch)
    QTimer.singleShot(int(args.timeout * 1000), lambda: (print(json.dumps(
        {"error": "no grid paint", "peak_rss_mb": round(peak_rss_mb())}), flush=True), os._exit(1)))
    app.exec()
    return out


def child_similar(library: Path, args) -> dict:
    from app.core import search
    from app.store.library import Library
    lib = Library(library, readonly=True)
    files = sample_files(lib, args.queries + 1)
    t0 = time.perf_counter()
    search.similar(lib, files[0]["id"], limit=20)
    first = time.perf_counter() - t0
    clip_t, at_t = [], []
    for f in files[1:]:
        t0 = time.perf_counter()
        search.similar(lib, f["id"], limit=20)
        clip_t.append(time.perf_counter() - t0)
    for f in files[1:]:
        at = 0.4 * float(f["duration"] or 0.0)
        t0 = time.perf_counter()
        search.similar(lib, f["id"], at=at, limit=20)
        at_t.append(time.perf_counter() - t0)
    return {"first_s": round(first, 2), "similar": percentiles(clip_t),
            "similar_at": percentiles(at_t), "peak_rss_mb": round(peak_rss_mb())}


def child_search(library: Path, args) -> dict:
    from app.core import search
    from app.core.search.labelquery import default_matcher
    from app.store.library import Library
    lib = Library(library, readonly=True)
    matcher = default_matcher()
    matcher.text_model.load()  # the text model, loaded once as the app's warm-up does
    queries = search_queries(args.queries + 1)
    t0 = time.perf_counter()
    search.search_text(lib, "holiday", limit=20, matcher=matcher)
    first = time.perf_counter() - t0
    seconds, found = [], []
    for q in queries[:args.queries]:
        t0 = time.perf_counter()
        results = search.search_text(lib, q, limit=20, matcher=matcher)
        seconds.append(time.perf_counter() - t0)
        found.append(len(results))
    return {"first_s": round(first, 2), "search": percentiles(seconds),
            "mean_results": round(sum(found) / len(found), 1), "peak_rss_mb": round(peak_rss_mb())}


def child_app(library: Path, args) -> dict:
    """The window's first similar search and first word search, asked right at start."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app import settings as app_settings
    from app.gui.window import MainWindow
    from app.store.library import Library

    lib = Library(library, readonly=True)
    target = sample_files(lib, 1, seed=11)[0]["path"]
    lib.close()
    app = QApplication.instance() or QApplication([])
    window = MainWindow(str(library), app_settings.Settings())
    window.show()
    out: dict = {}
    steps = iter([("first_similar_s", lambda: window.search_similar(target)),
                  ("first_search_s", lambda: window.search("dog")), (None, None)])
    asked: list = []

    def next_step():
        name, ask = next(steps)
        if name is None:
            out["peak_rss_mb"] = round(peak_rss_mb())
            print(json.dumps(out), flush=True)
            os._exit(0)
        asked[:] = [name, time.perf_counter(), time.process_time()]
        ask()

    def answered():
        name, t0, cpu0 = asked
        out[name] = round(time.perf_counter() - t0, 2)
        # What the whole process (every thread) spent meanwhile: on a shared machine the
        # wall time above is mostly the queue for the cores.
        out[name[:-2] + "_cpu_s"] = round(time.process_time() - cpu0, 2)
        out[name[:-2] + "_results"] = window.search_view.model.rowCount() \
            if hasattr(window.search_view, "model") else None
        QTimer.singleShot(0, next_step)

    window.search_done.connect(answered)
    window.grid_filled.connect(lambda: not asked and QTimer.singleShot(0, next_step))
    QTimer.singleShot(int(args.timeout * 1000), lambda: (print(json.dumps(
        {"error": "no answer", **out, "peak_rss_mb": round(peak_rss_mb())}), flush=True),
        os._exit(1)))
    app.exec()
    return out


def _refresh_after_new(lib, new: list[int]) -> tuple[float, float]:
    """Seconds (wall, CPU) of the album refresh after ``new`` are taken out of their
    albums, as a scan's new clips are in none."""
    from app.core import albums
    with lib.transaction() as conn:
        conn.execute(f"DELETE FROM album_files WHERE file_id IN ({','.join('?' * len(new))})",
                     new)
    t0, c0 = time.perf_counter(), time.process_time()
    albums.refresh_albums(lib)
    return time.perf_counter() - t0, time.process_time() - c0


def child_albums(library: Path, args) -> dict:
    from app.core import albums
    from app.store.library import Library
    lib = Library(library)
    # CPU seconds beside each wall figure: on a shared machine the wall is mostly the queue.
    t0, c0 = time.perf_counter(), time.process_time()
    found = albums.refresh_albums(lib, rebuild=True)
    rebuild, rebuild_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    albums.refresh_albums(lib)
    refresh, refresh_cpu = time.perf_counter() - t0, time.process_time() - c0
    # After a scan that added 100 clips: 100 clips taken out of the albums as if new
    # (bench-only SQL, as _synthetic.py writes rows), then placed by the refresh.
    refresh_new, refresh_new_cpu = _refresh_after_new(
        lib, [f["id"] for f in sample_files(lib, 100, seed=3)])
    # The same with 100 clips that have a capture time (a scan of fresh footage): a clip
    # without one may be a copy of any clip, so it alone is compared with all of them.
    dated = [r[0] for r in lib.conn.execute(
        "SELECT id FROM files WHERE status = 'indexed' AND presence = 'present' "
        "AND created IS NOT NULL ORDER BY id")]
    import numpy as np
    refresh_dated, refresh_dated_cpu = _refresh_after_new(
        lib, [dated[int(i)] for i in np.random.default_rng(4).choice(len(dated), 100,
                                                                        replace=False)])
    lib.close()
    return {"rebuild_s": round(rebuild, 1), "rebuild_cpu_s": round(rebuild_cpu, 1),
            "refresh_s": round(refresh, 2), "refresh_cpu_s": round(refresh_cpu, 2),
            "refresh_new_s": round(refresh_new, 2),
            "refresh_new_cpu_s": round(refresh_new_cpu, 2),
            "refresh_dated_s": round(refresh_dated, 2),
            "refresh_dated_cpu_s": round(refresh_dated_cpu, 2), "albums": len(found),
            "clips_in_albums": sum(len(a["files"]) for a in found),
            "peak_rss_mb": round(peak_rss_mb())}


def child_duplicates(library: Path, args) -> dict:
    """Everything compared (``rebuild``), then the run after a scan that added 100 clips:
    those clips' remembered state is dropped, so they are what is new."""
    from app.core import duplicates
    from app.store import duplicates as dupstore
    from app.store.library import Library
    lib = Library(library)  # a writer: the run remembers what it compared
    full: dict = {}
    t0, c0 = time.perf_counter(), time.process_time()
    groups = duplicates.find_duplicates(lib, rebuild=True, stats=full)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    new = [f["id"] for f in sample_files(lib, 100, seed=3)]
    dupstore.forget_files(lib, new)
    again_stats: dict = {}
    t0, c0 = time.perf_counter(), time.process_time()
    again = duplicates.find_duplicates(lib, stats=again_stats)
    refresh = time.perf_counter() - t0
    refresh_cpu = time.process_time() - c0 + again_stats["worker_cpu_s"]
    lib.close()
    return {"duplicates_s": round(seconds, 1), "cpu_s": round(cpu + full["worker_cpu_s"], 1),
            "candidates_s": round(full["candidates_s"], 1),
            "screening_s": round(full["screening_s"], 1),
            "pairs_verified": full["verified"],
            "groups": len(groups), "files_in_groups": sum(len(g.files) for g in groups),
            "refresh_s": round(refresh, 2), "refresh_cpu_s": round(refresh_cpu, 2),
            "refresh_pairs_verified": again_stats["verified"],
            "refresh_same_groups": [g.as_json() for g in again] == [g.as_json() for g in groups],
            "peak_rss_mb": round(peak_rss_mb())}


def child_candidates(library: Path, args) -> dict:
    """The candidate stage of duplicates alone, and verification speed on its pairs."""
    from app.core.duplicates import finder
    from app.store.library import Library
    lib = Library(library, readonly=True)
    rows = {r["id"]: r for r in lib.files(status="indexed", present_only=True)}
    t0 = time.perf_counter()
    pairs = finder.candidate_pairs(lib, set(rows))
    cand = time.perf_counter() - t0
    tracks = finder._Tracks(lib, {i: r["duration"] for i, r in rows.items()})
    sample = pairs[:: max(1, len(pairs) // 300)][:300]
    t0 = time.perf_counter()
    for x, y in sample:
        finder.verify(tracks, x, y)
    per_pair = (time.perf_counter() - t0) / max(1, len(sample))
    return {"candidates_s": round(cand, 1), "pairs": len(pairs),
            "verify_ms_per_pair": round(per_pair * 1000, 2),
            "verify_all_s_estimate": round(per_pair * len(pairs), 1),
            "peak_rss_mb": round(peak_rss_mb())}


CHILDREN = {"grid": child_grid, "similar": child_similar, "search": child_search,
            "app": child_app,
            "albums": child_albums, "duplicates": child_duplicates,
            "candidates": child_candidates}


# ---- the parent: one process per figure -------------------------------------------------
def run_child(op: str, library: Path, args) -> dict:
    """Run one measuring process; kill it after the timeout, sampling its memory."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", op, "--library",
           str(library), "--queries", str(args.queries), "--timeout", str(args.timeout),
           "--started", repr(time.time())]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _rss_mb(proc.pid))
        if time.perf_counter() - started > args.timeout:
            proc.kill()
            proc.wait()
            return {"error": f"killed after {args.timeout:.0f} s", "peak_rss_mb": round(peak)}
        time.sleep(0.2)
    out, err = proc.communicate()
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (err.strip().splitlines() or ["no output"])[-1][:300],
                "peak_rss_mb": round(peak)}
    return json.loads(lines[-1])


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cli_cold(library: Path) -> dict:
    """`reelvault similar` and `reelvault search` processes: wall time, peak RSS; first
    building the indexes on disk (their folder moved away meanwhile), then using them."""
    import shutil
    sys.path.insert(0, str(REPO))
    from app.core import index_files
    from app.store.library import Library
    lib = Library(library, readonly=True)
    target = sample_files(lib, 1, seed=11)[0]["path"]
    lib.close()
    index = index_files.beside(library)
    kept = index.with_name(index.name + ".bench-kept")
    shutil.rmtree(kept, ignore_errors=True)
    if index.exists():
        index.rename(kept)
    out = {}
    import tempfile
    fresh = tempfile.mkdtemp(prefix="scale-cache-")
    # search_uncached: with an empty user cache folder (no query embedded before, no
    # model checked before): the text model is loaded and its SHA-256 computed.
    runs = (("similar_building", ["similar", target], None),
            ("search_building", ["search", "dog"], None),
            ("similar", ["similar", target], None), ("search", ["search", "dog"], None),
            ("search_uncached", ["search", "dog"], fresh))
    # An installed app has its bytecode compiled (pip and PyInstaller do it); a source
    # tree run under PYTHONDONTWRITEBYTECODE compiles every module at each start, which
    # would add 0.1-0.2 s to every figure here. Compiled once, kept in bench/.cache.
    compiled = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    compiled["PYTHONPYCACHEPREFIX"] = str(CACHE / "pycache")
    subprocess.run([sys.executable, "-m", "compileall", "-q", "app"], cwd=REPO, env=compiled,
                   stdout=subprocess.DEVNULL)
    try:
        for name, argv, cache in runs:
            env = {**compiled, **({"REELVAULT_CACHE": cache} if cache else {})}
            t0 = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "app", "--library", str(library),
                                     *argv, "--json"], cwd=REPO, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, env=env)
            # The child's own high-water mark, sampled: the rusage of a child counts the
            # memory of the process it was forked from (this one, which may have built
            # the library) until its exec.
            peak = 0.0
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                peak = max(peak, _hwm_mb(proc.pid))
                time.sleep(0.01)
            seconds = time.perf_counter() - t0
            # CPU seconds too: on a shared machine the wall time is mostly the queue.
            out[name] = {"seconds": round(seconds, 2),
                         "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
                         "peak_rss_mb": round(peak), "exit": os.waitstatus_to_exitcode(status)}
    finally:
        shutil.rmtree(kept, ignore_errors=True)
        shutil.rmtree(fresh, ignore_errors=True)
    return out


def measure(clips: int, args) -> dict:
    library = ensure_library(clips, args.refill)
    meta = json.loads(library.with_suffix(".json").read_text())
    figures: dict = {"clips": meta["files"], "segments": meta["segments"],
                     "library_gb": round(library.stat().st_size / 1024**3, 2),
                     "cores": os.cpu_count(),
                     "load_before": [round(x, 1) for x in os.getloadavg()]}
    for op in args.only:
        print(f"[{clips:,}] {op}...", file=sys.stderr, flush=True)
        if op == "cli":
            figures["cli"] = cli_cold(library)
        elif op == "duplicates":
            figures["duplicates"] = run_child("duplicates", library, args)
            if "error" in figures["duplicates"]:
                figures["duplicates_candidates"] = run_child("candidates", library, args)
        else:
            figures[op] = run_child(op, library, args)
    # Wall figures on a shared machine depend on what else runs: the load is part of them.
    figures["load_after"] = [round(x, 1) for x in os.getloadavg()]
    return figures


def table(figures: dict) -> str:
    lines = [f"{figures['clips']:,} clips, {figures['segments']:,} moments, "
             f"{figures['library_gb']} GB library, {figures['cores']} cores, load average "
             f"{figures.get('load_before', '?')} before, {figures.get('load_after', '?')} after",
             f"{'figure':28s} {'value':>24s} {'target':>12s} {'peak RSS':>10s}"]

    def row(name, value, target, rss):
        lines.append(f"{name:28s} {value:>24s} {target:>12s} {rss:>10s}")

    def rss(d):
        return f"{d.get('peak_rss_mb', '?')} MB"

    g = figures.get("grid")
    if g:
        row("start-up to grid paint", f"{g['first_paint_s']:.2f} s" if "first_paint_s" in g
            else g.get("error", "?"), "< 2 s", rss(g))
    s = figures.get("similar")
    if s and "similar" in s:
        for key in ("similar", "similar_at"):
            row(f"{key} p50 / p95", f"{s[key]['p50_ms']:.0f} / {s[key]['p95_ms']:.0f} ms",
                "p95 < 100 ms", rss(s))
        row("similar: first query", f"{s['first_s']:.2f} s", "", "")
    elif s:
        row("similar", s.get("error", "?"), "", rss(s))
    t = figures.get("search")
    if t and "search" in t:
        row("search p50 / p95", f"{t['search']['p50_ms']:.0f} / {t['search']['p95_ms']:.0f} ms",
            "p95 < 100 ms", rss(t))
        row("search: first query", f"{t['first_s']:.2f} s", "", "")
    elif t:
        row("search", t.get("error", "?"), "", rss(t))
    c = figures.get("cli")
    if c:
        for key, label in (("similar_building", "cli similar, building index"),
                           ("search_building", "cli search, building index"),
                           ("similar", "cli similar (cold process)"),
                           ("search", "cli search (cold process)"),
                           ("search_uncached", "cli search, query not cached")):
            if key in c:
                cpu = f" ({c[key]['cpu_s']:.2f} s CPU)" if "cpu_s" in c[key] else ""
                row(label, f"{c[key]['seconds']:.2f} s{cpu}", "", f"{c[key]['peak_rss_mb']} MB")
    p = figures.get("app")
    if p:
        for key in ("first_similar_s", "first_search_s"):
            cpu = f" ({p[key[:-2] + '_cpu_s']:.2f} s CPU)" if key[:-2] + "_cpu_s" in p else ""
            row(f"app {key[:-2].replace('_', ' ')}", f"{p[key]:.2f} s{cpu}" if key in p
                else p.get("error", "?"), "< 1 s", rss(p))
    a = figures.get("albums")
    if a and "rebuild_s" in a:
        row("albums --rebuild", f"{a['rebuild_s']:.1f} s, {a.get('rebuild_cpu_s', '?')} s CPU "
            f"({a['albums']} albums)", "< 120 s", rss(a))
        row("albums refresh (app start)", f"{a['refresh_s']:.2f} s, "
            f"{a.get('refresh_cpu_s', '?')} s CPU", "", "")
        if "refresh_new_s" in a:
            row("albums after 100 new clips", f"{a['refresh_new_s']:.2f} s, "
                f"{a.get('refresh_new_cpu_s', '?')} s CPU", "", "")
        if "refresh_dated_s" in a:
            row("  ... 100 new clips, all dated", f"{a['refresh_dated_s']:.2f} s, "
                f"{a['refresh_dated_cpu_s']} s CPU", "", "")
    elif a:
        row("albums --rebuild", a.get("error", "?"), "< 120 s", rss(a))
    d = figures.get("duplicates")
    if d:
        row("duplicates", f"{d['duplicates_s']:.1f} s ({d['groups']} groups)"
            if "duplicates_s" in d else d.get("error", "?"), "< 120 s", rss(d))
        if "cpu_s" in d:
            row("  CPU (with workers)", f"{d['cpu_s']:.1f} s", "", "")
            row("  candidate search, screening", f"{d['candidates_s']:.1f} s, "
                f"{d['screening_s']:.1f} s", "", "")
            row("  pairs verified", f"{d['pairs_verified']:,}", "", "")
            row("duplicates after 100 new clips", f"{d['refresh_s']:.2f} s "
                f"({d['refresh_pairs_verified']:,} pairs)", "< 5 s", "")
            row("  CPU (with workers)", f"{d['refresh_cpu_s']:.2f} s", "", "")
            row("  same groups as the full run", str(d["refresh_same_groups"]), "", "")
    dc = figures.get("duplicates_candidates")
    if dc:
        row("  candidate stage", f"{dc['candidates_s']:.1f} s, {dc['pairs']:,} pairs"
            if "candidates_s" in dc else dc.get("error", "?"), "", rss(dc))
        if "verify_ms_per_pair" in dc:
            row("  verification (est.)", f"{dc['verify_all_s_estimate']:.0f} s "
                f"({dc['verify_ms_per_pair']} ms/pair)", "", "")
    return "\n".join(lines)


GROWTH_KEYS = (("grid", "first_paint_s"), ("similar", "similar", "p95_ms"),
               ("similar", "similar_at", "p95_ms"), ("search", "search", "p95_ms"),
               ("cli", "similar", "seconds"), ("cli", "search", "seconds"),
               ("albums", "rebuild_s"), ("albums", "refresh_s"), ("albums", "refresh_new_s"),
               ("albums", "refresh_new_cpu_s"), ("albums", "refresh_dated_s"),
               ("albums", "refresh_dated_cpu_s"),
               ("duplicates", "duplicates_s"), ("duplicates", "cpu_s"),
               ("duplicates", "refresh_s"), ("duplicates", "refresh_cpu_s"),
               ("grid", "peak_rss_mb"), ("similar", "peak_rss_mb"), ("search", "peak_rss_mb"),
               ("albums", "peak_rss_mb"), ("duplicates", "peak_rss_mb"))


def growth(small: dict, large: dict) -> dict:
    """Per figure: small, large and the ratio (10x the clips: ~10 is linear, ~100 quadratic)."""
    out = {}
    for path in GROWTH_KEYS:
        a, b = small, large
        for k in path:
            a = a.get(k, {}) if isinstance(a, dict) else {}
            b = b.get(k, {}) if isinstance(b, dict) else {}
        if isinstance(a, int | float) and isinstance(b, int | float) and a:
            out[".".join(path)] = {"small": a, "large": b, "ratio": round(b / a, 1)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument("--growth", action="store_true",
                        help="measure 10,000 and --clips clips and print how figures grow")
    parser.add_argument("--only", default=",".join(OPS), help="comma-separated: " + ",".join(OPS))
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=900, help="seconds per figure")
    parser.add_argument("--refill", action="store_true", help="rebuild the cached library")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--library", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--started", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(REPO))
        result = CHILDREN[args.child](args.library, args)
        print(json.dumps(result), flush=True)
        return 0
    args.only = [o for o in args.only.split(",") if o]
    unknown = set(args.only) - set(OPS)
    if unknown:
        parser.error(f"unknown --only {sorted(unknown)}")
    sizes = [10_000, args.clips] if args.growth and args.clips != 10_000 else [args.clips]
    results = {str(n): measure(n, args) for n in sizes}
    if len(sizes) == 2:
        results["growth"] = growth(results[str(sizes[0])], results[str(sizes[1])])
    if args.json:
        print(json.dumps(results if len(sizes) == 2 else results[str(sizes[0])], indent=1))
        return 0
    for n in sizes:
        print(table(results[str(n)]))
        print()
    if "growth" in results:
        print(f"growth from {sizes[0]:,} to {sizes[1]:,} clips (x{sizes[1] / sizes[0]:.0f}):")
        for key, g in results["growth"].items():
            print(f"  {key:28s} {g['small']:>10} -> {g['large']:>10}   x{g['ratio']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
