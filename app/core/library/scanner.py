"""Incremental scanning of library folders.

A scan walks the folders, decides per file what is needed (nothing, a rename, a byte
copy, or a decode), decodes in worker processes while the parent runs the networks on
the previous file, and writes each file in its own transaction, so an interrupted scan
loses nothing it finished. Files never get deleted from the index here: a vanished
file is *missing*, a file under an absent or empty root is *offline*.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from stat import S_ISREG

from app.core.indexing.indexer import (
    INDEX_VERSION,
    ClipBuilder,
    ClipSummary,
    Indexer,
    PreparedClip,
    analysis_hook,
    default_indexer,
)
from app.core.library.identity import (
    content_hash,
    fingerprint,
    home_trash,
    is_trash_folder,
)
from app.core.library.places import locate_unread, prepare_located, resolve_places
from app.core.library.trash import reconcile
from app.core.library.workers import JobResult, WorkerPool, default_memory_limit
from app.records import FileStat, Presence, Status
from app.settings import Settings, is_excluded
from app.store.health import is_library_failure
from app.store.library import Library

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mov", ".qt", ".mkv", ".webm", ".avi", ".wmv", ".asf", ".flv",
    ".mpg", ".mpeg", ".m2v", ".ts", ".mts", ".m2ts", ".vob", ".3gp", ".3g2", ".ogv",
    ".mxf", ".dv", ".f4v", ".rm", ".rmvb", ".divx",
    # MP4-family audio extension: opened to tell a soundtrack-only file from a video.
    ".m4a",
})
# Folders of the system, not of anyone's videos: walking them reads the whole disk, or
# endless virtual files (/proc, /sys, /dev). A scan folder that is, or leads through a
# link to, one of them (or a disk's top folder) is refused.
SYSTEM_FOLDERS = ("/proc", "/sys", "/dev", "/run", "/boot", "/etc", "/usr", "/bin", "/sbin",
                  "/lib", "/lib32", "/lib64", "/libx32", "/var/lib", "/var/cache", "/snap")
WALK_PROGRESS_S = 0.25  # how often the walk says how many videos it found so far


# Inside them, but folders of files after all: RAM disks a person may keep clips on.
USER_FOLDERS_INSIDE = ("/dev/shm", "/run/media", "/run/user")


def system_folder(path: str | Path) -> str | None:
    """The real path of ``path`` if it is a system folder or a disk's top folder."""
    real = os.path.realpath(path)
    if any(real == u or _is_under(real, u) for u in USER_FOLDERS_INSIDE):
        return None
    if os.path.dirname(real) == real:  # "/" (or a drive's top on Windows)
        return real
    if os.name == "posix" and any(real == s or _is_under(real, s) for s in SYSTEM_FOLDERS):
        return real
    return None


def _is_under(path: str, folder: str) -> bool:
    folder = folder.rstrip(os.sep) + os.sep
    return path.startswith(folder)


