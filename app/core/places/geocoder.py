"""Offline reverse geocoding and place-name search over ``places.npz``.

``places.npz`` is built once by ``reelvault models install`` (recipe ``models/places.py``)
from GeoNames data (cities with 1000+ inhabitants, CC-BY 4.0, www.geonames.org) shipped
in pinned PyPI wheels. Nothing here touches the network; numpy and the stdlib only.

    geo = Geocoder.load()                    # lazy, once per process and models folder
    geo.nearest(48.8584, 2.2945)             # Place(name='Paris', region='Île-de-France', ...)
    geo.nearest_many([(lat, lon), ...])      # [Place | None, ...], grouped and vectorized
    geo.find("munchen")                      # [Place(name='Munich', ...), ...] biggest first
    geo.areas("japan")                       # [Area(kind='country', name='Japan', ...)]
    geo.is_place_word("tokyo")               # True: for a search query parser

Reverse geocoding picks a *place a person would name*, not just the nearest point:

1. Candidates are the populated places within ``max_km`` (default 50 km); none -> None
   (the open sea, deserts, the poles: we do not guess a country).
2. The nearest candidate N is the answer unless the point also lies inside the "urban
   radius" of a much bigger place B of the same country and first-level region:
   ``distance(B) <= URBAN_KM_PER_SQRT_POP * sqrt(pop(B))`` (capped at ``MAX_URBAN_KM``)
   and ``pop(B) >= BIGGER_FACTOR * pop(N)``. Among such B the one the point is deepest
   inside (smallest distance / radius) wins.

   GeoNames lists city districts as places of their own (Tokyo's special wards, Berlin's
   localities, Dubai's neighbourhoods...). At Shibuya crossing the nearest place is the
   Shibuya ward (230k people, 0.6 km away), but Tokyo (9.7M, 3.4 km away, urban radius
   15.6 km, same region) is 42x bigger, so the answer is Tokyo; the ward stays in the
   data for search. The same-region condition keeps neighbour cities that a radius
   alone would swallow: Kawasaki (Kanagawa) next to Tokyo, Jersey City (New Jersey) next
   to New York, towns across a border. Towns out of the big place's radius (Versailles,
   17 km from Paris, radius 7.3 km) keep their own name; outer districts of a big city
   keep theirs too, and ``Place.label`` then still shows the city's region ("Wilhelmstadt,
   Berlin, Germany"). Without boundaries in the data this is a heuristic: a suburb a few
   km from a huge city's centre in the same region is named after the city.
"""

from __future__ import annotations

import bisect
import math
import re
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.places.gps import EARTH_RADIUS_KM, valid_latlon

DATA_FILE = "places.npz"
FORMAT = 2  # the layout version written by models/places.py and read here

DEFAULT_MAX_KM = 50.0
URBAN_KM_PER_SQRT_POP = 0.005  # 10k people: 0.5 km; 1M: 5 km; 9.7M (Tokyo): 15.6 km
MAX_URBAN_KM = 25.0
BIGGER_FACTOR = 10.0
_CHUNK = 256  # queries per distance matrix
# Grid: quarter-degree cells, row-major from (-90, -180); the recipe sorts the places by
# cell (computed from the stored float32 coordinates, see ``grid_cells``).
CELL_DEG = 0.25
ROWS, COLS = 720, 1440
KM_PER_DEG = math.pi * EARTH_RADIUS_KM / 180.0

# Kinds of search keys (``key_kind`` in the data file).
KIND_NAME, KIND_ALT, KIND_CODE, KIND_REGION, KIND_COUNTRY = 0, 1, 2, 3, 4


class PlacesNotInstalled(FileNotFoundError):
    """``places.npz`` is missing from the models folder: run `reelvault models install`."""


