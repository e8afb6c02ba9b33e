"""Memory of `reelvault scan` on one long file: peak RSS of the scan's process tree.

A benchmark, not a test: it prints figures and asserts nothing.

    .venv/bin/python bench/long_memory.py --hours 3             # a 3-hour file
    .venv/bin/python bench/long_memory.py --hours 2 --cap-gib 2  # under a 2 GiB data cap

The file is generated once with PyAV into ``bench/.cache/`` (tests/media_factory.py
``make_long_clip``: 320x240 at 1 frame per second, H.264 still-image tuning, a 16 kHz
AAC sine), the shape of a long recording that costs little to decode, so the figure is
what the length alone costs. ``--cap-gib`` sets RLIMIT_DATA for the scan and every
process it starts, as ``prlimit --data`` does. Memory is sampled from /proc as in
index_speed.py (the CLI process, the forkserver and the decode workers).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import index_speed

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from tests.media_factory import make_long_clip  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=3.0)
    ap.add_argument("--cap-gib", type=float, help="RLIMIT_DATA for the scan, in GiB")
    ap.add_argument("--workers", type=int)
    ap.add_argument("--cache", type=Path, default=BENCH / ".cache")
    args = ap.parse_args(argv)
    seconds = int(args.hours * 3600)
    folder = args.cache / f"long-{seconds}s"
    path = folder / "long.mp4"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        index_speed.log(f"generating {path} ({seconds} s); done once and not measured")
        started = time.monotonic()
        make_long_clip(path.with_suffix(".part.mp4"), seconds).rename(path)
        index_speed.log(f"  {time.monotonic() - started:.0f} s")
    if args.cap_gib:
        cap = int(args.cap_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))  # inherited by the scan
    index_speed.become_subreaper()
    scan = index_speed.run_scan(folder, args.workers, None, None)
    mem = scan["memory_mb"]
    print(json.dumps({
        "file_s": seconds, "cap_gib": args.cap_gib, "wall_s": scan["wall_s"],
        "indexed": scan["indexed"], "failed": scan["failed"],
        "video_s_per_s": round(scan["indexed_video_s"] / scan["wall_s"], 1),
        "peak_tree_rss_mb": mem["peak_tree_rss"], "peak_tree_pss_mb": mem["peak_tree_pss"],
        "peak_by_role_vmhwm_mb": mem["peak_by_role_vmhwm"], "stages": scan["stages"],
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
