"""A long film in bounded memory: a 40-minute file scanned under a data cap.

Slow (minutes: the networks see ~1800 frames and ~2500 sound patches); run it alone with
``pytest -m slow tests/test_long_file.py -s`` to see the memory figures.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.media_factory import make_long_clip

REPO = Path(__file__).resolve().parent.parent
MINUTES = 40
# A data cap (prlimit --data) on the scan and every process it starts. One pass over the
# file held its frames, model inputs and soundtrack at once, about 1 GB at this length
# in the decoder; windows hold a few minutes of them.
CAP = 1 << 30


def _tree_rss_kb(root: int) -> dict[int, int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(name))
    rss, todo = {}, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss[pid] = int(line.split()[1])
        except OSError:
            pass
    return rss


@pytest.mark.slow
@pytest.mark.models
def test_a_long_file_is_indexed_under_a_memory_cap(tmp_path, real_models_dir, record_property):
    from app.store.library import Library
    folder = tmp_path / "videos"
    folder.mkdir()
    path = make_long_clip(folder / "long.mp4", MINUTES * 60)
    library = tmp_path / "library.sqlite"

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (CAP, CAP))

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "app", "--library", str(library), "scan",
                             str(folder), "--json"], cwd=REPO, env=env, preexec_fn=cap,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = {"tree": 0}

    def sample() -> None:
        while proc.poll() is None:
            rss = _tree_rss_kb(proc.pid)
            peak["tree"] = max(peak["tree"], sum(rss.values()))
            for pid, kb in rss.items():
                peak[pid] = max(peak.get(pid, 0), kb)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate(timeout=3600)
    sampler.join()
    figures = {"peak_tree_rss_mb": round(peak.pop("tree") / 1024),
               "peak_rss_per_process_mb": sorted((round(kb / 1024) for kb in peak.values()),
                                                 reverse=True)}
    record_property("memory", figures)
    print(f"\n{MINUTES} min at 1 fps, 320x240, with sound, cap {CAP >> 20} MB: {figures}")
    assert proc.returncode == 0, err.decode()[-2000:]
    report = json.loads(out)
    assert report["failed"] == [] and report["indexed"] == [str(path)]
    lib = Library(library)
    try:
        row = lib.file(str(path))
        frames = lib.frames(row["id"])
    finally:
        lib.close()
    assert row["status"] == "indexed" and row["duration"] == pytest.approx(MINUTES * 60, abs=2)
    # Sampled every 2 s to the end; the sound in back-to-back 0.96 s patches.
    assert len(frames["times"]) >= MINUTES * 30 * 0.95 and frames["times"][-1] > MINUTES * 60 - 6
    assert len(frames["audio_times"]) >= MINUTES * 60 / 0.96 - 2
