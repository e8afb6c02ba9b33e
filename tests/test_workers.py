"""Decode workers: a crash or a hang costs one file, never the scan."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from app.core.library.workers import (
    WORKER_ENVIRONMENT,
    GiB,
    WorkerPool,
    default_memory_limit,
    lower_priority,
    process_context,
    thread_niceness,
)


def square_or_misbehave(job):
    if job == "abort":
        os.abort()
    if job == "hang":
        threading.Event().wait()  # forever: only the pool's deadline ends it
    if job == "raise":
        raise ValueError("bad input")
    return job * job


def test_results_and_failures_come_back_per_job():
    with WorkerPool(square_or_misbehave, size=2, timeout=lambda job: 3.0) as pool:
        results = {r.job: r for r in pool.map_unordered([2, "abort", 3, "hang", "raise", 4])}
    assert {k: results[k].value for k in (2, 3, 4)} == {2: 4, 3: 9, 4: 16}
    assert "crashed" in results["abort"].error and "SIGABRT" in results["abort"].error
    assert "did not finish" in results["hang"].error
    assert "bad input" in results["raise"].error


def test_stop_request_ends_the_run():
    with WorkerPool(square_or_misbehave, size=1) as pool:
        got = list(pool.map_unordered(range(100), should_stop=lambda: True))
    assert got == []


def allocate(job):
    if job == "huge":
        import numpy as np
        return int(np.ones(3 << 30, np.uint8).sum())
    return job


def test_a_decoder_over_its_memory_cap_fails_alone():
    with WorkerPool(allocate, size=1, timeout=lambda job: 60.0, memory_limit=1 << 30) as pool:
        results = {r.job: r for r in pool.map_unordered(["huge", 7])}
    assert "ran out of memory" in results["huge"].error and "1.0 GiB" in results["huge"].error
    assert results[7].value == 7


def test_default_memory_cap_is_half_the_memory_shared_and_bounded(monkeypatch):
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limits = [default_memory_limit(workers) for workers in (1, 2, 64)]
    for workers, limit in zip((1, 2, 64), limits, strict=True):
        assert limit == int(min(16 * GiB, max(2 * GiB, total / 2 / workers)))
        assert 2 * GiB <= limit <= 16 * GiB
    assert limits == sorted(limits, reverse=True)  # more decoders, less each
    assert limits[-1] == 2 * GiB or total / 2 / 64 > 2 * GiB

    # Where the memory size is unknown there is no cap, rather than a guessed one.
    def unknown(name):
        raise ValueError(name)

    monkeypatch.setattr(os, "sysconf", unknown)
    assert default_memory_limit(1) is None


def count_slowly(job):
    """A streaming job: parts one by one (slower than the deadline in all), then a total."""
    total = 0
    for i in range(job):
        time.sleep(0.5)
        total += i
        yield i
    return total


def test_a_streaming_job_sends_parts_before_its_result_and_each_resets_the_deadline():
    with WorkerPool(count_slowly, size=1, timeout=lambda job: 1.5) as pool:
        results = list(pool.map_unordered([6]))
    parts = [r.value for r in results if r.partial]
    assert parts == [0, 1, 2, 3, 4, 5]  # 3 s in all, against a 1.5 s deadline
    assert not results[-1].partial and results[-1].value == 15 and results[-1].error is None


class OutOfMemoryHere(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def run_out_of_memory(job):
    try:
        raise MemoryError
    except MemoryError as e:
        raise OutOfMemoryHere("ran out of memory decoding, at 0:42:00 of 2:00:00") from e


def test_a_memory_failure_keeps_the_jobs_reason_and_names_the_cap():
    with WorkerPool(run_out_of_memory, size=1, memory_limit=2 * GiB) as pool:
        (result,) = pool.map_unordered(["x"])
    assert result.error == ("ran out of memory decoding, at 0:42:00 of 2:00:00 "
                            "(limit 2.0 GiB per decoder)")


def worker_environment(keys):
    return {key: os.environ.get(key) for key in keys}


def test_workers_run_single_threaded_libraries_and_leave_the_parent_as_it_was():
    """One worker per core: each one's numerical libraries get one thread (see
    WORKER_ENVIRONMENT), unless the user chose otherwise; the parent's environment is
    not changed."""
    keys = sorted(WORKER_ENVIRONMENT)
    before = dict(os.environ)
    with WorkerPool(worker_environment, size=1) as pool:
        [result] = list(pool.map_unordered([keys]))
    assert dict(os.environ) == before
    assert result.value == {k: before.get(k, WORKER_ENVIRONMENT[k]) for k in keys}


def _niceness_here() -> int:
    return os.getpriority(os.PRIO_PROCESS, 0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values")
def test_a_lowered_thread_leaves_the_others_and_its_workers_follow_it():
    """Background work lowers its own thread only; the duplicates pool's processes (from
    the forkserver, which does not pass a nice value on) take the asking thread's."""
    from concurrent.futures import ProcessPoolExecutor

    from app.core.duplicates import finder
    base = thread_niceness()
    seen: dict = {}

    def background(library: str):
        lower_priority(base + 5)
        lower_priority(base + 2)  # never raised back
        seen["thread"] = thread_niceness()
        with ProcessPoolExecutor(1, mp_context=process_context(), initializer=finder._start_worker,
                                 initargs=(library, thread_niceness())) as pool:
            seen["worker"] = pool.submit(_niceness_here).result(timeout=60)

    import tempfile

    from app.store.library import Library
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "lib.sqlite")
        Library(path).close()
        worker = threading.Thread(target=background, args=(path,))
        worker.start()
        worker.join(90)
    assert seen == {"thread": base + 5, "worker": base + 5}
    assert thread_niceness() == base  # this thread is untouched
