"""Places: the offline geocoder's size and speed, and what reading locations costs.

    .venv/bin/python bench/places.py [--folder ../shared/corpus/library] [--json]

- the data set (places.npz) size, its load time, reverse geocoding rates (one point at a
  time, and batches with ``nearest_many``: points near real places and anywhere);
- the metadata-only pass a scan runs on files indexed before places existed: one
  metadata read per file (``read_location``: open, read the container's tags, no
  decode), timed in this process and through the worker pool the scan uses (process
  start-up included), over the video files of a folder.

A benchmark, not a test: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from app.core.library.places import read_location
from app.core.library.scanner import VIDEO_EXTENSIONS
from app.core.library.workers import WorkerPool
from app.core.places import Geocoder

ROOT = Path(__file__).resolve().parent.parent


def geocoder_figures() -> dict:
    path = Geocoder.data_path()
    t0 = time.perf_counter()
    geo = Geocoder(path)  # not the shared one: the load is what is timed
    load_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    rows = rng.integers(0, len(geo), 20_000)
    near = np.stack([geo._lat_deg[rows] + rng.normal(0, 0.1, len(rows)),
                     geo._lon_deg[rows] + rng.normal(0, 0.1, len(rows))], axis=1)
    anywhere = np.stack([rng.uniform(-60, 70, 20_000), rng.uniform(-180, 180, 20_000)], axis=1)
    out = {"places": len(geo), "file_mb": round(path.stat().st_size / 2**20, 2),
           "load_s": round(load_s, 3)}
    for name, pts in (("near_places", near), ("anywhere", anywhere)):
        geo._windows.clear()
        t0 = time.perf_counter()
        geo.nearest_many(pts)
        out[f"nearest_many_{name}_per_s"] = round(len(pts) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for lat, lon in pts[:1000]:
            geo.nearest(lat, lon)
        out[f"nearest_{name}_per_s"] = round(1000 / (time.perf_counter() - t0))
    return out


def metadata_pass(folder: Path) -> dict:
    files = sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS)
    if not files:
        return {"files": 0}
    t0 = time.perf_counter()
    located = 0
    for _ in range(5):
        for f in files:
            try:
                located += read_location(f) is not None
            except Exception:  # a damaged file: the pass records it as having no place
                pass
    serial = (time.perf_counter() - t0) / (5 * len(files))
    t0 = time.perf_counter()
    with WorkerPool(read_location, size=2, timeout=lambda _: 30.0) as pool:
        done = sum(1 for _ in pool.map_unordered(files * 5))
    pooled = time.perf_counter() - t0
    return {"files": len(files), "located": located // 5,
            "read_ms_per_file": round(serial * 1000, 2),
            "pool_2_workers_files_per_s": round(done / pooled, 1),
            "pool_2_workers_s_for_files": round(pooled, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=str(ROOT.parent / "shared" / "corpus" / "library"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = {"geocoder": geocoder_figures(), "metadata_pass": metadata_pass(Path(args.folder))}
    if args.json:
        print(json.dumps(figures, indent=1))
        return
    for part, values in figures.items():
        print(part)
        for k, v in values.items():
            print(f"  {k:32s} {v}")


if __name__ == "__main__":
    main()
