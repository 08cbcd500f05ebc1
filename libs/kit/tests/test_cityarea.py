"""The city's box for flagging GPS points: from a setting or from the boundaries GeoJSON (pure).

Breakages tried: swapping lon/lat in ``bbox_of_geojson`` makes ``test_box_of_the_jakarta_boundaries``
fail; dropping the (0, 0) case of ``location_flag`` makes ``test_flags`` fail.
"""

import json
from pathlib import Path

import pytest

from aduan_kit.cityarea import CityBox, bbox_of_geojson, location_flag, parse_bbox
from aduan_schemas.events import GeoPoint

JAKARTA = CityBox(-6.38, 106.35, -5.15, 106.98)


def test_parse_bbox() -> None:
    assert parse_bbox("-6.38,106.35,-5.15,106.98") == JAKARTA
    for bad in ("1,2,3", "-5,106,-6,107", "a,b,c,d"):
        with pytest.raises(ValueError):
            parse_bbox(bad)


def test_box_of_a_feature_collection(tmp_path: Path) -> None:
    square = [[[106.7, -6.3], [106.9, -6.3], [106.9, -6.1], [106.7, -6.1], [106.7, -6.3]]]
    doc = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": square}}],
    }
    path = tmp_path / "b.geojson"
    path.write_text(json.dumps(doc))
    assert bbox_of_geojson(path) == CityBox(-6.3, 106.7, -6.1, 106.9)


def test_box_of_the_jakarta_boundaries(boundaries_path: Path) -> None:
    box = bbox_of_geojson(boundaries_path)
    assert box.contains(-6.1754, 106.8272)  # Monas
    assert not box.contains(-6.5950, 106.7960)  # Bogor
    assert -6.5 < box.south < box.north < -5.0 and 106.3 < box.west < box.east < 107.1


def test_flags() -> None:
    assert location_flag(GeoPoint(lat=0, lon=0), JAKARTA) == "zero"
    assert location_flag(GeoPoint(lat=0, lon=0), None) == "zero"
    assert location_flag(GeoPoint(lat=1.35, lon=103.82), JAKARTA) == "outside_city"
    assert location_flag(GeoPoint(lat=1.35, lon=103.82), None) is None  # no box configured: no opinion
    assert location_flag(GeoPoint(lat=-6.1754, lon=106.8272), JAKARTA) is None
    assert location_flag(None, JAKARTA) is None