def _is_gone(path: str) -> bool:
    """True only when the system says there is no such file (not on a permission error)."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def _folder_reason(err: OSError) -> str:
    if err.errno == errno.ENAMETOOLONG:
        return "folder not readable (its path is longer than the system allows)"
    return f"folder not readable ({(err.strerror or str(err)).lower()})"


def _file_reason(err: OSError) -> str:
    if err.errno == errno.ELOOP:
        return "cannot read (a symbolic link loop)"
    if err.errno == errno.ENAMETOOLONG:
        return "cannot read (its path is longer than the system allows)"
    if err.errno == errno.ENOENT:
        return "cannot read (a link to a file that does not exist)"
    return f"cannot read ({(err.strerror or str(err)).lower()})"


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# Decoding is most of a scan's work (measured on H.264 1080p/720p on 2 cores: 85% of its
# CPU time, the two networks the rest), so it gets a process per core: two processes
# with one decoder thread each indexed 21 minutes of video in 23 s where one process
# with a threaded decoder took 29 s. Each process holds up to ~300 MB while decoding.
MAX_WORKERS = 4


def default_workers(cores: int) -> int:
    return max(1, min(cores, MAX_WORKERS))


def decode_threads(workers: int, cores: int) -> int:
    """Decoder threads per process: the cores the processes leave over, at least one."""
    return max(1, cores // max(1, workers))


def model_threads(cores: int) -> int:
    """Inference threads during a scan: two, beside the decoders. While they decode,
    the threads share the cores with them (idle ones sleep, see app.inference.session);
    when a long file's decode is done, the networks get both cores. Measured on 2 cores:
    one 10-minute file in 8.0 s instead of 11.4 s with one thread, and 21 minutes of
    shorter files no slower. More threads gain little at these small batches."""
    return min(cores, 2)


@dataclass
class ScanProgress:
    done: int
    total: int
    path: str | None
    phase: str  # "walking" | "indexing" | "locating" | "done"
    elapsed: float
    eta: float | None


@dataclass
class ScanReport:
    indexed: list[str] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    changes: dict = field(default_factory=lambda: dict.fromkeys(
        ("new", "updated", "unchanged", "moved", "copies", "missing", "offline",
         "located"), 0))
    seconds: float = 0.0
    cancelled: bool = False
    stages: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"indexed": sorted(self.indexed), "skipped": self.skipped, "failed": self.failed,
                "deferred": self.deferred, "changes": self.changes,
                "seconds": round(self.seconds, 3), "cancelled": self.cancelled,
                "stages": {k: round(v, 3) for k, v in self.stages.items()}}


@dataclass
class _Job:
    path: str
    stat: FileStat
    root_id: int | None
    existing: bool


class Scanner:
    def __init__(self, library: Library, indexer: Indexer | None = None,
                 indexer_factory: Callable[[], Indexer] | None = None,
                 workers: int | None = None,
                 prepare: Callable[[str], PreparedClip] | None = None,
                 timeout: Callable[[int], float] | None = None,
                 exclude: Iterable[str] = ()):
        """``workers`` decode processes and the models' threads (``indexer_factory``)
        default to what suits this machine's cores (see ``default_workers``)."""
        self.library = library
        # Glob patterns (app.settings.is_excluded) for folders and files never indexed.
        self.exclude = [p for p in exclude if p]
        self._indexer = indexer
        self.cores = usable_cores()
        self._indexer_factory = indexer_factory or partial(default_indexer,
                                                           threads=model_threads(self.cores))
        self.workers = max(1, workers or default_workers(self.cores))
        self.memory_limit = default_memory_limit(self.workers)  # per decode worker, bytes
        # None: prepare_windows (and the file's location: prepare_located) with the decoder
        # threads that fit. A function may return a PreparedClip, or be a generator of
        # ClipWindows that returns a ClipSummary.
        self.prepare = prepare
        # The detectors' hook in the workers (None: indexer.analysis_hook()).
        self.analyse: str | None = None
        # Generous per-file deadline: a hung decoder is the only thing it should catch.
        self.timeout = timeout or (lambda size: 120.0 + size / 2**20)
        self._pause = threading.Event()
        self._identities: dict[tuple[int, int], str] = {}
        self._walk = {"notify": lambda p: None, "started": 0.0, "found": 0, "last": 0.0}

    @classmethod
    def from_settings(cls, library: Library, settings: Settings, workers: int | None = None,
                      threads: int | None = None, **kwargs) -> Scanner:
        """The scanner the CLI and the app both use: decode processes and model threads
        from ``settings`` (0 = what suits this machine), unless given here (command-line
        flags); excluded patterns from ``settings``."""
        workers = workers or settings.workers or None
        threads = threads or settings.threads or None
        if threads and "indexer_factory" not in kwargs and "indexer" not in kwargs:
            kwargs["indexer_factory"] = partial(default_indexer, threads=threads)
        scanner = cls(library, workers=workers, exclude=settings.exclude, **kwargs)
        if not settings.faces and analysis_hook() is not None:
            scanner.analyse = "app.core.indexing.analysis:analyse_without_faces"
        return scanner

    @property
    def indexer(self) -> Indexer:
        if self._indexer is None:
            self._indexer = self._indexer_factory()
        return self._indexer

    def scan(self, paths: Iterable[str | Path],
             progress: Callable[[ScanProgress], None] | None = None,
             cancel: threading.Event | None = None,
             pause: threading.Event | None = None) -> ScanReport:
        """``pause``: while it is set, the scan waits between files (decodes under way
        finish; nothing new starts), until it is cleared or ``cancel`` is set."""
        started = time.monotonic()
        report = ScanReport()
        cancel = cancel or threading.Event()
        self._pause = pause or threading.Event()
        notify = progress or (lambda p: None)
        # Which files this scan has seen, by device and inode: a second name for one
        # (a folder reached through a link or a bind mount, a hard link) is not indexed.
        self._identities: dict[tuple[int, int], str] = {}
        self._walk = {"notify": notify, "started": started, "found": 0, "last": started}
        # A trash move a crash interrupted is settled first, so its file is not "missing".
        reconcile(self.library)
        jobs: list[_Job] = []
        self._unlocated: list[int] = []  # unchanged files indexed before places existed
        for path in paths:
            jobs += self._walk_root(Path(path).absolute(), report)
            self._walk["found"] = len(jobs)
        notify(ScanProgress(0, len(jobs), None, "walking", time.monotonic() - started, None))
        firsts, copies = _split_byte_copies(jobs)
        self._run_jobs(firsts, report, notify, cancel, started)
        # A byte copy of a file decoded just now reuses its rows instead of decoding again;
        # one that turns out different after all (or whose twin failed) is decoded.
        rest = []
        for j in copies:
            if cancel.is_set():
                break
            self._wait_while_paused(cancel)
            if not self._per_file(report, j.path, self._reuse_index, j.stat, j.root_id, report):
                rest.append(j)
        self._run_jobs(rest, report, notify, cancel, started)
        self._locate(report, notify, cancel, started)
        report.seconds = time.monotonic() - started
        notify(ScanProgress(len(jobs), len(jobs), None, "done", report.seconds, 0.0))
        return report

    def _wait_while_paused(self, cancel: threading.Event) -> float:
        """Seconds spent paused (0 when not paused)."""
        t0 = time.monotonic()
        while self._pause.is_set() and not cancel.is_set():
            cancel.wait(0.1)
        return time.monotonic() - t0

    def _per_file(self, report: ScanReport, path: str, func, *args, stat=None, root_id=None):
        """``func(*args)``; an error in it is this file's (reported, and recorded when
        ``stat`` is given), never the scan's, unless it is the library failing."""
        try:
            return func(*args)
        except Exception as e:
            if is_library_failure(e):
                raise
            reason = f"could not be indexed ({type(e).__name__}: {e})"
            report.failed.append({"path": path, "error": reason})
            if stat is not None:
                try:
                    self.library.record_problem(stat, root_id, Status.FAILED, reason)
                except Exception as again:
                    if is_library_failure(again):
                        raise
            return None

    # ---- walking -----------------------------------------------------------------
    def _walk_root(self, root: Path, report: ScanReport) -> list[_Job]:
        refused = system_folder(root)
        if refused is not None:
            report.skipped.append({"path": str(root), "reason": f"a system folder ({refused}):"
                                   " not scanned; choose the folders where your videos are"})
            return []
        if root.is_file():
            return self._per_file(report, str(root), self._consider, root,
                                  self.library.add_root(str(root.parent)), report, set()) or []
        root_id = self.library.add_root(str(root))
        known = {f["path"]: f for f in self.library.files_under(root_id)}
        # Files in the trash are accounted for by their trash record, not by this walk.
        known = {p: f for p, f in known.items() if f["presence"] != Presence.TRASHED}
        seen: set[str] = set()
        jobs: list[_Job] = []
        try:
            empty = not root.is_dir() or not any(root.iterdir())
        except OSError as e:
            report.skipped.append({"path": str(root), "reason": _folder_reason(e)})
            empty = True
        if empty:
            # An unplugged drive or unmounted share looks like an absent or empty folder:
            # its files are offline, never deleted, and come back when it returns.
            report.changes["offline"] += self.library.mark(
                [f["id"] for f in known.values() if f["presence"] != Presence.OFFLINE], Presence.OFFLINE)
            return jobs

        unreadable = self._walk_tree(root, root_id, report, seen, jobs)
        # A file counts as missing only when the system says it is not there; one behind
        # an unreadable folder is unknown, not gone.
        gone = [f["id"] for p, f in known.items() if p not in seen and f["presence"] != Presence.MISSING
                and not any(_is_under(p, u) for u in unreadable) and _is_gone(p)]
        # Re-read: a file moved to the trash during the walk is trashed, not missing.
        gone = [i for i in gone if (self.library.file_by_id(i) or {}).get("presence")
                not in (None, Presence.TRASHED)]
        report.changes["missing"] += self.library.mark(gone, Presence.MISSING)
        return jobs

    def _walk_tree(self, root: Path, root_id: int, report: ScanReport, seen: set[str],
                   jobs: list[_Job]) -> list[str]:
        """Walk one root, collecting jobs; returns the folders that could not be read."""
        unreadable: list[str] = []
        skip_exact = {home_trash()}
        # The home folder's hidden folders hold programs' caches and settings, not videos.
        home = os.path.realpath(os.path.expanduser("~"))
        walk = self._walk

        def on_error(err: OSError) -> None:
            folder = err.filename or str(root)
            unreadable.append(folder)
            report.skipped.append({"path": folder, "reason": _folder_reason(err)})

        for folder, dirs, names in os.walk(root, onerror=on_error, followlinks=False):
            kept = []
            at_home = os.path.realpath(folder) == home
            for d in sorted(dirs):
                sub = os.path.join(folder, d)
                if is_excluded(d, self.exclude) or is_trash_folder(d) or sub in skip_exact \
                        or (at_home and d.startswith(".")):
                    continue
                if os.path.islink(sub):
                    # Not followed: a link can loop back or lead into another root.
                    report.skipped.append({"path": sub, "reason": "a link to a folder (not "
                                           "followed: add its target to index it)"})
                    continue
                kept.append(d)
            dirs[:] = kept
            for name in sorted(names):
                path = Path(folder) / name
                if path.suffix.lower() in VIDEO_EXTENSIONS and not is_excluded(
                        path.relative_to(root), self.exclude):
                    jobs += self._per_file(report, str(path), self._consider, path, root_id,
                                           report, seen, root) or []
            now = time.monotonic()
            if now - walk["last"] >= WALK_PROGRESS_S:
                # A first scan of a large folder: say how far the walk got, every moment.
                walk["last"] = now
                walk["notify"](ScanProgress(0, walk["found"] + len(jobs), folder, "walking",
                                            now - walk["started"], None))
        return unreadable

    def _consider(self, path: Path, root_id: int, report: ScanReport, seen: set[str],
                  root: Path | None = None) -> list[_Job]:
        spath = str(path)
        seen.add(spath)
        try:
            st = path.stat()
        except OSError as e:
            report.skipped.append({"path": spath, "reason": _file_reason(e)})
            return []
        if not S_ISREG(st.st_mode):
            # A FIFO or device named like a video would block or stream forever when read.
            report.skipped.append({"path": spath, "reason": "not a regular file"})
            return []
        if root is not None and path.is_symlink():
            target = os.path.realpath(path)
            if _is_under(target, os.path.realpath(root)):
                # Indexed at its real place already: a second entry would pass for a
                # duplicate, and trashing "the copy" could take the real file.
                report.skipped.append({"path": spath, "reason": f"a link to {target}, "
                                       "which is indexed itself"})
                return []
        twin = self._twin(spath, st)
        if twin is not None:
            # One file under two names (a folder through a link or a bind mount, a hard
            # link): indexed once, so it is never offered as its own duplicate.
            reason = f"the same file as {twin} (another name for it), which is indexed"
            report.skipped.append({"path": spath, "reason": reason})
            row = self.library.file(spath)
            if row is not None and (row["status"], row["reason"]) != (Status.SKIPPED, reason):
                self.library.record_problem(
                    FileStat(spath, st.st_size, st.st_mtime, fingerprint(path, st.st_size),
                             st.st_dev, st.st_ino), root_id, Status.SKIPPED, reason)
            return []
        self._identities[(st.st_dev, st.st_ino)] = spath
        row = self.library.file(spath)
        stale = row is not None and row["status"] == Status.INDEXED and (
            row["index_version"] or 0) < INDEX_VERSION
        if row and row["size"] == st.st_size and row["mtime"] == st.st_mtime and not stale:
            if row["presence"] != Presence.PRESENT:
                self.library.mark([row["id"]], Presence.PRESENT)
            if (row["dev"], row["ino"]) != (st.st_dev, st.st_ino):
                self.library.set_identity(row["id"], st.st_dev, st.st_ino)
            report.changes["unchanged"] += 1
            if row["status"] == Status.INDEXED and row["location_read"] is None:
                self._unlocated.append(row["id"])
            self._report_existing(row, report)
            return []
        try:
            stat = FileStat(spath, st.st_size, st.st_mtime, fingerprint(path, st.st_size),
                            st.st_dev, st.st_ino)
        except OSError as e:
            report.failed.append({"path": spath, "error": _file_reason(e)})
            return []
        if row is None and self._reuse_index(stat, root_id, report):
            return []
        return [_Job(spath, stat, root_id, existing=row is not None)]

    def _twin(self, path: str, st: os.stat_result) -> str | None:
        """Another name, seen in this scan or indexed before, for the file ``st``."""
        key = (st.st_dev, st.st_ino)
        seen = self._identities.get(key)
        if seen is not None and seen != path:
            return seen
        for row in self.library.files_with_identity(*key):
            if row["path"] == path or row["status"] == Status.SKIPPED:
                continue
            try:
                other = os.stat(row["path"])
            except OSError:
                continue  # gone: its inode number may have been given to this new file
            if (other.st_dev, other.st_ino) == key:
                return row["path"]
        return None

    def _reuse_index(self, stat: FileStat, root_id: int, report: ScanReport) -> bool:
        """A new path whose content is already indexed: a moved file or a byte copy."""
        for other in self.library.indexed_with_fingerprint(stat.fingerprint, stat.size):
            if not Path(other["path"]).exists():
                self.library.move_file(other["id"], stat, root_id)
                report.changes["moved"] += 1
                report.indexed.append(stat.path)
                return True
            if content_hash(other["path"]) == content_hash(stat.path):
                self.library.copy_index(other["id"], stat, root_id)
                report.changes["copies"] += 1
                report.indexed.append(stat.path)
                return True
        return False

    @staticmethod
    def _report_existing(row: dict, report: ScanReport) -> None:
        if row["status"] == Status.INDEXED:
            report.indexed.append(row["path"])
        elif row["status"] == Status.FAILED:
            report.failed.append({"path": row["path"], "error": row["reason"]})
        elif row["status"] == Status.SKIPPED:
            report.skipped.append({"path": row["path"], "reason": row["reason"]})

    # ---- decoding and indexing ---------------------------------------------------
    def _run_jobs(self, jobs: list[_Job], report: ScanReport, notify, cancel, started) -> None:
        if not jobs:
            return
        if cancel.is_set():  # cancelled before indexing began: not even the models load
            report.cancelled = True
            return
        by_path = {j.path: j for j in jobs}
        indexer = self.indexer  # load models before the clock for ETA starts mattering
        results: queue.Queue = queue.Queue(maxsize=2)
        stages = {"decode_s": 0.0, "prepare_s": 0.0, "db_s": 0.0}

        # Fewer files than workers (one long file): fewer processes, more threads each.
        workers = min(self.workers, len(jobs))
        # A partial of a module function: it is pickled to the worker processes.
        hook = self.analyse or analysis_hook()
        prepare = self.prepare or partial(prepare_located,
                                          threads=decode_threads(workers, self.cores),
                                          **({"analyse": hook} if hook else {}))

        def produce() -> None:
            # Runs the pool in its own thread so a worker gets its next file while this
            # thread's consumer runs inference on the previous one.
            try:
                with WorkerPool(prepare, size=workers,
                                timeout=lambda p: self.timeout(by_path[p].stat.size),
                                memory_limit=self.memory_limit) as pool:
                    for res in pool.map_unordered([j.path for j in jobs], cancel.is_set):
                        results.put(res)
            except Exception:
                if not cancel.is_set():  # a pool torn down by a stop (Ctrl-C) is no news
                    raise
            finally:
                results.put(None)

        producer = threading.Thread(target=produce, name="decode-pool", daemon=True)
        producer.start()
        try:
            done = self._consume(results, by_path, jobs, indexer, report, stages, notify,
                                 cancel, started)
        except BaseException:
            # Ctrl-C or a failing library: stop the pool before the exception leaves,
            # so its thread ends quietly instead of during interpreter shutdown.
            cancel.set()
            producer.join(timeout=10)
            raise
        producer.join()
        report.cancelled = cancel.is_set() and done < len(jobs)
        report.stages = {**stages, **indexer.timings}

    def _consume(self, results, by_path, jobs, indexer, report, stages, notify, cancel,
                 started) -> int:
        """Index what the decode workers hand over, as it comes; returns the files done."""
        done = 0
        index_started = time.monotonic()
        # Files being decoded in windows: the networks' outputs so far, per file.
        building: dict[str, ClipBuilder] = {}
        while True:
            res: JobResult | None = results.get()
            if res is None:
                break
            job = by_path[res.job]
            if res.partial:  # one window of a file: its networks run while it decodes on
                builder = building.setdefault(job.path, indexer.builder())
                self._per_file(report, job.path, builder.add, res.value)
                continue
            self._per_file(report, job.path, self._finish, job, res,
                           building.pop(job.path, None) or indexer.builder(), report, stages,
                           stat=job.stat, root_id=job.root_id)
            done += 1
            # Paused: no new file starts (the pool waits for this loop); time paused is
            # not time the remaining files will take.
            index_started += self._wait_while_paused(cancel)
            elapsed = time.monotonic() - index_started
            notify(ScanProgress(done, len(jobs), job.path, "indexing",
                                time.monotonic() - started, elapsed / done * (len(jobs) - done)))
        return done

    def _finish(self, job: _Job, res: JobResult, builder: ClipBuilder, report: ScanReport,
                stages: dict) -> None:
        if self._changed_since_walk(job):
            # Still being written (a copy in progress, a recording): whatever the decoder
            # made of it, success or "truncated", describes a file that no longer exists.
            # Nothing is recorded, so the next scan indexes the finished file exactly once.
            report.deferred.append(job.path)
            return
        if res.error is not None:
            status = Status.SKIPPED if res.skipped else Status.FAILED
            self.library.record_problem(job.stat, job.root_id, status, res.error)
            if res.skipped:
                report.skipped.append({"path": job.path, "reason": res.error})
            else:
                report.failed.append({"path": job.path, "error": res.error})
            return
        done: PreparedClip | ClipSummary = res.value
        for stage in ("decode_s", "prepare_s", "analysis_s",
                      "decode_cpu_s", "prepare_cpu_s", "analysis_cpu_s"):
            if stage in done.stats:
                stages[stage] = stages.get(stage, 0.0) + done.stats[stage]
        if isinstance(done, PreparedClip):
            clip = builder.indexer.index(done)
        else:
            clip = builder.finish(done)
        t0 = time.perf_counter()
        self.library.save_index(job.stat, job.root_id, clip, INDEX_VERSION)
        stages["db_s"] += time.perf_counter() - t0
        report.changes["updated" if job.existing else "new"] += 1
        report.indexed.append(job.path)

    def _locate(self, report: ScanReport, notify, cancel: threading.Event,
                started: float) -> None:
        """Places: unchanged files indexed before locations were read get their metadata
        read (no decode), then every location not yet resolved gets its place."""
        t0 = time.perf_counter()
        if self._unlocated and not cancel.is_set():
            total = len(self._unlocated)

            def progress(done: int, _: int) -> None:
                notify(ScanProgress(done, total, None, "locating",
                                    time.monotonic() - started, None))

            stats = locate_unread(self.library, self._unlocated, workers=self.workers,
                                  cancel=cancel, progress=progress)
            report.changes["located"] += stats["located"]
            report.stages["locate_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        if resolve_places(self.library):  # stages stay empty when nothing was done
            report.stages["places_s"] = time.perf_counter() - t1

    @staticmethod
    def _changed_since_walk(job: _Job) -> bool:
        try:
            st = os.stat(job.path)
        except OSError:
            return True
        return (st.st_size, st.st_mtime) != (job.stat.size, job.stat.mtime)


def _split_byte_copies(jobs: list[_Job]) -> tuple[list[_Job], list[_Job]]:
    """New files with the same size and fingerprint: the first is decoded, the rest wait."""
    seen: set[tuple[int, str]] = set()
    firsts, copies = [], []
    for job in jobs:
        key = (job.stat.size, job.stat.fingerprint)
        if job.existing or key not in seen:
            firsts.append(job)
            seen.add(key)
        else:
            copies.append(job)
    return firsts, copies
