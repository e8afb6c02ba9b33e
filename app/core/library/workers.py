"""Decoding in worker processes that may crash or hang without taking the scan with them.

FFmpeg can segfault or spin on a damaged file. Each job runs in a child process; the
parent waits on the result pipe with a deadline. A child that dies is reported as a
failure with its exit signal, one that overruns its deadline is killed, and in both
cases a fresh child takes its place and the scan goes on.

A job whose function returns a generator streams: each item it yields reaches the
parent as a partial result as soon as it is made (the pipe blocks the child while the
parent is busy, so nothing piles up), and its return value is the job's result. Each
part resets the job's deadline: a long file that keeps going is not a hung decoder.
"""

from __future__ import annotations

import inspect
import multiprocessing as mp
import os
import signal
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

try:
    import resource
except ImportError:  # pragma: no cover - Windows has no rlimits
    resource = None


@dataclass
class JobResult:
    job: Any
    value: Any = None
    error: str | None = None
    # True when the job itself declined the file as valid-but-unsupported (skip, not fail).
    skipped: bool = False
    # True for one item a streaming job yielded; its final result follows.
    partial: bool = False


GiB = 1 << 30


def process_context():
    """How worker processes start: forkserver (spawn where there is none), so children
    never inherit the parent's ONNX Runtime threads, Qt or open library connections."""
    methods = mp.get_all_start_methods()
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")


def thread_niceness() -> int:
    """The calling thread's nice value (0 where the system has none to tell)."""
    try:
        return os.getpriority(os.PRIO_PROCESS, 0)
    except (AttributeError, OSError):
        return 0


def lower_priority(niceness: int) -> None:
    """Run the calling thread at ``niceness`` at least (never raised back: that needs
    privileges). On Linux a nice value belongs to one thread, and the threads it starts
    inherit it; worker processes come from the forkserver and do not, so a pool started
    for background work passes its caller's value on (``thread_niceness``)."""
    try:
        if os.getpriority(os.PRIO_PROCESS, 0) < niceness:
            os.setpriority(os.PRIO_PROCESS, 0, niceness)
    except (AttributeError, OSError):
        pass


# The workers' environment: they run one per core, so the thread pools numerical
# libraries start on their own in each worker only compete with the other workers.
# OpenBLAS's (numpy's matrix products: the log-mel spectrogram's, the detectors'
# post-processing) also spin after each product, burning the other core. Measured, CPU
# time of the log-mel of 41 s of sound: 40.9 ms with OpenBLAS's default two threads,
# 16.9 ms with one; OpenCV's resizes and the text-presence test: 0.38 -> 0.35 s with one
# thread. A value the user set in the environment is kept.
WORKER_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OPENCV_FOR_THREADS_NUM": "1"}


@contextmanager
def _worker_environment():
    """WORKER_ENVIRONMENT while a worker starts: a spawned worker, or the forkserver the
    workers fork from (started with the first of them), takes the environment of that
    moment. The libraries read it when they load, so it cannot be set afterwards."""
    saved = {k: os.environ.get(k) for k in WORKER_ENVIRONMENT}
    for key, value in WORKER_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def default_memory_limit(workers: int) -> int | None:
    """Bytes of heap one decoder may use: half the machine's memory shared among them.

    Downscaled decoding keeps a normal file far below this (a 4K clip peaks near
    0.5 GiB); the cap is for the file that declares absurd frame sizes, so that it fails
    alone instead of pushing the whole desktop into swap.
    """
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    return int(min(16 * GiB, max(2 * GiB, total / 2 / max(1, workers))))