@dataclass(frozen=True, slots=True)
class Place:
    name: str            # as GeoNames writes it: "Paris", "Munich", "Zürich"
    region: str          # first-level division ("Île-de-France", "Tokyo", "California"), or ""
    country: str         # "France"
    country_code: str    # ISO 3166-1 alpha-2, "FR"
    lat: float
    lon: float
    population: int
    geoname_id: int      # stable GeoNames id: what to store to refer to this place

    @property
    def label(self) -> str:
        """"Paris, Île-de-France, France"; the region is left out when it repeats the name."""
        parts = [self.name]
        if self.region and fold(self.region) != fold(self.name):
            parts.append(self.region)
        if self.country:
            parts.append(self.country)
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Area:
    """A country or a first-level region named by a search phrase (see ``Geocoder.areas``)."""
    kind: str            # "country" or "region"
    name: str            # "Japan" / "Bavaria"
    country_code: str    # "JP" / "DE"
    country: str         # "Japan" / "Germany"
    region: str          # "" for a country, else the region's name as on ``Place.region``


# --- name folding: shared with the recipe, so a change here means a new recipe VERSION ---

_LETTERS = str.maketrans({
    "ß": "ss", "ẞ": "ss", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ø": "o", "Ø": "o",
    "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "ł": "l", "Ł": "l", "ı": "i", "þ": "th",
    "Þ": "th", "ħ": "h", "Ħ": "h", "ŀ": "l", "Ŀ": "l", "ŧ": "t", "Ŧ": "t",
})
_DROP = re.compile(r"[.'’‘ʻʼ`´]")
_SPLIT = re.compile(r"[\W_]+")


def fold(text: str) -> str:
    """Search key: no accents, lower case, punctuation dropped, words single-spaced.

    "München" -> "munchen", "St. Louis" -> "st louis", "L'Aquila" -> "laquila"."""
    text = unicodedata.normalize("NFKD", text.translate(_LETTERS))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = _DROP.sub("", text)
    return " ".join(w for w in _SPLIT.split(text) if w)


# --- the data file ----------------------------------------------------------------------

class _Strings:
    """A read-only sequence of UTF-8 byte strings stored as one blob plus offsets."""

    __slots__ = ("blob", "offsets")

    def __init__(self, blob: np.ndarray, offsets: np.ndarray):
        self.blob = blob.tobytes()
        self.offsets = offsets.tolist()

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> bytes:
        return self.blob[self.offsets[i]:self.offsets[i + 1]]

    def text(self, i: int) -> str:
        return self[i].decode("utf-8")


