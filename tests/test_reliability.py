"""Fault tests: decoders that crash or hang, files still being written, odd folders and
names, a scan killed with SIGKILL, two writers, no network, safe export paths.

Every file is generated here; the decode workers run the real pipeline unless a test
wraps it to misbehave on purpose.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import cv2
import pytest

from app import cli
from app.core.indexing.indexer import prepare_clip
from app.core.library.paths import UnsafePath, safe_destination, safe_name
from app.core.library.scanner import Scanner
from app.store.library import Library
from app.store.lock import LibraryLocked
from tests.media_factory import make_audio_only, make_clip

REPO = Path(__file__).resolve().parent.parent


# ---- decode functions for the workers (module level: they are pickled by name) --------
def misbehaving_prepare(path: str):
    name = Path(path).name
    if name.startswith("abort"):
        os.abort()  # what a segfaulting FFmpeg looks like from the parent
    if name.startswith("hang"):
        threading.Event().wait()  # forever: only the parent's deadline ends it
    return prepare_clip(path)


def growing_prepare(path: str):
    """Decodes while another program appends to the file (once per file)."""
    p = Path(path)
    rest = p.with_name(p.name + ".rest")
    if not rest.exists():
        return prepare_clip(path)
    try:
        return prepare_clip(path)
    finally:
        with open(p, "ab") as f:
            f.write(rest.read_bytes())
        rest.unlink()


def counting_prepare(path: str):
    """Records how many decodes run at the same moment (one marker file per running
    decode on the board). Each decode holds until another one runs beside it, or until
    no other file is left to start, so the overlap happens whatever the machine's speed."""
    folder = Path(path).parent.parent
    board, done = folder / "board", folder / "done"
    total = len(list((folder / "clips").iterdir()))
    mine = board / str(os.getpid())
    mine.write_text("")
    try:
        _until(lambda: len(list(board.iterdir())) >= 2
               or len(list(board.iterdir())) + len(list(done.iterdir())) >= total)
        with open(folder / "busy.log", "a") as f:
            f.write(f"{len(list(board.iterdir()))}\n")
        return prepare_clip(path)
    finally:
        (done / Path(path).name).write_text("")
        mine.unlink()


