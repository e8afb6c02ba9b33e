"""Moving files to the trash, Undo, and repairing what a crash interrupted.

Nothing here deletes a file. ``move_to_trash`` writes its intent to the journal first,
checks that the file on disk is still the one indexed (size, mtime, fingerprint), hands
it to the system trash (send2trash; on Linux the freedesktop trash, whose ``info``
files tell Undo where each file went), or, where that is unsupported or fails, renames
it into an app-managed ``.reelvault-trash`` folder on the same volume. A rename never
crosses volumes, so the fallback can never turn into copy-and-delete. The file's
index rows stay, marked ``trashed``; ``undo`` moves the files back and they are
``present`` again with all their data. ``reconcile`` runs before any trash work and at
the start of a scan: it finishes or rolls back entries a crash left half done.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from app.core.library.identity import APP_TRASH_DIR, fingerprint, home_trash
from app.records import Presence, TrashState
from app.store.library import Library
from app.store.trash import TrashLog, delete_missing, missing_files

RESTORE_SUFFIX = ".reelvault-restore"


@dataclass
class TrashResult:
    batch: str | None
    done: list[dict] = field(default_factory=list)  # trashed or restored: {"path", ...}
    failed: list[dict] = field(default_factory=list)  # {"path", "reason"}


def system_trash(path: str) -> None:
    """The OS trash (send2trash): freedesktop on Linux, Finder on macOS, the Recycle Bin."""
    from send2trash import send2trash
    send2trash(path)


def new_batch() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


# ---- moving to the trash ------------------------------------------------------------
def move_to_trash(lib: Library, file_ids: Iterable[int],
                  os_trash: Callable[[str], None] | None = system_trash) -> TrashResult:
    """Move indexed files to the trash as one batch (one Undo). ``os_trash=None``: app trash."""
    log = TrashLog(lib)
    reconcile(lib)
    result = TrashResult(new_batch())
    files = []
    for file_id in dict.fromkeys(file_ids):
        row = lib.file_by_id(file_id)
        if row is None:
            result.failed.append({"path": None, "file_id": file_id, "reason": "not in the library"})
        elif row["presence"] != Presence.PRESENT:
            result.failed.append({"path": row["path"],
                                  "reason": f"not on disk (the library has it as {row['presence']})"})
        else:
            files.append(row)
    if not files:
        return result
    roots = {r["id"]: r["path"] for r in lib.roots()}
    for row, entry_id in zip(files, log.add_intents(result.batch, files), strict=True):
        try:
            method, trashed_path = _trash_one(log, entry_id, row, roots.get(row["root_id"]),
                                              result.batch, os_trash)
        except _Refused as e:
            log.fail(entry_id, e.reason)
            result.failed.append({"path": row["path"], "reason": e.reason})
            continue
        log.finish_trashed(entry_id, method, trashed_path)
        result.done.append({"path": row["path"], "method": method, "trashed_path": trashed_path})
    return result


def trash_paths(lib: Library, paths: Iterable[str],
                os_trash: Callable[[str], None] | None = system_trash) -> TrashResult:
    """``move_to_trash`` by path; paths the library does not know are reported, not moved."""
    ids, unknown = [], []
    for p in paths:
        row = lib.file(os.path.abspath(p))
        if row is None:
            unknown.append({"path": os.path.abspath(p), "reason": "not in the library"})
        else:
            ids.append(row["id"])
    result = move_to_trash(lib, ids, os_trash) if ids else TrashResult(None)
    result.failed = unknown + result.failed
    return result


class _Refused(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Gone(_Refused):
    """The file is in neither place: nothing can bring it back."""


def _trash_one(log: TrashLog, entry_id: int, row: dict, root: str | None, batch: str,
               os_trash) -> tuple[str, str | None]:
    path = row["path"]
    _check_same_file(row, log.lib.indexed_with_fingerprint(row["fingerprint"], row["size"]))
    problems = []
    if os_trash is not None:
        before = _os_trash_entries(path)
        try:
            os_trash(path)
        except Exception as e:  # unsupported here (no trash on that volume, no permission)
            problems.append(f"system trash: {e}")
            _drop_orphan_infos(path, before)
        if not os.path.lexists(path):
            found = _find_in_os_trash(path, row["size"], exclude=before)
            if found is None and problems:
                raise _Refused("the system trash failed after the file left its place; "
                               "look for it in the system trash")
            return "os", found
        if not problems:
            problems.append("system trash: the file is still in its place")
    for base in _app_trash_bases(path, root):
        dest = os.path.join(base, APP_TRASH_DIR, batch, _relative_to(path, base))
        log.plan(entry_id, "app", dest)
        try:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if os.path.lexists(dest):
                raise FileExistsError(f"{dest} exists")
            os.rename(path, dest)  # same volume by construction: never copy-and-delete
        except OSError as e:
            problems.append(f"{base}: {e.strerror or e}")
            _prune_empty(os.path.dirname(dest), APP_TRASH_DIR)
            continue
        if os.path.lexists(path) or not os.path.lexists(dest):
            raise _Refused(f"the move to {dest} could not be verified")
        return "app", dest
    raise _Refused("could not be moved to a trash, so it was left in place ("
                   + "; ".join(problems) + ")")


def _check_same_file(row: dict, others: list[dict] = ()) -> None:
    """Refuse to trash a file that is not, byte for byte as far as we can tell, the one
    indexed, or one that another row of the library names too (its "copy" is itself:
    trashing it would leave no copy at all)."""
    path = row["path"]
    try:
        st = os.stat(path)
        same = (st.st_size == row["size"] and st.st_mtime == row["mtime"]
                and fingerprint(path, st.st_size) == row["fingerprint"])
    except OSError as e:
        raise _Refused(f"cannot read it ({e.strerror})") from e
    if not same:
        raise _Refused("it changed since it was indexed: scan again first")
    for other in others:
        try:
            if other["id"] != row["id"] and os.path.samefile(other["path"], path):
                raise _Refused(f"it is the same file as {other['path']} (one file under two "
                               f"names, e.g. a link to its folder), not a copy: moving it to "
                               f"the trash would leave no copy at all")
        except OSError:
            continue


def _app_trash_bases(path: str, root: str | None) -> list[str]:
    """Folders on the file's own volume that can hold ``.reelvault-trash``, best first."""
    try:
        dev = os.stat(os.path.dirname(path)).st_dev
    except OSError:
        return []
    candidates = [c for c in (root, _mount_point(path), os.path.dirname(path)) if c]
    bases = []
    for c in dict.fromkeys(candidates):
        try:
            if os.stat(c).st_dev == dev and _is_within(path, c):
                bases.append(c)
        except OSError:
            continue
    return bases


