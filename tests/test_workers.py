"""Decode workers: a crash or a hang costs one file, never the scan."""

from __future__ import annotations

import os
import time

from app.core.workers import WorkerPool


def square_or_misbehave(job):
    if job == "abort":
        os.abort()
    if job == "hang":
        while True:
            time.sleep(1)
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
