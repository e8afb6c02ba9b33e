"""Process-tree accounting the benchmarks share: CPU of reaped children, and becoming a
child subreaper so that the scan's forkserver and decode workers are counted too."""

from __future__ import annotations

import ctypes
import resource


def children_cpu() -> float:
    """CPU seconds (user + system) of every child process reaped so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def become_subreaper() -> bool:
    """Orphaned descendants (the forkserver, its workers) get reparented to us, so their
    rusage is collected here (wait4, RUSAGE_CHILDREN) instead of being lost to init."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False
