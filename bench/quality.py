"""Quality on a corpus with ground truth: the figures of ../shared/eval/score.py.

    .venv/bin/python bench/quality.py [--corpus ../shared/corpus] [--json] [--fresh]

Scans the corpus's library/ into a library under bench/.cache/ (incremental: a second
run decodes nothing), then runs each CLI command the way a user would, saves the JSON
outputs in bench/out/, and scores them. Commands the CLI does not have yet are reported
as missing. A benchmark, not a test: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REELVAULT = [sys.executable, "-m", "app"]


def run_cli(library: Path, *args: str) -> tuple[dict, float]:
    start = time.perf_counter()
    proc = subprocess.run([*REELVAULT, "--library", str(library), *args, "--json"],
                          cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"reelvault {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout), seconds


def score(scorer: Path, what: str, truth: Path, out: Path) -> dict:
    proc = subprocess.run([sys.executable, str(scorer), what, str(truth), str(out)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def recommend_precision(library: Path, truth: dict, corpus: Path, cache: Path) -> dict:
    """Per event: on a copy of the library, watch two of its clips; the share of the rest
    of the event among the first (event size - 2) recommendations."""
    import sqlite3
    per, seconds = {}, []
    for event, files in sorted(truth["albums"].items()):
        files = sorted(files)
        if len(files) < 3:
            continue
        copy = cache / "recommend.sqlite"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)
        with sqlite3.connect(library) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)
        for name in files[:2]:
            run_cli(copy, "watched", str(corpus / "library" / name))
        rest = set(files[2:])
        result, took = run_cli(copy, "recommend", "--limit", str(len(rest)))
        seconds.append(took)
        top = {Path(r["path"]).name for r in result["results"]}
        per[event] = round(len(top & rest) / len(rest), 3)
    return {"precision": round(sum(per.values()) / max(1, len(per)), 3), "per_event": per,
            "seconds_per_call": round(sum(seconds) / max(1, len(seconds)), 3)}


# Queries of the kind people type about what is in the picture (the vocabulary issue),
# with the answer a person would expect on the public corpus: every clip of these events
# (by the corpus's own truth), or these files. Scored like the corpus's own queries.
VOCABULARY_QUERIES: dict[str, dict[str, list[str]]] = {
    "people walking": {"events": ["vtest"]},
    "someone holding a box": {"events": ["box"]},
    "yellow box": {"events": ["box"]},
    "black cup": {"events": ["cup"]},
    "a tree": {"events": ["tree"]},
    "person speaking": {"events": ["Megamind"]},
    "a man talking": {"events": ["Megamind"]},
    "city": {"events": ["vtest"]},
    "text on screen": {"files": ["box_2_wide.mp4"]},  # the one copy with a burned-in title
    '"my trip"': {"files": ["box_2_wide.mp4"]},
}


def vocabulary_truth(truth: dict) -> dict:
    """A truth file for VOCABULARY_QUERIES, in the shape of the corpus's."""
    queries = {}
    for query, answer in VOCABULARY_QUERIES.items():
        files = set(answer.get("files", []))
        files |= {name for name, meta in truth["files"].items()
                  if meta.get("event") in answer.get("events", [])}
        queries[query] = sorted(files)
    return {**truth, "queries": queries}


def run_queries(library: Path, truth_path: Path, folder: Path, scorer: Path) -> tuple[dict, list]:
    folder.mkdir(exist_ok=True)
    latencies = []
    for query in json.loads(truth_path.read_text())["queries"]:
        result, seconds = run_cli(library, "search", query)
        latencies.append(seconds)
        (folder / f"{query}.json").write_text(json.dumps(result))
    return score(scorer, "search", truth_path, folder), latencies