def _until(condition, timeout: float = 120.0) -> None:
    """Wait for a condition another process brings about (files appearing)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition never came true")
        time.sleep(0.01)


def _forbid_network(attempts: list) -> None:
    """Python sockets other than local (AF_UNIX) ones fail, and each try is recorded."""
    real = socket.socket

    class Guarded(real):
        def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
            fam = socket.AF_INET if family == -1 else family
            if fileno is None and fam != socket.AF_UNIX:
                attempts.append(("socket", fam))
                raise OSError("network access is forbidden in this test")
            super().__init__(family, type, proto, fileno)

    def refuse(name):
        def call(*args, **kwargs):
            attempts.append((name, args[:1]))
            raise OSError("network access is forbidden in this test")
        return call

    socket.socket = Guarded
    socket.create_connection = refuse("create_connection")
    socket.getaddrinfo = refuse("getaddrinfo")


def offline_prepare(path: str):
    attempts: list = []
    _forbid_network(attempts)
    clip = prepare_clip(path)
    if attempts:
        raise RuntimeError(f"the decoder tried the network: {attempts}")
    return clip


def _scan(lib, indexer, *paths, **kwargs):
    return Scanner(lib, indexer=indexer, **kwargs).scan([str(p) for p in paths])


def _names(items, key="path"):
    return sorted(Path(i[key] if isinstance(i, dict) else i).name for i in items)


# ---- odd and broken media -----------------------------------------------------------
@pytest.mark.models
def test_odd_files_are_indexed_and_broken_ones_fail_with_a_reason(library, real_indexer,
                                                                    tmp_path):
    edge, bad = tmp_path / "edge", tmp_path / "bad"
    edge.mkdir()
    bad.mkdir()
    make_clip(edge / "rotated.mp4", seconds=2, rotate=90, audio=None)
    make_clip(edge / "tiny.mp4", seconds=2, width=64, height=48)
    make_clip(edge / "one_keyframe.mp4", seconds=10, gop=1000, pattern="moving", audio=None)
    make_clip(edge / "생일 파티 🎂.mp4", seconds=2, pattern="moving")
    shutil.copy(edge / "tiny.mp4", edge / "tiny copy.mp4")
    make_audio_only(edge / "song.m4a")
    good = make_clip(tmp_path / "good.mp4", seconds=4, audio=None).read_bytes()
    (bad / "zero.mp4").write_bytes(b"")
    (bad / "random.mkv").write_bytes(os.urandom(200_000))
    (bad / "notes.mov").write_text("shopping list\n")
    ok, jpeg = cv2.imencode(".jpg", cv2.imread(str(_skimage_image())))
    (bad / "photo.mp4").write_bytes(jpeg.tobytes())
    (bad / "half.mp4").write_bytes(good[: len(good) // 2])
    (bad / "head.mp4").write_bytes(good[:4096])

    report = _scan(library, real_indexer, edge, bad)
    assert _names(report.indexed) == sorted(["rotated.mp4", "tiny.mp4", "tiny copy.mp4",
                                             "one_keyframe.mp4", "생일 파티 🎂.mp4"])
    assert _names(report.skipped) == ["song.m4a"]
    assert _names(report.failed) == sorted(p.name for p in bad.iterdir())
    assert all(f["error"] and "Traceback" not in f["error"] for f in report.failed)
    rotated = library.file(str(edge / "rotated.mp4"))
    assert (rotated["width"], rotated["height"]) == (120, 160)


def _skimage_image() -> Path:
    from skimage import data
    return Path(data.data_dir) / "astronaut.png"


# ---- decoders that crash or hang ----------------------------------------------------
@pytest.mark.models
def test_scan_survives_a_decoder_that_aborts_and_one_that_hangs(library, real_indexer, tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    # Different lengths: byte-identical files would be indexed once and copied.
    for i, name in enumerate(("abort.mp4", "a_good.mp4", "hang.mp4", "z_good.mp4")):
        make_clip(folder / name, seconds=2 + 0.2 * i, audio=None)
    report = _scan(library, real_indexer, folder, prepare=misbehaving_prepare,
                   timeout=lambda size: 6.0)
    assert _names(report.indexed) == ["a_good.mp4", "z_good.mp4"]
    errors = {Path(f["path"]).name: f["error"] for f in report.failed}
    assert "crashed (SIGABRT)" in errors["abort.mp4"]
    assert "did not finish within 6 s" in errors["hang.mp4"]
    for name in ("abort.mp4", "hang.mp4"):  # recorded with the reason, not retried blindly
        row = library.file(str(folder / name))
        assert row["status"] == "failed" and row["reason"] == errors[name]
    again = _scan(library, real_indexer, folder, prepare=misbehaving_prepare)
    assert again.changes["unchanged"] == 4 and len(again.failed) == 2


# ---- files still being written ------------------------------------------------------
@pytest.mark.models
def test_files_being_written_are_deferred_then_indexed_once(library, real_indexer, tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    make_clip(folder / "steady.mp4", seconds=2, audio=None)
    # A recording still growing: it decodes, but the file changes meanwhile.
    make_clip(folder / "growing.mp4", seconds=2)
    (folder / "growing.mp4.rest").write_bytes(b"\0" * 5000)
    # A copy in progress: half the bytes are there, the decoder calls it truncated.
    whole = make_clip(tmp_path / "whole.mp4", seconds=4, audio=None).read_bytes()
    (folder / "copying.mp4").write_bytes(whole[: len(whole) // 2])
    (folder / "copying.mp4.rest").write_bytes(whole[len(whole) // 2:])

    first = _scan(library, real_indexer, folder, prepare=growing_prepare)
    assert _names(first.deferred) == ["copying.mp4", "growing.mp4"]
    assert _names(first.indexed) == ["steady.mp4"] and not first.failed
    assert library.file(str(folder / "copying.mp4")) is None  # no "truncated" verdict kept

    second = _scan(library, real_indexer, folder)
    assert second.changes["new"] == 2 and not second.deferred and not second.failed
    assert second.changes["unchanged"] == 1
    row = library.file(str(folder / "copying.mp4"))
    assert row["status"] == "indexed" and row["size"] == len(whole)
    third = _scan(library, real_indexer, folder)
    assert third.changes["unchanged"] == 3 and third.changes["new"] == third.changes["updated"] == 0
    assert library.conn.execute("SELECT count(*) FROM files").fetchone()[0] == 3


# ---- folders and names a real disk holds --------------------------------------------
def _without_file_permission_override() -> None:
    """preexec_fn: as root, drop the capabilities that ignore file permissions."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP, effective after exec
            raise OSError(ctypes.get_errno(), "cannot drop capabilities")


