"""A hostile user and a bare machine: one file under two names, impossible dates, paths
reused after the trash, damaged or foreign libraries, read-only places, a full disk,
Ctrl-C, closed pipes, two names for one library, odd settings, right-to-left names,
missing Qt libraries, pausing a scan.

Every file is generated here; scans run the real models where they index.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app import cli
from app.core.library.scanner import Scanner
from app.store.library import Library
from app.store.lock import LibraryLocked
from tests.app_window import open_window
from tests.media_factory import make_clip

REPO = Path(__file__).resolve().parent.parent


def _scan(lib, indexer, *paths, **kwargs):
    return Scanner(lib, indexer=indexer, **kwargs).scan([str(p) for p in paths])


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _run(*argv, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), **kwargs.pop("env", {})}
    return subprocess.run([sys.executable, "-m", "app", *map(str, argv)], env=env,
                          capture_output=True, text=True, timeout=120, **kwargs)


def _has_user_namespaces() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-rm", "true"], capture_output=True).returncode == 0


# ---- 2: a modification time no calendar holds ------------------------------------------
@pytest.fixture
def _far_time_dirs():
    made = []
    yield made
    for d in made:
        shutil.rmtree(d, ignore_errors=True)


def _folder_keeping_far_times(tmp_path: Path) -> Path:
    """A folder whose file system stores the year 11476 (ext4 clamps it to 2446; tmpfs
    keeps it)."""
    import tempfile
    for base in (tmp_path, Path("/dev/shm")):
        if not base.is_dir():
            continue
        folder = Path(tempfile.mkdtemp(dir=base))
        probe = folder / "probe"
        probe.write_bytes(b"")
        os.utime(probe, (300000000000, 300000000000))
        kept = probe.stat().st_mtime == 300000000000
        probe.unlink()
        if kept:
            return folder
        shutil.rmtree(folder)
    pytest.skip("no file system here stores a modification time in the year 11476")

@pytest.mark.models
def test_an_impossible_modification_time_is_that_files_problem_not_the_scans(
        tmp_path, real_indexer, capsys, _far_time_dirs):
    folder = _folder_keeping_far_times(tmp_path)
    _far_time_dirs.append(folder)
    make_clip(folder / "a.mp4", seconds=2, audio=None)
    make_clip(folder / "b.mp4", seconds=2.4, audio=None)
    os.utime(folder / "a.mp4", (300000000000, 300000000000))  # the year 11476
    lib_path = tmp_path / "lib.sqlite"
    lib = Library(lib_path)
    report = _scan(lib, real_indexer, folder)
    assert sorted(Path(p).name for p in report.indexed) == ["a.mp4", "b.mp4"]
    assert report.failed == []
    row = lib.file(str(folder / "a.mp4"))
    assert row["mtime"] == 300000000000 and row["file_time"] is None  # raw, no date
    assert _scan(lib, real_indexer, folder).changes["unchanged"] == 2
    lib.close()
    code, out, _ = _cli(capsys, "--library", lib_path, "info", folder / "a.mp4")
    assert code == 0 and "file date unknown" in out


# ---- 5: damaged, foreign, empty, read-only libraries; full disk; Ctrl-C; pipes -------
def _good_library(path: Path, clip_folder: Path | None = None) -> Path:
    lib = Library(path)
    lib.add_root("/videos")
    if clip_folder is not None:
        from tests.test_trash import index_file
        for i, clip in enumerate(sorted(clip_folder.iterdir())):
            index_file(lib, clip, clip_folder, seed=i)
    lib.close()
    return path


def _damaged(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.sqlite"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("my shopping list\n")
    else:
        _good_library(path)
        data = bytearray(path.read_bytes())
        if kind == "half":
            data = data[: len(data) // 2]
        else:  # zeroed header
            data[:100] = bytes(100)
        path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("kind", ["empty", "text", "half", "zeroed_header"])
@pytest.mark.parametrize("command", [["info", "x.mp4"], ["scan", "FOLDER"], ["check"]])
def test_a_damaged_library_gets_one_line_and_exit_code_3(tmp_path, kind, command):
    path = _damaged(tmp_path, kind)
    before = path.read_bytes()
    (tmp_path / "folder").mkdir()
    argv = [a.replace("FOLDER", str(tmp_path / "folder")) for a in command]
    done = _run("--library", path, *argv)
    assert done.returncode == cli.EXIT_LIBRARY, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reelvault: ") and "Traceback" not in done.stderr
    assert str(path) in lines[0] and "choose another file" in lines[0]
    assert path.read_bytes() == before  # never turned into a new library, never repaired


def test_a_damaged_library_names_the_backup_made_before_the_last_upgrade(tmp_path, capsys):
    path = _good_library(tmp_path / "lib.sqlite")
    backup = tmp_path / "lib.sqlite.v3.bak"
    shutil.copy(path, backup)
    data = bytearray(path.read_bytes())
    data[:100] = bytes(100)
    path.write_bytes(bytes(data))
    code, _, err = _cli(capsys, "--library", path, "info", "x.mp4")
    assert code == cli.EXIT_LIBRARY and "damaged" in err and str(backup) in err


def test_a_foreign_sqlite_database_is_never_written(tmp_path, capsys):
    path = tmp_path / "notes.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.execute("INSERT INTO notes(text) VALUES ('buy milk')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    for argv in (["scan", str(tmp_path)], ["info", "x.mp4"], ["gui", "--screenshot",
                                                                str(tmp_path / "s.png")]):
        code, _, err = _cli(capsys, "--library", path, *argv)
        assert code == cli.EXIT_LIBRARY and "another program" in err and "notes" in err
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.sqlite"]  # no -wal, no lock
    assert not (tmp_path / "s.png").exists()


def test_libraries_carry_an_application_id_and_older_ones_are_accepted(tmp_path):
    from app.store import health, migrations
    path = _good_library(tmp_path / "new.sqlite")
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == health.APPLICATION_ID
    # A library from before the application id: our tables, id 0, schema 3.
    old = tmp_path / "old.sqlite"
    conn = sqlite3.connect(old)
    for number, script in enumerate(migrations.MIGRATIONS[:3], 1):
        conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
    conn.close()
    Library(old).close()
    conn = sqlite3.connect(old)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == health.APPLICATION_ID
    assert (tmp_path / "old.sqlite.v3.bak").exists()


def test_a_zeroed_page_is_found_at_open_and_by_check(tmp_path, capsys):
    folder = tmp_path / "v"
    folder.mkdir()
    for i in range(40):  # enough rows for the index pages to span several pages
        (folder / f"clip{i:02d}.mp4").write_bytes(os.urandom(2000 + i))
    path = _good_library(tmp_path / "lib.sqlite", folder)
    code, out, _ = _cli(capsys, "--library", path, "check", "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    # A leaf page of the files table's path index: zeroing it breaks the b-tree.
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = "
                        "'sqlite_autoindex_files_1'").fetchone()[0]
    conn.close()
    with open(path, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(bytes(page_size))
    from app.store import health
    health._quick_checked.clear()  # a new process would check again
    code, _, err = _cli(capsys, "--library", path, "info", "x.mp4")
    assert code == cli.EXIT_LIBRARY and "damaged" in err and "reelvault check" in err
    code, out, _ = _cli(capsys, "--library", path, "check", "--json")
    report = json.loads(out)
    assert code == cli.EXIT_LIBRARY and report["ok"] is False and report["problems"]


class _CountingConnection:
    """A real connection that records the statements run through it."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn, self.statements = conn, []

    def execute(self, sql, *args):
        self.statements.append(sql)
        return self.conn.execute(sql, *args)

    def interrupt(self):
        self.conn.interrupt()


