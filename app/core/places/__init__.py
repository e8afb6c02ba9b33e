"""Places: where clips were shot, and the names of those places (offline).

- ``app.core.places.gps``: ISO 6709 parsing, locations from clip metadata, distances,
  user-named spots (pure functions, no data).
- ``app.core.places.geocoder``: ``Geocoder`` (reverse geocoding and name search over the
  GeoNames-derived ``places.npz`` built by ``reelvault models install``).

Neither imports Qt or the GUI: numpy, the stdlib and ``app.config`` only.
"""

from app.core.places.geocoder import Area, Geocoder, Place, PlacesNotInstalled, fold
from app.core.places.gps import (
                                 distance_km,
                                 location_from_container,
                                 location_from_metadata,
                                 most_common_places,
                                 named_spot_for,
                                 parse_iso6709,
                                 valid_latlon,
)

__all__ = ["Area", "Geocoder", "Place", "PlacesNotInstalled", "distance_km", "fold",
           "location_from_container", "location_from_metadata", "most_common_places",
           "named_spot_for", "parse_iso6709", "valid_latlon"]