def _cli_subprocess(*argv, preexec=None, wrap=()) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([*wrap, sys.executable, "-m", "app", *argv], env=env,
                          capture_output=True, timeout=300, preexec_fn=preexec)


@pytest.mark.models
def test_unreadable_folder_and_file_are_reported_and_nothing_goes_missing(
        tmp_path, real_indexer):
    folder = tmp_path / "v"
    (folder / "private").mkdir(parents=True)
    make_clip(folder / "private" / "a.mp4", seconds=2, audio=None)
    lib_path = tmp_path / "lib.sqlite"
    lib = Library(lib_path)
    assert _names(_scan(lib, real_indexer, folder).indexed) == ["a.mp4"]
    lib.close()
    secret = folder / "secret.mp4"
    secret.write_bytes(os.urandom(5000))
    secret.chmod(0)
    (folder / "private").chmod(0)
    try:
        proc = _cli_subprocess("--library", str(lib_path), "scan", str(folder), "--json",
                               preexec=_without_file_permission_override)
    except subprocess.SubprocessError:
        pytest.skip("cannot run a process without root's file permission override")
    finally:
        (folder / "private").chmod(0o755)
        secret.chmod(0o644)
    assert proc.returncode == 0, proc.stderr.decode()
    out = json.loads(proc.stdout)
    assert {"path": str(folder / "private"),
            "reason": "folder not readable (permission denied)"} in out["skipped"]
    assert out["failed"] == [{"path": str(secret), "error": "cannot read (permission denied)"}]
    assert out["changes"]["missing"] == 0  # unknown is not gone
    lib = Library(lib_path)
    assert lib.file(str(folder / "private" / "a.mp4"))["presence"] == "present"
    lib.close()

    folder.chmod(0)  # the whole root unreadable (a share whose login failed): offline
    try:
        proc = _cli_subprocess("--library", str(lib_path), "scan", str(folder), "--json",
                               preexec=_without_file_permission_override)
    finally:
        folder.chmod(0o755)
    out = json.loads(proc.stdout)
    assert out["skipped"] == [{"path": str(folder),
                               "reason": "folder not readable (permission denied)"}]
    assert out["changes"]["offline"] == 1 and out["changes"]["missing"] == 0
    lib = Library(lib_path)
    assert lib.file(str(folder / "private" / "a.mp4"))["presence"] == "offline"
    report = _scan(lib, real_indexer, folder)  # readable again: back, nothing decoded twice
    assert lib.file(str(folder / "private" / "a.mp4"))["presence"] == "present"
    assert report.changes["unchanged"] == 1 and report.changes["new"] == 0
    lib.close()


