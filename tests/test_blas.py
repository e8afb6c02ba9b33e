"""One OpenBLAS thread for a stretch of work (app.core.blas), undone after it."""

from __future__ import annotations

import threading

import pytest

from app.core import blas


def test_one_thread_inside_nested_stretches_and_the_count_restored_after():
    before = blas.blas_threads()
    assert before is not None  # numpy's wheels ship OpenBLAS: it must be found
    with blas.one_blas_thread():
        assert blas.blas_threads() == 1
        with blas.one_blas_thread():
            assert blas.blas_threads() == 1
        assert blas.blas_threads() == 1  # the outer stretch is still open
    assert blas.blas_threads() == before


def test_the_count_comes_back_after_an_error_and_overlapping_threads():
    before = blas.blas_threads()
    with pytest.raises(RuntimeError), blas.one_blas_thread():
        raise RuntimeError("stopped halfway")
    assert blas.blas_threads() == before
    inside, leave = threading.Event(), threading.Event()
    seen = []

    def other():
        with blas.one_blas_thread():
            inside.set()
            leave.wait(10)
            seen.append(blas.blas_threads())

    worker = threading.Thread(target=other)
    worker.start()
    inside.wait(10)
    with blas.one_blas_thread():
        pass  # this stretch ends first: the other one still runs on one thread
    leave.set()
    worker.join(10)
    assert seen == [1] and blas.blas_threads() == before


def test_without_openblas_nothing_changes(monkeypatch):
    monkeypatch.setattr(blas, "_functions", lambda: None)
    with blas.one_blas_thread():
        assert blas.blas_threads() is None
