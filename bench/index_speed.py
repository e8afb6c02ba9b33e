"""Index speed: how fast `reelvault scan` indexes real video, against the decoding limit.

A benchmark, not a test: it prints figures and asserts nothing.

    .venv/bin/python bench/index_speed.py                  # default library (~21 min of video)
    .venv/bin/python bench/index_speed.py --ten-minute     # one 10-minute 1080p file
    .venv/bin/python bench/index_speed.py --folder DIR     # an existing folder
    ... [--workers N] [--threads N] [--repeat N] [--json]

Media: by default a library of H.264 + AAC clips (1080p and 720p, GOP 2 s with B-frames
and GOP 8 s) is generated once with PyAV into ``bench/.cache/`` (see ``_media.py``;
generation is not measured). The page cache is warmed before measuring.

Measured, for the same files:

- keyframe decode: every file opened with PyAV, video stream only, ``skip_frame =
  "NONKEY"``, ``thread_type = "AUTO"``, every keyframe decoded to a frame, nothing
  converted. Indexing has to decode at least this, so it is the practical limit.
- scan: ``reelvault scan DIR --json --library <fresh temp file>`` as a subprocess, wall
  clock from start to exit, with its ``seconds`` and ``stages``. Peak memory of the scan
  process tree (the CLI process, the forkserver and the decode workers) is sampled from
  /proc every 0.1 s (sum of RSS, sum of PSS, and each process's VmHWM) and taken from
  ``wait4`` rusage (this process becomes a child subreaper so orphaned workers are reaped
  here too), which also gives the CPU time of the whole tree.

The models come from the data folder of the current configuration: set
``REELVAULT_DATA`` yourself if they live elsewhere; the benchmark never sets it.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import _media
import av
from _media import ClipSpec
from _processes import become_subreaper

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEFAULT_CACHE = BENCH / ".cache"
MB = 1024 * 1024

FHD, HD = (1920, 1080), (1280, 720)


def _spec(name: str, size: tuple[int, int], seconds: float, gop_s: int, bframes: int,
          seed: int) -> ClipSpec:
    keyint = gop_s * _media.FPS
    # Usual 2 s GOP: x264 may add keyframes at cuts. Long 8 s GOP: fixed, like a camera.
    return ClipSpec(name, size[0], size[1], seconds, keyint, bframes, scenecut=gop_s <= 2,
                    seed=seed)


# 1260 s = 21 min: 660 s of 1080p, 600 s of 720p; 570 s with an 8 s GOP.
DEFAULT_LIBRARY = (
    _spec("fhd_gop2_bf3_a", FHD, 180, 2, 3, 11),
    _spec("fhd_gop2_bf3_b", FHD, 120, 2, 3, 12),
    _spec("fhd_gop8_bf3", FHD, 180, 8, 3, 13),
    _spec("fhd_gop8_bf0", FHD, 120, 8, 0, 14),
    _spec("hd_gop2_bf3_a", HD, 180, 2, 3, 21),
    _spec("hd_gop2_bf3_b", HD, 120, 2, 3, 22),
    _spec("hd_gop8_bf3", HD, 150, 8, 3, 23),
    _spec("hd_gop8_bf0", HD, 90, 8, 0, 24),
    _spec("fhd_short_gop2_a", FHD, 30, 2, 3, 31),
    _spec("fhd_short_gop2_b", FHD, 30, 2, 3, 32),
    _spec("hd_short_gop2", HD, 30, 2, 3, 33),
    _spec("hd_short_gop8", HD, 30, 8, 0, 34),
)
TEN_MINUTE = (_spec("ten_minute_1080p_gop2_bf3", FHD, 600, 2, 3, 101),)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---- media ---------------------------------------------------------------------------
def ensure_media(specs: tuple[ClipSpec, ...], folder: Path, jobs: int) -> None:
    """Generate the clips that are missing or stale in ``folder`` (cached across runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    todo = [s for s in specs if manifest.get(s.filename) != s.as_dict()
            or not (folder / s.filename).is_file()]
    for stale in set(manifest) - {s.filename for s in specs}:
        (folder / stale).unlink(missing_ok=True)
        manifest.pop(stale)
    if not todo:
        return
    total = sum(s.seconds for s in todo)
    log(f"generating {len(todo)} clips ({total / 60:.1f} min of video) into {folder} "
        f"with {jobs} processes; this is done once and not measured")
    todo.sort(key=lambda s: -s.seconds * s.width * s.height)
    started = time.monotonic()
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = {pool.submit(_media.make_clip, s, folder): s for s in todo}
        for fut in concurrent.futures.as_completed(futures):
            s = futures[fut]
            path = fut.result()
            manifest[s.filename] = s.as_dict()
            manifest_path.write_text(json.dumps(manifest, indent=1))
            median, worst, n = _media.keyframe_intervals(path)
            log(f"  {s.filename}: {s.width}x{s.height} {s.seconds:.0f} s, "
                f"{path.stat().st_size * 8 / s.seconds / 1e6:.1f} Mbit/s, {n} keyframes "
                f"(gap median {median:.1f} s, max {worst:.1f} s) "
                f"[{time.monotonic() - started:.0f} s elapsed]")


@dataclass
class MediaFile:
    path: Path
    size: int
    duration: float = 0.0
    width: int = 0
    height: int = 0
    codec: str = ""
    audio: str | None = None
    error: str | None = None


def list_media(folder: Path) -> list[MediaFile]:
    """The files `reelvault scan` considers, with their duration (PyAV metadata)."""
    from app.core.library.scanner import VIDEO_EXTENSIONS
    files = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            p = Path(root) / name
            if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file():
                files.append(MediaFile(p, p.stat().st_size))
    for f in files:
        try:
            with av.open(str(f.path), metadata_errors="ignore") as c:
                if not c.streams.video:
                    f.error = "no video stream"
                    continue
                v = c.streams.video[0]
                if v.duration and v.time_base:
                    f.duration = float(v.duration * v.time_base)
                elif c.duration:
                    f.duration = c.duration / av.time_base
                f.width, f.height = v.codec_context.width, v.codec_context.height
                f.codec = v.codec_context.name
                f.audio = c.streams.audio[0].codec_context.name if c.streams.audio else None
        except Exception as e:  # damaged files are part of a real folder
            f.error = f"{type(e).__name__}: {e}"
    return files


def warm_cache(files: list[MediaFile]) -> None:
    for f in files:
        with open(f.path, "rb") as fh:
            while fh.read(8 * MB):
                pass


# ---- machine load ----------------------------------------------------------------------
def _cpu_jiffies() -> tuple[int, int]:
    with open("/proc/stat") as fh:
        parts = [int(x) for x in fh.readline().split()[1:]]
    idle = parts[3] + parts[4]  # idle + iowait
    busy = sum(parts[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy, idle


def busy_cores(seconds: float = 2.0) -> float:
    b0, _ = _cpu_jiffies()
    time.sleep(seconds)
    b1, _ = _cpu_jiffies()
    return (b1 - b0) / os.sysconf("SC_CLK_TCK") / seconds


def wait_until_quiet(max_wait: float, threshold: float = 0.3) -> dict:
    """Wait (up to ``max_wait`` s) until other processes use less than ``threshold`` cores."""
    started = time.monotonic()
    while True:
        busy = busy_cores()
        waited = time.monotonic() - started
        if busy < threshold or waited >= max_wait:
            if busy >= threshold:
                log(f"  machine still busy ({busy:.2f} cores in use by others) after "
                    f"{waited:.0f} s: measuring anyway")
            return {"busy_cores_before": round(busy, 2), "waited_s": round(waited, 1),
                    "loadavg": os.getloadavg()}
        log(f"  machine busy ({busy:.2f} cores in use, load {os.getloadavg()[0]:.2f}): waiting")
        time.sleep(5.0)


# ---- (a) keyframe decode ----------------------------------------------------------------
def keyframe_decode(files: list[MediaFile]) -> dict:
    per_file = []
    keyframes = 0
    cpu0, b0 = time.process_time(), _cpu_jiffies()[0]
    started = time.perf_counter()
    for f in files:
        if f.error:
            continue
        t0 = time.perf_counter()
        n = 0
        error = None
        try:
            with av.open(str(f.path), metadata_errors="ignore") as c:
                stream = c.streams.video[0]
                stream.thread_type = "AUTO"
                stream.codec_context.skip_frame = "NONKEY"
                for _frame in c.decode(stream):
                    n += 1
        except Exception as e:
            error = f"{type(e).__name__}: {e}"
        keyframes += n
        per_file.append({"file": f.path.name, "keyframes": n,
                         "seconds": round(time.perf_counter() - t0, 3), "error": error})
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    machine = (_cpu_jiffies()[0] - b0) / os.sysconf("SC_CLK_TCK")
    return {"seconds": round(wall, 3), "keyframes": keyframes, "cpu_s": round(cpu, 2),
            "other_cpu_s": round(max(0.0, machine - cpu), 2), "files": per_file}


# ---- (b, c) the scan -----------------------------------------------------------------------
def reelvault_exe() -> str:
    for candidate in (Path(sys.executable).parent / "reelvault", REPO / ".venv" / "bin" / "reelvault"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("reelvault")
    if not found:
        sys.exit("reelvault not found: run `make setup` first")
    return found


def _read_kb(path: str, keys: tuple[str, ...]) -> dict[str, int]:
    out = {}
    with open(path) as fh:
        for line in fh:
            k, _, rest = line.partition(":")
            if k in keys:
                out[k] = int(rest.split()[0])
    return out


def _ppid_map() -> dict[int, int]:
    m = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                text = fh.read()
        except OSError:
            continue
        m[int(d)] = int(text[text.rindex(")") + 2:].split()[1])
    return m


@dataclass
class TreeSampler:
    """Samples the memory of every descendant of this process."""

    interval: float = 0.1
    peak_rss_kb: int = 0
    peak_pss_kb: int = 0
    hwm_kb: dict[int, int] = field(default_factory=dict)
    roles: dict[int, str] = field(default_factory=dict)
    max_procs: int = 0
    samples: int = 0

    def __post_init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.main_pid = 0

    def start(self, main_pid: int, exclude: set[int]) -> None:
        self.main_pid = main_pid
        self.exclude = exclude  # our children from before the scan (e.g. a resource tracker)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _role(self, pid: int, parents: dict[int, int]) -> str:
        if pid == self.main_pid:
            return "main"
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            cmd = ""
        if "resource_tracker" in cmd:
            return "resource_tracker"
        if self.roles.get(parents.get(pid, 0)) == "forkserver":
            return "worker"
        if "forkserver" in cmd:
            return "forkserver"
        return "other"

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            parents = _ppid_map()
            children: dict[int, list[int]] = {}
            for pid, ppid in parents.items():
                children.setdefault(ppid, []).append(pid)
            tree, todo = [], [p for p in children.get(me, []) if p not in self.exclude]
            while todo:
                pid = todo.pop()
                tree.append(pid)
                todo += children.get(pid, [])
            rss = pss = 0
            for pid in sorted(tree):
                try:
                    st = _read_kb(f"/proc/{pid}/status", ("VmRSS", "VmHWM"))
                    roll = _read_kb(f"/proc/{pid}/smaps_rollup", ("Pss",))
                except (OSError, ValueError, IndexError):
                    continue
                if pid not in self.roles:
                    self.roles[pid] = self._role(pid, parents)
                rss += st.get("VmRSS", 0)
                pss += roll.get("Pss", 0)
                self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), st.get("VmHWM", 0))
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self.max_procs = max(self.max_procs, len(tree))
            self.samples += 1
            self._stop.wait(self.interval)

    def by_role(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for pid, kb in self.hwm_kb.items():
            role = self.roles.get(pid, "other")
            out[role] = max(out.get(role, 0.0), round(kb / 1024, 1))
        return out


def run_scan(folder: Path, workers: int | None, threads: int | None, keep: Path | None) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="rv-bench-"))
    library = tmp / "library.sqlite"
    cmd = [reelvault_exe(), "scan", str(folder), "--json", "--library", str(library)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    out_path, err_path = tmp / "stdout.json", tmp / "stderr.txt"
    sampler = TreeSampler()
    me = os.getpid()
    before = {pid for pid, ppid in _ppid_map().items() if ppid == me}
    b0 = _cpu_jiffies()[0]
    try:
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
            sampler.start(proc.pid, before)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
        cpu = usage.ru_utime + usage.ru_stime
        maxrss_kb = usage.ru_maxrss
        # Descendants the CLI did not wait for were reparented to us: reap them.
        deadline = time.monotonic() + 10.0
        pending = {p for p in sampler.hwm_kb if p != proc.pid}
        while pending and time.monotonic() < deadline:
            for pid in list(pending):
                try:
                    got, _, u = os.wait4(pid, os.WNOHANG)
                except ChildProcessError:  # not ours (reaped by its own parent) or gone
                    pending.discard(pid)
                    continue
                if got:
                    cpu += u.ru_utime + u.ru_stime
                    maxrss_kb = max(maxrss_kb, u.ru_maxrss)
                    pending.discard(pid)
            time.sleep(0.05)
        sampler.stop()
        machine = (_cpu_jiffies()[0] - b0) / os.sysconf("SC_CLK_TCK")
        stdout, stderr = out_path.read_text(), err_path.read_text()
        if proc.returncode != 0:
            raise RuntimeError(f"`{' '.join(cmd)}` exited with {proc.returncode}:\n{stderr.strip()}")
        report = json.loads(stdout)
        with sqlite3.connect(f"file:{library}?mode=ro", uri=True) as db:
            n_indexed, indexed_s = db.execute(
                "SELECT count(*), coalesce(sum(duration), 0) FROM files WHERE status = 'indexed'"
            ).fetchone()
        if keep:
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(library, keep)
    finally:
        sampler.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "command": " ".join(cmd),
        "wall_s": round(wall, 3),
        "report_seconds": report["seconds"],
        "startup_exit_s": round(wall - report["seconds"], 3),
        "stages": report.get("stages", {}),
        "indexed": len(report["indexed"]), "indexed_in_db": n_indexed,
        "indexed_video_s": round(indexed_s, 2),
        "failed": report["failed"], "skipped": report["skipped"], "deferred": report["deferred"],
        "cpu_s": round(cpu, 2),
        "other_cpu_s": round(max(0.0, machine - cpu), 2),
        "memory_mb": {
            "peak_tree_rss": round(sampler.peak_rss_kb / 1024, 1),
            "peak_tree_pss": round(sampler.peak_pss_kb / 1024, 1),
            "largest_process_rusage": round(maxrss_kb / 1024, 1),
            "peak_by_role_vmhwm": sampler.by_role(),
            "processes_seen": len(sampler.hwm_kb),
            "max_concurrent_processes": sampler.max_procs,
            "samples": sampler.samples,
        },
    }


def check_models() -> dict:
    proc = subprocess.run([reelvault_exe(), "models", "verify", "--json"],
                          capture_output=True, text=True)
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        data = {"ok": False, "error": (proc.stderr or proc.stdout).strip()}
    if not data.get("ok"):
        sys.exit(f"the models are not usable ({data}); run `reelvault models install`, or set "
                 "REELVAULT_DATA to the data folder that holds them")
    return data


def code_version() -> dict:
    """The commit measured, and whether app/ or models/ had uncommitted changes."""
    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(REPO), *a], capture_output=True,
                                  text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    dirty = git("status", "--porcelain", "--", "app", "models")
    return {"commit": git("rev-parse", "--short", "HEAD") or None,
            "uncommitted_app_files": len(dirty.splitlines()) if dirty else 0}


