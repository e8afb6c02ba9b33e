"""Places: ISO 6709 parsing, locations in real clips, the offline geocoder and its recipe."""

from __future__ import annotations

import math
import zipfile
from fractions import Fraction

import av
import numpy as np
import pytest

from app import config
from app.core.places import (
    Geocoder,
    PlacesNotInstalled,
    distance_km,
    fold,
    location_from_container,
    location_from_metadata,
    most_common_places,
    named_spot_for,
    parse_iso6709,
    valid_latlon,
)
from app.core.places import geocoder as geocoder_module
from models import places as recipe

# --- ISO 6709 -----------------------------------------------------------------------------


@pytest.mark.parametrize("text, want", [
    ("+48.8584+002.2945/", (48.8584, 2.2945, None)),
    ("+35.6586+139.7454+040.000/", (35.6586, 139.7454, 40.0)),
    ("-33.8568+151.2153-010.5/", (-33.8568, 151.2153, -10.5)),
    ("+40.7580-073.9855", (40.758, -73.9855, None)),
    ("+48.8584+2.2945/", (48.8584, 2.2945, None)),               # unpadded longitude
    ("+40.20361-075.00417CRSWGS_84/", (40.20361, -75.00417, None)),
    ("+4851.504+00217.670/", (48 + 51.504 / 60, 2 + 17.670 / 60, None)),   # ±DDMM.MMM
    ("+485130.24+0021740.2/", (48 + 51 / 60 + 30.24 / 3600, 2 + 17 / 60 + 40.2 / 3600, None)),
    ("-3351+15112/", (-(33 + 51 / 60), 151 + 12 / 60, None)),
    ("  +48.8584+002.2945/ ", (48.8584, 2.2945, None)),
])
def test_parse_iso6709(text, want):
    got = parse_iso6709(text)
    assert got is not None
    assert got[0] == pytest.approx(want[0], abs=1e-9)
    assert got[1] == pytest.approx(want[1], abs=1e-9)
    assert got[2] == (None if want[2] is None else pytest.approx(want[2]))


@pytest.mark.parametrize("text", [
    "", "hello", "+00.0000+000.0000/", "+0000+00000/", "+91.0000+002.0000/",
    "+48.0000+181.0000/", "+4875.000+00217.000/", "+485175+0021700/", "48.85 2.29",
    "+nan+002.0/", "+48.8584", "+1234567890+002/",
])
def test_parse_iso6709_rejects(text):
    assert parse_iso6709(text) is None


def test_valid_latlon():
    assert valid_latlon(48.85, 2.29)
    assert valid_latlon(0.0, 10.0) and valid_latlon(-90, 180)
    for lat, lon in [(0, 0), (math.nan, 1), (1, math.inf), (90.1, 0), (0, -180.5), ("x", 1)]:
        assert not valid_latlon(lat, lon)


def test_location_from_metadata_tries_every_key():
    assert location_from_metadata({"location": "+48.8584+002.2945/"}) == (48.8584, 2.2945)
    assert location_from_metadata({"location-eng": "+48.8584+002.2945/"}) == (48.8584, 2.2945)
    assert location_from_metadata(
        {"com.apple.quicktime.location.ISO6709": "+35.6586+139.7454+040.000/"}) \
        == (35.6586, 139.7454)
    assert location_from_metadata({"©xyz": "-33.8568+151.2153/"}) == (-33.8568, 151.2153)
    assert location_from_metadata({"LOCATION-FRA": "+43.7+007.26/"}) == (43.7, 7.26)
    # Apple's key wins; a broken key falls through to the next one.
    assert location_from_metadata({"location": "+10.0+010.0/",
                                   "com.apple.quicktime.location.ISO6709": "+20.0+020.0/"}) \
        == (20.0, 20.0)
    assert location_from_metadata({"com.apple.quicktime.location.ISO6709": "junk",
                                   "location": "+10.0+010.0/"}) == (10.0, 10.0)
    assert location_from_metadata({"location": "+00.0000+000.0000/"}) is None
    assert location_from_metadata({"title": "+48.8584+002.2945/"}) is None
    assert location_from_metadata({}) is None and location_from_metadata(None) is None


