"""Long-GOP sampling: what a sparser plan for long files costs in finding their partial copies.

A benchmark, not a test: it prints figures and asserts nothing.

    .venv/bin/python bench/long_gop.py                       # all plans
    .venv/bin/python bench/long_gop.py --plans 5 keyframes   # some of them
    ... [--fresh] [--json]

A long clip is sampled every MAX_STEP (2 s) at its keyframes; where keyframes are more
than MAX_GAP (5 s) apart, frames are added by decoding forward from a keyframe ("fills",
``app.core.indexing.media.plan_samples``). The fills cost about half of the decoding of
8-s-GOP files, so a sparser plan is the biggest lever on scan speed, but it changes what
the models see. Every clip of bench/copies.py and ../shared/corpus is under 60 s, where
MAX_GAP never binds: this set is where it does.

Media (generated once into ``bench/.cache/long_gop/``; generation is not measured):

- long files, 60-240 s: pans over real photographs (``_media.py``, 1280x720, 30 fps,
  fixed 8-s or 4-s GOPs as a camera writes them, with and without B-frames), and real
  footage: the four street originals of ../shared/corpus/library joined (60 s, 10 fps,
  8-s GOP). No two long files share footage (the generated ones draw their pictures from
  one pool of 14 photographs, so two of them may pan over the same photograph: false
  pairs between those are told apart in the figures).
- partial copies: excerpts of 5, 5, 10, 10, 20 and 40 s of each long file (and 5, 10, 20
  and 40 s more of those over 100 s), cut at random offsets and re-encoded as people do
  (x264 with a 2-s GOP), each with one edit: a smaller size, a phone's vertical crop,
  half the frame rate, or a low bit rate (``_copies_edits.py``).

For each plan (MAX_GAP 5 = the product's, 6, 8, and "keyframes": no fills in long
clips), the set is scanned into its own library with the CLI of this tree, the plan set
by ``_long_gop_cli.py`` (a bench-only hook: the product reads no new variable), then
``duplicates --rebuild --json`` and ``similar EXCERPT --json`` for every excerpt.

Figures per plan:

- recall of excerpt <-> its long file, by excerpt length; recall of excerpt <-> excerpt
  pairs of one long file that overlap by 2 s or more (pairs overlapping less are not
  counted either way). Pairs are counted as ../shared/eval/score.py does: every two
  files in one group of copies.
- false pairs: excerpts of one long file that do not overlap ("same file, apart": the
  groups join them through their long file), pairs between different long files'
  footage (split by whether the two pan over a common photograph), long <-> long.
- decode CPU of the scan (the scan report's ``decode_cpu_s``) and the CPU of the whole
  scan process tree; samples planned per long file, and stored by the scan (read from
  the library: the check that the decode workers ran the plan asked for).
- similar: whether the excerpt's long file is among the first 10 results of ``similar
  EXCERPT``, whether it is the first of them, and the first of the long files (other
  excerpts of the same footage rightly rank high too), and how far the moment reported
  for it lies from the excerpt's true span in the long file (0 s when inside).

The models come from the data folder of the current configuration (``REELVAULT_DATA``
is never set here).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import _copies_edits as edits
import _media
import av
import numpy as np
from _long_gop_cli import PLAN_VARIABLE, apply_plan
from _processes import become_subreaper, children_cpu

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "library"
CACHE = BENCH / ".cache" / "long_gop"
MEDIA = CACHE / "media"
CLI = [sys.executable, str(BENCH / "_long_gop_cli.py")]
PLANS = ("5", "6", "8", "keyframes")
MEDIA_VERSION = 1  # bump when the set changes: the media are made again
# The first six of every long file; the rest where the file has room for them (> 100 s).
EXCERPT_SECONDS = (5, 5, 10, 10, 20, 40, 5, 10, 20, 40)
EDITS = ("smaller", "vertical", "half_fps", "low_bitrate")
OVERLAP_POSITIVE = 2.0  # seconds two excerpts share to be copies of each other
SIMILAR_LIMIT = 10


@dataclass(frozen=True)
class Long:
    name: str
    seconds: float
    gop_s: int
    bframes: int
    seed: int
    joined: tuple[str, ...] = ()  # corpus originals joined, instead of generated pictures


LONGS = (
    Long("pan_gop8_bf3", 120, 8, 3, 101),
    Long("pan_gop8_bf0", 90, 8, 0, 102),
    Long("pan_gop4_bf3", 80, 4, 3, 103),
    Long("pan_gop8_bf3_240s", 240, 8, 3, 104),
    Long("pan_gop4_bf0", 60, 4, 0, 105),
    Long("street_gop8_bf3", 60, 8, 3, 0,
         joined=("street_1", "street_2", "street_3", "street_4")),
)


def _rng(*parts) -> np.random.Generator:
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


# ---- media ---------------------------------------------------------------------------
def _pan_spec(long: Long) -> _media.ClipSpec:
    return _media.ClipSpec(long.name, 1280, 720, long.seconds, long.gop_s * _media.FPS,
                           long.bframes, scenecut=False, seed=long.seed)


def _make_joined(long: Long, path: Path) -> None:
    """The corpus originals one after the other, re-encoded with a camera's fixed GOP."""
    clips = [edits.decode(CORPUS / f"{name}.mp4", max_width=1280) for name in long.joined]
    fps = clips[0].fps
    assert all(abs(c.fps - fps) < 0.01 and c.frames[0].shape == clips[0].frames[0].shape
               for c in clips), "joined originals need one size and rate"
    frames = [f for c in clips for f in c.frames]
    h, w = frames[0].shape[:2]
    keyint = int(round(long.gop_s * fps))
    part = path.with_name(path.name + ".part")
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(part), "w", format="mp4") as out:
        v = out.add_stream("libx264", rate=rate)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        v.codec_context.gop_size = keyint
        params = (f"keyint={keyint}:min-keyint={keyint}:scenecut=0:bframes={long.bframes}"
                  ":threads=1:lookahead-threads=1")
        v.options = {"preset": "veryfast", "crf": "20", "x264-params": params}
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1) / rate
            for packet in v.encode(frame):
                out.mux(packet)
        for packet in v.encode():
            out.mux(packet)
    os.replace(part, path)


