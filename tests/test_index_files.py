"""The search and similar indexes kept on disk (``app.core.index_files``): a new
process maps what an earlier one built and answers exactly as a build in memory would;
changes to the library update it; anything damaged or foreign is built again, never
trusted; a library whose folder cannot be written still answers.

"A new process" is ``CachedIndex.forget_all()``: the caches in memory are dropped, the
folders on disk stay.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from app.core import index_files, search
from app.core.cached_index import CachedIndex
from app.core.search.search_index import SearchIndex, search_index
from app.core.search.vector_index import VectorIndex, vector_index
from app.store import vectors as vector_store
from app.store.library import Library
from tests.test_scale_index import ROOT, _add, _library, _similar

QUERIES = ("2015", "march 2012", "2013-03", "2019")  # dates: no text model needed


@pytest.fixture(autouse=True)
def fresh_caches():
    CachedIndex.forget_all()
    yield
    CachedIndex.forget_all()


def _memory_only(index):
    index.KIND = None  # this instance never reads or writes versions on disk
    return index


def _in_memory(monkeypatch, lib: Library):
    """Both snapshots built in memory only, as before this module existed."""
    CachedIndex.forget_all()
    with monkeypatch.context() as m:
        m.setattr(VectorIndex, "KIND", None)
        m.setattr(SearchIndex, "KIND", None)
        out = vector_index(lib), search_index(lib)
    CachedIndex.forget_all()
    return out


def _plain(value):
    """A snapshot field as something == compares (mapped sequences as lists)."""
    if isinstance(value, np.ndarray):
        return value.dtype.str, value.shape, value.tobytes()
    if isinstance(value, tuple | list) and value and hasattr(value[0], "ptr"):
        return [(_plain(p.ptr), _plain(p.moments), _plain(p.scores)) for p in value]
    if hasattr(value, "files"):  # Names
        return list(value.vocabulary), [_plain(np.asarray(f, np.int64)) for f in value.files]
    if hasattr(value, "visual") and hasattr(value, "audio"):  # Basis
        return _plain(value.visual), _plain(value.audio)
    if isinstance(value, int | float):
        return value
    return list(value)


def _same_snapshot(a, b) -> None:
    assert type(a) is type(b)
    for f in fields(a):
        assert _plain(getattr(a, f.name)) == _plain(getattr(b, f.name)), f.name


def _versions(lib: Library, kind: str) -> list[Path]:
    return sorted(index_files.beside(Path(lib.path)).glob(f"{kind}-*"))


def _answers(lib: Library) -> list:
    ids = sorted(vector_store.present_files(lib))
    out = [_similar(lib, f, at, 20) for f in ids[::29] for at in (None, 5.0)]
    out += [[(r.path, round(r.score, 6), r.start, r.end, r.why)
             for r in search.search_text(lib, q)] for q in QUERIES]
    return out


def test_a_new_process_maps_the_index_and_answers_as_a_build_in_memory(tmp_path, monkeypatch):
    lib, _ = _library(tmp_path, 240)
    memory_vectors, memory_texts = _in_memory(monkeypatch, lib)
    assert not _versions(lib, "vectors")
    built = _answers(lib)  # builds, writes a version of each kind
    assert [VectorIndex.of(lib).source, SearchIndex.of(lib).source] == ["build", "build"]
    assert len(_versions(lib, "vectors")) == 1 and len(_versions(lib, "texts")) == 1
    header = json.loads((_versions(lib, "vectors")[0] / "header.json").read_text())
    assert header["count"] == vector_store.change_count(lib)
    assert header["identity"] == vector_store.library_identity(lib)

    CachedIndex.forget_all()
    vx, tx = vector_index(lib), search_index(lib)
    assert [VectorIndex.of(lib).source, SearchIndex.of(lib).source] == ["disk", "disk"]
    assert isinstance(vx.moments, np.memmap) and isinstance(tx.visual, np.memmap)
    _same_snapshot(vx, memory_vectors)
    _same_snapshot(tx, memory_texts)
    assert _answers(lib) == built
    lib.close()


@pytest.mark.models
def test_label_search_from_disk_is_search_in_memory(tmp_path, monkeypatch, real_models_dir):
    from app.core.search.labelquery import default_matcher
    matcher = default_matcher(models_dir=real_models_dir)
    lib, events = _library(tmp_path, 60, seed=3)
    queries = ["dog", "people talking", "music 2013", "beach", "event3", "clip", "beaches"]

    def answers():
        return [[(r.path, r.score, r.start, r.end, r.why)
                 for r in search.search_text(lib, q, matcher=matcher)] for q in queries]

    with monkeypatch.context() as m:
        m.setattr(SearchIndex, "KIND", None)
        in_memory = answers()
    CachedIndex.forget_all()
    answers()  # builds and writes
    CachedIndex.forget_all()
    assert answers() == in_memory
    assert SearchIndex.of(lib).source == "disk"
    lib.close()


def test_changes_update_the_version_on_disk(tmp_path, monkeypatch):
    """A scan that adds, re-indexes or loses files moves the counter: the next process
    maps the old version, reads only what changed, writes a new version, drops the old."""
    lib, events = _library(tmp_path, 120)
    # What a long-running process does in memory: build, then update as things change.
    memory = _memory_only(VectorIndex()), _memory_only(SearchIndex())
    for index in memory:
        index.refresh(lib)
    _answers(lib)
    old = _versions(lib, "vectors")
    CachedIndex.forget_all()
    ids = sorted(vector_store.present_files(lib))
    _add(lib, events, f"{ROOT}/late/new.mp4", "event1", "2015-06-01T10:00:00Z")
    lib.mark([ids[7]], "missing")
    read = []
    original = vector_store.clip_vectors
    monkeypatch.setattr(vector_store, "clip_vectors",
                        lambda lib_, file_ids, kind="fused": read.append(len(file_ids))
                        or original(lib_, file_ids, kind))
    vx = vector_index(lib)
    assert VectorIndex.of(lib).source == "update"
    assert read == [1]  # the new file only; the rest came from disk
    monkeypatch.undo()
    tx = search_index(lib)
    assert SearchIndex.of(lib).source == "update"
    assert ids[7] not in vx.file_ids and ids[7] not in tx.file_ids
    new_versions = _versions(lib, "vectors")
    assert len(new_versions) == 1 and new_versions != old
    assert json.loads((new_versions[0] / "header.json").read_text())["count"] \
        == vector_store.change_count(lib)
    memory_vectors, memory_texts = (index.refresh(lib) for index in memory)
    assert [index.source for index in memory] == ["update", "update"]
    _same_snapshot(vx, memory_vectors)
    _same_snapshot(tx, memory_texts)
    CachedIndex.forget_all()
    _same_snapshot(vector_index(lib), memory_vectors)
    _same_snapshot(search_index(lib), memory_texts)
    assert [VectorIndex.of(lib).source, SearchIndex.of(lib).source] == ["disk", "disk"]
    assert any(p.endswith("late/new.mp4") for p, *_ in _similar(lib, ids[5], None, 20))
    assert any(r.path.endswith("late/new.mp4") for r in search.search_text(lib, "june 2015"))

    # The counter moves without a change to what is indexed (a file missing, then back):
    # the next version links the same arrays.
    lib.mark([ids[8]], "missing")
    lib.mark([ids[8]], "present")
    CachedIndex.forget_all()
    before = _versions(lib, "vectors")[0]
    inode = (before / "moments.npy").stat().st_ino
    vector_index(lib)
    after = _versions(lib, "vectors")[0]
    assert after != before and not before.exists()
    assert json.loads((after / "header.json").read_text())["count"] \
        == vector_store.change_count(lib)
    assert (after / "moments.npy").stat().st_ino == inode  # linked, not written again
    _same_snapshot(vector_index(lib), memory_vectors)
    lib.close()


def _damage_cases():
    def truncate(folder: Path):
        path = folder / "moments.npy" if (folder / "moments.npy").exists() else folder / "visual.npy"
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])

    def garbage_header(folder: Path):
        (folder / "header.json").write_text("{not json")

    def other_recipe(folder: Path):
        header = json.loads((folder / "header.json").read_text())
        header["recipe"] += 1
        (folder / "header.json").write_text(json.dumps(header))

    def other_library(folder: Path):
        header = json.loads((folder / "header.json").read_text())
        header["identity"] += 1
        (folder / "header.json").write_text(json.dumps(header))

    def inconsistent(folder: Path):
        # Right shape and dtype, wrong contents: moments no longer add up.
        counts = np.load(folder / "counts.npy")
        counts[0] += 5
        np.save(folder / "counts.npy", counts)

    def shape_lie(folder: Path):
        header = json.loads((folder / "header.json").read_text())
        header["arrays"]["counts"][0][0] += 1
        (folder / "header.json").write_text(json.dumps(header))

    def missing_file(folder: Path):
        (folder / "starts.npy").unlink()

    return [truncate, garbage_header, other_recipe, other_library, inconsistent, shape_lie,
            missing_file]


@pytest.mark.parametrize("damage", _damage_cases(), ids=lambda f: f.__name__)
def test_damaged_or_foreign_versions_are_built_again(tmp_path, monkeypatch, damage):
    lib, _ = _library(tmp_path, 30)
    memory_vectors, memory_texts = _in_memory(monkeypatch, lib)
    built = _answers(lib)
    for kind in ("vectors", "texts"):
        damage(_versions(lib, kind)[0])
    CachedIndex.forget_all()
    assert _answers(lib) == built
    assert [VectorIndex.of(lib).source, SearchIndex.of(lib).source] == ["build", "build"]
    _same_snapshot(vector_index(lib), memory_vectors)
    _same_snapshot(search_index(lib), memory_texts)
    # The damaged version is gone, a good one replaces it.
    for kind in ("vectors", "texts"):
        assert len(_versions(lib, kind)) == 1
    CachedIndex.forget_all()
    assert _answers(lib) == built
    assert [VectorIndex.of(lib).source, SearchIndex.of(lib).source] == ["disk", "disk"]
    lib.close()


def test_a_library_in_a_folder_that_cannot_be_written_still_answers(tmp_path, monkeypatch):
    """The index goes to the user's cache folder; where that cannot be written either,
    it lives in memory. (A file where the index folder would go stands for a read-only
    folder: the tests may run as root, who can write anywhere.)"""
    lib, _ = _library(tmp_path / "lib", 30)
    path = Path(lib.path)
    lib.close()
    index_files.beside(path).write_text("not a folder")
    monkeypatch.setenv("REELVAULT_CACHE", str(tmp_path / "cache"))
    lib = Library(path, readonly=True)
    built = _answers(lib)
    assert index_files.beside(path).read_text() == "not a folder"
    elsewhere = index_files.elsewhere(path)
    assert elsewhere.is_relative_to(tmp_path / "cache")
    assert len(list(elsewhere.glob("vectors-*"))) == 1
    CachedIndex.forget_all()
    assert _answers(lib) == built
    assert VectorIndex.of(lib).source == "disk"

    (tmp_path / "blocked").write_text("")
    monkeypatch.setenv("REELVAULT_CACHE", str(tmp_path / "blocked" / "cache"))
    CachedIndex.forget_all()
    assert _answers(lib) == built
    assert VectorIndex.of(lib).source == "build"
    lib.close()


def test_a_reader_keeps_its_version_while_a_writer_replaces_it(tmp_path):
    """Versions are never changed in place: a process that mapped one keeps reading it
    after another process wrote a newer one and removed the old folder."""
    lib, events = _library(tmp_path, 60)
    reader = VectorIndex()
    old = reader.refresh(lib)
    moments = np.array(old.moments)
    first = _versions(lib, "vectors")
    _add(lib, events, f"{ROOT}/late/new.mp4", "event2")
    writer = VectorIndex()
    writer.refresh(lib)  # from disk, updated, written; the old folder removed
    assert writer.source == "update"
    assert _versions(lib, "vectors") != first and not first[0].exists()
    assert np.array_equal(np.asarray(old.moments), moments)
    assert len(reader.refresh(lib).file_ids) == len(old.file_ids) + 1
    lib.close()


def test_strings_keep_every_file_name():
    names = ["/v/plain.mp4", "/v/été/ça.mov", "/v/bad\udcff.mp4", ""]
    s = index_files.Strings.of(names)
    assert list(s) == names and [s[i] for i in range(len(names))] == names and s[-1] == ""
    coded = index_files.CodedStrings.of(["/a", None, "/a", "/b"])
    assert list(coded) == ["/a", None, "/a", "/b"] and coded[1] is None
    assert len(coded.table) == 2


def test_a_model_checked_once_is_checked_again_after_a_change(tmp_path, monkeypatch,
                                                                real_models_dir):
    """The text model's SHA-256 is not computed again in every process while the file is
    unchanged; a change to the file is still refused."""
    import shutil

    from app.inference import session
    monkeypatch.setenv("REELVAULT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "models"
    folder.mkdir()
    model = folder / "yamnet.onnx"
    shutil.copy(real_models_dir / "yamnet.onnx", model)
    hashed = []
    original = session.sha256_file
    monkeypatch.setattr(session, "sha256_file", lambda p: hashed.append(p) or original(p))
    assert session.model_path("yamnet.onnx", folder) == model
    assert session.model_path("yamnet.onnx", folder) == model
    assert len(hashed) == 1
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(session.ModelError, match="damaged"):
        session.model_path("yamnet.onnx", folder)


@pytest.mark.models
def test_a_query_asked_before_needs_no_text_model(tmp_path, monkeypatch, real_models_dir):
    """Query embeddings are kept in the user's cache folder: a new process asking the same
    words again gets the model's own vector back without loading the model."""
    from app.core.search import labelquery
    from app.inference.text import TextModel
    monkeypatch.setenv("REELVAULT_CACHE", str(tmp_path / "cache"))
    first = labelquery.QueryEncoder(real_models_dir).encode(["birds singing"])
    want = TextModel(real_models_dir).encode(["birds singing"])
    assert np.allclose(first, want, atol=1e-6)

    def no_model(models_dir):
        raise AssertionError("the text model was loaded")

    monkeypatch.setattr(labelquery, "_text_model", no_model)
    again = labelquery.QueryEncoder(real_models_dir)
    assert np.array_equal(again.encode(["birds singing"]), first)
    with pytest.raises(AssertionError, match="loaded"):
        again.encode(["a dog in the snow"])  # never asked: needs the model