def test_distance_and_named_spots():
    assert distance_km(48.8584, 2.2945, 48.8584, 2.2945) == 0
    # Paris -> London, about 344 km; a degree of latitude, about 111.2 km.
    assert distance_km(48.8566, 2.3522, 51.5074, -0.1278) == pytest.approx(343.5, abs=1)
    assert distance_km(0, 0, 1, 0) == pytest.approx(111.19, abs=0.01)
    assert distance_km(0, 179.9, 0, -179.9) == pytest.approx(22.2, abs=0.1)
    spots = [("Home", 48.8600, 2.3000, 300), ("Park", 48.8620, 2.3000, 1000),
             ("Far", 10.0, 10.0, 5000)]
    assert named_spot_for(48.8601, 2.3001, spots) == "Home"        # inside both: nearest
    assert named_spot_for(48.8660, 2.3000, spots) == "Park"        # 440 m from Park only
    assert named_spot_for(48.9000, 2.3000, spots) is None
    assert named_spot_for(0, 0, [("Null", 0, 0, 1000)]) is None
    assert named_spot_for(48.86, 2.30, []) is None


def test_most_common_places():
    home = [(48.8600 + i * 1e-4, 2.3000) for i in range(10)]
    trip = [(35.6595, 139.7005)] * 3
    result = most_common_places(home + trip + [(0, 0), (math.nan, 1)], radius_km=1)
    assert [c for _, _, c in result] == [10, 3]
    assert result[0][0] == pytest.approx(48.86045, abs=1e-6)


# --- real clips ---------------------------------------------------------------------------


def _write_clip(path, metadata, options=None, container_format=None):
    with av.open(str(path), "w", format=container_format, options=options or {}) as out:
        for key, value in metadata.items():
            out.metadata[key] = value
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.mark.parametrize("container_format, atom", [("mov", b"\xa9xyz"), ("mp4", b"loci")])
def test_android_location_atom_in_a_real_clip(tmp_path, container_format, atom):
    # Android phones write the ©xyz user-data atom. FFmpeg writes the "location" key as
    # ©xyz in QuickTime mode and as the 3GPP 'loci' atom in MP4 mode; the demuxer shows
    # either as "location" (and "location-eng").
    path = _write_clip(tmp_path / "android.mp4", {"location": "+48.8584+002.2945/"},
                       container_format=container_format)
    with open(path, "rb") as f:
        assert atom in f.read()
    with av.open(str(path)) as container:
        assert "location" in container.metadata
        assert location_from_metadata(container.metadata) == pytest.approx((48.8584, 2.2945),
                                                                          abs=1e-4)
        assert location_from_container(container) == pytest.approx((48.8584, 2.2945), abs=1e-4)


def test_apple_location_key_in_a_real_clip(tmp_path):
    # iPhones write an mdta key; FFmpeg writes arbitrary keys with use_metadata_tags.
    path = _write_clip(tmp_path / "iphone.mov",
                       {"com.apple.quicktime.location.ISO6709": "+35.6595+139.7005+040.000/"},
                       {"movflags": "use_metadata_tags"})
    with open(path, "rb") as f:
        assert b"mdta" in f.read()
    with av.open(str(path)) as container:
        assert "com.apple.quicktime.location.ISO6709" in container.metadata
        assert location_from_container(container) == (35.6595, 139.7005)


def test_clip_without_location(tmp_path):
    path = _write_clip(tmp_path / "plain.mp4", {"title": "no gps"})
    with av.open(str(path)) as container:
        assert location_from_container(container) is None


def test_location_from_stream_metadata():
    class Stream:
        metadata = {"location": "+51.5007-000.1246/"}

    class Container:
        metadata = {"encoder": "x"}
        streams = [Stream()]

    assert location_from_container(Container()) == (51.5007, -0.1246)


# --- folding and the recipe on a tiny synthetic data set --------------------------------


def test_fold():
    assert fold("München") == "munchen"
    assert fold("  New   York ") == "new york"
    assert fold("St. Louis") == "st louis"
    assert fold("L'Aquila") == "laquila"
    assert fold("Łódź") == "lodz"
    assert fold("Straße") == "strasse"
    assert fold("Île-de-France") == "ile de france"
    assert fold("東京") == "東京"


