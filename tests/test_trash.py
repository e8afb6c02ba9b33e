"""The trash: intent first, re-check, move (system trash, else an app folder), Undo, crashes.

Files are real files on disk; their index rows are written through the store as a scan
would (no models needed: the trash never looks inside a video). The system trash is
the real send2trash, pointed at a freedesktop trash inside the test folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from app import cli
from app.core.indexing.indexer import INDEX_VERSION
from app.core.library import trash
from app.core.library.identity import APP_TRASH_DIR, fingerprint
from app.core.library.scanner import Scanner
from app.records import ClipIndex, FileStat, Segment
from app.store.library import Library
from app.store.trash import TrashLog

REPO = Path(__file__).resolve().parent.parent


def clip_rows(seed: int) -> ClipIndex:
    rng = np.random.default_rng(seed)
    v = rng.random(1280).astype(np.float32)
    return ClipIndex(
        info={"duration": 2.0, "width": 64, "height": 48, "fps": 25.0, "video_codec": "h264",
              "audio_codec": None, "has_audio": 0, "rotation": 0, "bitrate": 1000,
              "container": "mp4", "created": None},
        fused=rng.random(2304), visual=v, audio=None, visual_probs=rng.random(1000),
        audio_scores=None,
        segments=[Segment(0.0, 2.0, rng.random(2304), v, None, {"visual": [], "audio": []})],
        frame_times=np.array([0.0, 1.0]), frame_visual=rng.random((2, 1280)),
        audio_times=None, audio_vectors=None, labels=[("visual", 1, "goldfish", 0.5)],
        poster=b"jpeg", strip=b"jpeg", strip_times=[0.0, 1.0])


def index_file(lib: Library, path: Path, root: Path, seed: int = 0) -> int:
    """Write the rows a scan would for ``path`` (as it is on disk now)."""
    st = path.stat()
    stat = FileStat(str(path), st.st_size, st.st_mtime, fingerprint(path, st.st_size))
    return lib.save_index(stat, lib.add_root(str(root)), clip_rows(seed), INDEX_VERSION)


@pytest.fixture
def videos(tmp_path) -> Path:
    root = tmp_path / "videos"
    (root / "trip").mkdir(parents=True)
    for i, name in enumerate(("trip/a.mp4", "b.mp4", "c.mp4")):
        (root / name).write_bytes(bytes([i]) * 300_000 + os.urandom(1000))
    return root


def _rows_snapshot(lib: Library, file_id: int):
    return lib.clip(file_id)["visual"].tobytes(), lib.frames(file_id)["visual"].tobytes()


def test_system_trash_and_undo_keep_the_index(library, videos, xdg_trash):
    a, b = videos / "trip" / "a.mp4", videos / "b.mp4"
    content = {a: a.read_bytes(), b: b.read_bytes()}
    ids = [index_file(library, a, videos, 1), index_file(library, b, videos, 2)]
    before = {i: _rows_snapshot(library, i) for i in ids}

    result = trash.move_to_trash(library, ids)
    assert [d["method"] for d in result.done] == ["os", "os"] and not result.failed
    assert not a.exists() and not b.exists()
    for d in result.done:  # in the freedesktop trash, with an info file naming its place
        stored = Path(d["trashed_path"])
        assert stored.parent == xdg_trash / "files" and stored.exists()
        info = (xdg_trash / "info" / (stored.name + ".trashinfo")).read_text()
        assert f"Path={d['path']}" in info
    assert {library.file_by_id(i)["presence"] for i in ids} == {"trashed"}
    assert {e["state"] for e in TrashLog(library).entries(result.batch)} == {"trashed"}

    undone = trash.undo(library)  # the latest batch
    assert undone.batch == result.batch and len(undone.done) == 2 and not undone.failed
    assert a.read_bytes() == content[a] and b.read_bytes() == content[b]
    assert list((xdg_trash / "files").iterdir()) == []
    assert list((xdg_trash / "info").iterdir()) == []
    for i in ids:
        row = library.file_by_id(i)
        assert row["presence"] == "present" and row["status"] == "indexed"
        assert _rows_snapshot(library, i) == before[i]  # vectors came back untouched
    assert {e["state"] for e in TrashLog(library).entries(result.batch)} == {"restored"}


def test_app_trash_on_the_same_volume_when_the_system_trash_fails(library, videos):
    a = videos / "trip" / "a.mp4"
    content = a.read_bytes()
    file_id = index_file(library, a, videos)

    def unsupported(path):
        raise OSError("no trash on this volume")

    result = trash.move_to_trash(library, [file_id], os_trash=unsupported)
    assert not result.failed
    stored = Path(result.done[0]["trashed_path"])
    assert stored == videos / APP_TRASH_DIR / result.batch / "trip" / "a.mp4"
    assert stored.read_bytes() == content and not a.exists()
    assert stored.stat().st_dev == videos.stat().st_dev

    undone = trash.undo(library, result.batch)
    assert [d["path"] for d in undone.done] == [str(a)] and a.read_bytes() == content
    assert not (videos / APP_TRASH_DIR).exists()  # the emptied batch folders are gone
    assert library.file_by_id(file_id)["presence"] == "present"


def test_nothing_is_deleted_when_no_trash_can_take_the_file(library, videos, monkeypatch):
    a = videos / "b.mp4"
    content = a.read_bytes()
    file_id = index_file(library, a, videos)

    def unsupported(path):
        raise OSError("no trash")

    def cross_device(src, dst):  # every app-trash candidate turns out to be elsewhere
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(trash.os, "rename", cross_device)
    result = trash.move_to_trash(library, [file_id], os_trash=unsupported)
    monkeypatch.undo()
    assert not result.done and "left in place" in result.failed[0]["reason"]
    assert a.read_bytes() == content
    assert library.file_by_id(file_id)["presence"] == "present"
    assert [e["state"] for e in TrashLog(library).entries(result.batch)] == ["failed"]


@pytest.mark.parametrize("change", ["appended", "same size and time"])
def test_a_file_changed_since_indexing_is_not_trashed(library, videos, xdg_trash, change):
    a = videos / "c.mp4"
    file_id = index_file(library, a, videos)
    st = a.stat()
    if change == "appended":
        with open(a, "ab") as f:
            f.write(b"more")
    else:  # new bytes at the start, size and mtime put back: only the fingerprint sees it
        with open(a, "r+b") as f:
            f.write(b"\xff" * 100)
        os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    result = trash.move_to_trash(library, [file_id])
    assert not result.done and "changed since it was indexed" in result.failed[0]["reason"]
    assert a.exists() and not (xdg_trash / "files").exists()


def test_only_present_files_are_trashed(library, videos, xdg_trash):
    a = videos / "c.mp4"
    file_id = index_file(library, a, videos)
    library.mark([file_id], "missing")
    result = trash.move_to_trash(library, [file_id, 999])
    assert not result.done and len(result.failed) == 2
    assert a.exists()


def test_scan_leaves_trashed_files_and_the_trash_folder_alone(library, videos):
    """A rescan neither marks trashed files missing nor indexes the app trash folder."""
    ids = [index_file(library, videos / n, videos, i)
           for i, n in enumerate(("trip/a.mp4", "b.mp4", "c.mp4"))]
    result = trash.move_to_trash(library, ids[:1], os_trash=None)  # straight to app trash
    assert result.done[0]["method"] == "app"
    # Every file left is unchanged, so the scan decodes nothing and needs no models.
    report = Scanner(library).scan([videos])
    assert report.changes["missing"] == 0 and report.changes["moved"] == 0
    assert report.changes["unchanged"] == 2 and report.changes["new"] == 0
    assert library.file_by_id(ids[0])["presence"] == "trashed"
    assert library.file(result.done[0]["trashed_path"]) is None
    trash.undo(library, result.batch)
    assert Scanner(library).scan([videos]).changes["unchanged"] == 3


# ---- crashes: a real process killed at the worst moments ---------------------------
CRASH_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from send2trash import plat_other
    plat_other.get_dev = lambda path: 0
    from app.core.library import trash
    from app.store.library import Library
    from app.store.trash import TrashLog

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    lib = Library(sys.argv[1])
    moment, ids = sys.argv[2], [int(i) for i in sys.argv[3:]]
    if moment == "before-move":
        trash.move_to_trash(lib, ids, os_trash=die)
    elif moment == "after-move":
        TrashLog.finish_trashed = die
        trash.move_to_trash(lib, ids)
    elif moment == "during-undo":
        TrashLog.finish_restored = die
        trash.undo(lib)
""")


