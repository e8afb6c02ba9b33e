"""The CLI's JSON contract and its error handling."""

from __future__ import annotations

import json

import pytest

from app import cli
from tests.media_factory import make_clip


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_every_command_has_help():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        assert p.description, f"{name} has no help text"


@pytest.mark.models
def test_scan_info_tags_json(capsys, tmp_path, real_models_dir):
    videos = tmp_path / "v"
    videos.mkdir()
    clip = make_clip(videos / "tone.mp4", seconds=3, audio="tone")
    (videos / "broken.mp4").write_bytes(b"\x00" * 1000)
    lib = str(tmp_path / "lib.sqlite")
    code, out, _ = run(capsys, "--library", lib, "scan", str(videos), "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) >= {"indexed", "skipped", "failed", "seconds"}
    assert data["indexed"] == [str(clip)]
    assert data["failed"][0]["path"].endswith("broken.mp4") and data["failed"][0]["error"]

    code, out, _ = run(capsys, "--library", lib, "info", str(clip), "--json")
    info = json.loads(out)
    assert code == 0 and info["width"] == 160 and info["has_audio"] is True
    assert info["segments"] and {"start", "end", "labels"} <= set(info["segments"][0])

    code, out, _ = run(capsys, "tags", str(clip), "--json", "--library", lib)
    tags = json.loads(out)
    assert code == 0 and len(tags["visual"]) >= 5 and tags["audio"][0]["score"] > 0
    assert all({"label", "score"} == set(t) for t in tags["visual"] + tags["audio"])


def test_unknown_file_is_a_clean_error(capsys, tmp_path):
    lib = str(tmp_path / "lib.sqlite")
    code, _, err = run(capsys, "--library", lib, "tags", str(tmp_path / "nope.mp4"))
    assert code == 1 and "no library at" in err
    from app.store.library import Library
    Library(lib).close()  # a library that exists but does not hold the file
    code, _, err = run(capsys, "--library", lib, "tags", str(tmp_path / "nope.mp4"))
    assert code == 1 and "nope.mp4 is not in the library" in err


def test_a_reader_upgrades_a_library_written_by_an_older_version(capsys, tmp_path):
    """The first command after an update is often a search or info: it answers, and the
    upgrade keeps its backup, instead of a traceback telling the user to open it first."""
    import sqlite3

    from app.store import migrations
    path = tmp_path / "lib.sqlite"
    old = sqlite3.connect(path)
    old.executescript(f"BEGIN;\n{migrations.MIGRATIONS[0]}\nPRAGMA user_version = 1;\nCOMMIT;")
    old.execute("INSERT INTO roots(id, path) VALUES (1, ?)", (str(tmp_path),))
    old.execute("INSERT INTO files(id, path, root_id, size, mtime, fingerprint, status) "
                "VALUES (1, ?, 1, 10, 1.5, 'fp', 'failed')", (str(tmp_path / "a.mp4"),))
    old.commit()
    old.close()
    code, out, err = run(capsys, "--library", str(path), "info", "--json", str(tmp_path / "a.mp4"))
    assert code == 0, err
    assert json.loads(out)["status"] == "failed"
    assert (tmp_path / "lib.sqlite.v1.bak").exists()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == migrations.LATEST
    check.close()


def test_models_verify_reports_missing(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("REELVAULT_DATA", str(tmp_path))
    code, out, _ = run(capsys, "models", "verify", "--json")
    data = json.loads(out)
    assert code == 1 and not data["ok"]
    assert set(data["models"].values()) == {"missing"}


def test_damaged_model_is_refused(tmp_path, monkeypatch, real_models_dir):
    import shutil

    from app.inference.session import ModelError, model_path
    folder = tmp_path / "models"
    folder.mkdir()
    damaged = folder / "yamnet.onnx"
    shutil.copy(real_models_dir / "yamnet.onnx", damaged)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0x01
    damaged.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="models install --force"):
        model_path("yamnet.onnx", folder)