def _segment(path: Path, start: float, end: float) -> edits.Clip:
    """Frames and sound of ``path`` from ``start`` to ``end`` (a seek, then a decode)."""
    frames: list[np.ndarray] = []
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        fps = float(v.average_rate)
        c.seek(int(max(0.0, start - 1.0) / v.time_base), stream=v, backward=True)
        for frame in c.decode(v):
            t = float(frame.pts * v.time_base)
            if t < start - 0.5 / fps:
                continue
            if t >= end - 0.5 / fps:
                break
            frames.append(frame.to_ndarray(format="rgb24"))
    audio = None
    with av.open(str(path)) as c:
        if c.streams.audio:
            a = c.streams.audio[0]
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=edits.AUDIO_RATE)
            parts = []
            for frame in c.decode(a):
                for o in resampler.resample(frame):
                    parts.append(o.to_ndarray())
            whole = np.concatenate(parts, axis=1).astype(np.float32)
            audio = whole[:, int(start * edits.AUDIO_RATE):int(end * edits.AUDIO_RATE)]
    return edits.Clip(frames, fps, audio)


def _make_excerpt(long_path: Path, out: Path, start: float, seconds: float, edit: str) -> None:
    clip = _segment(long_path, start, start + seconds)
    h, w = clip.frames[0].shape[:2]
    fps, frames = clip.fps, clip.frames
    enc = edits.Encoding(crf=23)
    if edit == "smaller":
        size = (edits._even(w * 360 / h), 360)
        frames = (edits.fit(f, *size) for f in frames)
    elif edit == "vertical":
        size = (360, 640)
        frames = (edits.vertical(f) for f in frames)
    elif edit == "half_fps":
        size = (edits._even(w * 480 / h), 480)
        frames = (edits.fit(f, *size) for f in edits.retime(clip.frames, fps, fps / 2, clip.seconds))
        fps = fps / 2
    else:  # low_bitrate: a quarter of the size, 300 kbit/s
        size = (edits._even(w / 2), edits._even(h / 2))
        frames = (edits.fit(f, *size) for f in frames)
        enc = edits.Encoding(bit_rate=300_000, audio_bit_rate=64_000)
    # fit() keeps the shape; the encoder wants the exact even size.
    frames = (f if f.shape[:2] == (size[1], size[0]) else
              np.ascontiguousarray(edits.fit(f, *size)[:size[1], :size[0]]) for f in frames)
    frames = (f if f.shape[:2] == (size[1], size[0]) else _pad(f, size) for f in frames)
    edits.encode(out, frames, fps, size, clip.audio, enc)