def _mount_point(path: str) -> str:
    p = os.path.dirname(os.path.abspath(path))
    while not os.path.ismount(p):
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    return p


def _is_within(path: str, folder: str) -> bool:
    return os.path.abspath(path).startswith(os.path.join(os.path.abspath(folder), ""))


def _relative_to(path: str, base: str) -> str:
    return os.path.relpath(path, base) if _is_within(path, base) else os.path.basename(path)


# ---- the freedesktop trash (what send2trash writes on Linux) -------------------------
def _os_trash_dirs(path: str) -> list[tuple[str, str]]:
    """(trash folder, the folder its info Paths are relative to) that may hold ``path``."""
    if sys.platform in ("win32", "darwin"):
        return []  # the Recycle Bin and the Finder's trash keep no freedesktop info files
    dirs = [(home_trash(), os.path.dirname(home_trash()))]
    try:
        from send2trash import plat_other  # where send2trash itself puts home files
        dirs.append((os.fsdecode(plat_other.HOMETRASH_B), os.fsdecode(plat_other.XDG_DATA_HOME)))
    except ImportError:  # pragma: no cover
        pass
    top = _mount_point(path)
    dirs += [(os.path.join(top, ".Trash", str(os.getuid())), top),
             (os.path.join(top, f".Trash-{os.getuid()}"), top)]
    return list(dict.fromkeys(dirs))


