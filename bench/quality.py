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
        folder = out / "search"
        folder.mkdir(exist_ok=True)
        latencies = []
        for query in json.loads(truth.read_text())["queries"]:
            result, seconds = run_cli(library, "search", query)
            latencies.append(seconds)
            (folder / f"{query}.json").write_text(json.dumps(result))
        figures["search"] = score(scorer, "search", truth, folder)
        figures["search_seconds_per_query"] = round(sum(latencies) / len(latencies), 3)
    if "similar" in commands:
        folder = out / "similar"
        folder.mkdir(exist_ok=True)
        for name in json.loads(truth.read_text())["files"]:
            result, _ = run_cli(library, "similar", str(corpus / "library" / name), "--limit", "50")
            (folder / f"{name}.json").write_text(json.dumps(result))
        figures["similar"] = score(scorer, "similar", truth, folder)
    figures["missing_commands"] = sorted({"duplicates", "albums", "search", "similar"} - commands)

    if args.json:
        print(json.dumps(figures, indent=1, ensure_ascii=False))
        return 0
    print(f"corpus: {corpus}")
    print(f"scan: {figures['scan_indexed']} indexed in {figures['scan_seconds']:.1f} s; "
          f"edge/bad problems: {figures['scan']['problems']}")
    headline = {"duplicates": "f1", "albums": "ari", "search": "r_precision", "similar": "map"}
    for key, name in headline.items():
        if key in figures:
            rest = {k: v for k, v in figures[key].items() if k != name}
            print(f"{key:10s} {name} = {figures[key][name]}   {json.dumps(rest, ensure_ascii=False)}")
    if figures["missing_commands"]:
        print("not available yet:", ", ".join(figures["missing_commands"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
