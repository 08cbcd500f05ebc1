"""Geocoding against the real kelurahan boundaries, plus small made-up maps for exact edge cases."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import Point, shape

from aduan_kit.testing.plugin import CITY_DIR
from aduan_kit.testing.samples import raw_qlue
from aduan_normalizer.gazetteer import (
    AREA_NAMED,
    AREA_NARROWED,
    CONFLICT_PENALTY,
    FUZZY_PENALTY,
    KELURAHAN_CONFIRMED,
    KELURAHAN_NAMED,
    STREET,
)
from aduan_normalizer.geocode import (
    GPS_INSIDE,
    GPS_OVERLAP,
    GPS_SNAPPED,
    NO_MATCH,
    Geocoder,
)
from aduan_normalizer.pipeline import normalize
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
    gps = jakarta.geocode(monas, "Kel. Melawai", "jaksel")
    assert gps.method == "gps" and gps.place is not None
    assert (gps.place.level, gps.place.kelurahan, gps.place.kecamatan_code, gps.place.kota_code) == (
        "kelurahan",
        "Gambir",
        "31.71.01",
        "31.71",
    )
    airport = GeoPoint(lat=-6.1256, lon=106.6559)
    r = jakarta.geocode(airport, "Kel. Melawai", None)
    assert r.area is not None and (r.area.kelurahan, r.method, r.confidence) == (
        "Melawai",
        "text",
        KELURAHAN_CONFIRMED,
    )
    assert jakarta.geocode(None, None, "tidak ada nama tempat") == NO_MATCH


def _found(g: Geocoder, address: str | None, text: str | None) -> tuple[str, str, float] | None:
    r = g.match_text(address, text)
    if r is None or r.place is None:
        return None
    p = r.place
    name = {"kelurahan": p.kelurahan, "kecamatan": p.kecamatan, "kota": p.kota}[p.level]
    assert (r.area is not None) == (p.level == "kelurahan")  # area only for a kelurahan
    return p.level, name or "", r.confidence


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sampah numpuk di kel. kebon melati", ("kelurahan", "Kebon Melati", KELURAHAN_CONFIRMED)),
        ("KELURAHAN KEBON MELATI banjir", ("kelurahan", "Kebon Melati", KELURAHAN_CONFIRMED)),
        ("got mampet di kebon melati", ("kelurahan", "Kebon Melati", KELURAHAN_NAMED)),
        ("got mampet di kebun melati", ("kelurahan", "Kebon Melati", KELURAHAN_NAMED)),
        ("got mampet di kebon-melati", ("kelurahan", "Kebon Melati", KELURAHAN_NAMED)),
        ("macet parah di pulau gadung", ("kelurahan", "Pulo Gadung", KELURAHAN_NAMED)),
        ("jalan rusak dekat MENTENG ATAS", ("kelurahan", "Menteng Atas", KELURAHAN_NAMED)),
        ("banjir di Tj. Priok", ("kecamatan", "Tanjung Priok", AREA_NAMED)),
        ("banjir di kp melayu", ("kelurahan", "Kampung Melayu", KELURAHAN_NAMED)),
        ("daerah tanah abang macet", ("kecamatan", "Tanah Abang", AREA_NAMED)),
        ("kec tanah abang", ("kecamatan", "Tanah Abang", AREA_NAMED)),
        ("kemacetan di palmerah", ("kecamatan", "Pal Merah", AREA_NAMED)),  # kelurahan Palmerah too
        ("lampu mati di Kecamatan Kebayoran Baru", ("kecamatan", "Kebayoran Baru", AREA_NAMED)),
        (
            "sampah di kel. kebon meleti",
            ("kelurahan", "Kebon Melati", round(KELURAHAN_CONFIRMED - FUZZY_PENALTY, 2)),
        ),
        ("kec. tanah abnag macet", ("kecamatan", "Tanah Abang", round(AREA_NAMED - FUZZY_PENALTY, 2))),
    ],
)
def test_text_names_and_their_spellings(
    jakarta: Geocoder, text: str, expected: tuple[str, str, float]
) -> None:
    assert _found(jakarta, None, text) == expected


@pytest.mark.parametrize(
    ("text", "kota"),
    [
        ("banjir jaksel", "Jakarta Selatan"),
        ("JAKSELLL parah", "Jakarta Selatan"),
        ("jkt selatan", "Jakarta Selatan"),
        ("jak-sel", "Jakarta Selatan"),
        ("jakpus", "Jakarta Pusat"),
        ("jakbar", "Jakarta Barat"),
        ("jaktim", "Jakarta Timur"),
        ("jakut", "Jakarta Utara"),
        ("di Jakarta Timur", "Jakarta Timur"),
        ("Kota Administrasi Jakarta Utara", "Jakarta Utara"),
        ("kep. seribu", "Kepulauan Seribu"),
    ],
)
def test_text_kota_and_its_spoken_forms(jakarta: Geocoder, text: str, kota: str) -> None:
    assert _found(jakarta, None, text) == ("kota", kota, AREA_NAMED)


def test_text_kota_names_confirm_and_place_carries_codes(jakarta: Geocoder) -> None:
    r = jakarta.match_text(None, "kebon melati jakpus")
    assert r is not None and r.place is not None
    assert r.place.model_dump() == {
        "level": "kelurahan",
        "kota_code": "31.71",
        "kota": "Jakarta Pusat",
        "kecamatan_code": "31.71.07",
        "kecamatan": "Tanah Abang",
        "kelurahan_code": "31.71.07.1005",
        "kelurahan": "Kebon Melati",
    }
    assert r.confidence == KELURAHAN_CONFIRMED
    kota = jakarta.match_text(None, "jaksel")
    assert kota is not None and kota.place is not None
    assert (kota.place.kota_code, kota.place.kecamatan_code, kota.area) == ("31.74", None, None)


def test_text_address_first_and_conflicts(jakarta: Geocoder) -> None:
    r = _found(jakarta, "Jl. Kramat Raya, Kel. Kenari, Kec. Senen", "banjir di Melawai")
    assert r == ("kelurahan", "Kenari", KELURAHAN_CONFIRMED)
    # two kelurahan in one field: the first, less sure
    assert _found(jakarta, None, "macet dari Cikini sampai Gondangdia") == (
        "kelurahan",
        "Cikini",
        round(KELURAHAN_NAMED - CONFLICT_PENALTY, 2),
    )


def test_text_name_shared_with_its_kecamatan(jakarta: Geocoder) -> None:
    assert _found(jakarta, None, "banjir di menteng") == ("kecamatan", "Menteng", AREA_NAMED)
    assert _found(jakarta, None, "banjir di menteng, menteng parah") == ("kecamatan", "Menteng", AREA_NAMED)
    assert _found(jakarta, "Kec. Menteng", None) == ("kecamatan", "Menteng", AREA_NAMED)
    assert _found(jakarta, "Kel. Menteng", None) == ("kelurahan", "Menteng", KELURAHAN_CONFIRMED)
    assert _found(jakarta, "Menteng, Kecamatan Menteng", None) == (
        "kelurahan",
        "Menteng",
        KELURAHAN_CONFIRMED,
    )
    assert _found(jakarta, None, "stasiun gambir") == ("kecamatan", "Gambir", AREA_NAMED)
    # repeating the kecamatan's name does not make it the kelurahan; "camat X" is the kecamatan
    assert _found(jakarta, None, "Kali di Kecamatan Makasar kotor, warga Makasar kesal") == (
        "kecamatan",
        "Makasar",
        AREA_NAMED,
    )
    assert _found(jakarta, None, "Yth. Camat Kebon Jeruk") == ("kecamatan", "Kebon Jeruk", AREA_NAMED)
    # a stem names the kelurahan that share it: Petojo Utara and Petojo Selatan are both in Gambir
    assert _found(jakarta, None, "petojo banjir") == ("kecamatan", "Gambir", AREA_NARROWED)


def test_text_street_names_are_weak_evidence(jakarta: Geocoder) -> None:
    assert _found(jakarta, None, "jl. kebon sirih rusak") == ("kelurahan", "Kebon Sirih", STREET)
    # a name of everyday words counts as a street name
    assert _found(jakarta, None, "got di gang kali anyar mampet") == ("kelurahan", "Kali Anyar", STREET)
    assert _found(jakarta, None, "Jl. Kebon Sirih, Jakarta Pusat") == (
        "kelurahan",
        "Kebon Sirih",
        STREET + 0.1,
    )
    # a street named after one kecamatan, in another kecamatan that is named: the named one
    assert _found(jakarta, None, "Jl. Pasar Minggu, Pancoran") == (
        "kecamatan",
        "Pancoran",
        round(AREA_NAMED - CONFLICT_PENALTY, 2),
    )


@pytest.mark.parametrize(
    "text",
    [
        "ada jalan baru di dekat gunung",
        "pasar baru itu kotor sekali",
        "tiap hari senen sampah tidak diangkut",
        "jembatan besi di sini sudah karatan",
        "karet ban bekas dibuang di got",
        "tolong kebon meleti",  # a typo without "kel."/"kec." is not guessed
        "sampah di jalan jakarta",
        "tidak ada nama tempat",
    ],
)
def test_text_no_false_positive_on_common_words(jakarta: Geocoder, text: str) -> None:
    assert jakarta.match_text(None, text) is None


def test_text_common_names_when_qualified_or_written_as_names(jakarta: Geocoder) -> None:
    assert _found(jakarta, None, "genangan di kelurahan baru") == ("kelurahan", "Baru", KELURAHAN_CONFIRMED)
    assert _found(jakarta, None, "macet di Pasar Baru hari ini") == (
        "kelurahan",
        "Pasar Baru",
        KELURAHAN_NAMED,
    )
    assert _found(jakarta, None, "copet di pasar senen") == ("kecamatan", "Senen", AREA_NAMED)


def _shared_names(tmp_path: Path) -> Geocoder:
    """Sukamaju in kecamatan Alfa (Kota Satu) and Beta (Kota Dua); Mekar in Beta and Gama (Kota Dua)."""
    rows = [
        ("99.01.01.1001", "Sukamaju", "99.01.01", "Alfa", "99.01", "Kota Satu"),
        ("99.02.01.1001", "Sukamaju", "99.02.01", "Beta", "99.02", "Kota Dua"),
        ("99.02.01.1002", "Mekar", "99.02.01", "Beta", "99.02", "Kota Dua"),
        ("99.02.02.1001", "Mekar", "99.02.02", "Gama", "99.02", "Kota Dua"),
    ]
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "kode_kelurahan": code,
                    "kelurahan": kel,
                    "kode_kecamatan": kec_code,
                    "kecamatan": kec,
                    "kode_kota": kota_code,
                    "kota": kota,
                },
                "geometry": _square(106.80 + n * 0.01, -6.21, 0.01),
            }
            for n, (code, kel, kec_code, kec, kota_code, kota) in enumerate(rows)
        ],
    }
    path = tmp_path / "shared.geojson"
    path.write_text(json.dumps(fc))
    return Geocoder.from_geojson(path)


def test_shared_name_resolved_by_its_kecamatan_or_kota(tmp_path: Path) -> None:
    g = _shared_names(tmp_path)
    r = g.match_text("Kel. Sukamaju", "di kecamatan Beta")
    assert r is not None and r.place is not None
    assert (r.place.kelurahan_code, r.confidence) == ("99.02.01.1001", KELURAHAN_CONFIRMED)
    r = g.match_text(None, "sampah di sukamaju, kota satu")
    assert r is not None and r.place is not None
    assert (r.place.kelurahan_code, r.confidence) == ("99.01.01.1001", KELURAHAN_CONFIRMED)


def test_shared_name_left_at_the_level_where_its_places_meet(tmp_path: Path) -> None:
    g = _shared_names(tmp_path)
    assert _found(g, None, "Mekar banjir") == ("kota", "Kota Dua", AREA_NARROWED)  # Beta and Gama
    assert g.match_text("Sukamaju", "sampah menumpuk") is None  # two kota: nothing to say
    assert _found(g, None, "Sukamaju, Kota Dua") == ("kelurahan", "Sukamaju", KELURAHAN_CONFIRMED)


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
    assert r.place is not None and (r.place.kecamatan_code, r.place.kota_code) == ("31.71.01", "31.71")
    kec = g.match_text(None, "kec tanah abang")
    assert kec is not None and kec.place is not None
    assert (kec.place.level, kec.place.kecamatan_code, kec.place.kota) == (
        "kecamatan",
        "31.71.07",
        "Jakarta Pusat",
    )


def test_broken_boundaries_fail_loudly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text(
        json.dumps({"type": "FeatureCollection", "features": [{"properties": {}, "geometry": None}]})
    )
    with pytest.raises(ValueError, match="lacks kode_kelurahan"):
        Geocoder.from_geojson(bad)


def test_normalized_report_carries_the_place_and_area_only_for_a_kelurahan(jakarta: Geocoder) -> None:
    taxonomy = load_city(CITY_DIR).taxonomy
    now = datetime.now(UTC)
    kec = normalize(
        raw_qlue(location=None, address_text="Kec. Tanah Abang", text="sampah menumpuk"),
        geocoder=jakarta,
        taxonomy=taxonomy,
        pseudonym_key="k" * 32,
        now=now,
    )
    assert kec.area is None and kec.place is not None
    assert (kec.place.level, kec.place.kecamatan_code, kec.geocode.method) == (
        "kecamatan",
        "31.71.07",
        "text",
    )
    gps = normalize(raw_qlue(), geocoder=jakarta, taxonomy=taxonomy, pseudonym_key="k" * 32, now=now)
    assert gps.area is not None and gps.place is not None
    assert (gps.place.level, gps.place.kelurahan_code) == ("kelurahan", gps.area.kelurahan_code)


def test_locating_a_batch_gives_what_locating_each_point_gives(jakarta: Geocoder) -> None:
    """One index query for a batch (``locate_many``) answers like ``locate`` point by point: inside one
    polygon, in an overlap, in a gap (snapped), outside the city, and a grid over the whole city. Fails
    if a point in several polygons is taken as inside the first (``count[i] == 1`` made ``>= 1``: the
    overlap point got GPS_INSIDE) or if hits are matched to the wrong point."""
    points = [
        (-6.1754, 106.8272),  # Monas
        (-6.321454483057029, 106.84004156679971),  # overlap
        (-6.1471182914999645, 106.86815132601328),  # gap
        (-6.1256, 106.6559),  # the airport, outside
    ]
    points += [(-6.37 + i * 0.012, 106.68 + j * 0.012) for i in range(22) for j in range(22)]
    many = jakarta.locate_many(points)
    assert list(many) == points
    assert [many[p] for p in points] == [jakarta.locate(*p) for p in points]
    assert {r.confidence for r in many.values() if r is not None} == {GPS_INSIDE, GPS_OVERLAP, GPS_SNAPPED}
    assert jakarta.locate_many([]) == {}