def _quick_checks_at_open(path: Path) -> int:
    """How many quick checks a new process opening ``path`` runs."""
    from app.store import health
    health._quick_checked.clear()  # a new process
    conn = sqlite3.connect(path)
    counting = _CountingConnection(conn)
    try:
        health.quick_check(counting, path)
    finally:
        conn.close()
    return sum("quick_check" in sql for sql in counting.statements)


def test_an_unchanged_library_is_not_checked_again_by_each_new_process(tmp_path, monkeypatch):
    monkeypatch.setenv("REELVAULT_CACHE", str(tmp_path / "cache"))
    path = _good_library(tmp_path / "lib.sqlite")
    assert _quick_checks_at_open(path) == 1  # never checked: checked
    assert _quick_checks_at_open(path) == 0  # passed on these very bytes before
    Library(path, readonly=True).close()  # reading changes nothing
    assert _quick_checks_at_open(path) == 0
    lib = Library(path)
    lib.add_root("/more videos")  # a write: the file (or its WAL) is not what was checked
    lib.close()
    assert _quick_checks_at_open(path) == 1
    assert _quick_checks_at_open(path) == 0
    shutil.copyfile(path, tmp_path / "copy.sqlite")
    os.replace(tmp_path / "copy.sqlite", path)  # another file under the same name
    assert _quick_checks_at_open(path) == 1


