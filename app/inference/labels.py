"""Label lists shipped in resources/: ImageNet-1k class names and AudioSet (YAMNet) classes."""

from __future__ import annotations

import csv
from functools import cache

from app import config


@cache
def imagenet_labels() -> tuple[str, ...]:
    text = (config.resources_dir() / "imagenet_labels.txt").read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line)


@cache
def audioset_labels() -> tuple[str, ...]:
    with open(config.resources_dir() / "audioset_labels.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return tuple(r["display_name"] for r in sorted(rows, key=lambda r: int(r["index"])))