def _run_and_die(tmp_path, lib_path, moment, ids, xdg_trash):
    env = {**os.environ, "XDG_DATA_HOME": str(xdg_trash.parent), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, str(lib_path), moment,
                           *map(str, ids)], env=env, cwd=tmp_path, capture_output=True,
                          timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()


def test_crash_before_the_move_is_rolled_back(tmp_path, videos, xdg_trash):
    lib_path = tmp_path / "lib.sqlite"
    lib = Library(lib_path)
    file_id = index_file(lib, videos / "b.mp4", videos)
    lib.close()
    _run_and_die(tmp_path, lib_path, "before-move", [file_id], xdg_trash)
    lib = Library(lib_path)  # the dead process's lock is gone with it
    assert [e["state"] for e in TrashLog(lib).entries()] == ["intent"]
    assert trash.reconcile(lib)["rolled_back"] == 1
    entry = TrashLog(lib).entries()[0]
    assert entry["state"] == "failed" and "left in place" in entry["reason"]
    assert (videos / "b.mp4").exists() and lib.file_by_id(file_id)["presence"] == "present"
    lib.close()


def test_crash_after_the_move_is_finished_and_can_be_undone(tmp_path, videos, xdg_trash):
    lib_path = tmp_path / "lib.sqlite"
    lib = Library(lib_path)
    file_id = index_file(lib, videos / "trip" / "a.mp4", videos)
    lib.close()
    _run_and_die(tmp_path, lib_path, "after-move", [file_id], xdg_trash)
    assert not (videos / "trip" / "a.mp4").exists()
    lib = Library(lib_path)
    assert TrashLog(lib).entries()[0]["state"] == "intent"
    assert trash.reconcile(lib)["finished"] == 1
    entry = TrashLog(lib).entries()[0]
    assert entry["state"] == "trashed" and Path(entry["trashed_path"]).exists()
    assert lib.file_by_id(file_id)["presence"] == "trashed"
    assert trash.undo(lib).done and (videos / "trip" / "a.mp4").exists()
    lib.close()


