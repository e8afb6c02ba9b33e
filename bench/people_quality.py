"""People quality: are faces grouped into one person per real person, and does a name find
that person's clips?

    .venv/bin/python bench/people_quality.py [--every 2] [--json] [--fresh]

Real faces reachable here: the demo photos of the npm package @vladmandic/face-api 1.7.15
(MIT; six group photos, 3-5 people each; fetched with `npm pack` into bench/.cache, never
committed) and scikit-image's astronaut (public domain, NASA). Each face the detector
finds good enough for identity in a photo is one identity, except that one woman is in
two photos (sample1's right and sample3's middle face: IDENTITY_ALIASES), so at least one
person has to be recognised across photos, not just across copies.

Each identity gets clips made with PyAV: a slow zoom out from its face, a darker pan
past it, a downscaled, brighter, low-bitrate re-encode of the zoom, a mirrored zoom;
each photo gets a pan over the whole group; one file joins two people's zooms, and one
clip has a byte copy. Every clip is scanned by the real scanner; when the scanner does
not store picture analysis yet, frames every ``--every`` seconds are analysed with
``app.core.indexing.analysis.analyse`` and stored as the scanner would. Then
``reelvault people --json`` groups them, each identity's largest person is named (as a
user would), and ``reelvault search NAME --json`` is run for each name.

Ground truth per face: the clip's camera path is known, so a face's box maps back to a
point of its photo, inside one identity's face box (or none).

Reported (a benchmark, asserts nothing):
- pairwise precision / recall over identity faces (pairs in one person that are one
  identity / pairs of one identity that are in one person; a face in no person pairs
  with nothing);
- per identity, how many people hold its faces (1 is right), and per person the share
  of its clips that really show its identity (clip precision);
- search by name: precision and recall of the clips returned against the clips that show
  the identity;
- cosine similarities of track vectors: one identity in one photo, one identity across
  photos, different identities (the margins the thresholds are chosen from);
- a sweep of the join/link threshold with the same figures (``--sweep``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
from collections import Counter, defaultdict
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

CACHE = BENCH / ".cache" / "people"
PACKAGE = "@vladmandic/face-api@1.7.15"
# (photo, face index from the left among the photo's identity faces) pairs that are one
# woman: sample1's right and sample3's middle face (checked by eye on the crops).
IDENTITY_ALIASES = {("sample3", 1): ("sample1", 1)}
W, H, FPS, SECONDS = 854, 480, 15, 8.0
NAMES = ["Anna", "Ben", "Carla", "Dana", "Eva", "Fay", "Gina", "Hana", "Ines", "Jill", "Kim",
         "Lena", "Mia", "Nora", "Olga", "Pia", "Rosa", "Sara", "Tina", "Uma", "Vera"]


# ---- sources -------------------------------------------------------------------------
def photos() -> dict[str, np.ndarray]:
    src = CACHE / "src"
    src.mkdir(parents=True, exist_ok=True)
    if not list(src.glob("sample*.jpg")):
        subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=src, check=True,
                       capture_output=True)
        tgz = next(src.glob("vladmandic-face-api-*.tgz"))
        with tarfile.open(tgz) as tar:
            meta = json.load(tar.extractfile("package/package.json"))
            if meta.get("license") != "MIT":
                raise SystemExit(f"unexpected licence {meta.get('license')}")
            for m in tar.getmembers():
                name = Path(m.name).name
                if m.name.startswith("package/demo/sample") and name.endswith(".jpg"):
                    (src / name).write_bytes(tar.extractfile(m).read())
        tgz.unlink()
    out = {p.stem: cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
           for p in sorted(src.glob("sample*.jpg"))}
    from skimage import data
    out["astronaut"] = data.astronaut()
    return out


def source_faces(images: dict[str, np.ndarray]) -> dict[str, list[dict]]:
    """Faces good enough for identity in each photo: box (photo pixels) and identity."""
    from app.core.indexing.analysis import IDENTITY_QUALITY
    from app.inference.faces import FaceDetector, face_quality
    det = FaceDetector(threads=1)
    out = {}
    for name, rgb in images.items():
        found = []
        for f in det.detect(rgb):
            if face_quality(rgb, f).score >= IDENTITY_QUALITY:
                found.append({"box": [float(v) for v in f.box]})
        found.sort(key=lambda f: f["box"][0])
        for i, f in enumerate(found):
            photo, k = IDENTITY_ALIASES.get((name, i), (name, i))
            f["identity"] = f"{photo}/{k}"
        out[name] = found
    return out


# ---- clips ---------------------------------------------------------------------------
def window_frame(rgb: np.ndarray, cx: float, cy: float, w: float, mirror: bool,
                 gain: float, size=(W, H)) -> np.ndarray:
    h = w * size[1] / size[0]
    k = size[0] / w
    m = np.array([[k, 0, -(cx - w / 2) * k], [0, k, -(cy - h / 2) * k]], np.float64)
    out = cv2.warpAffine(rgb, m, size, flags=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT)
    if mirror:
        out = out[:, ::-1]
    if gain != 1.0:
        out = np.clip(out.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out)


def write_clip(path: Path, images, parts: list[dict], size=(W, H), crf: int = 23) -> None:
    """``parts``: {"photo", "start": (cx, cy, w), "end": (cx, cy, w), "seconds",
    "mirror", "gain"}, shown one after the other."""
    with av.open(str(path), "w") as out:
        out.metadata["creation_time"] = "2023-06-03T10:00:00Z"
        v = out.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = size[0], size[1], "yuv420p"
        v.options = {"preset": "ultrafast", "crf": str(crf)}
        v.codec_context.time_base = Fraction(1, FPS)
        for part in parts:
            n = int(part["seconds"] * FPS)
            for i in range(n):
                a = i / max(1, n - 1)
                cx, cy, w = (s + (e - s) * a for s, e in zip(part["start"], part["end"],
                                                              strict=True))
                img = window_frame(images[part["photo"]], cx, cy, w, part["mirror"],
                                   part["gain"], size)
                for packet in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    out.mux(packet)
        for packet in v.encode():
            out.mux(packet)


def plan(images, faces) -> dict[str, list[dict]]:
    clips: dict[str, list[dict]] = {}

    def part(photo, start, end, seconds=SECONDS, mirror=False, gain=1.0):
        return {"photo": photo, "start": start, "end": end, "seconds": seconds,
                "mirror": mirror, "gain": gain}

    zooms = []
    for photo, found in faces.items():
        ph, pw = images[photo].shape[:2]
        clips[f"{photo}_group.mp4"] = [part(photo, (pw * 0.35, ph * 0.45, pw * 0.7),
                                            (pw * 0.65, ph * 0.45, pw * 0.7))]
        for i, f in enumerate(found):
            x1, y1, x2, y2 = f["box"]
            cx, cy, s = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1)
            zoom = part(photo, (cx, cy + 0.3 * s, 3.5 * s), (cx, cy + 0.8 * s, 7 * s))
            zooms.append((f["identity"], f"{photo}_{i}_zoom.mp4", zoom))
            clips[f"{photo}_{i}_zoom.mp4"] = [zoom]
            clips[f"{photo}_{i}_pan.mp4"] = [part(photo, (cx - 1.5 * s, cy + s, 6 * s),
                                                  (cx + 1.5 * s, cy + 0.5 * s, 6 * s), gain=0.7)]
            clips[f"{photo}_{i}_mirror.mp4"] = [part(photo, (cx + 0.2 * s, cy, 4 * s),
                                                     (cx - 0.2 * s, cy + 0.5 * s, 5 * s),
                                                     mirror=True)]
            clips[f"{photo}_{i}_small.mp4"] = [dict(zoom, gain=1.25, size=(640, 360),
                                                    crf=34)]
    # One file joining two people's clips (a partial copy of both).
    (_, _, a), (_, _, b) = zooms[0], zooms[len(zooms) // 2]
    clips["joined.mp4"] = [dict(a, seconds=4.0), dict(b, seconds=4.0)]
    return clips


def build(images, faces, folder: Path) -> dict[str, list[dict]]:
    folder.mkdir(parents=True, exist_ok=True)
    clips = plan(images, faces)
    for name, parts in clips.items():
        path = folder / name
        if path.exists():
            continue
        size = parts[0].get("size", (W, H))
        write_clip(path, images, parts, size=size, crf=parts[0].get("crf", 23))
    first_zoom = next(n for n in clips if n.endswith("_zoom.mp4"))
    copy = folder / ("copy_of_" + first_zoom)
    if not copy.exists():
        shutil.copyfile(folder / first_zoom, copy)
    clips[copy.name] = clips[first_zoom]
    return clips


# ---- truth -----------------------------------------------------------------------------
def identity_at(clips, faces, name: str, t: float, box: list[float]
                ) -> tuple[str | None, str | None]:
    """(identity, photo) of the face a face box of a clip shows (box: fractions of the
    frame); identity None where no identity's face is there."""
    elapsed = 0.0
    for part in clips[name]:
        if t < elapsed + part["seconds"] - 1e-6 or part is clips[name][-1]:
            n = int(part["seconds"] * FPS)
            a = min(1.0, max(0.0, (t - elapsed) * FPS / max(1, n - 1)))
            cx, cy, w = (s + (e - s) * a for s, e in zip(part["start"], part["end"],
                                                          strict=True))
            size = part.get("size", (W, H))
            h = w * size[1] / size[0]
            fx = box[0] + box[2] / 2
            if part["mirror"]:
                fx = 1.0 - fx
            px, py = cx - w / 2 + fx * w, cy - h / 2 + (box[1] + box[3] / 2) * h
            best, best_d = None, np.inf
            for f in faces[part["photo"]]:
                x1, y1, x2, y2 = f["box"]
                d = np.hypot(px - (x1 + x2) / 2, py - (y1 + y2) / 2) / max(x2 - x1, y2 - y1)
                if d < 0.5 and d < best_d:
                    best, best_d = f["identity"], d
            return best, part["photo"]
        elapsed += part["seconds"]
    return None, None


