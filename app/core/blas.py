"""One OpenBLAS thread for a stretch of work that spreads itself over the cores already.

The duplicates' candidate search and screening run their chunks in threads of their own,
one per core; OpenBLAS's threads on top of those only wait for a core, spinning. A
symmetric eigendecomposition suffers most (each of its thousands of small steps
synchronises the threads): ``np.linalg.eigh`` of a 1280 x 1280 matrix took 4.4-5.2 s of
CPU with OpenBLAS's two threads and 0.43 s with one, on 2 busy cores (load 7). Measured
on the 10,000-clip library of bench/scale.py, the whole candidate search and screening:
25.7 s of CPU with two threads, 14.5 s with one, the same pairs.

numpy has no call for it; OpenBLAS exports one, looked up here in the library numpy
loaded. With another BLAS (or none found) ``one_blas_thread`` changes nothing.
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import numpy as np

# numpy's wheels ship OpenBLAS under these names (scipy-openblas, 64-bit integers).
_SET = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
        "openblas_set_num_threads")
_GET = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
        "openblas_get_num_threads")

_lock = threading.Lock()
_users = 0
_saved: int | None = None


def _candidates() -> list[str]:
    """Paths of the OpenBLAS numpy loaded: from this process's mappings where the system
    lists them, else the folders numpy's wheels put it in."""
    found = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            found = sorted({line.split()[-1] for line in maps
                            if "openblas" in os.path.basename(line.split()[-1]).lower()})
    except OSError:
        pass
    here = os.path.dirname(np.__file__)
    for folder in (os.path.join(here, ".libs"), os.path.join(os.path.dirname(here), "numpy.libs"),
                   os.path.join(here, ".dylibs"), here):
        found += sorted(glob.glob(os.path.join(folder, "*openblas*")))
    return found


@cache
def _functions() -> tuple | None:
    """(get, set) of the loaded OpenBLAS's thread count, or None."""
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        getter = next((getattr(lib, n) for n in _GET if hasattr(lib, n)), None)
        setter = next((getattr(lib, n) for n in _SET if hasattr(lib, n)), None)
        if getter is not None and setter is not None:
            getter.restype = ctypes.c_int
            setter.argtypes = [ctypes.c_int]
            setter.restype = None
            return getter, setter
    return None


def blas_threads() -> int | None:
    """OpenBLAS's thread count now (None: not found)."""
    functions = _functions()
    return None if functions is None else int(functions[0]())


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """OpenBLAS uses one thread until the last of the stretches open at once ends.
    Process-wide: another thread's products meanwhile run on one thread too (slower,
    never different)."""
    global _users, _saved
    functions = _functions()
    if functions is None:
        yield
        return
    getter, setter = functions
    with _lock:
        if _users == 0:
            _saved = int(getter())
            setter(1)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _saved is not None:
                setter(_saved)