def test_damage_written_in_place_is_found_though_the_file_passed_before(tmp_path, monkeypatch):
    """Even with its modification time put back: the change time still moves."""
    from app.store import health
    monkeypatch.setenv("REELVAULT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "v"
    folder.mkdir()
    for i in range(40):
        (folder / f"clip{i:02d}.mp4").write_bytes(os.urandom(2000 + i))
    path = _good_library(tmp_path / "lib.sqlite", folder)
    assert _quick_checks_at_open(path) == 1 and _quick_checks_at_open(path) == 0
    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = "
                        "'sqlite_autoindex_files_1'").fetchone()[0]
    conn.close()
    before = os.stat(path)
    with open(path, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(bytes(page_size))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    health._quick_checked.clear()
    with pytest.raises(health.LibraryError, match="damaged"):
        Library(path, readonly=True)


def test_the_gui_screenshot_on_an_unusable_library_exits_at_once(tmp_path):
    path = _damaged(tmp_path, "text")
    done = _run("--library", path, "gui", "--screenshot", tmp_path / "s.png",
                env={"QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == cli.EXIT_LIBRARY and "not a Reelvault library" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "s.png").exists()


NAMESPACE_SCRIPT = """
set -u
mount --bind -o ro "$RO" "$RO"
mount -t tmpfs -o size=160k tmpfs "$FULL"
run() { "$PY" -m app "$@" >/dev/null 2>>"$ERR"; echo $?; }
echo "scan_ro_folder $(run --library "$RO/lib.sqlite" scan "$VIDEOS")"
echo "info_ro_folder $(run --library "$RO/lib.sqlite" info "$VIDEOS/a.mp4")"
echo "new_in_ro_folder $(run --library "$RO/new.sqlite" scan "$VIDEOS")"
echo "full_disk $(run --library "$FULL/lib.sqlite" scan "$VIDEOS")"
"""


@pytest.mark.models
def test_read_only_places_and_a_full_disk_get_one_line_and_their_exit_code(tmp_path):
    if not _has_user_namespaces():
        pytest.skip("unshare -rm is not available here (needed to mount read-only/tiny)")
    ro, full, videos = tmp_path / "ro", tmp_path / "full", tmp_path / "videos"
    for d in (ro, full, videos):
        d.mkdir()
    for i in range(3):
        make_clip(videos / f"{'abc'[i]}.mp4", seconds=2 + i * 0.3, audio=None)
    _good_library(ro / "lib.sqlite", videos)
    err = tmp_path / "err.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO), "PY": sys.executable, "RO": str(ro),
           "FULL": str(full), "VIDEOS": str(videos), "ERR": str(err)}
    done = subprocess.run(["unshare", "-rm", "sh", "-c", NAMESPACE_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=300)
    codes = dict(line.split() for line in done.stdout.splitlines())
    assert codes == {"scan_ro_folder": str(cli.EXIT_READ_ONLY), "info_ro_folder": "0",
                     "new_in_ro_folder": str(cli.EXIT_READ_ONLY),
                     "full_disk": str(cli.EXIT_NO_SPACE)}, done.stderr
    lines = err.read_text().strip().splitlines()
    assert len(lines) == 3 and "Traceback" not in err.read_text()
    assert "cannot be written" in lines[0] and "make it writable" in lines[0]
    assert "full" in lines[2] and "free some space" in lines[2]


def test_a_closed_pipe_ends_quietly(tmp_path):
    path = _good_library(tmp_path / "lib.sqlite")
    read, write = os.pipe()
    os.close(read)  # the reader (`| head`) is gone before anything is written
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "app", "--library", str(path), "check"],
                          env=env, stdout=write, stderr=subprocess.PIPE, text=True, timeout=60)
    os.close(write)
    assert done.returncode == cli.EXIT_BROKEN_PIPE and done.stderr == ""


@pytest.mark.models
def test_ctrl_c_during_a_scan_gets_one_line_and_keeps_what_was_done(tmp_path):
    videos = tmp_path / "v"
    videos.mkdir()
    for i in range(12):
        make_clip(videos / f"c{i:02d}.mp4", seconds=2 + i * 0.1, audio=None)
    path = tmp_path / "lib.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # Its own process group, as a terminal's Ctrl-C signals every process of the job.
    proc = subprocess.Popen([sys.executable, "-m", "app", "--library", str(path), "scan",
                             str(videos), "--workers", "1"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            n = conn.execute("SELECT count(*) FROM files").fetchone()[0]
            conn.close()
        except sqlite3.Error:
            n = 0
        if n >= 1:
            break
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == cli.EXIT_INTERRUPTED
    assert err.strip().splitlines() == ["reelvault: interrupted (what was finished is saved)"]
    lib = Library(path, readonly=True)
    assert 1 <= len(lib.files()) < 12
    lib.close()


# ---- 6: one library, one writer, whatever its name ------------------------------------
def test_a_symbolic_link_to_a_library_shares_its_lock(tmp_path):
    from tests.test_reliability import HOLDER
    real = _good_library(tmp_path / "lib.sqlite")
    alias = tmp_path / "alias.sqlite"
    alias.symlink_to(real)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(alias)], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"holding\n"
        with pytest.raises(LibraryLocked, match="open in another Reelvault"):
            Library(real)
    finally:
        holder.stdin.close()
        holder.wait(30)
    Library(real).close()


def test_a_library_with_a_second_hard_link_is_refused_for_writing(tmp_path):
    real = _good_library(tmp_path / "lib.sqlite")
    os.link(real, tmp_path / "other.sqlite")
    with pytest.raises(LibraryLocked, match="hard links"):
        Library(tmp_path / "other.sqlite")
    Library(real, readonly=True).close()  # reading stays possible
    os.unlink(tmp_path / "other.sqlite")
    Library(real).close()


# ---- 1: one folder under two names ----------------------------------------------------
@pytest.fixture
def one_folder_two_names(tmp_path) -> Path:
    base = tmp_path / "r1"
    (base / "real").mkdir(parents=True)
    make_clip(base / "real" / "holiday.mp4", seconds=2, audio="tone")
    (base / "alias").symlink_to("real")
    return base


@pytest.mark.models
def test_one_folder_under_two_names_is_indexed_once_and_never_its_own_copy(
        tmp_path, one_folder_two_names, real_indexer, xdg_trash):
    from app.core.duplicates.finder import find_duplicates
    from app.core.library import trash
    base = one_folder_two_names
    lib = Library(tmp_path / "r1.sqlite")
    report = _scan(lib, real_indexer, base / "real", base / "alias")
    assert report.indexed == [str(base / "real" / "holiday.mp4")]
    assert [s["path"] for s in report.skipped] == [str(base / "alias" / "holiday.mp4")]
    assert "same file as" in report.skipped[0]["reason"]
    assert find_duplicates(lib) == []
    # Scanned again under the other name only: still one file.
    assert _scan(lib, real_indexer, base / "alias").indexed == []
    assert [f["path"] for f in lib.files()] == [str(base / "real" / "holiday.mp4")]
    assert trash.trash_paths(lib, [str(base / "alias" / "holiday.mp4")]).done == []
    lib.close()


@pytest.mark.models
def test_a_library_that_indexed_both_names_offers_no_duplicate_and_refuses_the_trash(
        tmp_path, one_folder_two_names, real_indexer, xdg_trash):
    """A library made before inodes were known has a row for each name."""
    from app.core.duplicates.finder import find_duplicates
    from app.core.library import trash
    from tests.test_trash import index_file
    base = one_folder_two_names
    lib = Library(tmp_path / "r1.sqlite")
    real_id = index_file(lib, base / "real" / "holiday.mp4", base / "real", seed=1)
    alias_id = index_file(lib, base / "alias" / "holiday.mp4", base / "alias", seed=1)
    assert find_duplicates(lib) == []
    result = trash.move_to_trash(lib, [real_id])
    assert result.done == [] and "same file as" in result.failed[0]["reason"]
    assert (base / "real" / "holiday.mp4").exists()
    # A scan puts it right: the second name becomes a skipped entry without an index.
    _scan(lib, real_indexer, base / "real", base / "alias")
    assert lib.file_by_id(alias_id)["status"] == "skipped" and lib.clip(alias_id) is None
    assert lib.file_by_id(real_id)["status"] == "indexed"
    lib.close()


@pytest.mark.models
def test_a_hard_link_is_the_same_file(tmp_path, real_indexer):
    folder = tmp_path / "v"
    folder.mkdir()
    make_clip(folder / "a.mp4", seconds=2, audio=None)
    os.link(folder / "a.mp4", folder / "b.mp4")
    lib = Library(tmp_path / "lib.sqlite")
    report = _scan(lib, real_indexer, folder)
    assert _names(report.indexed) == ["a.mp4"] and _names(report.skipped) == ["b.mp4"]
    lib.close()


@pytest.mark.parametrize("target", ["/", "/proc", "/sys/kernel", "/dev"])
def test_system_folders_are_refused_even_through_a_link(tmp_path, target):
    if not os.path.isdir(target):
        pytest.skip(f"no {target} here")
    link = tmp_path / "videos"
    link.symlink_to(target)
    lib = Library(tmp_path / "lib.sqlite")
    # No indexer: refusing must not need the models, and nothing is walked or decoded.
    report = Scanner(lib, indexer_factory=lambda: pytest.fail("models loaded")).scan([link])
    assert [s["path"] for s in report.skipped] == [str(link)]
    assert "system folder" in report.skipped[0]["reason"] and lib.roots() == []
    lib.close()


@pytest.mark.models
def test_the_home_folders_hidden_folders_are_not_walked(tmp_path, real_indexer, monkeypatch):
    home = tmp_path / "home"
    (home / ".cache" / "app").mkdir(parents=True)
    (home / "Videos").mkdir()
    make_clip(home / ".cache" / "app" / "preview.mp4", seconds=2, audio=None)
    make_clip(home / "Videos" / "trip.mp4", seconds=2.2, audio=None)
    monkeypatch.setenv("HOME", str(home))
    lib = Library(tmp_path / "lib.sqlite")
    assert _names(_scan(lib, real_indexer, home).indexed) == ["trip.mp4"]
    lib.close()


def _names(items, key="path"):
    return sorted(Path(i[key] if isinstance(i, dict) else i).name for i in items)


# ---- 4: a trashed clip's rows belong to its trash entry -------------------------------
@pytest.mark.models
def test_a_new_file_at_a_trashed_clips_path_leaves_the_trashed_rows_alone(
        tmp_path, real_indexer, xdg_trash):
    from app.core.library import trash
    folder = tmp_path / "v"
    folder.mkdir()
    make_clip(folder / "a.mp4", seconds=2, pattern="square", audio=None)
    lib = Library(tmp_path / "lib.sqlite")
    _scan(lib, real_indexer, folder)
    old = lib.file(str(folder / "a.mp4"))
    old_vectors = lib.clip(old["id"])["visual"].tobytes()
    assert trash.trash_paths(lib, [str(folder / "a.mp4")]).done
    make_clip(folder / "a.mp4", seconds=3, pattern="noise", audio=None)  # a new file there
    report = _scan(lib, real_indexer, folder)
    assert report.changes["new"] == 1
    new = lib.file(str(folder / "a.mp4"))
    assert new["id"] != old["id"]
    assert lib.file_by_id(old["id"])["presence"] == "trashed"
    assert lib.clip(old["id"])["visual"].tobytes() == old_vectors
    assert lib.thumbs(old["id"]) is not None and lib.segments(old["id"])
    # The new file moves away; Undo brings the old one back with its own index.
    (folder / "a.mp4").rename(folder / "b.mp4")
    undone = trash.undo(lib)
    assert undone.failed == [] and (folder / "a.mp4").exists()
    back = lib.file(str(folder / "a.mp4"))
    assert back["id"] == old["id"] and back["presence"] == "present"
    assert lib.clip(old["id"])["visual"].tobytes() == old_vectors
    assert lib.file_by_id(new["id"])["presence"] == "missing"
    report = _scan(lib, real_indexer, folder)  # the new file is found under its new name
    assert report.changes["moved"] == 1
    assert lib.file(str(folder / "b.mp4"))["id"] == new["id"]
    lib.close()


def test_undo_after_the_trash_was_emptied_says_so_once_then_forgets(
        tmp_path, xdg_trash, capsys):
    from app.core.library import trash
    from tests.test_trash import index_file
    folder = tmp_path / "v"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(os.urandom(5000))
    lib_path = tmp_path / "lib.sqlite"
    lib = Library(lib_path)
    file_id = index_file(lib, folder / "a.mp4", folder)
    result = trash.trash_paths(lib, [str(folder / "a.mp4")])
    assert result.done
    shutil.rmtree(xdg_trash)  # emptied by hand
    lib.close()
    code, out, err = _cli(capsys, "--library", lib_path, "undo", "--json")
    assert code == 1 and "no longer in the trash" in json.loads(out)["failed"][0]["reason"]
    code, out, _ = _cli(capsys, "--library", lib_path, "undo")
    assert code == 0 and out.strip() == "nothing to undo"
    code, out, _ = _cli(capsys, "--library", lib_path, "purge-missing", "--json")
    assert code == 0 and json.loads(out)["purged"]
    lib = Library(lib_path)
    assert lib.file_by_id(file_id) is None
    lib.close()



# ---- 2 (the rule): any error indexing a file is that file's ---------------------------
def prepare_or_break(path: str):
    """The real decoder, except that files named broken* come back as nonsense the
    indexer cannot use (an error in the parent, after decoding)."""
    from app.core.indexing.indexer import prepare_clip
    if Path(path).name.startswith("broken"):
        return "not a prepared clip"
    return prepare_clip(path)


@pytest.mark.models
def test_an_error_indexing_one_file_fails_that_file_only(tmp_path, real_indexer):
    folder = tmp_path / "v"
    folder.mkdir()
    for i, name in enumerate(("a.mp4", "broken.mp4", "c.mp4")):
        make_clip(folder / name, seconds=2 + 0.3 * i, audio=None)
    lib = Library(tmp_path / "lib.sqlite")
    report = _scan(lib, real_indexer, folder, prepare=prepare_or_break)
    assert _names(report.indexed) == ["a.mp4", "c.mp4"]
    assert _names(report.failed) == ["broken.mp4"]
    assert "could not be indexed" in report.failed[0]["error"]
    assert lib.file(str(folder / "broken.mp4"))["status"] == "failed"
    lib.close()


# ---- 7: odd settings, names that pose as another extension ----------------------------
@pytest.mark.parametrize("text", ['{"workers": 1e309, "theme": "light"}',
                                  '{"threads": Infinity, "theme": "light"}',
                                  '{"workers": -Infinity, "theme": "light"}',
                                  '{"workers": NaN, "theme": "light"}',
                                  '{"exclude": ' + "[" * 100_000 + "]" * 100_000 + "}",
                                  "[" * 100_000 + "]" * 100_000])
def test_settings_with_huge_infinite_or_deep_values_fall_back_to_defaults(tmp_path, text):
    from app import settings
    path = tmp_path / "settings.json"
    path.write_text(text)
    loaded = settings.load(path)
    assert loaded == settings.Settings() or (loaded.workers == 0 and loaded.threads == 0)
    assert isinstance(loaded.workers, int) and isinstance(loaded.threads, int)


def test_turning_faces_off_survives_saving_and_loading(tmp_path):
    from app import settings
    path = tmp_path / "settings.json"
    settings.save(settings.Settings(faces=False, theme="light"), path)
    loaded = settings.load(path)
    assert loaded.faces is False and loaded.theme == "light"
    path.write_text('{"faces": "no"}', encoding="utf-8")  # not a boolean: the default
    assert settings.load(path).faces is True


def test_names_with_direction_controls_show_them_escaped():
    from app.gui import fmt
    posing = "/v/holiday\u202e4pm.exe"  # shows as "holidayexe.mp4" when rendered
    assert fmt.file_name(posing) == "holiday\\u202e4pm.exe"
    assert fmt.file_name("/v/a\u2066b\u2069.mp4") == "a\\u2066b\\u2069.mp4"
    assert fmt.file_name("/v/생일 파티 🎂.mp4") == "생일 파티 🎂.mp4"
    assert fmt.file_name("/v/عطلة.mp4") == "عطلة.mp4"  # right-to-left letters stay letters


@pytest.mark.models
def test_the_window_shows_escaped_names(qtbot, tmp_path, real_indexer):
    folder = tmp_path / "v"
    folder.mkdir()
    make_clip(folder / "made.mp4", seconds=2, audio=None)
    (folder / "made.mp4").rename(folder / "holiday\u202e4pm.exe.mp4")
    lib = Library(tmp_path / "lib.sqlite")
    _scan(lib, real_indexer, folder)
    lib.close()
    w = open_window(qtbot, tmp_path / "lib.sqlite")
    model = w.library_view.model
    assert model.data(model.index(0)) == "holiday\\u202e4pm.exe.mp4"
    w.library_view.grid.setCurrentIndex(model.index(0))
    qtbot.waitUntil(lambda: "\\u202e" in w.detail.title.text(), timeout=10_000)
    assert "\u202e" not in w.detail.title.text()
    w.close()


# ---- 9: the first window, the first scan, pausing ------------------------------------
@pytest.mark.models
def test_the_first_scan_shows_progress_at_once_and_can_be_paused(qtbot, tmp_path, real_indexer):
    from PySide6.QtWidgets import QLabel

    folder = tmp_path / "videos"
    folder.mkdir()
    for i in range(5):
        make_clip(folder / f"clip_{i}.mp4", seconds=2 + 0.2 * i, audio=None)
    w = open_window(qtbot, tmp_path / "library.sqlite", timeout=30_000)
    assert w.current_page() == "welcome"
    texts = " ".join(label.text() for label in w.welcome.findChildren(QLabel))
    assert "Add the folders where your videos live" in texts
    assert w.welcome.scan_text.isHidden()
    w.scanner.indexer_factory = lambda: real_indexer
    progress = []
    w.scanner.progress.connect(progress.append)
    w.scan([str(folder)])
    # At once, before the scan thread reported anything: the first page says what runs.
    assert not w.welcome.scan_text.isHidden()
    assert w.welcome.scan_text.text() == "Looking for videos in videos…"
    assert w.welcome.scan_bar.maximum() == 0  # busy until the walk counted the files
    assert not w.scanner.pause_button.isHidden() and w.scanner.pause_button.text() == "Pause"

    qtbot.waitUntil(lambda: any(p.phase == "indexing" for p in progress), timeout=120_000)
    w.scanner.pause_button.click()
    assert w.scanner.pause_button.text() == "Resume"
    assert w.scanner.label.text().startswith("Paused") and "Paused" in w.welcome.scan_text.text()
    at_pause = max(p.done for p in progress if p.phase == "indexing")
    qtbot.wait(2500)  # paused: at most the file under way when Pause was pressed finishes
    during = max(p.done for p in progress if p.phase == "indexing")
    assert during <= at_pause + 1 and during < 5 and w.scanner.running
    qtbot.wait(1500)
    assert max(p.done for p in progress if p.phase == "indexing") == during
    with qtbot.waitSignal(w.scanner.finished, timeout=180_000) as finished:
        w.scanner.pause_button.click()
        assert w.scanner.pause_button.text() == "Pause"
    report, error = finished.args
    assert error is None and len(report.indexed) == 5 and not report.cancelled
    assert w.welcome.scan_text.isHidden()
    w.close()


def test_the_scanner_reports_the_walk_before_it_ends(tmp_path, monkeypatch):
    """A first scan of a large folder says how many videos it found while it walks."""
    from app.core.library import scanner as scanner_module
    monkeypatch.setattr(scanner_module, "WALK_PROGRESS_S", 0.0)
    folder = tmp_path / "v"
    for i in range(3):
        (folder / f"d{i}").mkdir(parents=True)
        (folder / f"d{i}" / "x.mp4").write_bytes(os.urandom(1000 + i))
    lib = Library(tmp_path / "lib.sqlite")
    seen = []
    cancel = __import__("threading").Event()

    def progress(p):
        seen.append((p.phase, p.total, p.path))
        if p.phase == "walking" and p.path is None:
            cancel.set()  # the walk is done: no need to decode these files
    Scanner(lib, indexer_factory=lambda: pytest.fail("models loaded")).scan(
        [folder], progress=progress, cancel=cancel)
    walking = [s for s in seen if s[0] == "walking" and s[2] is not None]
    assert [t for _, t, _ in walking][-1] >= 2 and walking[0][1] < 3
    lib.close()


# ---- 8: Qt's X11 libraries before `make run` ------------------------------------------
def _fake_tools(folder: Path, ldd: str, ldconfig: str) -> dict:
    folder.mkdir()
    for name, text in (("ldd", ldd), ("ldconfig", ldconfig)):
        tool = folder / name
        tool.write_text(f"#!/bin/sh\ncat <<'EOF'\n{text}\nEOF\n")
        tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}", "DISPLAY": ":0"}
    env.pop("QT_QPA_PLATFORM", None)  # as on a desktop: the window would open on X11
    return env


LDD_MISSING = """\tlinux-vdso.so.1 (0x00007ffd)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb-render-util.so.0 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)"""


def test_make_run_names_the_missing_qt_libraries_in_one_apt_get_line(tmp_path):
    check = REPO / ".ci" / "check-qt-libs"
    env = _fake_tools(tmp_path / "bin", LDD_MISSING, "\tlibxcb.so.1 (libc6,x86-64) => /x")
    done = subprocess.run([sys.executable, str(check), sys.executable], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].strip() == (
        "sudo apt-get install libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 "
        "libxcb-render-util0 libxcb-cursor0")
    # All there, or no X11 window to open: silent.
    env = _fake_tools(tmp_path / "bin2", "\tlibxcb.so.1 => /x (0x1)",
                      "\tlibxcb-cursor.so.0 (libc6,x86-64) => /x")
    done = subprocess.run([sys.executable, str(check), sys.executable], env=env,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    env = {**_fake_tools(tmp_path / "bin3", LDD_MISSING, ""), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, str(check), sys.executable], env=env,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")


def test_the_makefile_checks_before_it_opens_the_window_and_the_readme_names_the_libraries():
    makefile = (REPO / "Makefile").read_text()
    run = makefile[makefile.index("\nrun:"):].split("\n\n")[0]
    assert run.index(".ci/check-qt-libs") < run.index("$(VENV)/bin/reelvault")
    readme = (REPO / "README.md").read_text()
    quick = readme[readme.index("## Quick start"):readme.index("## Command line")]
    for package in ("libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1", "libxcb-image0",
                    "libxcb-render-util0", "libxcb-xkb1", "libxkbcommon-x11-0", "libxcb-shape0"):
        assert package in quick