def available_commands() -> set[str]:
    sys.path.insert(0, str(ROOT))
    from app.cli import build_parser
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return set(sub.choices)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--fresh", action="store_true", help="start from an empty library")
    args = parser.parse_args()
    corpus = args.corpus.resolve()
    scorer = corpus.parent / "eval" / "score.py"
    truth = corpus / "library.truth.json"
    cache = ROOT / "bench" / ".cache"
    out = ROOT / "bench" / "out"
    cache.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    library = cache / "quality.sqlite"
    if args.fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{library}{suffix}").unlink(missing_ok=True)

    commands = available_commands()
    figures: dict = {}
    scan, figures["scan_seconds"] = run_cli(library, "scan", str(corpus / "library"))
    figures["scan_indexed"] = len(scan["indexed"])

    # Edge and bad files, in a library of their own.
    edge_lib = cache / "edge.sqlite"
    scan_edge, _ = run_cli(edge_lib, "scan", str(corpus / "edge"), str(corpus / "bad"))
    (out / "scan_edge_bad.json").write_text(json.dumps(scan_edge))
    figures["scan"] = score(scorer, "scan", corpus / "extra.truth.json", out / "scan_edge_bad.json")

    if "duplicates" in commands:
        dup, figures["duplicates_seconds"] = run_cli(library, "duplicates")
        (out / "duplicates.json").write_text(json.dumps(dup))
        figures["duplicates"] = score(scorer, "duplicates", truth, out / "duplicates.json")
    if "albums" in commands:
        albums, figures["albums_seconds"] = run_cli(library, "albums", "--rebuild")
        (out / "albums.json").write_text(json.dumps(albums))
        figures["albums"] = score(scorer, "albums", truth, out / "albums.json")
    if "search" in commands:
        figures["search"], latencies = run_queries(library, truth, out / "search", scorer)
        figures["search_seconds_per_query"] = round(sum(latencies) / len(latencies), 3)
        figures["search_seconds"] = dict(zip(json.loads(truth.read_text())["queries"],
                                             [round(x, 3) for x in latencies], strict=True))
        extra = cache / "vocabulary.truth.json"
        extra.write_text(json.dumps(vocabulary_truth(json.loads(truth.read_text()))))
        figures["vocabulary_search"], _ = run_queries(library, extra, out / "vocabulary", scorer)
    if "similar" in commands:
        folder = out / "similar"
        folder.mkdir(exist_ok=True)
        latencies = []
        for name in json.loads(truth.read_text())["files"]:
            result, seconds = run_cli(library, "similar", str(corpus / "library" / name),
                                      "--limit", "50")
            latencies.append(seconds)
            (folder / f"{name}.json").write_text(json.dumps(result))
        figures["similar"] = score(scorer, "similar", truth, folder)
        figures["similar_seconds_per_query"] = round(sum(latencies) / len(latencies), 3)
    if {"watched", "recommend"} <= commands:
        figures["recommend"] = recommend_precision(library, json.loads(truth.read_text()),
                                                   corpus, cache)
    figures["missing_commands"] = sorted({"duplicates", "albums", "search", "similar"} - commands)

    if args.json:
        print(json.dumps(figures, indent=1, ensure_ascii=False))
        return 0
    print(f"corpus: {corpus}")
    print(f"scan: {figures['scan_indexed']} indexed in {figures['scan_seconds']:.1f} s; "
          f"edge/bad problems: {figures['scan']['problems']}")
    headline = {"duplicates": "f1", "albums": "ari", "search": "r_precision",
                "vocabulary_search": "r_precision", "similar": "map", "recommend": "precision"}
    for key, name in headline.items():
        if key in figures:
            rest = {k: v for k, v in figures[key].items() if k != name}
            print(f"{key:10s} {name} = {figures[key][name]}   {json.dumps(rest, ensure_ascii=False)}")
    for key in ("search_seconds_per_query", "similar_seconds_per_query"):
        if key in figures:
            print(f"{key}: {figures[key]} (CLI process, including start-up)")
    if figures["missing_commands"]:
        print("not available yet:", ", ".join(figures["missing_commands"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