# ---- library ----------------------------------------------------------------------------
def run_cli(library: Path, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "app", "--library", str(library), *args,
                           "--json"], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"reelvault {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def analyse_missing(library: Path, every: float) -> int:
    """Store picture analysis for scanned files that have none (the scanner does not
    store it yet): frames every ``every`` seconds, as bench/analysis_speed.py takes them."""
    from analysis_speed import sparse_frames

    from app.core.indexing import analysis
    from app.store import analysis as rows
    from app.store.library import Library
    lib = Library(library)
    done = 0
    try:
        for row in lib.conn.execute("SELECT id, path FROM files WHERE status = 'indexed'"
                                    ).fetchall():
            if rows.file_analysis(lib, row[0]) is not None:
                continue
            times, frames, _ = sparse_frames(Path(row[1]), every)
            result = analysis.analyse(times, frames)
            with lib.transaction() as c:
                rows.clear_analysis(c, row[0])
                rows.write_analysis(c, row[0], result)
            done += 1
    finally:
        lib.close()
    return done


def reset_people(library: Path) -> None:
    from app.store.library import Library
    lib = Library(library)
    try:
        with lib.transaction():
            lib.conn.execute("DELETE FROM person_anchors")
            lib.conn.execute("UPDATE faces SET person_id = NULL")
            lib.conn.execute("DELETE FROM people")
            lib.conn.execute("DELETE FROM changes WHERE scope = 'people_placed'")
    finally:
        lib.close()