@pytest.mark.models
def test_the_warm_up_and_a_first_search_share_one_text_model(real_models_dir):
    """Both ask for the model at once (the app's start): it is loaded once, not twice."""
    import threading

    from app.core.search import labelquery
    labelquery._text_model.cache_clear()
    start, got = threading.Barrier(2), []

    def ask():
        start.wait()
        got.append(labelquery.QueryEncoder(real_models_dir).load())

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 2 and got[0] is got[1]
    assert labelquery._text_model.cache_info().misses == 1


# ---- a command-line process: only what the command needs -----------------------------
HEAVY = ("onnxruntime", "av", "cv2", "scipy", "multiprocessing")
# The CLI as `python -m app` runs it; what it imported is reported at exit, on stderr.
CLI_PROCESS = """
import atexit, json, runpy, sys
atexit.register(lambda: print("LOADED " + json.dumps(
    sorted(m for m in {heavy!r} if m in sys.modules)), file=sys.stderr))
sys.argv = ["reelvault", *sys.argv[1:]]
runpy.run_module("app", run_name="__main__", alter_sys=True)
"""


def _cli_process(env: dict, *argv) -> tuple[dict, list[str]]:
    """A new `reelvault ... --json` process: its answer and the heavy modules it loaded."""
    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", CLI_PROCESS.format(heavy=HEAVY),
                           *map(str, argv), "--json"], capture_output=True, text=True,
                          timeout=300, cwd=repo,
                          env={**os.environ, "PYTHONPATH": str(repo), **env})
    assert done.returncode == 0, done.stderr
    loaded = [ln for ln in done.stderr.splitlines() if ln.startswith("LOADED ")]
    return json.loads(done.stdout), json.loads(loaded[-1][len("LOADED "):])


