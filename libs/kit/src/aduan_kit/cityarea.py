"""Is a channel's GPS point plausible for this city? A bounding box, from a setting or the boundaries file.

A check for ingest adapters, which flag (never drop) coordinates they cannot trust: (0, 0) is what a
phone without a GPS fix sends; a point outside the box is a wrong fix or a report about another city.
The box is configuration: ``south,west,north,east`` in degrees, or the extent of the kelurahan
boundaries GeoJSON the normalizer geocodes with (computed once at start-up).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from aduan_schemas.events import GeoPoint, LocationFlag


class CityBox(NamedTuple):
    south: float
    west: float
    north: float
    east: float

    def contains(self, lat: float, lon: float) -> bool:
        return self.south <= lat <= self.north and self.west <= lon <= self.east


def parse_bbox(text: str) -> CityBox:
    """``"south,west,north,east"`` -> ``CityBox``; raises ``ValueError`` when malformed."""
    parts = [float(p) for p in text.split(",")]
    if len(parts) != 4:
        raise ValueError("expected south,west,north,east")
    box = CityBox(*parts)
    if not (-90 <= box.south < box.north <= 90 and -180 <= box.west < box.east <= 180):
        raise ValueError("expected south < north and west < east, in degrees")
    return box


def _positions(coords: Any) -> Iterator[tuple[float, float]]:
    if coords and isinstance(coords[0], int | float):
        yield float(coords[0]), float(coords[1])
        return
    for c in coords:
        yield from _positions(c)


def bbox_of_geojson(path: Path) -> CityBox:
    """The extent of every geometry of a GeoJSON FeatureCollection (lon/lat positions)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    lons, lats = [], []
    for feature in doc.get("features", []):
        for lon, lat in _positions((feature.get("geometry") or {}).get("coordinates", [])):
            lons.append(lon)
            lats.append(lat)
    if not lons:
        raise ValueError(f"{path.name}: no coordinates")
    return CityBox(min(lats), min(lons), max(lats), max(lons))


def location_flag(point: GeoPoint | None, box: CityBox | None) -> LocationFlag | None:
    """``zero`` for (0, 0), ``outside_city`` outside ``box`` (when there is one), else None."""
    if point is None:
        return None
    if point.lat == 0 and point.lon == 0:
        return "zero"
    if box is not None and not box.contains(point.lat, point.lon):
        return "outside_city"
    return None
