"""One way to open an ONNX model: verified, CPU, with a thread budget."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from app import config

if TYPE_CHECKING:  # imported when a session opens: a search that needs none starts faster
    import onnxruntime as ort


class ModelError(RuntimeError):
    """A model file is missing or does not match its recorded SHA-256."""


INSTALL_HINT = "run `reelvault models install` (or `make models`) to build it"


def expected_sha256(name: str) -> str | None:
    manifest = json.loads(config.manifest_path().read_text())
    return manifest["models"].get(name)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks (the models are ~100 MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_path(name: str, models_dir: Path | None = None, verify: bool = True) -> Path:
    """Path of an installed model file, checked against the manifest's SHA-256."""
    path = (models_dir or config.models_dir()) / name
    if not path.exists():
        raise ModelError(f"model {name} is missing from {path.parent}: {INSTALL_HINT}")
    want = expected_sha256(name) if verify else None
    if want is not None and not _verified(path, want):
        raise ModelError(f"model {path} is damaged (SHA-256 does not match the manifest): "
                         f"run `reelvault models install --force` to rebuild it")
    return path


def _verified(path: Path, want: str) -> bool:
    """Whether ``path`` hashes to ``want``. Not hashed again when it did in an earlier
    process and is unchanged since (same size, modification and change times, inode):
    hashing the text model costs a quarter of a second, which every search started from
    the command line would pay. A file that hashes right is recorded for the next one."""
    stamps_path = config.cache_dir() / "verified-models.json"
    try:
        st = path.stat()
    except OSError:
        return False  # gone since it was found
    key = str(path.resolve())
    stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, want]
    try:
        stamps = json.loads(stamps_path.read_text())
    except (OSError, ValueError):
        stamps = {}
    if isinstance(stamps, dict) and stamps.get(key) == stamp:
        return True
    if sha256_file(path) != want:
        return False
    stamps = {**(stamps if isinstance(stamps, dict) else {}), key: stamp}
    config.save_json(stamps_path, stamps)  # not recorded: the next process hashes it again
    return True


def open_session(path: Path | str, threads: int | None = None,
                 arena: bool = True) -> ort.InferenceSession:
    """A CPU session. ``threads`` caps intra-op threads (decoding runs beside inference).

    ``arena=False``: activations are freed after each run instead of kept in ONNX
    Runtime's arena for the next. For the picture detectors, which run now and then on
    one frame in each decode worker (the text detector at several input sizes, each
    kept in the arena at its largest): measured over four files of bench/index_speed.py,
    a worker's resident memory 609 -> 326 MiB, CPU time unchanged within noise (27.5,
    27.8 s with the arena; 28.8, 27.9 s without)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or int(os.environ.get("REELVAULT_ORT_THREADS", "0")) or 0
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    opts.enable_cpu_mem_arena = arena
    # Idle pool threads sleep instead of spinning: during a scan the decoders need every
    # cycle that a spinning inference thread would burn between two calls.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