def test_crash_during_undo_is_finished(tmp_path, videos, xdg_trash):
    lib_path = tmp_path / "lib.sqlite"
    lib = Library(lib_path)
    file_id = index_file(lib, videos / "c.mp4", videos)
    assert trash.move_to_trash(lib, [file_id]).done
    lib.close()
    _run_and_die(tmp_path, lib_path, "during-undo", [], xdg_trash)
    lib = Library(lib_path)
    assert TrashLog(lib).entries()[0]["state"] == "restoring"
    trash.reconcile(lib)
    assert TrashLog(lib).entries()[0]["state"] == "restored"
    assert (videos / "c.mp4").exists() and lib.file_by_id(file_id)["presence"] == "present"
    assert list((xdg_trash / "info").iterdir()) == []
    lib.close()


# ---- purge of missing files: explicit only, never offline ---------------------------
def test_purge_missing_deletes_only_missing_files_under_a_present_root(tmp_path, library):
    here, away = tmp_path / "here", tmp_path / "drive"
    here.mkdir()
    away.mkdir()
    for folder in (here, away):
        for name in ("kept.mp4", "gone.mp4"):
            (folder / name).write_bytes(os.urandom(2000))
    ids = {str(p): index_file(library, p, p.parent) for p in
           (here / "kept.mp4", here / "gone.mp4", away / "kept.mp4", away / "gone.mp4")}
    back = tmp_path / "here" / "back.mp4"
    back.write_bytes(os.urandom(2000))
    ids[str(back)] = index_file(library, back, here)
    (here / "gone.mp4").unlink()
    library.mark([ids[str(here / "gone.mp4")], ids[str(back)]], "missing")  # back: returned
    away.rename(tmp_path / "unplugged")
    library.mark([ids[str(away / "kept.mp4")], ids[str(away / "gone.mp4")]], "offline")

    result = trash.purge_missing(library)
    assert result["purged"] == [str(here / "gone.mp4")]
    assert [k["path"] for k in result["kept"]] == [str(back)]
    gone_id = ids[str(here / "gone.mp4")]
    assert library.file_by_id(gone_id) is None and library.clip(gone_id) is None
    assert library.frames(gone_id) is None  # the index rows went with it
    assert {r["path"] for r in library.files(status=None)} == set(ids) - {str(here / "gone.mp4")}


def test_cli_trash_undo_and_purge(capsys, tmp_path, videos, xdg_trash):
    lib_path = tmp_path / "lib.sqlite"
    lib = Library(lib_path)
    index_file(lib, videos / "b.mp4", videos)
    lib.close()

    def run(*argv):
        code = cli.main(["--library", str(lib_path), *argv, "--json"])
        return code, json.loads(capsys.readouterr().out)

    code, out = run("trash", str(videos / "b.mp4"), str(videos / "unknown.mp4"))
    assert code == 1  # one file was not in the library
    assert out["trashed"] == [{"path": str(videos / "b.mp4"), "method": "os"}]
    assert out["failed"] == [{"path": str(videos / "unknown.mp4"), "reason": "not in the library"}]
    assert not (videos / "b.mp4").exists()
    code, out = run("undo", out["batch"])
    assert code == 0 and out["restored"] == [str(videos / "b.mp4")]
    assert (videos / "b.mp4").exists()
    code, out = run("undo")
    assert code == 0 and out == {"batch": None, "failed": [], "restored": []}
    code, out = run("purge-missing")
    assert code == 0 and out == {"purged": [], "kept": []}