def faces_of(library: Path) -> list[dict]:
    from app.store.library import Library
    lib = Library(library)
    try:
        return [{"id": r[0], "path": r[1], "t": r[2], "box": [r[3], r[4], r[5], r[6]],
                 "track": r[7], "person": r[8], "file_id": r[9],
                 "vector": np.frombuffer(r[10], np.float16).astype(np.float32)}
                for r in lib.conn.execute(
                    "SELECT fc.id, f.path, fc.t, fc.x, fc.y, fc.w, fc.h, fc.track, "
                    "fc.person_id, f.id, fc.embedding FROM faces fc JOIN files f ON "
                    "f.id = fc.file_id WHERE fc.embedding IS NOT NULL ORDER BY fc.id")]
    finally:
        lib.close()


# ---- figures ------------------------------------------------------------------------------
def pairwise(truth: list[str], predicted: list[int]) -> dict:
    """Pair precision and recall; predicted -1 is a face in no person."""
    same_t = Counter(truth)
    true_pairs = sum(n * (n - 1) // 2 for n in same_t.values())
    by_pred = Counter(p for p in predicted if p >= 0)
    pred_pairs = sum(n * (n - 1) // 2 for n in by_pred.values())
    both = Counter((t, p) for t, p in zip(truth, predicted, strict=True) if p >= 0)
    hits = sum(n * (n - 1) // 2 for n in both.values())
    return {"pair_precision": round(hits / pred_pairs, 4) if pred_pairs else None,
            "pair_recall": round(hits / true_pairs, 4) if true_pairs else None,
            "faces": len(truth), "in_a_person": sum(p >= 0 for p in predicted)}


def figures(labelled: list[dict], people: list[dict]) -> dict:
    truth = [f["identity"] for f in labelled]
    pred = [f["person"] if f["person"] is not None else -1 for f in labelled]
    out = pairwise(truth, pred)
    shows: dict[str, set[str]] = defaultdict(set)  # identity -> clips showing it
    for f in labelled:
        shows[f["identity"]].add(f["path"])
    per_identity = defaultdict(Counter)
    for t, p in zip(truth, pred, strict=True):
        if p >= 0:
            per_identity[t][p] += 1
    shown = {p["id"]: p for p in people}
    majority = {}
    for p in shown:
        ids = Counter(t for t, q in zip(truth, pred, strict=True) if q == p)
        if ids:
            majority[p] = ids.most_common(1)[0][0]
    clip_hits = sum(len(set(shown[p]["files"]) & shows[majority[p]]) for p in majority)
    clip_total = sum(len(shown[p]["files"]) for p in majority)
    out.update({
        "identities": len(shows),
        "people_shown": len(people),
        "people_per_identity": round(float(np.mean(
            [len([p for p in per_identity[t] if p in shown]) for t in shows])), 3),
        "identities_in_one_person": sum(
            len([p for p in per_identity[t] if p in shown]) == 1 for t in shows),
        "clip_precision": round(clip_hits / clip_total, 4) if clip_total else None,
        "clip_recall": round(sum(
            max((len(set(shown[p]["files"]) & shows[t]) for p in per_identity[t]
                 if p in shown), default=0) for t in shows)
            / sum(len(v) for v in shows.values()), 4),
    })
    return out, majority, shows


def similarities(labelled: list[dict]) -> dict:
    tracks: dict[tuple, list] = defaultdict(list)
    for f in labelled:
        tracks[(f["file_id"], f["track"], f["identity"], f["photo"])].append(f["vector"])
    keys = list(tracks)
    v = np.stack([np.mean(tracks[k], axis=0) for k in keys])
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    s = v @ v.T
    groups = {"same_identity_same_photo": [], "same_identity_other_photo": [],
              "different_identity": []}
    for i in range(len(keys)):
        for j in range(i + 1, len(keys)):
            if keys[i][2] == keys[j][2]:
                same_photo = keys[i][3] == keys[j][3]
                groups["same_identity_same_photo" if same_photo
                       else "same_identity_other_photo"].append(s[i, j])
            else:
                groups["different_identity"].append(s[i, j])
    return {k: {"pairs": len(x), "min": round(float(np.min(x)), 3),
                "p5": round(float(np.percentile(x, 5)), 3),
                "median": round(float(np.median(x)), 3),
                "p95": round(float(np.percentile(x, 95)), 3),
                "max": round(float(np.max(x)), 3)} for k, x in groups.items() if x}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=float, default=2.0, help="seconds between analysed frames")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--fresh", action="store_true", help="new library (keeps the clips)")
    ap.add_argument("--sweep", action="store_true", help="also sweep the thresholds")
    args = ap.parse_args()

    images = photos()
    faces = source_faces(images)
    clips_dir = CACHE / "clips"
    clips = build(images, faces, clips_dir)
    library = CACHE / "people.sqlite"
    if args.fresh and library.exists():
        library.unlink()
    for _ in range(3):  # clips still being written when a scan walks are deferred
        if not run_cli(library, "scan", str(clips_dir))["deferred"]:
            break
    analyse_missing(library, args.every)
    reset_people(library)  # measure the grouping, not names given by an earlier run
    people = run_cli(library, "people")["people"]

    found = faces_of(library)
    labelled = []
    for f in found:
        identity, photo = identity_at(clips, faces, Path(f["path"]).name, f["t"], f["box"])
        if identity is not None:
            labelled.append({**f, "identity": identity, "photo": photo})
    result, majority, shows = figures(labelled, people)
    report = {"identities": len({f["identity"] for fs in faces.values() for f in fs}),
              "clips": len(list(clips_dir.glob("*.mp4"))),
              "faces_with_identity": len(found), "faces_labelled": len(labelled),
              "clustering": result, "similarities": similarities(labelled)}

    # Search by name: the largest person of each identity gets a name, as a user would.
    named: dict[str, tuple[int, str]] = {}
    for p in people:
        identity = majority.get(p["id"])
        if identity is not None and identity not in named:
            named[identity] = (p["id"], NAMES[len(named) % len(NAMES)])
    precision, recall = [], []
    for identity, (pid, name) in named.items():
        run_cli(library, "people", "name", str(pid), name)
        got = {r["path"] for r in run_cli(library, "search", name.lower(), "--limit", "200")
               ["results"]}
        want = shows[identity]
        precision.append(len(got & want) / len(got) if got else 0.0)
        recall.append(len(got & want) / len(want))
    report["search_by_name"] = {"names": len(named),
                                "precision": round(float(np.mean(precision)), 4),
                                "recall": round(float(np.mean(recall)), 4)}

    if args.sweep:
        from app.core.people import clustering, refresh
        from app.store.library import Library
        sweep = []
        for threshold in (0.6, 0.65, 0.7, 0.72, 0.75, 0.8, 0.85):
            for arrival in ("all at once", "half, then the rest"):
                scratch = CACHE / "sweep.sqlite"
                shutil.copyfile(library, scratch)
                reset_people(scratch)
                lib = Library(scratch)
                try:
                    clustering.JOIN = clustering.LINK = threshold
                    if arrival != "all at once":  # odd files arrive with a later scan
                        with lib.transaction():
                            lib.conn.execute("UPDATE files SET presence = 'missing' "
                                             "WHERE id % 2 = 1")
                        refresh.refresh_people(lib)
                        with lib.transaction():
                            lib.conn.execute("UPDATE files SET presence = 'present'")
                    shown_people = refresh.refresh_people(lib)
                    by_id = {r[0]: r[1] for r in lib.conn.execute(
                        "SELECT id, person_id FROM faces")}
                    relabelled = [{**f, "person": by_id.get(f["id"])} for f in labelled]
                    fig, _, _ = figures(relabelled, shown_people)
                    sweep.append({"threshold": threshold, "arrival": arrival, **fig})
                finally:
                    lib.close()
                    scratch.unlink()
        report["sweep"] = sweep

    if args.json:
        print(json.dumps(report, indent=1))
    else:
        c = report["clustering"]
        print(f"{report['identities']} identities, {report['clips']} clips, "
              f"{report['faces_labelled']} labelled identity faces")
        print(f"pairwise precision {c['pair_precision']}  recall {c['pair_recall']}  "
              f"({c['in_a_person']}/{c['faces']} faces in a person)")
        print(f"people shown {c['people_shown']}, people per identity "
              f"{c['people_per_identity']}, identities in one person "
              f"{c['identities_in_one_person']}/{c['identities']}")
        print(f"clip precision {c['clip_precision']}  clip recall {c['clip_recall']}")
        print("search by name:", report["search_by_name"])
        for k, v in report["similarities"].items():
            print(f"{k:28s} {v}")
        for row in report.get("sweep", []):
            print(row)


if __name__ == "__main__":
    main()
