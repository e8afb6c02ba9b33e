"""People's names in a query: "anna", "anna ben", "anna beach", "anna maria 2023".

A run of query words that equals the name of a shown person (folded and stemmed as
``namematch.words`` folds them: case, accents, plurals) is taken out of the query and
keeps only the clips that person is seen in; several names keep the clips with all of
them. The rest of the query is searched as usual within those clips.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.core.search import namematch
from app.store import people as store
from app.store.library import Library


@dataclass
class PeopleQuery:
    names: list[str] = field(default_factory=list)  # as the user wrote them when naming
    rest: list[str] = field(default_factory=list)  # the query words that are not names
    files: dict[int, list[float]] = field(default_factory=dict)  # file id -> times seen


def extract(lib: Library, query_words: list[str]) -> PeopleQuery:
    """The names in ``query_words`` (``namematch.words`` of the query) and the files that
    show every one of those people, with the times they are seen."""
    known: dict[tuple[str, ...], tuple[str, list[int]]] = {}
    for row in store.people(lib).values():
        if row.name and not row.hidden:
            key = tuple(namematch.words(row.name))
            if key:
                known.setdefault(key, (row.name, []))[1].append(row.id)
    if not known:
        return PeopleQuery(rest=list(query_words))
    longest = max(len(k) for k in known)
    out = PeopleQuery()
    people: list[list[int]] = []
    i = 0
    while i < len(query_words):
        for n in range(min(longest, len(query_words) - i), 0, -1):
            key = tuple(query_words[i:i + n])
            if key in known:
                name, ids = known[key]
                if name not in out.names:
                    out.names.append(name)
                    people.append(ids)
                i += n
                break
        else:
            out.rest.append(query_words[i])
            i += 1
    if not people:
        return out
    seen = store.files_with_people(lib, {p for ids in people for p in ids})
    common: dict[int, list[float]] | None = None
    for ids in people:  # one name may be several people (two Annas): any of them
        files: dict[int, list[float]] = {}
        for pid in ids:
            for fid, times in seen.get(pid, {}).items():
                files.setdefault(fid, []).extend(times)
        if common is None:
            common = files
        else:
            common = {f: sorted(common[f] + t) for f, t in files.items() if f in common}
    out.files = {f: sorted(t) for f, t in (common or {}).items()}
    return out