def _os_trash_entries(path: str) -> set[str]:
    entries = set()
    for trash, _ in _os_trash_dirs(path):
        try:
            entries |= {os.path.join(trash, "info", n) for n in os.listdir(os.path.join(trash, "info"))}
        except OSError:
            continue
    return entries


def _find_in_os_trash(path: str, size: int, exclude: set[str] = frozenset()) -> str | None:
    """The trashed copy of ``path``: newest info file naming it, whose file has its size."""
    best: tuple[float, str] | None = None
    for trash, topdir in _os_trash_dirs(path):
        info_dir = os.path.join(trash, "info")
        try:
            names = os.listdir(info_dir)
        except OSError:
            continue
        for name in names:
            info = os.path.join(info_dir, name)
            if not name.endswith(".trashinfo") or info in exclude:
                continue
            original = _trashinfo_path(info, topdir)
            stored = os.path.join(trash, "files", name[:-len(".trashinfo")])
            try:
                if original != path or os.lstat(stored).st_size != size:
                    continue
                stamp = os.stat(info).st_mtime
            except OSError:
                continue
            if best is None or stamp > best[0]:
                best = (stamp, stored)
    return best[1] if best else None


def _trashinfo_path(info: str, topdir: str) -> str | None:
    try:
        with open(info, "rb") as f:
            for line in f:
                if line.startswith(b"Path="):
                    raw = os.fsdecode(unquote_to_bytes(line[5:].strip()))
                    return raw if os.path.isabs(raw) else os.path.join(topdir, raw)
    except OSError:
        return None
    return None


def _drop_orphan_infos(path: str, before: set[str]) -> None:
    """A failed system-trash call may leave an info file naming a file it never moved."""
    for info in _os_trash_entries(path) - before:
        trash = os.path.dirname(os.path.dirname(info))
        topdir = next((t for d, t in _os_trash_dirs(path) if d == trash), trash)
        stored = os.path.join(trash, "files", os.path.basename(info)[:-len(".trashinfo")])
        if _trashinfo_path(info, topdir) == path and not os.path.lexists(stored):
            try:
                os.unlink(info)
            except OSError:
                pass


def _info_file(trashed_path: str) -> str:
    trash = os.path.dirname(os.path.dirname(trashed_path))
    return os.path.join(trash, "info", os.path.basename(trashed_path) + ".trashinfo")


# ---- undo ---------------------------------------------------------------------------
def undo(lib: Library, batch: str | None = None) -> TrashResult:
    """Put the files of a batch (default: the latest) back where they were."""
    log = TrashLog(lib)
    reconcile(lib)
    batch = batch or log.last_batch()
    result = TrashResult(batch)
    if batch is None:
        return result
    entries = log.entries(batch, (TrashState.TRASHED,))
    if not entries and not log.entries(batch):
        result.failed.append({"path": None, "reason": f"no trash batch {batch}"})
    for e in entries:
        log.set_state(e["id"], TrashState.RESTORING)
        try:
            _restore_one(e)
        except _Gone as err:
            # Said once: the entry is settled, and the next Undo does not try it again.
            log.settle_gone(e["id"], err.reason)
            result.failed.append({"path": e["path"], "reason": err.reason})
            continue
        except _Refused as err:
            log.set_state(e["id"], TrashState.TRASHED, err.reason)
            result.failed.append({"path": e["path"], "reason": err.reason})
            continue
        log.finish_restored(e["id"])
        result.done.append({"path": e["path"], "method": e["method"]})
    return result


