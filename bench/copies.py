"""Duplicates benchmark on copies people really make, with hard negatives.

    .venv/bin/python bench/copies.py [--split tune|holdout|both] [--json] [--fresh]
                                     [--build-only] [--show N]

Builds once (deterministic, cached in bench/.cache/copies/) a set of several hundred
files derived from the originals of ../shared/corpus/library (never from its copies):
each corpus original is cut into segments a second or less apart, and each segment is
an *original* of the set. Every original gets copies with one edit each (a phone's
vertical reframe, a screen recording of a player window, a rotation, picture-in-picture
or a collage, a heavy crop, burned-in subtitles, a logo, a border, strong blur, a 4x
upscale with noise, a quarter-size copy at a very low bitrate, MPEG-4 Part 2 in AVI,
brightened or darkened, sound removed or replaced by music), a few combinations of
edits, and an excerpt (a third of it, saved on its own); some originals are only 2-3 s
long; compilations join three originals (some without sound). Segments of one shot do
not overlap: they and all their copies are the hard negatives, which must not be grouped.

The set is split by corpus original (tune: street_1, street_3, tree_1, box_1, cup_1,
megamind_1; holdout: the others), so the two parts never share footage. Tune the
method on `tune`; `holdout` is only measured.

Each split is scanned into its own library (`reelvault scan`, then `reelvault
duplicates --rebuild --json`, the CLI of this tree, like bench/quality.py). The scan is
incremental: a rerun decodes nothing unless the set or the index changed; its time is
reported from the last full scan (`--fresh` starts from an empty library). Scored with
../shared/eval/score.py (pairwise: two files are a positive pair when they share
footage of one original, a full copy or one containing part of the other), plus recall
per edit (of each copy's pair with its original), partial recall, the false pairs by
kind (neighbouring moments of one shot, other moments of the same source, other
sources), seconds per 100 files of scan and of duplicates, and the keeper figure: in
each found group holding a clean file (no picture edit), whether the file suggested to
keep is one. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import itertools
import json
import os
import subprocess
import sys
import time
import zlib
from collections import defaultdict
from pathlib import Path

from _processes import children_cpu

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CACHE = ROOT / "bench" / ".cache" / "copies"
REELVAULT = [sys.executable, "-m", "app"]
VERSION = 1  # bump when the plan or the edits change: rebuilds the set

TUNE = ("street_1", "street_3", "tree_1", "box_1", "cup_1", "megamind_1")
GEOMETRY = ("vertical", "screen", "rotate", "overlay", "crop", "border")
PICTURE = ("subtitles", "logo", "blur", "upscale_noise", "brightness")
CODING = ("lowbitrate_quarter", "mpeg4_avi")
SINGLES = GEOMETRY + PICTURE + CODING + ("excerpt",)
# Edit kinds as reported (the abstract ones above resolve to one of these).
KINDS = ("vertical", "screen", "rotate90", "rotate180", "rotate270", "pip", "collage",
         "crop", "border", "subtitles", "logo", "blur", "upscale_noise", "bright", "dark",
         "lowbitrate_quarter", "mpeg4_avi", "short", "excerpt", "compilation",
         "audio_removed", "music_over")
NEIGHBOUR_GAP = 1.0  # seconds: cuts of one shot this close are the hardest negatives
# Edits that leave the picture as it was: a file with only these is a clean copy, one a
# person would keep over any copy with a picture edit (the keeper figure).
CLEAN_EDITS = frozenset({"short", "music_over", "audio_removed"})


def _seed(*parts) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def _rng(*parts):
    import numpy as np
    return np.random.default_rng(_seed(VERSION, *parts))


# ---- the plan ------------------------------------------------------------------------
def corpus_originals(corpus: Path) -> dict[str, dict]:
    """The corpus files that are originals (a span of a source, no transform)."""
    truth = json.loads((corpus / "library.truth.json").read_text())
    out = {}
    for name, meta in truth["files"].items():
        if "span" in meta and "transform" not in meta and not meta.get("concat_of"):
            out[Path(name).stem] = {**meta, "file": name}
    return out


def _segments(clip: str, seconds: float) -> list[tuple[float, float]]:
    """Cuts of one corpus clip: 4-8 s (sometimes 2-3 s), 0.2-1.0 s apart, no overlap."""
    rng = _rng("cuts", clip)
    cuts, t = [], 0.0
    while seconds - t >= 2.0:
        room = seconds - t
        if room < 4.0 or rng.random() < 0.15:
            length = min(room, float(rng.uniform(2.0, 3.0)))
        else:
            length = min(room, float(rng.uniform(4.0, 6.0)))
            if room - length < 3.0 and room <= 6.5:  # no sliver left over: take the rest
                length = room
        cuts.append((round(t, 2), round(t + length, 2)))
        t += length + float(rng.uniform(0.2, 1.0))
    return cuts


def plan(corpus: Path, durations: dict[str, float]) -> dict[str, list[dict]]:
    """Per split, the files to make: originals, copies and compilations (specs)."""
    clips = corpus_originals(corpus)
    return {split: _plan_split(split, sorted(c for c in clips if (c in TUNE) == (split == "tune")),
                               durations)
            for split in ("tune", "holdout")}


def _one(rng, group):
    return group[int(rng.integers(len(group)))]


def _plan_split(split: str, names: list[str], durations: dict[str, float]) -> list[dict]:
    specs: list[dict] = []
    originals = []
    for clip in names:
        for k, (s, e) in enumerate(_segments(clip, durations[clip])):
            oid = f"{clip}#{k}"
            originals.append(oid)
            specs.append({"id": oid, "clip": clip, "cut": [s, e], "edits": [], "of": [],
                          "seconds": round(e - s, 2)})
    orig = {sp["id"]: sp for sp in specs}
    counters: dict[str, int] = defaultdict(int)

    def pick(kind: str, oid: str) -> tuple[str, dict]:
        """An abstract edit made concrete; variants cycle so each is covered."""
        i = counters[kind]
        counters[kind] += 1
        rng = _rng("params", split, oid, kind, i)
        if kind == "rotate":
            return ("rotate90", "rotate180", "rotate270")[i % 3], {}
        if kind == "overlay":
            return ("pip", "collage")[i % 2], {"frac": round(float(rng.uniform(0.5, 0.67)), 3)}
        if kind == "brightness":
            return ("bright", "dark")[i % 2], {}
        if kind == "crop":
            return "crop", {"frac": round(float(rng.uniform(0.6, 0.7)), 3),
                            "fx": round(float(rng.uniform()), 3), "fy": round(float(rng.uniform()), 3)}
        if kind == "border":
            return "border", {"frac": round(float(rng.uniform(0.06, 0.14)), 3), "blurred": i % 2 == 1,
                              "color": [int(c) for c in rng.integers(0, 255, 3)]}
        if kind == "excerpt":
            dur = orig[oid]["seconds"]
            where = float(rng.uniform(0, 1)) * (dur - dur / 3)
            return "excerpt", {"span": [round(where, 2), round(where + dur / 3, 2)]}
        return kind, {}

    def add(oid: str, kinds: list[str], audio: str | None = None) -> None:
        src = orig[oid]
        edits, params = [], {}
        for k in kinds:
            name, p = pick(k, oid)
            edits.append(name)
            if p:
                params[name] = p
        if audio:
            edits.append(audio)
        if src["seconds"] <= 3.0:
            edits.append("short")
        span = params.get("excerpt", {}).get("span", [0.0, src["seconds"]])
        specs.append({"id": f"{oid}:{'+'.join(edits)}", "clip": src["clip"], "edits": edits,
                      "params": params, "of": [[oid, span[0], span[1]]],
                      "seconds": round(span[1] - span[0], 2)})

    for oid in originals:
        src = orig[oid]
        rng = _rng("combos", split, oid)
        has_sound = durations.get(src["clip"] + ":audio", 0) > 0
        short = src["seconds"] <= 3.0
        for kind in SINGLES:
            if kind == "excerpt" and short:
                continue
            add(oid, [kind])
        add(oid, [], "music_over")
        if has_sound:
            add(oid, [], "audio_removed")
        audio_choices = ["music_over", "audio_removed"] if has_sound else ["music_over", None]
        add(oid, [_one(rng, GEOMETRY), _one(rng, PICTURE)], audio_choices[int(rng.integers(2))])
        add(oid, [_one(rng, CODING), _one(rng, GEOMETRY + PICTURE)])
        if not short:
            add(oid, ["excerpt", _one(rng, GEOMETRY + PICTURE + CODING)])
    # Compilations: three originals of three different clips joined; each original
    # in at most one compilation.
    rng = _rng("compilations", split)
    pool = list(originals)
    rng.shuffle(pool)
    comps, used = [], set()
    for _ in range(3):
        members, clips_in = [], set()
        for o in pool:
            if o not in used and orig[o]["clip"] not in clips_in:
                members.append(o)
                clips_in.add(orig[o]["clip"])
                if len(members) == 3:
                    break
        if len(members) < 3:
            break
        used.update(members)
        comps.append(members)
    for members in comps:
        specs.append({"id": "compilation:" + "+".join(members), "clip": None,
                      "edits": ["compilation"], "params": {},
                      "of": [[m, 0.0, orig[m]["seconds"]] for m in members],
                      "seconds": round(sum(orig[m]["seconds"] for m in members), 2)})
    # Neutral file names, in an order that says nothing of what each file is.
    order = list(range(len(specs)))
    _rng("names", split).shuffle(order)
    for n, i in enumerate(order):
        sp = specs[i]
        ext = "avi" if "mpeg4_avi" in sp["edits"] else "mkv" if "screen" in sp["edits"] else "mp4"
        sp["name"] = f"{split[0]}{n:04d}.{ext}"
        sp["split"] = split
    return specs


def spec_key(spec: dict) -> str:
    body = {k: spec[k] for k in ("id", "clip", "edits", "params", "of", "name", "cut") if k in spec}
    return hashlib.sha256(json.dumps([VERSION, body], sort_keys=True).encode()).hexdigest()[:16]


# ---- building ------------------------------------------------------------------------
class Sources:
    """Corpus originals decoded once (at most 640 px wide), and the set's originals cut
    from them."""

    def __init__(self, corpus: Path):
        self.corpus = corpus
        self.clips = corpus_originals(corpus)
        self._decoded: dict = {}

    def clip(self, name: str):
        if name not in self._decoded:
            from _copies_edits import decode
            self._decoded[name] = decode(self.corpus / "library" / self.clips[name]["file"])
        return self._decoded[name]


def _photos(split: str):
    """Photographs for backgrounds and thumbnails; tune and holdout use different ones."""
    from _media import source_images
    images = source_images()
    return [img for i, img in enumerate(images) if i % 2 == (0 if split == "tune" else 1)]


def render(spec: dict, orig_specs: dict[str, dict], sources: Sources, folder: Path) -> None:
    import _copies_edits as ed
    import cv2
    import numpy as np
    path = folder / spec["name"]
    edits, params = spec["edits"], spec.get("params", {})
    seed = _seed(VERSION, spec["id"])
    rng = np.random.default_rng(seed)
    if "compilation" in edits:
        W, H, fps = 640, 360, 30.0
        frames, audio_parts, any_sound = [], [], False
        for oid, _, _ in spec["of"]:
            o = orig_specs[oid]
            clip = sources.clip(o["clip"]).cut(*o["cut"])
            for img in ed.retime(clip.frames, clip.fps, fps, clip.seconds):
                pic = ed.fit(img, W, H)
                canvas = np.zeros((H, W, 3), np.uint8)
                y, x = (H - pic.shape[0]) // 2, (W - pic.shape[1]) // 2
                canvas[y:y + pic.shape[0], x:x + pic.shape[1]] = pic
                frames.append(canvas)
            n = int(round(len(frames) / fps * ed.AUDIO_RATE)) - sum(p.shape[1] for p in audio_parts)
            if clip.audio is not None:
                any_sound = True
                part = clip.audio[:, :n]
                part = np.pad(part, ((0, 0), (0, n - part.shape[1])))
            else:
                part = np.zeros((2, n), np.float32)
            audio_parts.append(part)
        audio = np.concatenate(audio_parts, axis=1) if any_sound else None
        ed.encode(path, frames, fps, (W, H), audio, ed.Encoding(crf=22))
        return
    if not edits:  # an original of the set: the cut itself, well encoded, dated
        clip = sources.clip(spec["clip"]).cut(*spec["cut"])
        fps = round(clip.fps)
        frames = list(ed.retime(clip.frames, clip.fps, fps, clip.seconds))
        h, w = frames[0].shape[:2]
        created = sources.clips[spec["clip"]].get("created")
        ed.encode(path, frames, fps, (w, h), clip.audio, ed.Encoding(crf=18, creation_time=created))
        return
    oid, s, e = spec["of"][0]
    o = orig_specs[oid]
    clip = sources.clip(o["clip"]).cut(o["cut"][0] + s, o["cut"][0] + e)
    fps = 30.0 if "screen" in edits else 25.0 if "mpeg4_avi" in edits else float(round(clip.fps))
    photos = _photos(spec["split"])
    screen = ed.ScreenRecording(seed, clip.seconds, photos) if "screen" in edits else None
    overlay = None
    for kind in ("pip", "collage"):
        if kind in edits:
            overlay = ed.PictureInPicture(seed, photos, kind == "collage", params[kind]["frac"])

    def frame(img, t):
        if "blur" in edits:
            img = ed.blur(img)
        if "bright" in edits or "dark" in edits:
            img = ed.brightness(img, "bright" in edits)
        if "upscale_noise" in edits:
            img = ed.upscale_noise(img, rng)
        if "vertical" in edits:
            img = ed.vertical(img)
        for deg in (90, 180, 270):
            if f"rotate{deg}" in edits:
                img = ed.rotate(img, deg)
        if "crop" in edits:
            p = params["crop"]
            img = ed.crop(img, p["frac"], p["fx"], p["fy"])
        if "border" in edits:
            p = params["border"]
            img = ed.border(img, p["frac"], tuple(p["color"]), p["blurred"])
        if screen is not None:
            img = screen.frame(img, t)
        if overlay is not None:
            img = overlay.frame(img, t)
        if "subtitles" in edits:
            img = ed.subtitles(img, t, seed)
        if "logo" in edits:
            img = ed.logo(img, seed)
        if "lowbitrate_quarter" in edits:
            h, w = img.shape[:2]
            img = cv2.resize(img, (ed._even(w / 4), ed._even(h / 4)), interpolation=cv2.INTER_AREA)
        return img

    frames = [frame(img, i / fps) for i, img in enumerate(ed.retime(clip.frames, clip.fps, fps, clip.seconds))]
    h, w = frames[0].shape[:2]
    audio = clip.audio
    if "audio_removed" in edits:
        audio = None
    if "music_over" in edits:
        audio = ed.music(clip.seconds + 0.1, seed)
    enc = ed.Encoding()
    if "mpeg4_avi" in edits:
        enc = ed.Encoding(container="avi", vcodec="mpeg4", bit_rate=600000, audio_bit_rate=128000)
    elif "lowbitrate_quarter" in edits:
        enc = ed.Encoding(bit_rate=40000, audio_bit_rate=32000)
    elif "screen" in edits:
        enc = ed.Encoding(container="mkv", crf=24)
    elif "upscale_noise" in edits:  # grain costs bits: encoded as a sharer would, not losslessly
        enc = ed.Encoding(crf=30)
    ed.encode(path, frames, fps, (w, h), audio, enc)


def build(corpus: Path, quiet: bool = False) -> dict[str, list[dict]]:
    """Makes whatever is missing or changed; returns the plan (with per-split folders)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import av
    clips = corpus_originals(corpus)
    durations: dict[str, float] = {}
    for name, meta in clips.items():  # from the container: cheap, no decoding
        with av.open(str(corpus / "library" / meta["file"])) as c:
            v = c.streams.video[0]
            n = sum(1 for _ in c.demux(v)) - 1  # the flush packet
            durations[name] = round(n / float(v.average_rate), 2)
            durations[name + ":audio"] = 1.0 if c.streams.audio else 0.0
    plans = plan(corpus, durations)
    sources = Sources(corpus)
    for split, specs in plans.items():
        folder = CACHE / split
        folder.mkdir(parents=True, exist_ok=True)
        manifest_path = CACHE / f"{split}.manifest.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        orig_specs = {sp["id"]: sp for sp in specs if not sp["edits"]}
        wanted = {sp["name"] for sp in specs}
        for stale in folder.iterdir():  # files no longer in the plan
            if stale.name not in wanted:
                stale.unlink()
                manifest.pop(stale.name, None)
        todo = [sp for sp in specs
                if manifest.get(sp["name"]) != spec_key(sp) or not (folder / sp["name"]).exists()]
        start = time.perf_counter()
        for i, sp in enumerate(todo):
            render(sp, orig_specs, sources, folder)
            manifest[sp["name"]] = spec_key(sp)
            if i % 10 == 9 or i == len(todo) - 1:
                manifest_path.write_text(json.dumps(manifest, indent=0, sort_keys=True))
                if not quiet:
                    print(f"  {split}: {i + 1}/{len(todo)} made ({time.perf_counter() - start:.0f} s)",
                          file=sys.stderr, flush=True)
        (CACHE / f"{split}.truth.json").write_text(json.dumps(truth_of(specs, clips), indent=1))
    return plans


