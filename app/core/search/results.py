"""What every search answers with: one ``Result`` per file, with its best moment."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from app.store.library import Library


class SearchError(Exception):
    """A target that cannot be searched from (not in the library, unreadable image)."""


@dataclass
class Result:
    path: str
    file_id: int
    start: float
    end: float
    score: float
    why: list[str] = field(default_factory=list)

    def as_json(self, with_why: bool = True) -> dict:
        out = {"path": self.path, "start": round(float(self.start), 3),
               "end": round(float(self.end), 3), "score": round(float(self.score), 4)}
        if with_why:
            out["why"] = list(self.why)
        return out



def best_per_file(file_ids: np.ndarray, scores: np.ndarray) -> dict[int, int]:
    """file_id -> index of its highest score (the first one on ties)."""
    if len(file_ids) == 0:
        return {}
    order = np.lexsort((-scores, file_ids))
    first = np.ones(len(order), bool)
    first[1:] = file_ids[order][1:] != file_ids[order][:-1]
    return {int(file_ids[i]): int(i) for i in order[first]}


def results_for(lib: Library, scores: dict[int, tuple[float, int | None]], segs, limit: int,
             why: dict[int, list[str]] | None = None) -> list[Result]:
    # Ties keep file-id order, as when every file was scored in that order.
    top = sorted(sorted(scores.items()), key=lambda kv: -kv[1][0])[:limit]
    out = []
    for file_id, (score, k) in top:
        f = lib.file_by_id(file_id)
        if k is not None:
            start, end = float(segs.starts[k]), float(segs.ends[k])
        else:
            start, end = 0.0, float(f["duration"] or 0.0)
        out.append(Result(f["path"], file_id, start, end, score, (why or {}).get(file_id, [])))
    return out