def grid_cells(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Grid cell of each point (degrees); the recipe and the reader must agree exactly."""
    lat_deg = np.asarray(lat_deg, np.float64)
    lon_deg = np.asarray(lon_deg, np.float64)
    rows = np.clip(np.floor((lat_deg + 90.0) / CELL_DEG), 0, ROWS - 1).astype(np.int64)
    cols = np.floor((lon_deg + 180.0) / CELL_DEG).astype(np.int64) % COLS
    return rows * COLS + cols


def _haversine(lat: np.ndarray, lon: np.ndarray, plat: np.ndarray, plon: np.ndarray):
    """Distances in km, broadcasting (radians in, float64 out)."""
    a = (np.sin((plat - lat) / 2) ** 2
         + np.cos(lat) * np.cos(plat) * np.sin((plon - lon) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


_CACHE: dict[Path, Geocoder] = {}
_CACHE_LOCK = threading.Lock()


class Geocoder:
    """Reverse geocoding and name search over one ``places.npz``. Thread-safe for reads."""

    def __init__(self, path: Path):
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        if int(arrays["format"][0]) != FORMAT:
            raise PlacesNotInstalled(f"{path} has layout {int(arrays['format'][0])}, this "
                                     f"version reads {FORMAT}: run `reelvault models install`")
        self.path = path
        self._lat = np.radians(arrays["lat"].astype(np.float64))
        self._lon = np.radians(arrays["lon"].astype(np.float64))
        self._lat_deg = arrays["lat"]
        self._lon_deg = arrays["lon"]
        self._pop = arrays["population"].astype(np.int64)
        self._urban_km = np.minimum(URBAN_KM_PER_SQRT_POP * np.sqrt(self._pop), MAX_URBAN_KM)
        # Unit vectors: the nearest place is the largest dot product (one BLAS matmul).
        self._xyz = np.stack([np.cos(self._lat) * np.cos(self._lon),
                              np.cos(self._lat) * np.sin(self._lon), np.sin(self._lat)], axis=1)
        self._cos_urban = np.cos(self._urban_km / EARTH_RADIUS_KM)
        self._country = arrays["country"]
        self._region = arrays["region"]
        self._geoname_id = arrays["geoname_id"]
        cells = grid_cells(arrays["lat"], arrays["lon"])
        if np.any(np.diff(cells) < 0):
            raise PlacesNotInstalled(f"{path}: places are not sorted by grid cell")
        self._cell_start = np.searchsorted(cells, np.arange(ROWS * COLS + 1))
        self._names = _Strings(arrays["name_blob"], arrays["name_offsets"])
        self._country_codes = _Strings(arrays["country_code_blob"], arrays["country_code_offsets"])
        self._country_names = _Strings(arrays["country_name_blob"], arrays["country_name_offsets"])
        self._region_names = _Strings(arrays["region_name_blob"], arrays["region_name_offsets"])
        self._region_country = arrays["region_country"]
        # One integer per (country, region) pair: "same region" is one comparison.
        self._area_key = self._country.astype(np.int64) * 100_000 + self._region + 1
        self._keys = _Strings(arrays["key_blob"], arrays["key_offsets"])
        self._key_kind = arrays["key_kind"]
        self._key_target = arrays["key_target"]
        self._windows: OrderedDict[tuple[int, int, float], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._by_area: dict[tuple[int, int], np.ndarray] = {}

    # -- loading --

    @staticmethod
    def data_path(models_dir: Path | str | None = None) -> Path:
        if models_dir is None:
            from app import config
            models_dir = config.models_dir()
        return Path(models_dir) / DATA_FILE

    @classmethod
    def available(cls, models_dir: Path | str | None = None) -> bool:
        return cls.data_path(models_dir).is_file()

    @classmethod
    def load(cls, models_dir: Path | str | None = None) -> Geocoder:
        """The geocoder for a models folder (default: ``app.config.models_dir()``), built
        on first use and shared afterwards. Raises ``PlacesNotInstalled`` if missing."""
        path = cls.data_path(models_dir).resolve()
        with _CACHE_LOCK:
            geo = _CACHE.get(path)
            if geo is None:
                if not path.is_file():
                    raise PlacesNotInstalled(f"{path} is missing: run `reelvault models install`")
                geo = _CACHE[path] = cls(path)
            return geo

    def __len__(self) -> int:
        return len(self._lat)

    # -- places --

    def place(self, i: int) -> Place:
        """The place at row ``i`` of the data file."""
        i = int(i)
        c = int(self._country[i])
        r = int(self._region[i])
        return Place(name=self._names.text(i),
                     region=self._region_names.text(r) if r >= 0 else "",
                     country=self._country_names.text(c),
                     country_code=self._country_codes.text(c),
                     lat=round(float(self._lat_deg[i]), 5), lon=round(float(self._lon_deg[i]), 5),
                     population=int(self._pop[i]), geoname_id=int(self._geoname_id[i]))

    def by_geoname_id(self, geoname_id: int) -> Place | None:
        hits = np.flatnonzero(self._geoname_id == geoname_id)
        return self.place(int(hits[0])) if len(hits) else None

    # -- reverse geocoding --

    def _window(self, row: int, col: int, radius_km: float) -> np.ndarray:
        """Row numbers of all places that can be within ``radius_km`` of cell (row, col)."""
        key = (row, col, radius_km)
        with self._lock:
            hit = self._windows.get(key)
            if hit is not None:
                self._windows.move_to_end(key)
                return hit
        dr = math.ceil(radius_km / (KM_PER_DEG * CELL_DEG))
        r0, r1 = max(0, row - dr), min(ROWS - 1, row + dr)
        # The narrowest longitude degree in the window is at its edge nearest a pole.
        edge = max(abs(-90.0 + r0 * CELL_DEG), abs(-90.0 + (r1 + 1) * CELL_DEG))
        cos = math.cos(math.radians(min(90.0, edge)))
        span = radius_km / (KM_PER_DEG * max(cos, 1e-9))
        dc = COLS if span >= 180.0 else math.ceil(span / CELL_DEG)
        parts = []
        for r in range(r0, r1 + 1):
            base = r * COLS
            if 2 * dc + 1 >= COLS:
                parts.append(np.arange(self._cell_start[base], self._cell_start[base + COLS]))
                continue
            c0, c1 = col - dc, col + dc
            ranges = [(c0, c1)]
            if c0 < 0:
                ranges = [(0, c1), (c0 + COLS, COLS - 1)]
            elif c1 >= COLS:
                ranges = [(c0, COLS - 1), (0, c1 - COLS)]
            for a, b in ranges:
                parts.append(np.arange(self._cell_start[base + a], self._cell_start[base + b + 1]))
        ids = np.concatenate(parts) if parts else np.empty(0, np.int64)
        with self._lock:
            self._windows[key] = ids
            while len(self._windows) > 4096:
                self._windows.popitem(last=False)
        return ids

    def _nearest_ids(self, lat: np.ndarray, lon: np.ndarray, max_km: float) -> np.ndarray:
        """Place row per query (radians), -1 for none; queries must be valid.

        Two passes: every place within MAX_URBAN_KM of a query's cell first (enough for the
        urban-radius rule, and exact for the nearest place when it is that close), then,
        for the few queries farther than that from any place, a window of ``max_km``."""
        max_km = float(max_km)
        cos_max = math.cos(min(max_km, math.pi * EARTH_RADIUS_KM) / EARTH_RADIUS_KM)
        xyz = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)
        cells = grid_cells(np.degrees(lat), np.degrees(lon))
        out = np.full(len(lat), -1, np.int64)
        best = np.full(len(lat), -2.0)
        todo = np.arange(len(lat))
        for radius in sorted({MAX_URBAN_KM, max(max_km, MAX_URBAN_KM)}):
            cos_radius = math.cos(radius / EARTH_RADIUS_KM)
            order = todo[np.argsort(cells[todo], kind="stable")]
            bounds = np.flatnonzero(np.diff(cells[order])) + 1
            for group in np.split(order, bounds):
                cell = int(cells[group[0]])
                ids = self._window(cell // COLS, cell % COLS, radius)
                if len(ids) == 0:
                    continue
                cand_xyz = self._xyz[ids]
                for start in range(0, len(group), _CHUNK):  # bounds the [query, place] matrix
                    chunk = group[start:start + _CHUNK]
                    out[chunk], best[chunk] = self._choose(xyz[chunk], ids, cand_xyz)
            todo = todo[best[todo] < cos_radius]  # nothing within this pass's radius
            if len(todo) == 0:
                break
        out[best < cos_max] = -1
        return out

    def _choose(self, q: np.ndarray, ids: np.ndarray,
                cand_xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rule of the module doc for queries ``q`` (unit vectors) among places ``ids``."""
        dots = q @ cand_xyz.T
        n = len(q)
        j = np.argmax(dots, axis=1)
        best = dots[np.arange(n), j]
        near = ids[j]
        chosen = near.copy()
        # A much bigger place of the same region whose urban radius holds the point wins
        # over the district or village that happens to be nearest. Only places at least
        # BIGGER_FACTOR times bigger than the smallest nearest place can qualify.
        threshold = BIGGER_FACTOR * np.maximum(self._pop[near], 1)
        cand_pop = self._pop[ids]
        cols = np.flatnonzero(cand_pop >= threshold.min())
        if len(cols):
            big = ids[cols]
            sub = dots[:, cols]
            mask = ((cand_pop[cols][None, :] >= threshold[:, None])
                    & (sub >= self._cos_urban[big][None, :])
                    & (self._area_key[big][None, :] == self._area_key[near][:, None]))
            r, c = np.nonzero(mask)
            if len(r):
                km = EARTH_RADIUS_KM * np.arccos(np.clip(sub[r, c], -1.0, 1.0))
                depth = km / np.maximum(self._urban_km[big[c]], 1e-9)
                pick = np.lexsort((depth, r))
                first = np.ones(len(pick), bool)
                first[1:] = r[pick][1:] != r[pick][:-1]
                chosen[r[pick][first]] = big[c[pick][first]]
        return chosen, best

    def nearest(self, lat: float, lon: float, max_km: float = DEFAULT_MAX_KM) -> Place | None:
        """The place a person would name for this point (see the module doc), or None when
        the point is invalid or no populated place is within ``max_km``."""
        return self.nearest_many([(lat, lon)], max_km=max_km)[0]

    def nearest_many(self, latlons, max_km: float = DEFAULT_MAX_KM) -> list[Place | None]:
        """``nearest`` for many points at once (a sequence of (lat, lon) or an [N, 2]
        array): points are grouped by grid cell and each group is one numpy computation."""
        pts = np.asarray(latlons, dtype=np.float64).reshape(-1, 2)
        result: list[Place | None] = [None] * len(pts)
        ok = np.array([valid_latlon(a, b) for a, b in pts], bool) if len(pts) else np.zeros(0, bool)
        idx = np.flatnonzero(ok)
        if len(idx) == 0:
            return result
        ids = self._nearest_ids(np.radians(pts[idx, 0]), np.radians(pts[idx, 1]), max_km)
        cache: dict[int, Place] = {}
        for q, i in zip(idx.tolist(), ids.tolist(), strict=True):
            if i >= 0:
                place = cache.get(i)
                if place is None:
                    place = cache[i] = self.place(i)
                result[q] = place
        return result

    # -- search --

    def _postings(self, key: str, prefix: bool = False) -> list[tuple[int, int]]:
        """``(kind, target)`` of every search key equal to (or starting with) ``key``."""
        if not key:
            return []
        want = key.encode("utf-8")
        i = bisect.bisect_left(self._keys, want)
        hits = []
        while i < len(self._keys):
            k = self._keys[i]
            if k != want and not (prefix and k.startswith(want)):
                break
            hits.append((int(self._key_kind[i]), int(self._key_target[i])))
            i += 1
        return hits

    def _area_places(self, kind: int, target: int) -> np.ndarray:
        """Rows of a region's or a country's places, biggest first (computed once)."""
        key = (kind, target)
        rows = self._by_area.get(key)
        if rows is None:
            column = self._region if kind == KIND_REGION else self._country
            rows = np.flatnonzero(column == target)
            rows = rows[np.argsort(-self._pop[rows], kind="stable")]
            self._by_area[key] = rows
        return rows

    def find(self, text: str, limit: int = 20, prefix: bool = False) -> list[Place]:
        """Places a word or phrase names, biggest first: place names, their ASCII and
        alternate names (other languages: "munchen", "wien", "big apple", codes like
        "nyc"), and the biggest places of a region or a country it names ("bavaria",
        "japan"). Case, accents and punctuation are ignored; ``prefix`` also matches
        names that start with the phrase (for completion)."""
        rows: set[int] = set()
        for kind, target in self._postings(fold(text), prefix):
            if kind in (KIND_NAME, KIND_ALT, KIND_CODE):
                rows.add(target)
            else:
                rows.update(self._area_places(kind, target)[:limit].tolist())
        ranked = sorted(rows, key=lambda i: (-int(self._pop[i]), i))[:limit]
        return [self.place(i) for i in ranked]

    def areas(self, text: str) -> list[Area]:
        """Countries and first-level regions a word or phrase names exactly (any of their
        names: "japan", "nihon", "uk", "bavaria", "bayern", "new york"), countries first.
        Compare ``Area.country_code`` / ``Area.region`` with a ``Place``'s to filter."""
        found: list[Area] = []
        seen = set()
        for kind, target in sorted(self._postings(fold(text)), key=lambda p: -p[0]):
            if (kind, target) in seen:
                continue
            seen.add((kind, target))
            if kind == KIND_COUNTRY:
                name = self._country_names.text(target)
                found.append(Area("country", name, self._country_codes.text(target), name, ""))
            elif kind == KIND_REGION:
                c = int(self._region_country[target])
                region = self._region_names.text(target)
                found.append(Area("region", region, self._country_codes.text(c),
                                  self._country_names.text(c), region))
        return found

    def is_place_word(self, text: str, min_population: int = 50_000) -> bool:
        """Whether a word or phrase names a country, a region, or a place of at least
        ``min_population`` people (by its name or an alternate name; codes such as "nyc"
        are not counted). For a query parser: many small villages are called like common
        words, hence the population floor; big cities still can be ("nice", "reading"),
        so a parser should weigh this with its other readings of the word."""
        for kind, target in self._postings(fold(text)):
            if kind in (KIND_REGION, KIND_COUNTRY):
                return True
            if kind in (KIND_NAME, KIND_ALT) and self._pop[target] >= min_population:
                return True
        return False
