"""Where the library's clips were shot: locations read during scans, resolved to places
offline, the user's corrections and named spots.

- During a scan, decode workers read each new file's location from its container
  metadata (``prepare_located``: a second, metadata-only open of the file beside the
  decode, so the decoding code is untouched); files indexed before places existed get
  that metadata read once on the next scan, in worker processes (``locate_unread``), and
  are never decoded again for it.
- Locations resolve to GeoNames places (``resolve_places``) with the offline
  ``Geocoder``; the place id and the data's version are stored, names are read from the
  data at read time, so a new data file renames nothing wrongly: the next scan resolves
  again, and reads in between resolve in memory.
- The user can set or clear a clip's place (``set_place``/``clear_place``: kept apart
  from the file's own location, so rescans keep them) and name spots ("Grandma's house"
  within 150 m): every clip inside a spot's radius shows the spot's name.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.places import (
    Geocoder,
    Place,
    PlacesNotInstalled,
    fold,
    location_from_container,
    named_spot_for,
    valid_latlon,
)
from app.store import places as store
from app.store.library import Library

if TYPE_CHECKING:
    # Reading locations from files needs the decoder (PyAV) and the indexer (OpenCV):
    # imported by the functions that read files, not by every search that names a place
    # (``app.core.search.placequery``), which would pay for them at each cold start.
    from app.core.indexing.indexer import ClipSummary, ClipWindow

DEFAULT_SPOT_RADIUS_M = 150.0
LOCATE_TIMEOUT_S = 30.0  # one metadata read; only a hung file system needs this long


class PlaceError(Exception):
    """A place operation that cannot be done (unknown place name, bad coordinates...)."""


# ---- reading locations from files ----------------------------------------------------------
def read_location(path: str) -> tuple[float, float] | None:
    """The location in a file's container metadata (open and read metadata only; no
    packet is read), or None. Raises MediaError when the file cannot be opened."""
    from app.core.indexing.media import open_container
    with open_container(path) as container:
        return location_from_container(container)


def prepare_located(path: str, threads: int = 0, analyse=None
                    ) -> Generator[ClipWindow, None, ClipSummary]:
    """``prepare_windows`` plus the file's location in ``info["lat"]``/``info["lon"]``
    (None when it has none). Runs in a decode worker, like ``prepare_windows``."""
    from app.core.indexing.indexer import prepare_windows
    from app.core.indexing.media import MediaError
    summary = yield from prepare_windows(path, threads=threads, analyse=analyse)
    try:
        found = read_location(path)
    except MediaError:  # it decoded a moment ago; a second open failing means no location
        found = None
    summary.info["lat"], summary.info["lon"] = found if found else (None, None)
    return summary


def locate_unread(lib: Library, file_ids: Iterable[int], workers: int = 1,
                  cancel: threading.Event | None = None,
                  progress: Callable[[int, int], None] | None = None) -> dict:
    """Read the location of indexed files whose metadata was never read for one (files
    indexed before places existed), in worker processes: a file that crashes or hangs
    its reader is recorded as having no location and the pass goes on. Each file is
    read once: ``location_read`` is set whatever the outcome. Returns counts."""
    from app.core.library.workers import WorkerPool
    todo = store.files_to_locate(lib, file_ids)
    stats = {"read": 0, "located": 0, "failed": 0}
    if not todo:
        return stats
    path_of = dict((p, f) for f, p in todo)
    found: list[tuple[int, float | None, float | None]] = []
    stop = (cancel.is_set if cancel is not None else (lambda: False))
    with WorkerPool(read_location, size=max(1, min(workers, len(todo))),
                    timeout=lambda _: LOCATE_TIMEOUT_S) as pool:
        for res in pool.map_unordered([p for _, p in todo], stop):
            where = res.value if res.error is None else None
            stats["failed"] += res.error is not None
            stats["located"] += where is not None
            found.append((path_of[res.job], *(where or (None, None))))
            stats["read"] += 1
            if len(found) >= 200:  # a cancelled pass keeps what it read
                store.set_file_locations(lib, found)
                found = []
            if progress:
                progress(stats["read"], len(todo))
    store.set_file_locations(lib, found)
    return stats


# ---- resolving to places -------------------------------------------------------------------
_VERSIONS: dict[Path, str] = {}


def geocoder() -> Geocoder | None:
    """The installed geocoder, or None when the places data is not installed (locations
    are still kept; they get names once it is)."""
    try:
        return Geocoder.load()
    except PlacesNotInstalled:
        return None


def data_version(geo: Geocoder | Path) -> str:
    """The places data's identity (SHA-256 of the file, once per process)."""
    path = Path(geo.path if isinstance(geo, Geocoder) else geo)
    if path not in _VERSIONS:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _VERSIONS[path] = digest.hexdigest()[:16]
    return _VERSIONS[path]


