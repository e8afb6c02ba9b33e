"""The PyInstaller bundle: build.spec builds dist/reelvault/, which runs the CLI and the
GUI on its own (no source tree on its path, an empty data folder: the models come from
the bundle). Part of the normal test run; it takes about a minute and ~0.7 GB of temp.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app import __version__
from tests.media_factory import make_clip

ROOT = Path(__file__).resolve().parent.parent


def _run(exe: Path, *args: str, env: dict, cwd: Path, timeout: float = 180):
    return subprocess.run([str(exe), *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def build_dirs(tmp_path):
    dist, work = tmp_path / "dist", tmp_path / "build"
    yield dist, work
    # ~1.4 GB between them: pytest keeps recent temp folders, so do not leave these.
    shutil.rmtree(dist, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)


@pytest.mark.bundle
@pytest.mark.models
def test_bundle_builds_and_runs_without_the_source_tree(tmp_path, build_dirs, real_models_dir):
    dist, work = build_dirs
    build = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "ERROR",
         "--distpath", str(dist), "--workpath", str(work), str(ROOT / "build.spec")],
        cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert build.returncode == 0, build.stderr[-3000:]
    exe = dist / "reelvault" / "reelvault"
    assert exe.is_file()
    bundled = dist / "reelvault" / "_internal"
    assert (bundled / "resources" / "style.qss").is_file()
    assert (bundled / "models" / "manifest.json").is_file()

    # A bare environment: no virtualenv, no PYTHONPATH, an empty data folder, run from
    # elsewhere than the repository.
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "REELVAULT_DATA": str(home / "data"), "QT_QPA_PLATFORM": "offscreen"}
    version = _run(exe, "--version", env=env, cwd=home)
    assert version.returncode == 0 and version.stdout.strip() == f"reelvault {__version__}"

    verify = _run(exe, "models", "verify", "--json", env=env, cwd=home)
    assert verify.returncode == 0, verify.stderr
    status = json.loads(verify.stdout)
    assert status["ok"] and Path(status["models_dir"]).is_relative_to(bundled)

    clips = tmp_path / "clips"
    clips.mkdir()
    clip = make_clip(clips / "red_square.mp4", seconds=3, audio="tone")
    library = str(home / "library.sqlite")
    scan = _run(exe, "--library", library, "scan", str(clips), "--json", env=env, cwd=home)
    assert scan.returncode == 0, scan.stderr[-3000:]
    report = json.loads(scan.stdout)
    assert report["indexed"] == [str(clip)] and not report["failed"]
    tags = _run(exe, "--library", library, "tags", str(clip), "--json", env=env, cwd=home)
    assert tags.returncode == 0 and json.loads(tags.stdout)["audio"], tags.stderr

    shot = home / "window.png"
    gui = _run(exe, "--library", library, "gui", "--screenshot", str(shot), env=env, cwd=home)
    assert gui.returncode == 0, gui.stderr[-3000:]
    assert shot.is_file() and shot.stat().st_size > 10_000
    assert not (home / "data" / "models").exists()  # the bundle used its own models
    assert os.access(exe, os.X_OK)