def machine_info() -> dict:
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
            "cpu": model, "python": platform.python_version(), "pyav": av.__version__,
            "ffmpeg": ".".join(map(str, av.library_versions.get("libavcodec", ()))),
            "ram_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)}


# ---- output --------------------------------------------------------------------------------
def summarize(label: str, folder: Path, files: list[MediaFile], kf_runs: list[dict],
              scan_runs: list[dict], args, models: dict, env: dict) -> dict:
    usable = [f for f in files if not f.error]
    video_s = sum(f.duration for f in usable)
    kf = min(kf_runs, key=lambda r: r["seconds"])
    scan = min(scan_runs, key=lambda r: r["wall_s"])
    return {
        "label": label,
        "folder": str(folder),
        "machine": machine_info(),
        "code": code_version(),
        "environment": env,
        "models_dir": models.get("models_dir"),
        "flags": {"workers": args.workers, "threads": args.threads, "repeat": args.repeat},
        "media": {
            "files": len(files), "usable_files": len(usable),
            "bytes": sum(f.size for f in files),
            "video_s": round(video_s, 2),
            "unreadable": [{"file": f.path.name, "error": f.error} for f in files if f.error],
            "per_file": [{"file": f.path.name, "duration": round(f.duration, 2),
                          "size": f"{f.width}x{f.height}", "codec": f.codec, "audio": f.audio,
                          "mbit_s": round(f.size * 8 / f.duration / 1e6, 2) if f.duration else None}
                         for f in usable],
        },
        "keyframe_decode": {**kf, "video_s_per_s": round(video_s / kf["seconds"], 2)
                            if kf["seconds"] else None,
                            "runs_s": [r["seconds"] for r in kf_runs],
                            "runs": [{k: r[k] for k in ("seconds", "cpu_s", "other_cpu_s",
                                                        "busy_cores_before", "loadavg")}
                                     for r in kf_runs]},
        "scan": {**scan, "video_s_per_s": round(video_s / scan["wall_s"], 2),
                 "indexed_video_s_per_s": round(scan["indexed_video_s"] / scan["wall_s"], 2),
                 "runs_s": [r["wall_s"] for r in scan_runs],
                 "runs": [{**{k: r[k] for k in ("wall_s", "report_seconds", "stages", "cpu_s",
                                                 "other_cpu_s", "busy_cores_before", "loadavg")},
                           "peak_tree_rss_mb": r["memory_mb"]["peak_tree_rss"],
                           "peak_tree_pss_mb": r["memory_mb"]["peak_tree_pss"]}
                          for r in scan_runs]},
        "ratio_scan_over_keyframe_decode": round(scan["wall_s"] / kf["seconds"], 2)
        if kf["seconds"] else None,
    }