def resolve_places(lib: Library, geo: Geocoder | None = None) -> int:
    """Resolve every location (files' and edits') not resolved with this data version;
    returns how many were. No-op without the places data; the data is only loaded when
    something needs resolving."""
    path = Path(geo.path) if geo else Geocoder.data_path().resolve()
    if not path.is_file():
        return 0
    version = data_version(path)
    todo = store.unresolved(lib, version)
    if not todo:
        return 0
    geo = geo or geocoder()
    if geo is None:
        return 0
    found = geo.nearest_many([(lat, lon) for _, _, lat, lon in todo])
    store.set_resolved(lib, [(kind, f, p.geoname_id if p else None)
                             for (kind, f, _, _), p in zip(todo, found, strict=True)], version)
    return len(todo)


# ---- reading places ------------------------------------------------------------------------
@dataclass(frozen=True)
class ClipPlace:
    file_id: int
    path: str
    lat: float
    lon: float
    source: str  # "file" (the clip's metadata) or "user" (set by the user)
    spot: str | None  # the user's named spot holding the point
    place: Place | None  # the city or town (None: nowhere near one, or no places data)
    created: str | None = None
    file_time: str | None = None

    @property
    def name(self) -> str:
        """What to call it: the user's spot, else the city, else the coordinates."""
        if self.spot:
            return self.spot
        if self.place:
            return self.place.name
        return f"{self.lat:.4f}, {self.lon:.4f}"

    @property
    def key(self) -> tuple:
        """Clips with equal keys are at the same named place."""
        if self.spot:
            return ("spot", self.spot)
        if self.place:
            return ("place", self.place.geoname_id)
        return ("point", round(self.lat, 2), round(self.lon, 2))

    def as_json(self) -> dict:
        p = self.place
        return {"name": self.name, "city": p.name if p else None,
                "region": (p.region or None) if p else None, "country": p.country if p else None,
                "country_code": p.country_code if p else None, "spot": self.spot,
                "lat": round(self.lat, 6), "lon": round(self.lon, 6), "source": self.source}

    @property
    def label(self) -> str:
        """"Grandma's house, Lyon, France" / "Paris, Île-de-France, France"."""
        if self.place is None:
            return self.name
        return f"{self.spot}, {self.place.label}" if self.spot else self.place.label


_by_id_lock = threading.Lock()
_BY_ID: dict[tuple[Path, int], Place | None] = {}


def _place_by_id(geo: Geocoder, geoname_id: int) -> Place | None:
    key = (Path(geo.path), int(geoname_id))
    with _by_id_lock:
        if key in _BY_ID:
            return _BY_ID[key]
    found = geo.by_geoname_id(int(geoname_id))
    with _by_id_lock:
        _BY_ID[key] = found
    return found


def clip_places(lib: Library, file_ids: Iterable[int] | None = None,
                geo: Geocoder | None | bool = True) -> dict[int, ClipPlace]:
    """file id -> its place, for present indexed files with a location (all, or these).

    ``geo``: a geocoder, True for the installed one, None/False for none (names then
    come from spots only)."""
    rows = store.locations(lib, file_ids)
    if not rows:
        return {}
    if geo is True:
        geo = geocoder()
    spots = [(s.name, s.lat, s.lon, s.radius_m) for s in store.spots(lib)]
    places: dict[int, Place | None] = {}
    if geo:
        version = data_version(geo)
        stale = [r for r in rows if r.geo_version != version]
        for r, p in zip(stale, geo.nearest_many([(r.lat, r.lon) for r in stale]), strict=True):
            places[r.file_id] = p
        known: dict[int, Place | None] = {}  # many clips share a place: one look-up each
        for r in rows:
            if r.file_id not in places and r.geoname_id is not None:
                if r.geoname_id not in known:
                    known[r.geoname_id] = _place_by_id(geo, r.geoname_id)
                places[r.file_id] = known[r.geoname_id]
    out = {}
    for r in rows:
        if not valid_latlon(r.lat, r.lon):
            continue
        out[r.file_id] = ClipPlace(r.file_id, r.path, r.lat, r.lon, r.source,
                                   named_spot_for(r.lat, r.lon, spots) if spots else None,
                                   places.get(r.file_id), r.created, r.file_time)
    return out