def _same_answer(answer: dict, results) -> bool:
    """The CLI's JSON (scores to 4 decimals) and results found in this process agree."""
    return [r["path"] for r in answer["results"]] == [r.path for r in results] and \
        np.allclose([r["score"] for r in answer["results"]], [r.score for r in results],
                    atol=1e-4)


def test_a_new_cli_process_answers_without_the_decoder_or_the_models(tmp_path):
    """`similar` on a library clip and a search by date need neither PyAV, OpenCV,
    ONNX Runtime nor SciPy: a cold command loads none of them, whether it builds the
    index or maps it, and answers as the same search in this process does."""
    lib, _ = _library(tmp_path, 60)
    target = lib.file_by_id(sorted(vector_store.present_files(lib))[5])["path"]
    want_similar = search.similar(lib, target)
    want_search = search.search_text(lib, "march 2012")
    path = lib.path
    lib.close()
    shutil.rmtree(index_files.beside(Path(path)))  # the first process builds it
    env = {"REELVAULT_CACHE": str(tmp_path / "cache")}
    for _ in range(2):  # building the index, then mapping it
        answer, loaded = _cli_process(env, "--library", path, "similar", target)
        assert _same_answer(answer, want_similar) and loaded == []
        answer, loaded = _cli_process(env, "--library", path, "search", "march 2012")
        assert _same_answer(answer, want_search) and len(want_search) and loaded == []


@pytest.mark.models
def test_a_query_asked_before_is_answered_without_loading_the_text_model(tmp_path,
                                                                         real_models_dir):
    lib, _ = _library(tmp_path, 60, seed=3)
    path = lib.path
    lib.close()
    env = {"REELVAULT_CACHE": str(tmp_path / "cache")}
    first, loaded_first = _cli_process(env, "--library", path, "search", "dog beach")
    again, loaded_again = _cli_process(env, "--library", path, "search", "dog beach")
    assert "onnxruntime" in loaded_first  # embedded once, by the model...
    assert loaded_again == []  # ...then from the cache of queries
    assert again == first and first["results"]
