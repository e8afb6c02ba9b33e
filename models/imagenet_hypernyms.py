"""Developer tool: write resources/imagenet_hypernyms.tsv, the WordNet ancestors of each
ImageNet class.

    .venv/bin/python -m models.imagenet_hypernyms timm-1.0.31-py3-none-any.whl \\
        wordnet-base_1%3a3.0-37_all.deb

ImageNet-1k classes are WordNet 3.0 noun synsets, and WordNet knows what each one is a
kind of: a golden retriever is a dog, a canine, a mammal, an animal. With that, a clip's
labels can be shown as a person would say them ("dog", not "golden retriever") and a query
word for a kind ("dog", "animal", "vehicle", "fruit") reaches every class of that kind.

timm's wheel ships the synset ids in class order (get it with ``pip download --no-deps
timm==1.0.31``); Debian's ``wordnet-base`` package (``apt-get download
wordnet-base=1:3.0-37``) ships the WordNet 3.0 database whose ``data.noun`` holds the
hypernym pointers. Both are checked by SHA-256. The output is committed (one line per
class: index, synset id, lexicographer file, then the ancestors nearest first, each as its
comma-separated lemmas, separated by ``|``); neither package is needed to install or run
Reelvault.
"""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
import zipfile
from pathlib import Path

TIMM_SHA256 = "5bd50f7d0fe6d09bf9285ac2523234a1b7e6bf075c0be3e7aed09139fcb617c7"
WORDNET_DEB_SHA256 = "61060d960f9ada8fa120872312eccd3ecebfbab8c4579e4f5a74e1cf67620752"
SYNSETS = "timm/data/_info/imagenet_synsets.txt"
DATA_NOUN = "./usr/share/wordnet/data.noun"
OUTPUT = Path(__file__).resolve().parent.parent / "resources" / "imagenet_hypernyms.tsv"
# WordNet's lexicographer files for nouns (lexnames), by number.
LEXNAMES = {3: "tops", 4: "act", 5: "animal", 6: "artifact", 7: "attribute", 8: "body",
            9: "cognition", 10: "communication", 11: "event", 12: "feeling", 13: "food",
            14: "group", 15: "location", 16: "motive", 17: "object", 18: "person",
            19: "phenomenon", 20: "plant", 21: "possession", 22: "process", 23: "quantity",
            24: "relation", 25: "shape", 26: "state", 27: "substance", 28: "time"}


def _checked(path: Path, digest: str) -> bytes:
    data = path.read_bytes()
    got = hashlib.sha256(data).hexdigest()
    if got != digest:
        raise SystemExit(f"{path.name}: SHA-256 {got}, expected {digest}")
    return data


def deb_member(deb: bytes, name: str) -> bytes:
    """One file out of a Debian package: an ar archive holding data.tar.*."""
    if not deb.startswith(b"!<arch>\n"):
        raise SystemExit("not a Debian package")
    pos = 8
    while pos + 60 <= len(deb):
        header = deb[pos:pos + 60]
        member, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
        body = deb[pos + 60:pos + 60 + size]
        if member.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                return tar.extractfile(name).read()
        pos += 60 + size + (size & 1)
    raise SystemExit("no data.tar in the package")


def parse_nouns(text: str) -> dict[str, tuple[int, list[str], list[str]]]:
    """offset -> (lexicographer file, lemmas, hypernym offsets) from WordNet's data.noun."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith(" "):  # the licence header
            continue
        f = line.split(" ")
        offset, lexfile, count = f[0], int(f[1]), int(f[3], 16)
        lemmas = [f[4 + 2 * i].replace("_", " ") for i in range(count)]
        at = 4 + 2 * count
        pointers = int(f[at])
        hypernyms = [f[at + 1 + 4 * i + 1] for i in range(pointers)
                     if f[at + 1 + 4 * i] in ("@", "@i")]
        out[offset] = (lexfile, lemmas, hypernyms)
    return out


def ancestors(nouns: dict, offset: str) -> list[str]:
    """Every ancestor of a synset, nearest first (breadth first over hypernyms)."""
    seen, order, frontier = {offset}, [], [offset]
    while frontier:
        nxt = []
        for o in frontier:
            for h in nouns[o][2]:
                if h not in seen:
                    seen.add(h)
                    order.append(h)
                    nxt.append(h)
        frontier = nxt
    return order


def lines(timm_wheel: Path, wordnet_deb: Path) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(_checked(timm_wheel, TIMM_SHA256))) as zf:
        synsets = zf.read(SYNSETS).decode().split()
    nouns = parse_nouns(deb_member(_checked(wordnet_deb, WORDNET_DEB_SHA256), DATA_NOUN)
                        .decode("latin-1"))
    out = []
    for index, wnid in enumerate(synsets):
        offset = wnid[1:]
        lexfile = LEXNAMES.get(nouns[offset][0], str(nouns[offset][0]))
        chain = "|".join(",".join(nouns[a][1]) for a in ancestors(nouns, offset))
        out.append(f"{index}\t{wnid}\t{lexfile}\t{chain}")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__)
        return 2
    rows = lines(Path(argv[1]), Path(argv[2]))
    OUTPUT.write_text("\n".join(rows) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} classes to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