# ---- truth -------------------------------------------------------------------------
def _pieces(spec: dict, orig_specs: dict[str, dict]) -> list[tuple[str, float, float]]:
    if not spec["edits"]:
        return [(spec["id"], 0.0, spec["seconds"])]
    return [(o, float(s), float(e)) for o, s, e in spec["of"]]


def truth_of(specs: list[dict], clips: dict[str, dict]) -> dict:
    """Truth in the shape of library.truth.json (duplicate_groups, partial_duplicates),
    with per file: its edits, its originals and the footage it holds."""
    orig_specs = {sp["id"]: sp for sp in specs if not sp["edits"]}
    name_of = {sp["id"]: sp["name"] for sp in specs}
    files = {}
    for sp in specs:
        pieces = _pieces(sp, orig_specs)
        footage = []
        for oid, s, e in pieces:
            o = orig_specs[oid]
            base = clips[o["clip"]]["span"][0] + o["cut"][0]
            footage.append({"source": clips[o["clip"]]["source"], "clip": o["clip"],
                            "original": name_of[oid], "start": round(base + s, 2), "end": round(base + e, 2)})
        files[sp["name"]] = {"split": sp["split"], "edits": sp["edits"], "id": sp["id"],
                             "original": None if not sp["edits"] else [f["original"] for f in footage],
                             "seconds": sp["seconds"], "footage": footage,
                             "full": not sp["edits"] or (len(pieces) == 1 and "excerpt" not in sp["edits"])}
    groups: dict[str, list[str]] = defaultdict(list)
    for name, meta in files.items():
        if meta["full"]:
            groups[meta["footage"][0]["original"]].append(name)
    partial = []
    for a, b in itertools.combinations(sorted(files), 2):
        ma, mb = files[a], files[b]
        if ma["full"] and mb["full"]:
            continue
        if relation(ma, mb) == "positive":
            partial.append([a, b])
    return {"files": files, "duplicate_groups": sorted(sorted(g) for g in groups.values() if len(g) > 1),
            "partial_duplicates": partial}


