"""Events by place: clips of one day at one place, and trips away from home.

Content and time cluster clips into events (``clustering``); where clips carry a
location, place adds two rules on top, as unions of those clusters (``join``):

- clips shot on one day at one place (the same city or town, or within
  ``SAME_PLACE_KM``) are one event, even when they look nothing alike (the museum, the
  street, the dinner);
- a *trip*: clips shot away from home (farther than ``AWAY_KM`` from every home base)
  on days following each other (gaps up to ``TRIP_GAP_DAYS``, no clip at home in
  between), over at least two days, are one event, titled by where and when ("Paris ·
  14–16 Jul 2024").

Home bases are where the user shoots on most days (``most_common_places`` over one point
per day and place, so a busy trip does not outweigh months at home). Clips without a
location, or without a trusted capture time, take no part: they cluster by time and
content alone, exactly as without places.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from app.core.albums.clustering import Cluster, trusted_time
from app.core.library.places import ClipPlace
from app.core.places import distance_km, most_common_places

SAME_PLACE_KM = 5.0
AWAY_KM = 50.0
TRIP_GAP_DAYS = 2  # a day without clips inside a trip does not end it
HOME_RADIUS_KM = 25.0
HOME_SHARE = 0.5  # a base with half the top base's days is home too (a second home)
MIN_TRIP_DAYS = 2


@dataclass(frozen=True)
class Stop:
    """A located clip with a trusted time, as the rules see it."""

    row: int
    time: float
    day: int  # local solar day at the place: longitude gives the clock, near enough
    place: ClipPlace


def stops(file_ids: np.ndarray, times: np.ndarray, places: dict[int, ClipPlace]) -> list[Stop]:
    out = []
    for row, (f, t) in enumerate(zip(file_ids.tolist(), times.tolist(), strict=True)):
        cp = places.get(int(f))
        if cp is not None and math.isfinite(t):
            out.append(Stop(row, t, math.floor((t + cp.lon / 15.0 * 3600.0) / 86400.0), cp))
    out.sort(key=lambda s: (s.time, s.row))
    return out


def home_bases(places: dict[int, ClipPlace]) -> list[tuple[float, float]]:
    """Where the user shoots on most days: one point per (day, ~10 km cell) of the
    clips, grouped; the top base, and those with HOME_SHARE of its days."""
    seen = set()
    points = []
    for cp in places.values():
        t = trusted_time(cp.created)
        day = math.floor(t / 86400.0) if math.isfinite(t) else None
        key = (day, round(cp.lat, 1), round(cp.lon, 1))
        if day is not None and key not in seen:
            seen.add(key)
            points.append((cp.lat, cp.lon))
    bases = most_common_places(points, radius_km=HOME_RADIUS_KM, limit=5)
    if not bases:
        return []
    return [(lat, lon) for lat, lon, n in bases if n >= HOME_SHARE * bases[0][2]]


def is_away(cp: ClipPlace, homes: list[tuple[float, float]]) -> bool:
    return bool(homes) and all(distance_km(cp.lat, cp.lon, lat, lon) > AWAY_KM
                               for lat, lon in homes)


def _same_place(a: ClipPlace, b: ClipPlace) -> bool:
    if a.place is not None and b.place is not None and a.place.geoname_id == b.place.geoname_id:
        return True
    return distance_km(a.lat, a.lon, b.lat, b.lon) <= SAME_PLACE_KM


def day_groups(located: list[Stop]) -> list[list[int]]:
    """Rows shot on one day at one place (linked pairwise: same city or close)."""
    by_day: dict[int, list[Stop]] = {}
    for s in located:
        by_day.setdefault(s.day, []).append(s)
    out = []
    for day_stops in by_day.values():
        parent = list(range(len(day_stops)))
        for i in range(len(day_stops)):
            for j in range(i + 1, len(day_stops)):
                if _same_place(day_stops[i].place, day_stops[j].place):
                    parent[_find(parent, j)] = _find(parent, i)
        groups: dict[int, list[int]] = {}
        for i, s in enumerate(day_stops):
            groups.setdefault(_find(parent, i), []).append(s.row)
        out += [g for g in groups.values() if len(g) > 1]
    return out


def trips(located: list[Stop], homes: list[tuple[float, float]]) -> list[list[Stop]]:
    """Runs of clips away from home on following days, two days or more."""
    out, current = [], []
    for s in located:
        if not is_away(s.place, homes):
            current = _close(current, out)
            continue
        if current and s.day - current[-1].day > TRIP_GAP_DAYS:
            current = _close(current, out)
        current.append(s)
    _close(current, out)
    return out


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _close(current: list[Stop], out: list[list[Stop]]) -> list[Stop]:
    if len({s.day for s in current}) >= MIN_TRIP_DAYS:
        out.append(current)
    return []


def place_groups(file_ids: np.ndarray, times: np.ndarray, places: dict[int, ClipPlace],
                 homes: list[tuple[float, float]]) -> list[list[int]]:
    """Rows that must share an event: one day at one place, and trips."""
    located = stops(file_ids, times, places)
    if not located:
        return []
    return day_groups(located) + [[s.row for s in trip] for trip in trips(located, homes)]


def join(clusters: list[Cluster], groups: list[list[int]],
         excluded: dict[int, frozenset[int]] | None = None) -> list[Cluster]:
    """Clusters sharing a place group become one. Existing albums (keyed clusters) never
    merge with each other: new clusters join the album holding most of the group's
    clips, except clips the user took out of that album."""
    if not groups:
        return clusters
    excluded = excluded or {}
    of_row = {r: k for k, c in enumerate(clusters) for r in c.rows}
    parent = list(range(len(clusters)))
    for group in groups:
        ks = sorted({of_row[r] for r in group if r in of_row})
        for k in ks[1:]:
            a, b = _find(parent, ks[0]), _find(parent, k)
            if a != b:
                parent[max(a, b)] = min(a, b)
    parts: dict[int, list[int]] = {}
    for k in range(len(clusters)):
        parts.setdefault(_find(parent, k), []).append(k)
    out = []
    for members in parts.values():
        seeds = [k for k in members if clusters[k].key is not None]
        free = [k for k in members if clusters[k].key is None]
        if not seeds:
            out.append(Cluster(None, sorted(r for k in members for r in clusters[k].rows)))
            continue
        target = max(seeds, key=lambda k: (len(clusters[k].rows), -k))
        banned = excluded.get(clusters[target].key, frozenset())
        rows = list(clusters[target].rows)
        left = []
        for k in free:
            rows += [r for r in clusters[k].rows if r not in banned]
            left += [r for r in clusters[k].rows if r in banned]
        out.append(Cluster(clusters[target].key, sorted(rows)))
        out += [clusters[k] for k in seeds if k != target]
        if left:
            out.append(Cluster(None, sorted(left)))
    out.sort(key=lambda c: c.rows[0])
    return out


# ---- titles -----------------------------------------------------------------------------
def place_name(members: list[ClipPlace]) -> str | None:
    """What to call the place of an album's located clips: the place (spot or city) most
    of them share, else their one country, else the two commonest places."""
    if not members:
        return None
    names = Counter(cp.name for cp in members)
    top, n = names.most_common(1)[0]
    if 2 * n >= len(members):
        return top
    countries = {cp.place.country for cp in members if cp.place}
    if len(countries) == 1 and all(cp.place for cp in members):
        return countries.pop()
    return " & ".join(name for name, _ in names.most_common(2))


def is_trip(members: list[ClipPlace], homes: list[tuple[float, float]]) -> bool:
    """Most located clips away from home, over at least two days."""
    away = [cp for cp in members if is_away(cp, homes)]
    times = [(trusted_time(cp.created), cp.lon) for cp in away]
    days = {math.floor((t + lon / 15.0 * 3600.0) / 86400.0) for t, lon in times
            if math.isfinite(t)}
    return 2 * len(away) > len(members) and len(days) >= MIN_TRIP_DAYS