def place_of(lib: Library, file_id: int) -> ClipPlace | None:
    return clip_places(lib, [file_id]).get(int(file_id))


def library_places(lib: Library) -> list[dict]:
    """The places the library's clips were shot at, most clips first: ``{"name",
    "region", "country", "lat", "lon", "count", "files"}`` (files by path). A named spot
    is a place of its own; other clips group by their city."""
    groups: dict[tuple, list[ClipPlace]] = {}
    for cp in clip_places(lib).values():
        groups.setdefault(cp.key, []).append(cp)
    out = []
    for members in groups.values():
        first = members[0]
        lat = sum(m.lat for m in members) / len(members)
        lon = sum(m.lon for m in members) / len(members)
        if first.place is not None and not first.spot:
            lat, lon = first.place.lat, first.place.lon
        out.append({"name": first.name, "city": first.place.name if first.place else None,
                    "region": (first.place.region or None) if first.place else None,
                    "country": first.place.country if first.place else None,
                    "spot": first.spot is not None, "lat": round(lat, 6), "lon": round(lon, 6),
                    "count": len(members), "files": sorted(m.path for m in members)})
    out.sort(key=lambda p: (-p["count"], p["name"]))
    return out


# ---- the user's edits ----------------------------------------------------------------------
def _checked(lat: float, lon: float) -> tuple[float, float]:
    if not valid_latlon(lat, lon):
        raise PlaceError(f"{lat}, {lon} is not a place (latitude -90..90, longitude "
                         f"-180..180, not 0, 0)")
    return float(lat), float(lon)


def find_place(lib: Library, text: str) -> tuple[float, float, str]:
    """A place name to a point: one of the user's spots, else the biggest place the
    geocoder knows by that name ("paris", "münchen", "nyc"). (lat, lon, its name)."""
    key = fold(text)
    for s in store.spots(lib):
        if fold(s.name) == key:
            return s.lat, s.lon, s.name
    geo = geocoder()
    if geo is None:
        raise PlaceError(f"no spot named {text!r}, and the places data is not installed "
                         f"(run `reelvault models install`) to look up place names")
    found = geo.find(text, limit=1)
    if not found:
        raise PlaceError(f"no place or spot named {text!r}")
    return found[0].lat, found[0].lon, found[0].label


def set_place(lib: Library, file_id: int, lat: float, lon: float) -> ClipPlace:
    """The user's place for a clip; wins over the file's own location, survives rescans."""
    lat, lon = _checked(lat, lon)
    geo = geocoder()
    found = geo.nearest(lat, lon) if geo else None
    store.set_edit(lib, file_id, lat, lon, found.geoname_id if found else None,
                   data_version(geo) if geo else None)
    return place_of(lib, file_id)


def clear_place(lib: Library, file_id: int, reset: bool = False) -> ClipPlace | None:
    """The clip has no place (the user says so), or with ``reset`` the user's edit is
    forgotten and the file's own location counts again. Returns the place now shown."""
    if reset:
        store.delete_edit(lib, file_id)
    else:
        store.set_edit(lib, file_id, None, None)
    return place_of(lib, file_id)


def name_spot(lib: Library, name: str, lat: float, lon: float,
              radius_m: float = DEFAULT_SPOT_RADIUS_M) -> store.Spot:
    name = " ".join(name.split())
    if not name:
        raise PlaceError("a spot needs a name")
    if not radius_m > 0:
        raise PlaceError("the radius must be more than 0 m")
    lat, lon = _checked(lat, lon)
    return store.save_spot(lib, name, lat, lon, float(radius_m))


def forget_spot(lib: Library, name: str) -> bool:
    return store.delete_spot(lib, name)


def any_located(lib: Library) -> bool:
    """Whether any present indexed clip has a location (its own or the user's)."""
    return store.any_located(lib)


def spots(lib: Library) -> list[store.Spot]:
    return store.spots(lib)
