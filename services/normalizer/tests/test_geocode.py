"""Geocoding against the real kelurahan boundaries, plus small made-up maps for exact edge cases."""

import json
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import Point, shape

from aduan_kit.testing.plugin import CITY_DIR
from aduan_normalizer.geocode import (
    GPS_INSIDE,
    GPS_OVERLAP,
    GPS_SNAPPED,
    NO_MATCH,
    TEXT_STRONG,
    TEXT_WEAK,
    Geocoder,
)
from aduan_schemas.city import load_city
from aduan_schemas.events import GeoPoint

KM_PER_DEG_LAT = 111.195  # mean Earth radius


@pytest.fixture(scope="module")
def jakarta(boundaries_path: Path) -> Geocoder:
    return Geocoder.from_geojson(boundaries_path)


@pytest.mark.parametrize(
    ("lat", "lon", "kelurahan", "kecamatan"),
    [
        (-6.1754, 106.8272, "Gambir", "Gambir"),  # Monas
        (-6.1352, 106.8133, "Pinangsia", "Taman Sari"),  # Taman Fatahillah
        (-6.2443, 106.8000, "Melawai", "Kebayoran Baru"),  # Blok M
    ],
)
def test_real_points(jakarta: Geocoder, lat: float, lon: float, kelurahan: str, kecamatan: str) -> None:
    r = jakarta.locate(lat, lon)
    assert r is not None and r.area is not None
    assert (r.area.kelurahan, r.area.kecamatan, r.method, r.confidence) == (
        kelurahan,
        kecamatan,
        "gps",
        GPS_INSIDE,
    )


def test_monas_full_area(jakarta: Geocoder) -> None:
    r = jakarta.locate(-6.1754, 106.8272)
    assert r is not None and r.area is not None
    assert r.area.model_dump() == {
        "kelurahan_code": "31.71.01.1001",
        "kelurahan": "Gambir",
        "kecamatan": "Gambir",
        "kota": "Jakarta Pusat",
    }


def test_airport_outside_jakarta_is_no_match(jakarta: Geocoder) -> None:
    assert jakarta.locate(-6.1256, 106.6559) is None  # Soekarno-Hatta, Tangerang
    assert jakarta.geocode(GeoPoint(lat=-6.1256, lon=106.6559), None, "bandara") == NO_MATCH


def test_real_overlap_takes_the_polygon_the_point_lies_deepest_in(
    jakarta: Geocoder, boundaries_path: Path
) -> None:
    lat, lon = -6.321454483057029, 106.84004156679971  # in the Lenteng Agung / Baru overlap
    features = json.loads(boundaries_path.read_text())["features"]
    pt = Point(lon, lat)
    inside = [(shape(f["geometry"]), f["properties"]["kelurahan"]) for f in features]
    inside = [(g, name) for g, name in inside if g.intersects(pt)]
    assert sorted(name for _, name in inside) == ["Baru", "Lenteng Agung"]
    deepest = max(inside, key=lambda gn: gn[0].boundary.distance(pt))[1]
    r = jakarta.locate(lat, lon)
    assert r is not None and r.area is not None
    assert (r.area.kelurahan, r.confidence) == (deepest, GPS_OVERLAP)


def test_real_gap_snaps_to_the_nearest_polygon(jakarta: Geocoder) -> None:
    r = jakarta.locate(-6.1471182914999645, 106.86815132601328)  # a gap between neighbours
    assert r is not None and r.area is not None
    assert (r.area.kelurahan, r.method, r.confidence) == ("Sunter Agung", "gps", GPS_SNAPPED)
    assert r.distance_m is not None and 0 < r.distance_m < 50


# -- made-up maps ------------------------------------------------------------------------------------


def _square(lon0: float, lat0: float, size: float) -> dict[str, Any]:
    ring = [[lon0, lat0], [lon0 + size, lat0], [lon0 + size, lat0 + size], [lon0, lat0 + size], [lon0, lat0]]
    return {"type": "Polygon", "coordinates": [ring]}


def _map(tmp_path: Path, features: list[tuple[str, str, str, dict[str, Any]]]) -> Path:
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "kode_kelurahan": code,
                    "kelurahan": kel,
                    "kecamatan": kec,
                    "kota": "Kota Uji",
                },
                "geometry": geom,
            }
            for code, kel, kec, geom in features
        ],
    }
    path = tmp_path / "map.geojson"
    path.write_text(json.dumps(fc))
    return path


def test_overlap_takes_the_deeper_polygon_not_the_first(tmp_path: Path) -> None:
    # Alfa: lon 106.800-106.810, Beta: lon 106.805-106.825; both lat -6.21 to -6.20. Overlap: 106.805-106.810.
    g = Geocoder.from_geojson(
        _map(
            tmp_path,
            [
                ("1", "Alfa", "Satu", _square(106.80, -6.21, 0.01)),
                ("2", "Beta", "Satu", _square(106.805, -6.21, 0.02)),
            ],
        )
    )
    west = g.locate(-6.205, 106.806)  # 4 mdeg from Alfa's edge, 1 mdeg from Beta's
    east = g.locate(-6.205, 106.809)  # 1 mdeg from Alfa's edge, 4 mdeg from Beta's
    assert (
        west is not None
        and west.area is not None
        and (west.area.kelurahan, west.confidence)
        == (
            "Alfa",
            GPS_OVERLAP,
        )
    )
    assert (
        east is not None
        and east.area is not None
        and (east.area.kelurahan, east.confidence)
        == (
            "Beta",
            GPS_OVERLAP,
        )
    )
    only_beta = g.locate(-6.205, 106.82)
    assert only_beta is not None and only_beta.confidence == GPS_INSIDE