def _pad(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    out = np.zeros((size[1], size[0], 3), np.uint8)
    out[:img.shape[0], :img.shape[1]] = img[:size[1], :size[0]]
    return out


def plan_set() -> list[dict]:
    """Every file of the set: long files, then excerpts with their offsets and edits."""
    files = []
    for i, long in enumerate(LONGS):
        files.append({"name": f"{long.name}.mp4", "kind": "long", "long": long.name,
                      "seconds": long.seconds, "gop_s": long.gop_s, "bframes": long.bframes})
        rng = _rng("excerpts", long.name)
        for j, seconds in enumerate(EXCERPT_SECONDS[:6] if long.seconds <= 100
                                    else EXCERPT_SECONDS):
            start = round(float(rng.uniform(0.0, long.seconds - seconds - 0.5)), 2)
            edit = EDITS[(i + j) % len(EDITS)]
            files.append({"name": f"{long.name}_x{j}_{seconds}s_{edit}.mp4", "kind": "excerpt",
                          "long": long.name, "start": start, "seconds": seconds, "edit": edit})
    return files


def build(quiet: bool) -> list[dict]:
    files = plan_set()
    manifest = {"version": MEDIA_VERSION, "generator": _media.GENERATOR_VERSION,
                "longs": [asdict(x) for x in LONGS], "files": files}
    manifest = json.loads(json.dumps(manifest))  # tuples as lists, as read back
    manifest_path = CACHE / "manifest.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    MEDIA.mkdir(parents=True, exist_ok=True)
    longs = {x.name: x for x in LONGS}
    # A file is kept while what it was made from is unchanged: the versions, its own
    # entry, and for an excerpt its long file's.
    same = ({"version", "generator", "longs"} <= old.keys() and all(
        old[k] == manifest[k] for k in ("version", "generator")))
    old_longs = {x["name"]: x for x in old.get("longs", [])} if same else {}
    old_files = {f["name"]: f for f in old.get("files", [])} if same else {}
    new_longs = {x["name"]: x for x in manifest["longs"]}
    wanted = {f["name"]: f for f in manifest["files"]}

    def unchanged(name: str) -> bool:
        f = wanted.get(name)
        return (f is not None and old_files.get(name) == f
                and old_longs.get(f["long"]) == new_longs[f["long"]])

    for p in MEDIA.iterdir():
        if not unchanged(p.name):
            p.unlink()
    for f in files:
        path = MEDIA / f["name"]
        if path.exists():
            continue
        t = time.process_time()
        if f["kind"] == "long":
            long = longs[f["long"]]
            if long.joined:
                _make_joined(long, path)
            else:
                _media.make_clip(_pan_spec(long), MEDIA)
        else:
            _make_excerpt(MEDIA / f"{f['long']}.mp4", path, f["start"], f["seconds"], f["edit"])
        if not quiet:
            print(f"made {f['name']} ({time.process_time() - t:.1f} s CPU)", file=sys.stderr)
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return files


def photographs(long_name: str, start: float, end: float) -> set[int]:
    """The photographs a generated long file pans over between ``start`` and ``end``."""
    long = next(x for x in LONGS if x.name == long_name)
    if long.joined:
        return set()
    return {k for s in _media.plan_scenes(_pan_spec(long)) if s.start < end and s.end > start
            for k in (s.image, s.sprite)}


# ---- truth ---------------------------------------------------------------------------
def _span(f: dict) -> tuple[float, float]:
    return (f.get("start", 0.0), f.get("start", 0.0) + f["seconds"])


def relation(a: dict, b: dict) -> str:
    """positive, ignored (a sliver of overlap), or the kind of negative."""
    if a["long"] != b["long"]:
        if a["kind"] == b["kind"] == "long":
            return "long_long"
        shared = photographs(a["long"], *_span(a)) & photographs(b["long"], *_span(b))
        return "other_file_shared_photo" if shared else "other_file"
    if "long" in (a["kind"], b["kind"]):
        return "positive"
    (s0, e0), (s1, e1) = _span(a), _span(b)
    overlap = min(e0, e1) - max(s0, s1)
    if overlap >= OVERLAP_POSITIVE:
        return "positive"
    return "same_file_apart" if overlap <= 0 else "ignored"


# ---- running -------------------------------------------------------------------------
def _reap_orphans(wait_s: float = 10.0) -> None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # none left
            return
        if not pid:
            time.sleep(0.05)


def run_cli(plan: str, library: Path, *args: str) -> tuple[dict, float]:
    """The command's JSON and the CPU seconds of its process tree (with the decode
    workers when this process is a child subreaper)."""
    env = {**os.environ, PLAN_VARIABLE: plan,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    cpu = children_cpu()
    proc = subprocess.run([*CLI, "--library", str(library), *args, "--json"], cwd=ROOT,
                          capture_output=True, text=True, env=env)
    _reap_orphans()
    if proc.returncode != 0:
        raise RuntimeError(f"reelvault {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout), children_cpu() - cpu


def planned_samples(plan: str, path: Path) -> dict:
    """What the plan decodes for ``path``: samples, of which fills, and keyframes."""
    from app.core.indexing import media
    saved = media.MAX_GAP, media.default_max_gap
    try:
        apply_plan(plan)
        with av.open(str(path)) as c:
            p = media._plan(c, str(path), None)
        return {"samples": p.expected_samples, "fills": len(p.targets), "keyframes": len(p.keys)}
    finally:
        media.MAX_GAP, media.default_max_gap = saved


def stored_samples(library: Path) -> dict[str, int]:
    """Sampled frames the scan stored per file (read-only): that the decode workers ran
    the plan asked for, not the product's."""
    with sqlite3.connect(f"file:{library}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT f.path, length(fr.times) / 4 FROM frames fr "
                          "JOIN files f ON f.id = fr.file_id").fetchall()
    return {Path(path).name: n for path, n in rows}


def measure(plan: str, files: list[dict], fresh: bool) -> dict:
    library = CACHE / f"plan_{plan}.sqlite"
    state_path = CACHE / f"plan_{plan}.scan.json"
    fingerprint = hashlib.sha256((CACHE / "manifest.json").read_bytes()).hexdigest()[:16]
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    if fresh or state.get("fingerprint") != fingerprint:
        for suffix in ("", "-wal", "-shm", ".index", ".lock"):
            p = Path(f"{library}{suffix}")
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
        load = os.getloadavg()[0]
        scan, cpu = run_cli(plan, library, "scan", str(MEDIA))
        stages = scan.get("stages", {})
        state = {"fingerprint": fingerprint, "indexed": len(scan.get("indexed", [])),
                 "failed": scan.get("failed", []), "skipped": scan.get("skipped", []),
                 "scan_cpu_s": round(cpu, 2), "wall_s": scan.get("seconds"),
                 "decode_cpu_s": round(stages.get("decode_cpu_s", float("nan")), 2),
                 "stages": {k: round(v, 2) for k, v in stages.items()},
                 "load_average": [round(load, 1), round(os.getloadavg()[0], 1)]}
        state_path.write_text(json.dumps(state, indent=1))
    dup, dup_cpu = run_cli(plan, library, "duplicates", "--rebuild")
    (CACHE / f"plan_{plan}.duplicates.json").write_text(json.dumps(dup, indent=1))
    result = {"plan": plan, "scan": state, "duplicates_cpu_s": round(dup_cpu, 2)}
    result.update(score_pairs(files, dup))
    stored = stored_samples(library)
    result["samples"] = {f["long"]: {**planned_samples(plan, MEDIA / f["name"]),
                                     "stored": stored.get(f["name"])}
                         for f in files if f["kind"] == "long"}
    result["similar"] = similar_figures(plan, library, files)
    return result


def score_pairs(files: list[dict], dup: dict) -> dict:
    by_name = {f["name"]: f for f in files}
    groups = [[Path(x if isinstance(x, str) else x["path"]).name for x in g["files"]]
              for g in dup["groups"]]
    found = {frozenset(p) for g in groups for p in itertools.combinations(sorted(set(g)), 2)
             if set(p) <= set(by_name)}
    by_length: dict[str, list[int]] = {}
    by_gop: dict[tuple[int, int], list[int]] = {}
    overlap = [0, 0]
    negatives: dict[str, list[int]] = {}
    false = []
    for a, b in itertools.combinations(sorted(by_name), 2):
        fa, fb = by_name[a], by_name[b]
        rel = relation(fa, fb)
        hit = frozenset((a, b)) in found
        if rel == "positive":
            if "long" in (fa["kind"], fb["kind"]):
                x, long = (fa, fb) if fa["kind"] == "excerpt" else (fb, fa)
                # Only 8-s GOPs are sampled otherwise by the plans; 4-s ones are the control.
                cells = [by_length.setdefault(f"{x['seconds']}s", [0, 0]),
                         by_gop.setdefault((long["gop_s"], x["seconds"]), [0, 0])]
            else:
                cells = [overlap]
            for cell in cells:
                cell[0] += hit
                cell[1] += 1
        elif rel != "ignored":
            cell = negatives.setdefault(rel, [0, 0])
            cell[0] += hit
            cell[1] += 1
            if hit:
                false.append([a, b, rel])
    missed = sorted(f["name"] for f in files if f["kind"] == "excerpt"
                    and frozenset((f["name"], f"{f['long']}.mp4")) not in found)
    return {"recall_by_length": {k: {"found": v[0], "of": v[1]}
                                 for k, v in sorted(by_length.items(), key=lambda kv: int(kv[0][:-1]))},
            "recall_by_gop_length": {f"GOP {g} s, {n}s": {"found": v[0], "of": v[1]}
                                     for (g, n), v in sorted(by_gop.items(), key=lambda kv: (-kv[0][0], kv[0][1]))},
            "excerpt_overlap_recall": {"found": overlap[0], "of": overlap[1]},
            "false_pairs": {k: {"grouped": v[0], "of": v[1]} for k, v in sorted(negatives.items())},
            "false_pair_list": false, "missed_excerpts": missed, "groups": len(groups)}


def similar_figures(plan: str, library: Path, files: list[dict]) -> dict:
    rows = []
    long_names = {f["name"] for f in files if f["kind"] == "long"}
    for f in files:
        if f["kind"] != "excerpt":
            continue
        out, _ = run_cli(plan, library, "similar", str(MEDIA / f["name"]),
                         "--limit", str(SIMILAR_LIMIT))
        names = [Path(r["path"]).name for r in out["results"]]
        source = f"{f['long']}.mp4"
        row = {"excerpt": f["name"], "seconds": f["seconds"], "rank": None,
               "rank_among_long": None, "moment_error_s": None}
        if source in names:
            k = names.index(source)
            r = out["results"][k]
            s0, e0 = _span(f)
            mid = (float(r["start"]) + float(r["end"])) / 2
            # Other excerpts of the same footage rightly come first too: among the long
            # files, the source should.
            longs_before = [n for n in names[:k] if n in long_names]
            row.update(rank=k + 1, rank_among_long=len(longs_before) + 1,
                       moment=[r["start"], r["end"]],
                       moment_error_s=round(max(0.0, s0 - mid, mid - e0), 2))
        rows.append(row)
    by_length = {}
    for seconds in sorted({r["seconds"] for r in rows}):
        sel = [r for r in rows if r["seconds"] == seconds]
        errors = [r["moment_error_s"] for r in sel if r["moment_error_s"] is not None]
        by_length[f"{seconds}s"] = {
            "found": sum(r["rank"] is not None for r in sel), "of": len(sel),
            "first": sum(r["rank"] == 1 for r in sel),
            "first_long": sum(r["rank_among_long"] == 1 for r in sel),
            "moment_inside": sum(e == 0 for e in errors),
            "moment_error_median_s": round(float(np.median(errors)), 2) if errors else None,
            "moment_error_max_s": round(max(errors), 2) if errors else None}
    return {"by_length": by_length, "rows": rows}


# ---- report --------------------------------------------------------------------------
def _frac(cell: dict, a: str = "found", b: str = "of") -> str:
    return f"{cell[a]}/{cell[b]}"


def print_table(results: list[dict]) -> None:
    head = ["", *[f"MAX_GAP {r['plan']}" if r["plan"] != "keyframes" else "keyframes only"
                  for r in results]]
    rows = []
    for key in results[0]["recall_by_gop_length"]:
        rows.append([f"recall excerpt<->long, {key}",
                     *[_frac(r["recall_by_gop_length"][key]) for r in results]])
    for length in results[0]["recall_by_length"]:
        rows.append([f"recall excerpt<->long, any GOP, {length}",
                     *[_frac(r["recall_by_length"][length]) for r in results]])
    rows.append(["recall excerpt<->excerpt (overlap >= 2 s)",
                 *[_frac(r["excerpt_overlap_recall"]) for r in results]])
    for kind in results[0]["false_pairs"]:
        rows.append([f"false pairs: {kind}",
                     *[_frac(r["false_pairs"][kind], "grouped") for r in results]])
    rows.append(["scan decode CPU s", *[str(r["scan"]["decode_cpu_s"]) for r in results]])
    rows.append(["scan CPU s (process tree)", *[str(r["scan"]["scan_cpu_s"]) for r in results]])
    for long in results[0]["samples"]:
        rows.append([f"samples planned (fills) stored: {long}",
                     *[f"{c['samples']} ({c['fills']}) {c['stored']}"
                       for c in (r["samples"][long] for r in results)]])
    for length in results[0]["similar"]["by_length"]:
        rows.append([f"similar {length}: source found / first / first long file",
                     *[f"{c['found']}/{c['of']} / {c['first']} / {c['first_long']}"
                       for c in (r["similar"]["by_length"][length] for r in results)]])
        rows.append([f"similar {length}: moment inside / median / max off s",
                     *[f"{c['moment_inside']} / {c['moment_error_median_s']} / "
                       f"{c['moment_error_max_s']}"
                       for c in (r["similar"]["by_length"][length] for r in results)]])
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", nargs="+", default=list(PLANS),
                        help="MAX_GAP values and/or 'keyframes' (default: 5 6 8 keyframes)")
    parser.add_argument("--fresh", action="store_true", help="scan again even if scanned")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    files = build(quiet=args.json)
    if not become_subreaper():
        print("not a child subreaper: the scan CPU may miss the decode workers", file=sys.stderr)
    results = []
    for plan in args.plans:
        if not args.json:
            print(f"plan {plan}: scanning {len(files)} files", file=sys.stderr)
        results.append(measure(plan, files, args.fresh))
    (CACHE / "results.json").write_text(json.dumps(results, indent=1))
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print_table(results)
        for r in results:
            if r["false_pair_list"] or r["missed_excerpts"]:
                print(f"\nplan {r['plan']}: missed {r['missed_excerpts']}\n"
                      f"  false pairs {r['false_pair_list']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
