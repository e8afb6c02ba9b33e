"""Where a clip was shot: ISO 6709 locations from container metadata, distances, spots.

Pure functions (stdlib only), no data set needed:

- ``parse_iso6709("+48.8584+002.2945/")`` -> ``(48.8584, 2.2945, None)``; decimal degrees,
  degrees and decimal minutes (``±DDMM.MMM±DDDMM.MMM``) and degrees, minutes and seconds
  (``±DDMMSS.SS±DDDMMSS.SS``), with or without altitude, ``CRS...`` suffix or trailing ``/``.
- ``location_from_metadata(metadata)`` tries every key phones write (Android's ``location``
  / ``location-eng`` from the ``©xyz`` atom, Apple's
  ``com.apple.quicktime.location.ISO6709``) and returns ``(lat, lon)`` or None.
- ``location_from_container(container)``: the same over a PyAV container's own metadata
  and then each stream's (duck-typed: anything with ``.metadata`` and ``.streams``).
- ``distance_km`` (haversine), ``named_spot_for`` (the user's own named spots),
  ``most_common_places`` (where most clips were shot: a "home base" for trips).

A location is valid when both numbers are finite, in range, and not exactly (0, 0): that
is what phones and editors write when they had no fix ("Null Island").
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence

EARTH_RADIUS_KM = 6371.0088

# Keys in the order they are trusted. Apple's key is written by iPhones (mdta atom), the
# others come from the ``©xyz`` user-data atom (FFmpeg shows it as ``location`` and
# ``location-eng``; ``©xyz`` / ``xyz`` in case a tool passes the raw atom name).
LOCATION_KEYS = (
    "com.apple.quicktime.location.iso6709",
    "location",
    "location-eng",
    "©xyz",
    "xyz",
    "com.android.location",
)

_NUMBER = r"[+-]\d+(?:\.\d*)?"
_ISO6709 = re.compile(rf"^\s*(?P<lat>{_NUMBER})(?P<lon>{_NUMBER})(?P<alt>{_NUMBER})?"
                      r"\s*(?:CRS[^/]*)?/?\s*$", re.IGNORECASE)


def valid_latlon(lat: float, lon: float) -> bool:
    """True for a real position: finite, -90..90 / -180..180, and not exactly (0, 0)."""
    try:
        lat, lon = float(lat), float(lon)
    except (TypeError, ValueError):
        return False
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return False
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return False
    return not (lat == 0.0 and lon == 0.0)


def _angle(text: str, degree_digits: int) -> float | None:
    """One signed ISO 6709 angle: ±D[.D], ±DM[.M] or ±DMS[.S] by its count of integer digits.

    ``degree_digits`` is 2 for a latitude and 3 for a longitude; shorter (unpadded) degree
    fields are accepted, as some writers drop the leading zeros."""
    sign = -1.0 if text[0] == "-" else 1.0
    body = text[1:]
    whole, _, fraction = body.partition(".")
    n = len(whole)
    if n <= degree_digits:
        value = float(body)
    elif n <= degree_digits + 2:  # degrees and minutes
        minutes = float(whole[-2:] + "." + fraction) if fraction else float(whole[-2:])
        if minutes >= 60:
            return None
        value = int(whole[:-2] or 0) + minutes / 60.0
    elif n <= degree_digits + 4:  # degrees, minutes and seconds
        seconds = float(whole[-2:] + "." + fraction) if fraction else float(whole[-2:])
        minutes = int(whole[-4:-2])
        if minutes >= 60 or seconds >= 60:
            return None
        value = int(whole[:-4] or 0) + minutes / 60.0 + seconds / 3600.0
    else:
        return None
    return sign * value


def parse_iso6709(text: str) -> tuple[float, float, float | None] | None:
    """``(lat, lon, altitude_m or None)`` from an ISO 6709 point string, or None.

    None also for positions that are not places (see ``valid_latlon``)."""
    if not isinstance(text, str):
        return None
    match = _ISO6709.match(text)
    if not match:
        return None
    lat = _angle(match["lat"], 2)
    lon = _angle(match["lon"], 3)
    if lat is None or lon is None or not valid_latlon(lat, lon):
        return None
    alt = float(match["alt"]) if match["alt"] else None
    if alt is not None and not math.isfinite(alt):
        alt = None
    return lat, lon, alt


def location_from_metadata(metadata: Mapping[str, str] | None) -> tuple[float, float] | None:
    """``(lat, lon)`` from a clip's metadata dict (container or stream), or None.

    Keys are compared case-insensitively; after the known keys, any key starting with
    ``location`` (``location-fra``...) or ending with ``iso6709`` is tried."""
    if not metadata:
        return None
    lowered: dict[str, str] = {}
    for key, value in metadata.items():
        if isinstance(key, str) and isinstance(value, str):
            lowered.setdefault(key.strip().lower(), value)
    keys = [k for k in LOCATION_KEYS if k in lowered]
    keys += sorted(k for k in lowered if k not in LOCATION_KEYS
                   and (k.startswith("location") or k.endswith("iso6709")))
    for key in keys:
        parsed = parse_iso6709(lowered[key])
        if parsed is not None:
            return parsed[0], parsed[1]
    return None


def location_from_container(container) -> tuple[float, float] | None:
    """``location_from_metadata`` over a PyAV container's metadata, then its streams'."""
    found = location_from_metadata(getattr(container, "metadata", None))
    if found is not None:
        return found
    for stream in getattr(container, "streams", ()) or ():
        found = location_from_metadata(getattr(stream, "metadata", None))
        if found is not None:
            return found
    return None


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def named_spot_for(lat: float, lon: float,
                   spots: Iterable[tuple[str, float, float, float]]) -> str | None:
    """The name of the nearest user spot ``(name, lat, lon, radius_m)`` containing the point.

    None when the point is not a valid location or lies outside every spot's radius."""
    if not valid_latlon(lat, lon):
        return None
    best: tuple[float, str] | None = None
    for name, slat, slon, radius_m in spots:
        d = distance_km(lat, lon, slat, slon) * 1000.0
        if d <= radius_m and (best is None or d < best[0]):
            best = (d, name)
    return best[1] if best else None


def most_common_places(latlons: Sequence[tuple[float, float]], radius_km: float = 2.0,
                       limit: int = 5) -> list[tuple[float, float, int]]:
    """Where most points are: ``[(lat, lon, count)]``, biggest first (a "home base").

    Greedy: points are visited in order and join the first cluster whose centre (the
    mean of its members) is within ``radius_km``; invalid points are skipped. Meant for a
    user's few thousand clips; O(points x clusters)."""
    clusters: list[list[float]] = []  # [sum_lat, sum_lon, count]
    for lat, lon in latlons:
        if not valid_latlon(lat, lon):
            continue
        for c in clusters:
            if distance_km(lat, lon, c[0] / c[2], c[1] / c[2]) <= radius_km:
                c[0] += lat
                c[1] += lon
                c[2] += 1
                break
        else:
            clusters.append([lat, lon, 1])
    clusters.sort(key=lambda c: -c[2])
    return [(c[0] / c[2], c[1] / c[2], int(c[2])) for c in clusters[:limit]]