def relation(ma: dict, mb: dict) -> str:
    """"positive" (shared footage), "neighbour" (footage of one shot at most
    NEIGHBOUR_GAP apart), "same_source" (other moments of one source) or "other"."""
    best = "other"
    for fa in ma["footage"]:
        for fb in mb["footage"]:
            if fa["source"] != fb["source"]:
                continue
            overlap = min(fa["end"], fb["end"]) - max(fa["start"], fb["start"])
            shorter = min(fa["end"] - fa["start"], fb["end"] - fb["start"])
            if overlap >= min(1.0, 0.5 * shorter):
                return "positive"
            if fa["clip"] == fb["clip"] and -overlap <= NEIGHBOUR_GAP + 1e-6:
                best = "neighbour"
            elif best == "other":
                best = "same_source"
    return best


# ---- running and scoring -------------------------------------------------------------
def run_cli(library: Path, *args: str) -> tuple[dict, float, float]:
    """The command's JSON, its wall seconds and its CPU seconds (with its workers').
    The bench machine is shared: CPU seconds move less with other people's load."""
    start, cpu = time.perf_counter(), children_cpu()
    proc = subprocess.run([*REELVAULT, "--library", str(library), *args, "--json"],
                          cwd=ROOT, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - start, children_cpu() - cpu
    if proc.returncode != 0:
        raise RuntimeError(f"reelvault {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout), seconds, cpu


def load_scorer():
    path = SHARED / "eval" / "score.py"
    spec = importlib.util.spec_from_file_location("reelvault_eval_score", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(split: str, fresh: bool) -> dict:
    folder = CACHE / split
    truth = json.loads((CACHE / f"{split}.truth.json").read_text())
    n = len(truth["files"])
    fingerprint = hashlib.sha256((CACHE / f"{split}.manifest.json").read_bytes()).hexdigest()[:16]
    library = CACHE / f"{split}.sqlite"
    state_path = CACHE / f"{split}.scan.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    if fresh or state.get("fingerprint") != fingerprint:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{library}{suffix}").unlink(missing_ok=True)
        state = {}
    load = os.getloadavg()[0]
    scan, wall, cpu = run_cli(library, "scan", str(folder))
    if len(scan["indexed"]) >= n or not state:  # a full scan: its time is the figure
        state = {"fingerprint": fingerprint, "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
                 "scan_seconds": scan.get("seconds"), "stages": scan.get("stages"),
                 "indexed": len(scan["indexed"]), "at": time.strftime("%Y-%m-%d %H:%M:%S"),
                 "load_average": [round(load, 1), round(os.getloadavg()[0], 1)], "cores": os.cpu_count()}
        state_path.write_text(json.dumps(state, indent=1))
    load = os.getloadavg()[0]
    # --rebuild: what an earlier run remembered (app.store.duplicates) would stand for
    # the method of the tree that ran then, and its time is not the time of finding.
    dup, dup_wall, dup_cpu = run_cli(library, "duplicates", "--rebuild")
    out_path = CACHE / f"{split}.duplicates.json"
    out_path.write_text(json.dumps(dup, indent=1))
    return score(truth, dup, {
        "files": n, "scan": state, "scan_this_run_seconds": round(wall, 2),
        "scan_problems": {"skipped": scan.get("skipped", []), "failed": scan.get("failed", [])},
        "duplicates_seconds": round(dup_wall, 2), "duplicates_cpu_seconds": round(dup_cpu, 2),
        "duplicates_load_average": [round(load, 1), round(os.getloadavg()[0], 1)],
        "scan_seconds_per_100_files": round(100 * state["wall_seconds"] / n, 2),
        "scan_cpu_seconds_per_100_files": round(100 * state.get("cpu_seconds", float("nan")) / n, 2),
        "duplicates_seconds_per_100_files": round(100 * dup_wall / n, 2),
        "duplicates_cpu_seconds_per_100_files": round(100 * dup_cpu / n, 2)})


def score(truth: dict, out: dict, figures: dict) -> dict:
    scorer = load_scorer()
    headline = scorer.duplicates(truth, out)
    files = truth["files"]
    groups = [[Path(f["path"]).name for f in g["files"]] for g in out["groups"]]
    found = {p for p in scorer._pairs(groups) if p <= set(files)}
    figures.update({k: headline[k] for k in ("f1", "precision", "recall", "full_copy_recall",
                                             "partial_copy_recall")})
    figures["positive_pairs"] = len(scorer._pairs(truth["duplicate_groups"])
                                    | {frozenset(p) for p in truth["partial_duplicates"]})
    figures["found_pairs"] = len(found)
    # Recall per edit: each copy's pair with its original(s).
    per: dict[str, list[int]] = {k: [0, 0, 0, 0] for k in KINDS}  # found, n, found alone, n alone
    for name, meta in files.items():
        if not meta["edits"]:
            continue
        anchors = [frozenset((name, o)) for o in meta["original"]]
        hit = sum(a in found for a in anchors)
        alone = len(meta["edits"]) == 1  # the only edit, on an original of 4 s or more
        for k in meta["edits"]:
            per[k][0] += hit
            per[k][1] += len(anchors)
            if alone:
                per[k][2] += hit
                per[k][3] += len(anchors)
    figures["per_edit"] = {k: {"recall": round(v[0] / v[1], 3) if v[1] else None, "pairs": v[1],
                               "recall_alone": round(v[2] / v[3], 3) if v[3] else None,
                               "pairs_alone": v[3]} for k, v in per.items()}
    originals_found = sum(1 for g in groups if sum(1 for f in g if f in files and not files[f]["edits"]) > 1)
    figures["groups"] = len(out["groups"])
    figures["groups_joining_two_originals"] = originals_found
    # False pairs by kind.
    false = []
    kinds: dict[str, list[int]] = {"neighbour": [0, 0], "same_source": [0, 0], "other": [0, 0]}
    for a, b in itertools.combinations(sorted(files), 2):
        rel = relation(files[a], files[b])
        if rel != "positive":
            kinds[rel][1] += 1
            if frozenset((a, b)) in found:
                kinds[rel][0] += 1
                false.append({"a": a, "b": b, "kind": rel, "a_is": files[a]["id"], "b_is": files[b]["id"]})
    figures["false_pairs_by_kind"] = {k: {"grouped": v[0], "of": v[1]} for k, v in kinds.items()}
    # The matches (edges) behind them: one wrong match can merge two groups of copies.
    figures["false_matches"] = []
    for g in out["groups"]:
        for m in g.get("matches", []):
            a, b = Path(m["a"]).name, Path(m["b"]).name
            if a in files and b in files and relation(files[a], files[b]) != "positive":
                figures["false_matches"].append({
                    "kind": relation(files[a], files[b]), "group": g["kind"],
                    "a": a, "b": b, "a_is": files[a]["id"], "b_is": files[b]["id"],
                    **{k: v for k, v in m.items() if k not in ("a", "b")}})
    figures["false_pairs"] = false
    figures["keeper"] = keeper_figure(files, out)
    missed = [{"a": a, "b": b, "a_is": files[a]["id"], "b_is": files[b]["id"]}
              for a, b in headline["missed_pairs"]]
    figures["missed_pairs_count"] = len(missed)
    figures["missed_pairs"] = missed
    return figures


def keeper_figure(files: dict, out: dict) -> dict:
    """Whether the suggested keeper is a clean file (no picture edit, CLEAN_EDITS), in
    each found group of copies of one original that holds a clean file: overall, and per
    edit among the groups holding a copy with that edit. ``clean_share`` counts any clean
    file; ``original_share`` only the untouched original (the best-encoded one, dated)."""
    total = [0, 0, 0]  # groups, kept a clean file, kept the original
    per: dict[str, list[int]] = {k: [0, 0] for k in KINDS}
    wrong = []
    for g in out["groups"]:
        names = [Path(f["path"]).name for f in g["files"]]
        if not all(n in files for n in names):
            continue
        originals = {o for n in names for o in (files[n]["original"] or [n])}
        clean = {n for n in names if set(files[n]["edits"]) <= CLEAN_EDITS}
        if len(originals) != 1 or not clean:
            continue  # a compilation holds more than any one clip: keeping it is right
        keeper = next(Path(f["path"]).name for f in g["files"] if f["keep"])
        ok = keeper in clean
        total[0] += 1
        total[1] += ok
        total[2] += not files[keeper]["edits"]
        for kind in {k for n in names for k in files[n]["edits"]} - CLEAN_EDITS:
            per[kind][0] += 1
            per[kind][1] += ok
        if not ok:
            wrong.append({"kind": g["kind"], "kept": keeper, "kept_is": files[keeper]["id"],
                          "reason": next(f["reason"] for f in g["files"] if f["keep"])})
    return {"groups": total[0],
            "clean_share": round(total[1] / total[0], 3) if total[0] else None,
            "original_share": round(total[2] / total[0], 3) if total[0] else None,
            "per_edit": {k: {"clean_share": round(v[1] / v[0], 3), "groups": v[0]}
                         for k, v in per.items() if v[0]},
            "wrong": wrong}


def describe(plans: dict[str, list[dict]]) -> dict:
    out = {}
    for split, specs in plans.items():
        counts: dict[str, int] = defaultdict(int)
        for sp in specs:
            for k in sp["edits"]:
                counts[k] += 1
        out[split] = {"files": len(specs), "originals": sum(1 for sp in specs if not sp["edits"]),
                      "short_originals": sum(1 for sp in specs if not sp["edits"] and sp["seconds"] <= 3.0),
                      "combinations": sum(1 for sp in specs
                                          if len([k for k in sp["edits"] if k != "short"]) > 1),
                      "seconds": round(sum(sp["seconds"] for sp in specs), 1),
                      "files_per_edit": dict(sorted(counts.items()))}
    return out


def print_table(result: dict, show: int) -> None:
    splits = [s for s in ("tune", "holdout") if s in result["splits"]]
    print("set:", ", ".join(f"{s}: {result['set'][s]['files']} files ({result['set'][s]['originals']} originals, "
                            f"{result['set'][s]['seconds']:.0f} s)" for s in splits))
    rows = [("F1", "f1"), ("precision", "precision"), ("recall (all positive pairs)", "recall"),
            ("full-copy recall", "full_copy_recall"), ("partial recall", "partial_copy_recall"),
            ("positive pairs", "positive_pairs"), ("pairs found", "found_pairs"),
            ("scan s / 100 files (wall)", "scan_seconds_per_100_files"),
            ("scan s / 100 files (CPU)", "scan_cpu_seconds_per_100_files"),
            ("duplicates s / 100 files (wall)", "duplicates_seconds_per_100_files"),
            ("duplicates s / 100 files (CPU)", "duplicates_cpu_seconds_per_100_files")]
    print(f"{'':32s}" + "".join(f"{s:>12s}" for s in splits))
    for label, key in rows:
        print(f"{label:32s}" + "".join(f"{result['splits'][s][key]!s:>12s}" for s in splits))
    print(f"{'load average during scan':32s}" + "".join(
        f"{'{}-{}'.format(*result['splits'][s]['scan'].get('load_average', ['?', '?'])):>12s}" for s in splits))
    for kind in ("neighbour", "same_source", "other"):
        label = {"neighbour": "false: neighbours <=1 s", "same_source": "false: same source",
                 "other": "false: other sources"}[kind]
        print(f"{label:32s}" + "".join(
            f"{'{}/{}'.format(*result['splits'][s]['false_pairs_by_kind'][kind].values()):>12s}" for s in splits))
    print("\nrecall of each copy's pair with its original, per edit (all copies with the edit;"
          " alone = copies with only that edit)")
    print(f"{'edit':22s}" + "".join(f"{s + ' all':>14s}{s + ' alone':>16s}" for s in splits))
    for kind in KINDS:
        cells = ""
        for s in splits:
            p = result["splits"][s]["per_edit"][kind]
            all_ = f"{p['recall']} ({p['pairs']})" if p["pairs"] else "-"
            alone = f"{p['recall_alone']} ({p['pairs_alone']})" if p["pairs_alone"] else "-"
            cells += f"{all_:>14s}{alone:>16s}"
        print(f"{kind:22s}{cells}")
    print("\nkeeper: groups of copies of one clip holding a clean file (no picture edit),"
          " share whose suggested keeper is a clean file (the original)")
    for s in splits:
        k = result["splits"][s]["keeper"]
        print(f"  {s}: {k['clean_share']} ({k['original_share']}) of {k['groups']} groups")
    edits = sorted({e for s in splits for e in result["splits"][s]["keeper"]["per_edit"]},
                   key=KINDS.index)
    for kind in edits:
        cells = ""
        for s in splits:
            p = result["splits"][s]["keeper"]["per_edit"].get(kind)
            cells += f"{(str(p['clean_share']) + ' (' + str(p['groups']) + ')') if p else '-':>14s}"
        print(f"  {kind:20s}{cells}")
    for s in splits:
        for w in result["splits"][s]["keeper"]["wrong"][:show]:
            print(f"  {s} kept {w['kept']} ({w['kept_is']}, {w['kind']}): {w['reason']}")
    for s in splits:
        fm = result["splits"][s]["false_matches"]
        n_fp = len(result["splits"][s]["false_pairs"])
        if fm and show:
            print(f"\n{s}: {n_fp} false pairs, from {len(fm)} wrong matches"
                  f" (first {min(show, len(fm))}; all pairs in --json):")
            for m in fm[:show]:
                print(f"  {m['kind']:11s} {m['a']} ({m['a_is']})  ~  {m['b']} ({m['b_is']})"
                      f"  similarity {m.get('similarity')}")
        probs = result["splits"][s]["scan_problems"]
        if probs["skipped"] or probs["failed"]:
            print(f"{s}: scan skipped {len(probs['skipped'])}, failed {len(probs['failed'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus")
    parser.add_argument("--split", choices=["tune", "holdout", "both"], default="both")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--fresh", action="store_true", help="scan into empty libraries")
    parser.add_argument("--build-only", action="store_true", help="make the set, measure nothing")
    parser.add_argument("--show", type=int, default=15, help="false pairs to list per split")
    args = parser.parse_args()
    plans = build(args.corpus.resolve(), quiet=args.json)
    result = {"set": describe(plans), "splits": {}}
    if args.build_only:
        print(json.dumps(result["set"], indent=1))
        return 0
    splits = ["tune", "holdout"] if args.split == "both" else [args.split]
    for split in splits:
        result["splits"][split] = measure(split, args.fresh)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print_table(result, args.show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