def print_table(s: dict) -> None:
    m, media, kf, scan = s["machine"], s["media"], s["keyframe_decode"], s["scan"]
    p = print
    p(f"Reelvault index speed: {s['label']}  ({s['folder']})")
    p(f"machine   {m['cores']} cores ({m['usable_cores']} usable), {m['cpu']}, {m['ram_gb']} GB RAM, "
      f"Python {m['python']}, PyAV {m['pyav']} (libavcodec {m['ffmpeg']})")
    code = s["code"]
    p(f"code      commit {code['commit']}"
      + (f" + {code['uncommitted_app_files']} uncommitted files in app/ models/"
         if code["uncommitted_app_files"] else ""))
    p(f"models    {s['models_dir']}  (REELVAULT_DATA={s['environment'].get('REELVAULT_DATA') or 'unset'})")
    p(f"flags     workers={s['flags']['workers'] or 'default'} threads={s['flags']['threads'] or 'default'}"
      f" repeat={s['flags']['repeat']} (best run reported)")
    p(f"media     {media['usable_files']} files ({media['files']} considered), "
      f"{media['video_s']:.1f} s = {media['video_s'] / 60:.1f} min of video, "
      f"{media['bytes'] / MB:.0f} MiB")
    for u in media["unreadable"]:
        p(f"          unreadable: {u['file']}: {u['error']}")
    p("")
    p(f"{'':30s}{'wall s':>9s}{'video s/s':>11s}   runs (s)")
    p(f"{'(a) keyframe decode (PyAV)':30s}{kf['seconds']:9.2f}{kf['video_s_per_s']:11.1f}   "
      f"{', '.join(f'{x:.2f}' for x in kf['runs_s'])}   ({kf['keyframes']} keyframes)")
    p(f"{'(b) reelvault scan':30s}{scan['wall_s']:9.2f}{scan['video_s_per_s']:11.1f}   "
      f"{', '.join(f'{x:.2f}' for x in scan['runs_s'])}")
    p(f"ratio scan / keyframe decode: {s['ratio_scan_over_keyframe_decode']:.2f}x")
    if scan["indexed_video_s"] < media["video_s"] - 0.5:
        p(f"(video s/s counts every readable file; counting only the indexed ones: "
          f"{scan['indexed_video_s_per_s']:.1f})")
    p("")
    p(f"scan: {scan['indexed']} indexed ({scan['indexed_video_s']:.1f} s of video in the library), "
      f"{len(scan['failed'])} failed, {len(scan['skipped'])} skipped, {len(scan['deferred'])} deferred")
    for f in scan["failed"]:
        p(f"  failed  {Path(f['path']).name}: {f['error'].splitlines()[0]}")
    for f in scan["skipped"]:
        p(f"  skipped {Path(f['path']).name}: {f['reason']}")
    secs = scan["report_seconds"]
    p(f"scan seconds (inside the CLI) {secs:.2f}; process start-up + exit {scan['startup_exit_s']:.2f}")
    p("stages (sums over files; decode/prepare/analysis run in the worker processes, "
      "visual_s/audio_s/db_s in the CLI process; *_cpu_s: CPU seconds, the rest wall):")
    for k, v in scan["stages"].items():
        p(f"  {k:10s}{v:9.2f} s  {100 * v / secs if secs else 0:5.1f}% of scan seconds")
    parent = sum(scan["stages"].get(k, 0.0) for k in ("visual_s", "audio_s", "db_s"))
    p(f"  {'(CLI busy)':10s}{parent:9.2f} s  {100 * parent / secs if secs else 0:5.1f}%"
      f"   rest: model load, walking, waiting for decodes")
    mem = scan["memory_mb"]
    roles = ", ".join(f"{k} {v:.0f}" for k, v in sorted(mem["peak_by_role_vmhwm"].items()))
    p(f"memory: peak tree RSS {mem['peak_tree_rss']:.0f} MiB, peak tree PSS {mem['peak_tree_pss']:.0f} MiB, "
      f"largest process {mem['largest_process_rusage']:.0f} MiB (rusage ru_maxrss)")
    p(f"        per-process peak (VmHWM, MiB): {roles}; {mem['processes_seen']} processes seen")
    p(f"cpu: scan tree {scan['cpu_s']:.1f} core-s = {scan['cpu_s'] / scan['wall_s']:.2f} cores on average; "
      f"other processes during the scan {scan['other_cpu_s']:.1f} core-s, "
      f"during keyframe decode {kf['other_cpu_s']:.1f} core-s")
    p("")
    p(f"{'file':30s}{'size':>10s}{'dur s':>8s}{'Mbit/s':>8s}{'keyfr':>7s}{'kf dec s':>9s}")
    kfiles = {r["file"]: r for r in kf["files"]}
    for f in media["per_file"]:
        r = kfiles.get(f["file"], {})
        p(f"{f['file'][:29]:30s}{f['size']:>10s}{f['duration']:8.1f}{f['mbit_s'] or 0:8.1f}"
          f"{r.get('keyframes', 0):7d}{r.get('seconds', 0):9.2f}")