def _tiny_data():
    def city(gid, name, lat, lon, cc, admin1, pop, alts=()):
        return {"geonameid": gid, "name": name, "latitude": lat, "longitude": lon,
                "countrycode": cc, "population": pop, "admin1code": admin1,
                "alternatenames": list(alts)}
    cities = {
        "1": city(1, "Paris", 48.85341, 2.3488, "FR", "11", 2138551, ["Lutetia", "PAR", "pa li"]),
        "2": city(2, "Versailles", 48.80359, 2.13424, "FR", "11", 85416),
        "3": city(3, "Tokyo", 35.6895, 139.69171, "JP", "40", 9733276, ["Tokio", "TYO"]),
        "4": city(4, "Shibuya", 35.6589, 139.70665, "JP", "40", 230609),
        "5": city(5, "Munich", 48.13743, 11.57549, "DE", "02", 1505005, ["München"]),
        "6": city(6, "Fiji East", -16.8, 179.95, "FJ", "03", 2000),
        "7": city(7, "Fiji West", -16.8, -179.9, "FJ", "03", 1500),
    }
    for i in range(8, 100_010):  # the recipe checks for a real-sized data set
        cities[str(i)] = city(i, f"Village {i}", -60.0, -100.0 + (i % 1000) * 0.01,
                              "AQ", "", 0)
    countries = {"FR": {"name": "France"}, "JP": {"name": "Japan"},
                 "DE": {"name": "Germany"}, "FJ": {"name": "Fiji"}, "AQ": {"name": "Antarctica"}}
    regions = {"FR.11": ("Île-de-France", ["Île-de-France", "Paris Region"]),
               "JP.40": ("Tokyo", ["Tokyo", "Tokyo Metropolis"]),
               "DE.02": ("Bayern", ["Bayern", "Bavaria"])}
    aliases = {"JP": ["Japan", "Nihon-koku"]}
    return cities, countries, regions, aliases


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_places")
    recipe.write_npz(folder / "places.npz", recipe.build_arrays(*_tiny_data()))
    return Geocoder(folder / "places.npz"), folder


def test_recipe_output_is_deterministic(tiny, tmp_path):
    _, folder = tiny
    recipe.write_npz(tmp_path / "again.npz", recipe.build_arrays(*_tiny_data()))
    assert (tmp_path / "again.npz").read_bytes() == (folder / "places.npz").read_bytes()
    with zipfile.ZipFile(folder / "places.npz") as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_tiny_geocoder(tiny):
    geo, _ = tiny
    assert geo.nearest(48.8584, 2.2945).name == "Paris"
    assert geo.nearest(48.8049, 2.1204).name == "Versailles"
    assert geo.nearest(35.6595, 139.7005).name == "Tokyo"          # not the ward
    assert geo.nearest(35.6589, 139.70665).name == "Tokyo"
    assert geo.nearest(-16.8, -179.99).name == "Fiji East"          # across the date line
    assert geo.nearest(-16.8, -179.95).name == "Fiji West"
    assert geo.nearest(30.0, -40.0) is None
    assert geo.nearest(0, 0) is None
    assert geo.find("munchen")[0].name == "Munich"
    assert geo.find("MÜNCHEN")[0].name == "Munich"
    assert [p.name for p in geo.find("bavaria")] == ["Munich"]
    assert geo.find("tyo")[0].name == "Tokyo"
    assert geo.find("pa li") == []          # lower-case transliterations are dropped
    assert geo.find("par")[0].name == "Paris"   # an all-capital code of a 100k+ place
    assert geo.is_place_word("nihon koku") and geo.is_place_word("paris region")
    assert not geo.is_place_word("tyo")     # codes do not make a word a place word
    assert geo.areas("japan")[0].country_code == "JP"
    place = geo.nearest(48.8584, 2.2945)
    assert place.label == "Paris, Île-de-France, France" and place.region == "Île-de-France"


def test_missing_data_set(tmp_path):
    assert not Geocoder.available(tmp_path)
    with pytest.raises(PlacesNotInstalled):
        Geocoder.load(tmp_path)


# --- the real data set (built by `reelvault models install`) ------------------------------


@pytest.fixture(scope="module")
def geo():
    if not Geocoder.available():
        pytest.skip(f"places.npz not installed in {config.models_dir()}: "
                    "run `reelvault models install`")
    return Geocoder.load()


@pytest.mark.models
def test_real_reverse_geocoding(geo):
    eiffel = geo.nearest(48.8584, 2.2945)
    assert (eiffel.name, eiffel.country, eiffel.country_code) == ("Paris", "France", "FR")
    assert eiffel.region == "Île-de-France"
    # Nearest point: the Shibuya ward (230k); Tokyo (9.7M, 3.4 km) is named instead.
    assert geo.nearest(35.6595, 139.7005).name == "Tokyo"
    assert geo.nearest(48.8049, 2.1204).name == "Versailles"
    # Journal Square: 10 km from the New York City point, inside its urban radius, but
    # in another state.
    assert geo.nearest(40.7331, -74.0627).name == "Jersey City"
    assert geo.nearest(40.7580, -73.9855).name == "New York City"
    assert geo.nearest(48.1374, 11.5755).name == "Munich"
    assert geo.nearest(-33.8568, 151.2153).name == "Sydney"
    assert geo.nearest(30.0, -40.0) is None                         # mid-Atlantic
    assert geo.nearest(0, 0) is None and geo.nearest(math.nan, 2) is None
    assert geo.nearest(95, 2) is None


