"""Is this file a Reelvault library, and is it whole? And what to tell a person when not.

Opening checks the file before anything writes to it: a 0-byte file, a text file, a
zeroed header or another program's SQLite database is refused with one sentence saying
what it is and what to do, and is never written to (no WAL switch, no migration).
Our libraries carry ``PRAGMA application_id`` (set by a migration); older ones are
recognised by their tables. A quick check (``PRAGMA quick_check``, stopped after a time
budget so a large library never waits on it) runs once per process per library, and not
again in a later process while the file is unchanged since one passed (``checked.json``
in the user's cache folder); the full check is ``reelvault check``.

Every SQLite failure that is about the library, not about one file being indexed
(damage, a full disk, a read-only file or folder), becomes a ``LibraryError`` whose
``kind`` lets the CLI choose an exit code a script can test.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import threading
from pathlib import Path
from urllib.parse import quote

from app import config

# 'RVLT' as a big-endian 32-bit integer: what `file` and SQLite tools show as the owner.
APPLICATION_ID = 0x52564C54
SQLITE_MAGIC = b"SQLite format 3\x00"
# Tables only a Reelvault library has (all from the first migration).
OUR_TABLES = frozenset({"roots", "files", "clips", "segments", "frames", "thumbs"})
QUICK_CHECK_SECONDS = 0.3

DAMAGED, FOREIGN, NOT_A_LIBRARY, READ_ONLY, NO_SPACE, BUSY = (
    "damaged", "foreign", "not_a_library", "read_only", "no_space", "busy")


class LibraryError(RuntimeError):
    """The library cannot be used as it is; ``str()`` is one line for a person."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


def backups(path: Path) -> list[Path]:
    """Copies made before upgrades (``<library>.v<N>.bak``), newest schema first."""
    found = list(path.parent.glob(f"{path.name}.v*.bak")) if path.parent.is_dir() else []

    def version(p: Path) -> int:
        digits = p.name[len(path.name) + 2:-4]
        return int(digits) if digits.isdigit() else -1
    return sorted(found, key=version, reverse=True)


def restore_advice(path: Path) -> str:
    found = backups(path)
    if found:
        return (f"restore the copy made before the last upgrade ({found[0]}: copy it over "
                f"the library), or choose another file with --library")
    return "choose another file with --library (there is no backup of this one)"


