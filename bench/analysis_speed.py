"""Picture analysis speed: CPU time per analysed frame of each part, and per video second.

A benchmark, not a test: it prints figures and asserts nothing.

    .venv/bin/python bench/analysis_speed.py [--corpus ../shared/corpus/library]
        [--every 5] [--json]

Frames are decoded with PyAV every ``--every`` seconds (the first frame included), scaled
to 960 pixels on the longer side, and passed per file to
``app.core.indexing.analysis.analyse`` as a decode worker would, with the models on one
thread each. CPU time is the thread's (``time.thread_time``), so a busy machine changes
the figures less than wall time would (``--one-video`` joins the files into one long
video: the rate limits of objects and words then act as on a long home video). Reported: ms per analysed frame for each part
(looks = thumbnail, colours, brightness, similarity and text presence; faces; objects;
text), how often each part ran, and the implied ms of CPU per second of video at that
spacing. Three worst cases follow: a crowd of 120 faces, a frame of text, and a
four-face group (one frame each, best of three runs).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

from app.core.indexing import analysis  # noqa: E402

SIDE = 960
PARTS = ("looks_s", "faces_s", "objects_s", "text_s")


def sparse_frames(path: Path, every: float) -> tuple[np.ndarray, list[np.ndarray], float]:
    """(times, RGB frames scaled to SIDE, duration) of frames every ``every`` seconds."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        times, frames, next_t, last_t = [], [], 0.0, 0.0
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            last_t = float(frame.time)
            if last_t + 1e-6 < next_t:
                continue
            k = SIDE / max(frame.width, frame.height)
            w, h = round(frame.width * k / 2) * 2, round(frame.height * k / 2) * 2
            frames.append(frame.to_ndarray(format="rgb24", width=w, height=h))
            times.append(last_t)
            next_t = last_t + every
    return np.array(times), frames, last_t


def worst_cases() -> dict[str, dict[str, float]]:
    from skimage import data

    astro = data.astronaut()
    tile = cv2.resize(astro[60:260, 150:330], (64, 72), interpolation=cv2.INTER_AREA)
    crowd = np.ascontiguousarray(np.tile(tile, (8, 15, 1))[:540, :960])
    text = np.full((540, 960, 3), 30, np.uint8)
    for i, line in enumerate(("CHAPTER ONE", "The long summer", "Station 42 North")):
        cv2.putText(text, line, (80, 150 + 120 * i), cv2.FONT_HERSHEY_DUPLEX, 2.0,
                    (240, 240, 240), 3, cv2.LINE_AA)
    group = np.full((540, 960, 3), 100, np.uint8)
    face = cv2.resize(astro[40:300, 120:360], (200, 216), interpolation=cv2.INTER_AREA)
    for i in range(4):
        group[150:366, 20 + 235 * i:220 + 235 * i] = face
    out = {}
    for name, frame in (("crowd_120", crowd), ("text_3_lines", text), ("group_4", group)):
        best = None
        for _ in range(3):
            stats = analysis.analyse(np.array([0.0]), [frame]).stats
            if best is None or sum(stats[p] for p in PARTS) < sum(best[p] for p in PARTS):
                best = stats
        out[name] = {p.removesuffix("_s") + "_ms": round(1000 * best[p], 1) for p in PARTS}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path,
                        default=REPO.parent / "shared" / "corpus" / "library")
    parser.add_argument("--every", type=float, default=5.0,
                        help="seconds between the frames handed to analyse")
    parser.add_argument("--one-video", action="store_true",
                        help="the files one after another as one long video, in one call "
                             "(what a long home video with many scenes costs); default: "
                             "one call per file, which is what short clips cost")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    t0 = time.thread_time()
    analysis.analyse(np.zeros(0), [])  # load the models outside the measurement
    load_s = time.thread_time() - t0
    files = sorted(p for p in args.corpus.iterdir() if p.suffix in (".mp4", ".webm", ".mkv"))
    totals: dict[str, float] = {}
    video_s = 0.0
    calls: list[tuple[np.ndarray, list[np.ndarray]]] = []
    for path in files:
        times, frames, duration = sparse_frames(path, args.every)
        offset = video_s + 0.04 if args.one_video else 0.0  # after the last file's end
        if args.one_video and calls:
            calls[0] = (np.concatenate([calls[0][0], times + offset]), calls[0][1] + frames)
        else:
            calls.append((times + offset, frames))
        video_s += duration
    for times, frames in calls:
        result = analysis.analyse(times, frames)
        for key, value in result.stats.items():
            totals[key] = totals.get(key, 0) + value
    analysed = max(1, int(totals.get("analysed", 0)))
    cpu = sum(totals.get(p, 0.0) for p in PARTS)
    report = {
        "files": len(files), "one_video": args.one_video, "video_s": round(video_s, 1), "every_s": args.every,
        "frames": int(totals.get("frames", 0)), "analysed": analysed,
        "objects_frames": int(totals.get("objects_frames", 0)),
        "text_frames": int(totals.get("text_frames", 0)),
        "faces_embedded": int(totals.get("faces_embedded", 0)),
        "model_load_s": round(load_s, 2),
        "ms_per_analysed_frame": {p.removesuffix("_s"): round(1000 * totals.get(p, 0) / analysed, 1)
                                  for p in PARTS} | {"total": round(1000 * cpu / analysed, 1)},
        "ms_per_video_second": round(1000 * cpu / max(video_s, 1e-9), 2),
        "worst_cases_ms": worst_cases(),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