def _restore_one(e: dict) -> None:
    path, stored = e["path"], e["trashed_path"]
    if stored is None:
        raise _Refused("the system trash does not say where it put this file: restore it "
                       "from the system trash")
    if not os.path.lexists(stored):
        if _is_back(e):
            return  # someone already put it back by hand
        raise _Gone(f"it is no longer in the trash ({stored}; was the trash emptied?), so it "
                    f"cannot be put back; the library forgets it with purge-missing")
    if os.path.lexists(path):
        raise _Refused("another file is now at its place: move that one first")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        os.rename(stored, path)
    except OSError as err:
        if err.errno != errno.EXDEV:  # send2trash crossed volumes: copy back, let go
            raise _Refused(f"could not move it back ({err.strerror})") from err
        temp = path + RESTORE_SUFFIX
        shutil.copy2(stored, temp)
        os.rename(temp, path)
        os.unlink(stored)
    if e["method"] == "os":
        try:
            os.unlink(_info_file(stored))
        except FileNotFoundError:
            pass
    else:
        _prune_empty(os.path.dirname(stored), APP_TRASH_DIR)


def _is_back(e: dict) -> bool:
    try:
        st = os.stat(e["path"])
        return st.st_size == e["size"] and fingerprint(e["path"], st.st_size) == e["fingerprint"]
    except OSError:
        return False


def _prune_empty(folder: str, stop_name: str) -> None:
    """Remove the batch folders an app-trash restore emptied, up to ``.reelvault-trash``."""
    while True:
        try:
            os.rmdir(folder)  # only ever succeeds on an empty folder
        except OSError:
            return
        if os.path.basename(folder) == stop_name:
            return
        folder = os.path.dirname(folder)


# ---- after a crash ------------------------------------------------------------------
def reconcile(lib: Library) -> dict:
    """Finish or roll back journal entries a crash left in ``intent`` or ``restoring``."""
    log = TrashLog(lib)
    counts = {"finished": 0, "rolled_back": 0, "lost": 0}
    for e in log.entries(states=(TrashState.INTENT,)):
        path = e["path"]
        if os.path.lexists(path):
            # The move never happened (or the file was already back): nothing to undo.
            log.fail(e["id"], "interrupted before the move; the file was left in place")
            counts["rolled_back"] += 1
            continue
        stored = e["trashed_path"] if e["method"] == "app" else None
        if stored is None or not os.path.lexists(stored):
            stored = _find_in_os_trash(path, e["size"])
            method = "os"
        else:
            method = "app"
        if stored is not None:
            log.finish_trashed(e["id"], method, stored)
            counts["finished"] += 1
        else:
            log.fail(e["id"], "interrupted; the file is gone from its place and was not "
                              "found in a trash")
            counts["lost"] += 1
    for e in log.entries(states=(TrashState.RESTORING,)):
        temp = e["path"] + RESTORE_SUFFIX
        if os.path.lexists(temp) and e["trashed_path"] and os.path.lexists(e["trashed_path"]):
            os.unlink(temp)  # our own half-made copy; the original is still in the trash
        if os.path.lexists(e["path"]) and not (
                e["trashed_path"] and os.path.lexists(e["trashed_path"])):
            if e["method"] == "os" and e["trashed_path"]:
                try:
                    os.unlink(_info_file(e["trashed_path"]))
                except FileNotFoundError:
                    pass
            log.finish_restored(e["id"])
            counts["finished"] += 1
        else:
            log.set_state(e["id"], TrashState.TRASHED, "an interrupted undo was rolled back")
            counts["rolled_back"] += 1
    return counts


# ---- forgetting missing files -------------------------------------------------------
def purge_missing(lib: Library) -> dict:
    """Delete the rows of files marked missing that are still absent under a present root.

    Only on explicit user action. An offline file (its drive is unplugged) is never
    touched, and neither is a missing file that has come back or whose folder is gone
    (the drive may be away).
    """
    purge, kept = [], []
    for f in missing_files(lib):
        root = f["root_path"]
        if os.path.lexists(f["path"]):
            kept.append({"path": f["path"], "reason": "it is back on disk: scan to update it"})
        elif root is not None and not os.path.isdir(root):
            kept.append({"path": f["path"], "reason": "its folder is not available"})
        else:
            purge.append(f)
    if purge:
        delete_missing(lib, [f["id"] for f in purge])
    return {"purged": [f["path"] for f in purge if lib.file_by_id(f["id"]) is None],
            "kept": kept}