# ---- main ----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    what = ap.add_mutually_exclusive_group()
    what.add_argument("--folder", type=Path, help="measure this existing folder instead")
    what.add_argument("--ten-minute", action="store_true",
                      help="measure one generated 10-minute 1080p H.264 + AAC file")
    ap.add_argument("--workers", type=int, help="passed to `reelvault scan --workers`")
    ap.add_argument("--threads", type=int, help="passed to `reelvault scan --threads`")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each measurement; best is kept")
    ap.add_argument("--quiet-wait", type=float, default=120.0,
                    help="seconds to wait for other processes to quieten before each run")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="generated media folder")
    ap.add_argument("--gen-jobs", type=int, default=os.cpu_count() or 1,
                    help="processes used to generate the media")
    ap.add_argument("--keep-library", type=Path, help="copy the scanned library here")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)

    if args.folder:
        folder, label = args.folder.resolve(), "folder"
        if not folder.is_dir():
            sys.exit(f"{folder} is not a folder")
    elif args.ten_minute:
        folder, label = args.cache / f"ten-minute-v{_media.GENERATOR_VERSION}", "ten-minute"
        ensure_media(TEN_MINUTE, folder, 1)
    else:
        folder, label = args.cache / f"library-v{_media.GENERATOR_VERSION}", "default library"
        ensure_media(DEFAULT_LIBRARY, folder, max(1, args.gen_jobs))
    folder = folder.resolve()

    env = {k: os.environ[k] for k in ("REELVAULT_DATA", "REELVAULT_WORKERS", "OMP_NUM_THREADS")
           if k in os.environ}
    models = check_models()
    files = list_media(folder)
    if not any(not f.error for f in files):
        sys.exit(f"no readable video in {folder}")
    log(f"{len(files)} files in {folder}; warming the page cache")
    warm_cache(files)
    reaper = become_subreaper()
    if not reaper:
        log("could not become a child subreaper: CPU and rusage may miss orphaned workers")

    kf_runs, scan_runs = [], []
    for i in range(max(1, args.repeat)):
        log(f"run {i + 1}/{args.repeat}: keyframe decode")
        quiet = wait_until_quiet(args.quiet_wait)
        kf_runs.append({**keyframe_decode(files), **quiet})
        log(f"  {kf_runs[-1]['seconds']:.2f} s; reelvault scan")
        quiet = wait_until_quiet(args.quiet_wait)
        try:
            scan = run_scan(folder, args.workers, args.threads, args.keep_library)
        except RuntimeError as e:
            sys.exit(str(e))
        scan_runs.append({**scan, **quiet})
        log(f"  {scan_runs[-1]['wall_s']:.2f} s")

    summary = summarize(label, folder, files, kf_runs, scan_runs, args, models, env)
    summary["subreaper"] = reaper
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print_table(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