def _reference_nearest(geo, lat, lon, max_km):
    """The same rule over every place, without the grid."""
    lat_r, lon_r = np.radians(lat), np.radians(lon)
    d = geocoder_module._haversine(lat_r, lon_r, geo._lat, geo._lon)
    n = int(np.argmin(d))
    if d[n] > max_km:
        return -1
    bigger = ((geo._pop >= geocoder_module.BIGGER_FACTOR * max(geo._pop[n], 1))
              & (d <= geo._urban_km) & (geo._region == geo._region[n])
              & (geo._country == geo._country[n]))
    if not bigger.any():
        return n
    depth = np.where(bigger, d / np.maximum(geo._urban_km, 1e-9), np.inf)
    return int(np.argmin(depth))


@pytest.mark.models
def test_grid_matches_brute_force(geo):
    rng = np.random.default_rng(0)
    # Points near real places (jittered by up to ~60 km), anywhere, and near the date
    # line and the poles.
    rows = rng.integers(0, len(geo), 300)
    pts = np.stack([geo._lat_deg[rows] + rng.normal(0, 0.3, 300),
                    geo._lon_deg[rows] + rng.normal(0, 0.3, 300)], axis=1)
    pts = np.concatenate([pts, np.stack([rng.uniform(-89, 89, 100),
                                         rng.uniform(-180, 180, 100)], axis=1),
                          [[-16.8, 179.99], [-16.8, -179.99], [65.0, -179.99], [78.2, 15.6],
                           [-77.8, 166.7], [89.9, 0.0]]])
    pts[:, 0] = np.clip(pts[:, 0], -90, 90)
    pts[:, 1] = (pts[:, 1] + 180) % 360 - 180
    for max_km in (50.0, 10.0):
        got = geo.nearest_many(pts, max_km=max_km)
        for (lat, lon), place in zip(pts, got, strict=True):
            want = _reference_nearest(geo, lat, lon, max_km)
            assert (place.geoname_id if place else -1) == \
                (int(geo._geoname_id[want]) if want >= 0 else -1), (lat, lon)


@pytest.mark.models
def test_real_search(geo):
    assert (geo.find("paris")[0].name, geo.find("paris")[0].country_code) == ("Paris", "FR")
    assert geo.find("Tokyo")[0].name == "Tokyo"
    for word in ("münchen", "munchen", "munich", "Muenchen"):
        assert geo.find(word)[0].geoname_id == 2867714, word
    assert geo.find("wien")[0].name == geo.find("vienna")[0].name == "Vienna"
    assert geo.find("new york")[0].name == "New York City"
    assert geo.find("nyc")[0].name == "New York City"
    assert geo.find("japan")[0].name == "Tokyo"
    assert geo.find("france")[0].name == "Paris"
    assert geo.find("zurich")[0].name == "Zürich"
    assert [a.country_code for a in geo.areas("japan")] == ["JP"]
    assert geo.areas("france")[0].kind == "country"
    bavaria = geo.areas("bavaria")
    assert bavaria and bavaria[0].kind == "region" and bavaria[0].country_code == "DE"
    assert geo.areas("usa")[0].country_code == "US" and geo.areas("uk")[0].country_code == "GB"
    assert all(p.country_code == "JP" for p in geo.find("japan", limit=10))
    completions = [p.name for p in geo.find("san fran", prefix=True, limit=5)]
    assert "San Francisco" in completions and "Quito" in completions  # San Francisco de Quito
    for word in ("paris", "tokyo", "japan", "france", "new york", "munchen", "bavaria"):
        assert geo.is_place_word(word), word
    for word in ("dog", "birthday", "sunset", "beach", "party", "cat", "snow", ""):
        assert not geo.is_place_word(word), word


@pytest.mark.models
def test_real_data_is_the_pinned_file(geo):
    from models.install import load_manifest, verify_models
    assert verify_models(geo.path.parent, {"models": {
        "places.npz": load_manifest()["models"]["places.npz"]}}) == {"places.npz": "ok"}
    assert Geocoder.load() is geo