def _limit_memory(limit: int | None) -> None:
    if limit is None or resource is None:
        return
    # RLIMIT_DATA counts the heap and private writable mappings, not reserved address
    # space, so thread stacks and allocator arenas do not trip it.
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def _worker_main(conn: Connection, func: Callable, memory_limit: int | None = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl+C and stops us
    _limit_memory(memory_limit)
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        limit = f" (limit {memory_limit / GiB:.1f} GiB per decoder)" if memory_limit else ""
        try:
            value = func(job)
            if inspect.isgenerator(value):
                value = _send_parts(conn, value)
            conn.send(("ok", value))
        except MemoryError:
            conn.send(("error", f"ran out of memory decoding this file{limit}"))
        except Exception as e:  # reported to the parent as this file's failure
            reason = getattr(e, "reason", None) or f"{type(e).__name__}: {e}"
            skip = bool(getattr(e, "skip", False))
            if isinstance(e.__cause__, MemoryError):
                reason += limit  # the job named where and on what; the cap is ours to say
            elif not hasattr(e, "reason"):
                reason += "\n" + traceback.format_exc(limit=3)
            conn.send(("skip" if skip else "error", reason))


def _send_parts(conn: Connection, parts) -> Any:
    """Send each item a generator yields as a part; its return value is the result."""
    while True:
        try:
            part = next(parts)
        except StopIteration as stop:
            return stop.value
        conn.send(("part", part))
        del part  # sent: the next window need not wait beside it


class _Worker:
    def __init__(self, ctx, func: Callable, memory_limit: int | None = None):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, func, memory_limit),
                                daemon=True)
        with _worker_environment():
            self.proc.start()
        child.close()
        self.job: Any = None
        self.deadline = 0.0

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        self.proc.join(timeout=2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


class WorkerPool:
    """Run ``func(job)`` for each job in up to ``size`` processes; results come as they finish.

    ``timeout`` maps a job to its deadline in seconds (e.g. longer files get longer);
    ``memory_limit`` caps each worker's heap in bytes (None: no cap). At most ``size``
    jobs run at once.
    """

    def __init__(self, func: Callable, size: int = 1,
                 timeout: Callable[[Any], float] = lambda job: 300.0,
                 memory_limit: int | None = None):
        self._ctx = process_context()
        self._func = func
        self._size = max(1, size)
        self._timeout = timeout
        self._memory_limit = memory_limit
        self._workers: list[_Worker] = []

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for w in self._workers:
            w.stop(kill=w.job is not None)
        self._workers.clear()

    def _spawn(self) -> _Worker:
        w = _Worker(self._ctx, self._func, self._memory_limit)
        self._workers.append(w)
        return w

    def _retire(self, w: _Worker, kill: bool) -> None:
        self._workers.remove(w)
        w.stop(kill=kill)

    def map_unordered(self, jobs, should_stop: Callable[[], bool] = lambda: False
                      ) -> Iterator[JobResult]:
        queue = deque(jobs)
        while queue or any(w.job is not None for w in self._workers):
            if should_stop():
                return
            idle = [w for w in self._workers if w.job is None]
            while queue and (idle or len(self._workers) < self._size):
                w = idle.pop() if idle else self._spawn()
                job = queue.popleft()
                try:
                    w.conn.send(job)
                except (BrokenPipeError, OSError):
                    self._retire(w, kill=True)
                    queue.appendleft(job)
                    continue
                w.job, w.deadline = job, time.monotonic() + self._timeout(job)
            busy = [w for w in self._workers if w.job is not None]
            if not busy:
                continue
            wait_for = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy],
                         timeout=min(wait_for, 0.5))
            now = time.monotonic()
            for w in busy:
                if w.conn in ready:
                    try:
                        kind, value = w.conn.recv()
                    except (EOFError, OSError):
                        kind, value = "crash", None
                    if kind == "part":
                        # Progress: the deadline counts from the latest part.
                        w.deadline = time.monotonic() + self._timeout(w.job)
                        yield JobResult(w.job, value=value, partial=True)
                        continue
                    if kind != "crash":
                        job, w.job = w.job, None
                        if kind == "ok":
                            yield JobResult(job, value=value)
                        else:
                            yield JobResult(job, error=value, skipped=kind == "skip")
                        continue
                if w.proc.sentinel in ready or not w.proc.is_alive():
                    job = w.job
                    w.proc.join(timeout=1)
                    code = w.proc.exitcode
                    self._retire(w, kill=True)
                    yield JobResult(job, error=_describe_exit(code))
                elif now >= w.deadline:
                    job = w.job
                    self._retire(w, kill=True)
                    yield JobResult(job, error=f"decoder did not finish within "
                                               f"{self._timeout(job):.0f} s and was stopped")


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the decoder crashed ({name}) on this file"
    return f"the decoder exited unexpectedly (code {code})"