def test_snap_distance_is_measured_in_metres(tmp_path: Path) -> None:
    g = Geocoder.from_geojson(_map(tmp_path, [("1", "Alfa", "Satu", _square(106.80, -6.21, 0.01))]))
    lat = -6.205
    m_per_deg_lon = KM_PER_DEG_LAT * 1000 * 0.994151  # cos(6.205 deg)
    east_200 = g.locate(lat, 106.81 + 200 / m_per_deg_lon)
    assert east_200 is not None and east_200.confidence == GPS_SNAPPED
    assert east_200.distance_m == pytest.approx(200, abs=1)
    assert g.locate(lat, 106.81 + 300 / m_per_deg_lon) is None
    north_240 = g.locate(-6.20 + 0.240 / KM_PER_DEG_LAT, 106.805)
    assert north_240 is not None and north_240.distance_m == pytest.approx(240, abs=1)
    strict = Geocoder.from_geojson(tmp_path / "map.geojson", snap_distance_m=100)
    assert strict.locate(lat, 106.81 + 200 / m_per_deg_lon) is None


def test_gps_beats_text_and_text_is_the_fallback(jakarta: Geocoder) -> None:
    monas = GeoPoint(lat=-6.1754, lon=106.8272)
    assert jakarta.geocode(monas, "Kel. Melawai", None).method == "gps"
    airport = GeoPoint(lat=-6.1256, lon=106.6559)
    r = jakarta.geocode(airport, "Kel. Melawai", None)
    assert r.area is not None and (r.area.kelurahan, r.method, r.confidence) == (
        "Melawai",
        "text",
        TEXT_STRONG,
    )
    assert jakarta.geocode(None, None, "tidak ada nama tempat") == NO_MATCH


def test_text_prefixed_form_and_address_first(jakarta: Geocoder) -> None:
    r = jakarta.match_text("Jl. Kramat Raya, Kel. Kenari, Kec. Senen", "banjir di Melawai")
    assert r is not None and r.area is not None
    assert (r.area.kelurahan, r.area.kecamatan, r.confidence) == ("Kenari", "Senen", TEXT_STRONG)


def test_text_longest_name_and_kecamatan_names(jakarta: Geocoder) -> None:
    r = jakarta.match_text(None, "Jalan rusak dekat MENTENG ATAS")
    assert r is not None and r.area is not None
    assert (r.area.kelurahan, r.confidence) == ("Menteng Atas", TEXT_WEAK)
    # "Baru" inside the kecamatan name "Kebayoran Baru" is not the kelurahan Baru
    assert jakarta.match_text(None, "lampu mati di Kecamatan Kebayoran Baru") is None
    # a name right after "kec." is a kecamatan, not the kelurahan of the same name
    assert jakarta.match_text("Kec. Menteng", None) is None
    confirmed = jakarta.match_text("Menteng, Kecamatan Menteng", None)
    assert confirmed is not None and confirmed.confidence == TEXT_STRONG


def test_text_common_words_need_the_kelurahan_form(jakarta: Geocoder) -> None:
    assert jakarta.match_text(None, "ada jalan baru di dekat gunung") is None
    r = jakarta.match_text(None, "genangan di kelurahan baru")
    assert (
        r is not None
        and r.area is not None
        and (r.area.kelurahan, r.area.kecamatan) == ("Baru", "Pasar Rebo")
    )


def test_text_several_kelurahan_lower_the_confidence(jakarta: Geocoder) -> None:
    r = jakarta.match_text(None, "macet dari Cikini sampai Gondangdia")
    assert r is not None and r.area is not None
    assert (r.area.kelurahan, r.confidence) == ("Gondangdia", TEXT_WEAK - 0.1)  # longer name wins


def test_shared_name_is_ambiguous_unless_its_kecamatan_is_named(tmp_path: Path) -> None:
    g = Geocoder.from_geojson(
        _map(
            tmp_path,
            [
                ("1", "Sukamaju", "Alfa", _square(106.80, -6.21, 0.01)),
                ("2", "Sukamaju", "Beta", _square(106.90, -6.21, 0.01)),
                ("3", "Cempaka", "Beta", _square(106.70, -6.21, 0.01)),
            ],
        )
    )
    assert g.match_text("Sukamaju", "sampah menumpuk") is None
    r = g.match_text("Kel. Sukamaju", "di kecamatan Beta")
    assert r is not None and r.area is not None
    assert (r.area.kelurahan_code, r.confidence) == ("2", TEXT_STRONG)


def test_names_only_geocoder_from_the_skpd_registry() -> None:
    g = Geocoder.from_registry(load_city(CITY_DIR).skpd)
    assert not g.gps_enabled and len(g.places) == 267
    assert g.locate(-6.1754, 106.8272) is None
    r = g.geocode(GeoPoint(lat=-6.1754, lon=106.8272), "Kelurahan Gambir", None)
    assert r.area is not None and r.method == "text"
    assert r.area.model_dump() == {
        "kelurahan_code": "31.71.01.1001",
        "kelurahan": "Gambir",
        "kecamatan": "Gambir",
        "kota": "Jakarta Pusat",
    }


def test_broken_boundaries_fail_loudly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text(
        json.dumps({"type": "FeatureCollection", "features": [{"properties": {}, "geometry": None}]})
    )
    with pytest.raises(ValueError, match="lacks kode_kelurahan"):
        Geocoder.from_geojson(bad)