@pytest.mark.models
def test_symlink_loops_and_links_are_reported(library, real_indexer, tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    make_clip(folder / "real.mp4", seconds=2, audio=None)
    outside = make_clip(tmp_path / "elsewhere.mp4", seconds=2, pattern="moving", audio=None)
    (folder / "loop.mp4").symlink_to("loop.mp4")
    (folder / "dangling.mp4").symlink_to("nowhere.mp4")
    (folder / "alias.mp4").symlink_to("real.mp4")
    (folder / "outside.mp4").symlink_to(outside)
    (folder / "again").symlink_to(".", target_is_directory=True)
    (folder / "sub").mkdir()
    (folder / "sub" / "up").symlink_to("..", target_is_directory=True)

    report = _scan(library, real_indexer, folder)
    assert _names(report.indexed) == ["outside.mp4", "real.mp4"]
    reasons = {Path(s["path"]).name: s["reason"] for s in report.skipped}
    assert reasons["loop.mp4"] == "cannot read (a symbolic link loop)"
    assert "does not exist" in reasons["dangling.mp4"]
    assert reasons["alias.mp4"].startswith("a link to ") and "indexed itself" in reasons["alias.mp4"]
    assert reasons["again"].startswith("a link to a folder")
    assert reasons["up"].startswith("a link to a folder")
    assert not report.failed


def _deep_chain(base: Path, levels: int, name_len: int, place: dict[int, Path]) -> None:
    """Nested folders built relative to open descriptors, so depth has no path limit."""
    fd = os.open(base, os.O_RDONLY)
    try:
        for level in range(levels):
            name = f"{level:02d}" + "d" * (name_len - 2)
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
            if level in place:
                os.rename(place[level], place[level].name, dst_dir_fd=fd)
    finally:
        os.close(fd)


@pytest.mark.models
def test_very_long_paths_are_indexed_or_reported(library, real_indexer, tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    legal = make_clip(tmp_path / "legal.mp4", seconds=2, audio=None)
    deep = make_clip(tmp_path / "too_deep.mp4", seconds=2, pattern="moving", audio=None)
    _deep_chain(folder, levels=24, name_len=200, place={8: legal, 23: deep})
    try:
        report = _scan(library, real_indexer, folder)
        assert _names(report.indexed) == ["legal.mp4"]
        assert len(report.indexed[0]) > 1800  # ~1,800 characters: long, but within the limit
        assert any("longer than the system allows" in s["reason"] for s in report.skipped)
        assert not report.failed
    finally:
        shutil.rmtree(folder)  # descriptor-based: copes with the depth


@pytest.mark.models
def test_names_that_are_not_utf8_are_indexed_losslessly(capsys, tmp_path, real_models_dir,
                                                         real_indexer):
    base = os.fsencode(tmp_path / "v")
    os.makedirs(base + b"/d\xe9j\xe0")
    raw = base + b"/d\xe9j\xe0/caf\xe9 \xff.mp4"
    os.rename(make_clip(tmp_path / "x.mp4", seconds=2, audio=None), raw)
    path = os.fsdecode(raw)
    lib_path = tmp_path / "lib.sqlite"
    lib = Library(lib_path)
    report = _scan(lib, real_indexer, os.fsdecode(base))
    assert report.indexed == [path] and not report.failed
    row = lib.file(path)
    assert row["path"] == path and os.fsencode(row["path"]) == raw
    assert lib.files()[0]["path"] == path and lib.segments(row["id"])
    lib.close()
    raw_db = sqlite3.connect(lib_path)  # stored as the exact name bytes
    assert raw_db.execute("SELECT typeof(path), path FROM files").fetchone() == ("blob", raw)
    raw_db.close()

    code = cli.main(["--library", str(lib_path), "scan", os.fsdecode(base), "--json"])
    out = json.loads(capsys.readouterr().out)  # valid JSON; \udcXX escapes round-trip
    assert code == 0 and out["indexed"] == [path] and out["changes"]["unchanged"] == 1
    code = cli.main(["--library", str(lib_path), "info", path, "--json"])
    info = json.loads(capsys.readouterr().out)
    assert code == 0 and info["path"] == path and info["status"] == "indexed"


@pytest.mark.models
def test_no_more_decodes_at_once_than_workers(library, real_indexer, tmp_path):
    folder = tmp_path / "v"
    (folder / "clips").mkdir(parents=True)
    (folder / "board").mkdir()
    (folder / "done").mkdir()
    for i in range(5):  # different lengths: byte copies would be decoded only once
        make_clip(folder / "clips" / f"{i}.mp4", seconds=1 + 0.2 * i, audio=None)
    report = _scan(library, real_indexer, folder, prepare=counting_prepare, workers=2)
    assert len(report.indexed) == 5
    busy = [int(n) for n in (folder / "busy.log").read_text().split()]
    assert len(busy) == 5 and max(busy) == 2  # two run together, never three


# ---- SIGKILL in the middle of a scan ------------------------------------------------
def _indexed_paths(lib_path: Path) -> set[str]:
    try:
        conn = sqlite3.connect(f"file:{lib_path}?mode=ro", uri=True, timeout=1)
    except sqlite3.OperationalError:  # not created yet
        return set()
    try:
        return {r[0] for r in conn.execute("SELECT path FROM files WHERE status = 'indexed'")}
    except sqlite3.OperationalError:  # no schema yet
        return set()
    finally:
        conn.close()


SCAN_TELLING = textwrap.dedent("""
    import sys
    from app.core.library.scanner import Scanner
    from app.settings import Settings
    from app.store.library import Library

    def tell(p):
        if p.phase == "indexing":
            print(f"indexed {p.done} of {p.total}", flush=True)

    lib = Library(sys.argv[1])
    Scanner.from_settings(lib, Settings(), workers=1).scan([sys.argv[2]], progress=tell)
""")


@pytest.mark.models
def test_sigkill_mid_scan_loses_nothing_and_the_next_scan_resumes(tmp_path, real_indexer):
    folder = tmp_path / "v"
    folder.mkdir()
    for i in range(12):
        make_clip(folder / f"clip{i:02d}.mp4", seconds=4, pattern=("square", "moving")[i % 2],
                  tone_hz=400.0 + 150 * i)  # every file different: no byte copies
    lib_path = tmp_path / "lib.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # The app's scan, telling (on stdout) each time a file is in the library; killed as
    # soon as the first one is, while it works on the next.
    proc = subprocess.Popen([sys.executable, "-c", SCAN_TELLING, str(lib_path), str(folder)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        told = proc.stdout.readline()
        before = _indexed_paths(lib_path)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert told.startswith(b"indexed 1 "), proc.stderr.read().decode()
    assert proc.returncode == -signal.SIGKILL
    assert before, "nothing was indexed before the kill"

    lib = Library(lib_path)  # the killed scan's lock died with it
    try:
        assert lib.integrity_ok()
        after = {f["path"] for f in lib.files()}
        assert before <= after and len(after) < 12, "the scan was not interrupted"
        for path in after:  # each file was written whole or not at all
            file_id = lib.file(path)["id"]
            assert lib.clip(file_id) and lib.frames(file_id) and lib.thumbs(file_id)
            assert lib.segments(file_id)
        report = Scanner(lib, indexer=real_indexer).scan([str(folder)])
        assert report.changes["unchanged"] == len(after)  # not decoded again
        assert report.changes["new"] == 12 - len(after)
        assert len(lib.files()) == 12 and lib.integrity_ok()
    finally:
        lib.close()


# ---- one writer per library, readers never blocked ----------------------------------
HOLDER = textwrap.dedent("""
    import sys
    from app.store.library import Library
    lib = Library(sys.argv[1])
    lib.conn.execute("BEGIN IMMEDIATE")  # a write in progress
    lib.conn.execute("INSERT INTO roots(path) VALUES ('/not/committed')")
    print("holding", flush=True)
    sys.stdin.readline()
""")


def test_a_second_writer_is_refused_and_readers_are_not_blocked(tmp_path, capsys):
    from tests.test_trash import index_file
    lib_path = tmp_path / "lib.sqlite"
    clip = tmp_path / "v" / "a.mp4"
    clip.parent.mkdir()
    clip.write_bytes(os.urandom(3000))
    lib = Library(lib_path)
    index_file(lib, clip, clip.parent)
    lib.close()

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(lib_path)], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"holding\n"
        with pytest.raises(LibraryLocked, match=f"open in another Reelvault \\(pid {holder.pid}"):
            Library(lib_path)
        code = cli.main(["--library", str(lib_path), "scan", str(clip.parent), "--json"])
        assert code == 1 and "open in another Reelvault" in capsys.readouterr().err

        reader = Library(lib_path, readonly=True)
        reader.conn.execute("PRAGMA busy_timeout = 0")  # a wait would fail at once
        assert [r["path"] for r in reader.roots()] == [str(clip.parent)]  # committed only
        assert reader.file(str(clip))["status"] == "indexed"
        with pytest.raises(sqlite3.OperationalError):
            reader.conn.execute("DELETE FROM files")
        reader.close()
        code = cli.main(["--library", str(lib_path), "info", str(clip), "--json"])
        assert code == 0 and json.loads(capsys.readouterr().out)["path"] == str(clip)
    finally:
        holder.stdin.close()
        holder.wait(30)
    Library(lib_path).close()  # free again once the holder is gone


def _locked_for_other_processes(db: Path) -> bool:
    """Whether another process would be refused: a new open file description cannot take
    the flock while this process holds it."""
    import fcntl

    from app.store.lock import lock_path
    fd = os.open(lock_path(db), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def test_one_process_shares_its_lock(tmp_path):
    """The GUI opens the library on several threads: that is one writer, not many."""
    db = tmp_path / "lib.sqlite"
    first = Library(db)
    second = Library(db)  # would raise LibraryLocked if the lock were not shared
    second.add_root("/written/by/the/second")
    second.close()
    assert _locked_for_other_processes(db)  # closing the second kept the first's lock
    first.add_root("/still/writable")
    first.close()
    assert not _locked_for_other_processes(db)  # the last one out released it
    reader = Library(tmp_path / "lib.sqlite", readonly=True)
    try:
        assert sorted(r["path"] for r in reader.roots()) == ["/still/writable",
                                                             "/written/by/the/second"]
    finally:
        reader.close()


# ---- no network -----------------------------------------------------------------------
def _read_commands(clip: Path) -> list[list[str]]:
    """Every reading command the CLI has (search and duplicates when present)."""
    choices = next(a for a in cli.build_parser()._actions if a.dest == "command").choices
    commands = [["info", str(clip)], ["tags", str(clip)]]
    if "search" in choices:
        commands.append(["search", "a red square"])
    if "similar" in choices:
        commands.append(["similar", str(clip)])
    if "duplicates" in choices:
        commands.append(["duplicates"])
    if "albums" in choices:
        commands.append(["albums"])
    return commands


@pytest.mark.models
def test_everything_works_in_a_namespace_without_network(tmp_path, real_models_dir):
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-rn", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -rn is not available here")
    folder = tmp_path / "v"
    folder.mkdir()
    clip = make_clip(folder / "red.mp4", seconds=3, audio="tone")
    make_clip(folder / "moving.mp4", seconds=3, pattern="moving")
    shutil.copy(clip, folder / "red copy.mp4")
    lib = ["--library", str(tmp_path / "lib.sqlite")]
    proc = _cli_subprocess(*lib, "scan", str(folder), "--json", wrap=("unshare", "-rn"))
    assert proc.returncode == 0, proc.stderr.decode()
    assert len(json.loads(proc.stdout)["indexed"]) == 3
    for command in _read_commands(clip):
        proc = _cli_subprocess(*lib, *command, "--json", wrap=("unshare", "-rn"))
        assert proc.returncode == 0, (command, proc.stderr.decode())
        json.loads(proc.stdout)


@pytest.mark.models
def test_everything_works_with_python_sockets_forbidden(tmp_path, capsys, monkeypatch,
                                                        real_indexer):
    folder = tmp_path / "v"
    folder.mkdir()
    clip = make_clip(folder / "red.mp4", seconds=3, audio="tone")
    shutil.copy(clip, folder / "red copy.mp4")
    attempts: list = []
    for name in ("socket", "create_connection", "getaddrinfo"):
        monkeypatch.setattr(socket, name, getattr(socket, name))  # restored after the test
    _forbid_network(attempts)
    lib_path = tmp_path / "lib.sqlite"
    lib = Library(lib_path)
    report = _scan(lib, real_indexer, folder, prepare=offline_prepare)
    lib.close()
    assert len(report.indexed) == 2 and not report.failed
    for command in _read_commands(clip):
        code = cli.main(["--library", str(lib_path), *command, "--json"])
        assert code == 0, command
        json.loads(capsys.readouterr().out)
    assert attempts == []


# ---- writing only inside the destination ---------------------------------------------
@pytest.mark.parametrize("name", ["../escape.mp4", "a/../../escape.mp4", "/etc/passwd",
                                  "C:\\Windows\\x.mp4", "\\\\server\\share\\x", "..", "",
                                  "a\0b.mp4", "..\\escape.mp4", "link/escape.mp4"])
def test_safe_destination_refuses_to_leave_the_folder(tmp_path, name):
    root = tmp_path / "export"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    (root / "link").symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(UnsafePath):
        safe_destination(root, name)


def test_safe_destination_allows_names_and_sub_folders(tmp_path):
    root = tmp_path / "export"
    root.mkdir()
    assert safe_destination(root, "Trip 2024/clip.mp4") == root.resolve() / "Trip 2024" / "clip.mp4"
    assert safe_destination(root, "..clip.mp4") == root.resolve() / "..clip.mp4"


@pytest.mark.parametrize("title,expected", [
    ("Trip / 2024", "Trip 2024"), ("../../etc/passwd", "etc passwd"), ("..", "untitled"),
    (".hidden", "hidden"), ("a:b*c?", "a b c"), ("CON", "untitled CON"), ("  ", "untitled"),
    ("Fête 🎂", "Fête 🎂"),
])
def test_safe_name_makes_one_harmless_name(tmp_path, title, expected):
    name = safe_name(title)
    assert name == expected
    assert safe_destination(tmp_path, name).parent == tmp_path.resolve()


def test_safe_name_fits_the_file_system():
    assert len(safe_name("é" * 500).encode()) <= 240
