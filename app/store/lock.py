"""One writer per library: an advisory lock on a file beside the database.

SQLite alone would let two app instances write the same library in turn, each scanning
the same folders and moving the same files to the trash. The first process to open a
library for writing holds ``<library>.lock`` (``flock``, released by the kernel when the
process dies, even by SIGKILL); any other process is refused with a message naming the
holder. Inside one process the lock is shared and counted, so the GUI's reader tasks
and its scan thread can each open the library. Readers open it with
``Library(path, readonly=True)`` and never take it: WAL lets them read during a write.

The lock file descriptor is not inheritable, and decode workers start through
forkserver (an exec'd process), so children never keep the lock alive.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False


class LibraryLocked(RuntimeError):
    """Another process is writing this library."""


_held: dict[str, list[int]] = {}  # lock path -> [fd, users in this process]
_guard = threading.Lock()


def lock_path(library: Path) -> Path:
    return library.with_name(library.name + ".lock")


def acquire(library: Path) -> str:
    """Take (or share, within this process) the writer lock; returns its key for release.

    The lock belongs to the real file: a symbolic link to a library locks its target.
    A library with a second hard link is refused, since a writer opening the other name
    would take a different lock on the same data."""
    library = Path(os.path.realpath(library))
    try:
        links = os.stat(library).st_nlink
    except FileNotFoundError:
        links = 1
    if links > 1:
        raise LibraryLocked(
            f"the library {library} has {links} names (hard links), so two programs could "
            f"write it at once under different names: keep one name (remove the other "
            f"link, or make a real copy), then try again")
    path = lock_path(library)
    key = os.path.realpath(path)
    with _guard:
        held = _held.get(key)
        if held is not None:
            held[1] += 1
            return key
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            holder = _read_holder(fd)
            os.close(fd)
            raise LibraryLocked(
                f"the library {library} is open in another Reelvault ({holder}): close it "
                f"there first, or use a different --library")
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}: {' '.join(sys.argv[:3])}\n".encode(errors="replace"))
        _held[key] = [fd, 1]
        return key


def release(key: str) -> None:
    with _guard:
        held = _held.get(key)
        if held is None:
            return
        held[1] -= 1
        if held[1] == 0:
            del _held[key]
            os.close(held[0])  # closing the descriptor drops the flock


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 200).decode(errors="replace").strip()
    except OSError:  # Windows: the holder's locked byte cannot be read
        text = ""
    return text or "another process"