def check_file(path: Path) -> None:
    """Refuse, before SQLite opens it, a file that is not an SQLite database at all."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return  # a new library
    except IsADirectoryError:
        raise LibraryError(f"{path} is a folder, not a library file: choose a file name "
                           f"with --library", NOT_A_LIBRARY) from None
    except PermissionError:
        raise LibraryError(f"the library {path} cannot be read (no permission): fix its "
                           f"permissions or choose another file", READ_ONLY) from None
    if size == 0:
        raise LibraryError(
            f"{path} is an empty file (0 bytes), not a library: choose another file with "
            f"--library, or delete it to start a new library there", NOT_A_LIBRARY)
    if head != SQLITE_MAGIC:
        if head.strip(b"\x00") == b"" and backups(path):
            raise LibraryError(f"the library {path} is damaged (its header is zeroed): "
                               f"{restore_advice(path)}", DAMAGED)
        raise LibraryError(
            f"{path} is not a Reelvault library (not an SQLite database, or its header is "
            f"damaged): {restore_advice(path)}", NOT_A_LIBRARY)


def check_owner(conn: sqlite3.Connection, path: Path) -> bool:
    """Ours (True), new and empty (False), or refused: another program's database.
    Reads only."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if app_id == APPLICATION_ID:
        return True
    tables = {r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
    if app_id == 0 and OUR_TABLES <= tables:
        return True  # a library from before the application id
    if app_id == 0 and not tables and conn.execute("PRAGMA user_version").fetchone()[0] == 0:
        return False
    owner = f"application id {app_id:#x}" if app_id else (
        "tables " + ", ".join(sorted(tables)[:5]) + ("…" if len(tables) > 5 else ""))
    raise LibraryError(f"{path} is an SQLite database of another program ({owner}), not a "
                       f"Reelvault library; it was not changed: choose another file with "
                       f"--library", FOREIGN)


def read_only_uri(path: Path) -> str:
    """A URI opening ``path`` without writing. On a read-only folder or disk SQLite
    cannot make the shared-memory file a WAL library needs, so it reads the file as it
    is (immutable), which no writer can change there anyway."""
    mode = "mode=ro" if os.access(path.parent, os.W_OK) else "immutable=1"
    return f"file:{quote(os.fsencode(path))}?{mode}"


def check_owner_of(path: Path) -> None:
    """``check_owner`` on a read-only connection of its own, before anything is written."""
    if not path.exists():
        return
    conn = sqlite3.connect(read_only_uri(path), uri=True)
    try:
        check_owner(conn, path)
    finally:
        conn.close()


_quick_checked: set[str] = set()
_quick_guard = threading.Lock()
CHECKED_FILE = "checked-libraries.json"
CHECKED_KEEP = 64  # libraries remembered; the least recently checked are forgotten


def _file_stamp(path: str) -> list | None:
    """What changes whenever the library's content does: the file's identity, size and
    times, and those of its WAL when it holds anything (an empty WAL, made by each
    opening and removed at close, holds no content)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    try:
        wal = os.stat(path + "-wal")
        wal_stamp = [wal.st_size, wal.st_mtime_ns] if wal.st_size else None
    except OSError:
        wal_stamp = None
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, wal_stamp]


def _checked_path() -> Path:
    return config.cache_dir() / CHECKED_FILE


def _read_checked() -> dict:
    try:
        found = json.loads(_checked_path().read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _record_checked(key: str, stamp: list) -> None:
    """Remember that the library at ``key`` passed while it looked like ``stamp``."""
    found = _read_checked()
    found.pop(key, None)
    found[key] = stamp  # last: the most recent
    found = dict(list(found.items())[-CHECKED_KEEP:])
    config.save_json(_checked_path(), found)  # not recorded: the next process checks again


def quick_check(conn: sqlite3.Connection, path: Path,
                budget: float = QUICK_CHECK_SECONDS) -> None:
    """``PRAGMA quick_check`` once per process per library, given up after ``budget``
    seconds (a large library is then checked only in part; ``reelvault check`` does it
    all). Raises ``LibraryError`` on damage it finds.

    Not run when an earlier process's check passed on the file as it is now (same
    inode, size, times, WAL): checking unchanged bytes again finds nothing new, and it
    cost every command-line search 0.3-0.8 s of its start. Any write, a replaced file or
    bytes changed in place move the stamp, and the next opening checks again."""
    key = os.path.realpath(path)
    with _quick_guard:
        if key in _quick_checked:
            return
        _quick_checked.add(key)
    # Taken before the check: a change made while it runs shows as a new stamp later.
    stamp = _file_stamp(key)
    if stamp is not None and _read_checked().get(key) == stamp:
        return
    # Stopped from a timer thread: the b-tree walk, nearly all of a quick check, is one
    # step of SQLite's program, which a progress handler never interrupts (SQLite 3.40):
    # on a 15 GB library the check ran 67 s past a 0.3 s budget. The lock keeps a late
    # timer from interrupting the statement that follows the check.
    guard, checking = threading.Lock(), [True]

    def stop() -> None:
        with guard:
            if checking[0]:
                conn.interrupt()

    timer = threading.Timer(budget, stop)
    timer.daemon = True
    timer.start()
    try:
        problems = [r[0] for r in conn.execute("PRAGMA quick_check(20)")]
    except sqlite3.OperationalError as e:
        if "interrupt" in str(e):
            # Out of time: no verdict on the rest, but the part it reads (the same part,
            # each time) was whole: on unchanged bytes the next check would stop there too.
            if stamp is not None:
                _record_checked(key, stamp)
            return
        raise describe(e, path) from e
    except sqlite3.DatabaseError as e:
        raise describe(e, path) from e
    finally:
        with guard:
            checking[0] = False
        timer.cancel()
    if problems != ["ok"]:
        with _quick_guard:
            _quick_checked.discard(key)
        raise LibraryError(f"the library {path} is damaged ({problems[0]}): run "
                           f"`reelvault check`, then {restore_advice(path)}", DAMAGED)
    if stamp is not None:
        _record_checked(key, stamp)


def full_check(conn: sqlite3.Connection) -> list[str]:
    """Every problem ``PRAGMA integrity_check`` and ``foreign_key_check`` find; [] if none."""
    problems = [r[0] for r in conn.execute("PRAGMA integrity_check(100)")]
    problems = [] if problems == ["ok"] else problems
    problems += [f"table {r[0]} row {r[1]} points to a missing {r[2]} row"
                 for r in conn.execute("PRAGMA foreign_key_check")]
    return problems


def check_library(path: Path) -> list[str]:
    """The full check of the library file at ``path`` (read-only; no quick check first,
    so damage the quick check found is listed here in full)."""
    path = Path(os.path.realpath(path))
    if not path.exists():
        raise LibraryError(f"no library at {path}", NOT_A_LIBRARY)
    check_file(path)
    check_owner_of(path)
    conn = sqlite3.connect(read_only_uri(path), uri=True)
    try:
        return full_check(conn)
    except sqlite3.DatabaseError as e:
        if not is_library_failure(e):
            raise
        err = describe(e, path)
        if err.kind != DAMAGED:
            raise err from e
        return [str(e)]
    finally:
        conn.close()


def is_library_failure(err: BaseException) -> bool:
    """An SQLite error about the library itself (damage, full disk, read-only, I/O), not
    about the values one file brought: those stop the whole scan; others are that file's."""
    return type(err) in (sqlite3.DatabaseError, sqlite3.OperationalError) or (
        isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EROFS, errno.EIO))


def describe(err: BaseException, path: Path) -> LibraryError:
    """One line for a person about an SQLite or OS error on the library ``path``."""
    if isinstance(err, LibraryError):
        return err
    text = str(err).lower()
    errnum = getattr(err, "errno", None)
    if "full" in text or errnum == errno.ENOSPC:
        return LibraryError(f"the disk holding the library {path} is full: free some space "
                            f"and run the command again", NO_SPACE)
    if ("readonly" in text or "read-only" in text or errnum in (errno.EROFS, errno.EACCES,
                                                                 errno.EPERM)
            or "unable to open" in text):
        return LibraryError(f"the library {path} cannot be written (a read-only file, "
                            f"folder or disk): make it writable, or choose another file "
                            f"with --library", READ_ONLY)
    if "locked" in text or "busy" in text:
        return LibraryError(f"the library {path} is busy in another program: try again "
                            f"when it is done", BUSY)
    if "not a database" in text or "encrypted" in text:
        return LibraryError(f"{path} is not a Reelvault library, or it is damaged: "
                            f"{restore_advice(path)}", NOT_A_LIBRARY)
    return LibraryError(f"the library {path} is damaged ({err}): run `reelvault check`, "
                        f"then {restore_advice(path)}", DAMAGED)
