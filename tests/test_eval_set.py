"""The routing evaluation set (bench/eval/) is well formed and its runner works.

How these were checked to fail: a duplicated id, a category code dropped below 8 items, a misspelled
kelurahan ("Kebon Melatii") and a kelurahan moved to the wrong kota were each put into the dev file in turn;
the matching tests went red and passed again once the file was restored. The Suku Dinas branch of
``expected`` was broken (always the dinas code) and ``test_expected_unit_resolution`` went red; the
``--min-accuracy`` gate and the hiding of holdout misses were each disabled and the gate test went red.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from aduan_kit.testing.plugin import BOUNDARIES, CITY_DIR
from aduan_schemas.city import CityConfig, SkpdLevel, SkpdRegistry, SkpdUnit, load_city
from bench.eval import routing

MIN_PER_CATEGORY = 8


@pytest.fixture(scope="module")
def sets() -> dict[str, list[dict[str, Any]]]:
    return routing.load_items(routing.DEFAULT_FILES)


@pytest.fixture(scope="module")
def city() -> CityConfig:
    return load_city(CITY_DIR)


def test_files_parse_with_the_expected_sizes(sets: dict[str, list[dict[str, Any]]]) -> None:
    assert len(sets["routing-dev.yaml"]) >= 400
    assert len(sets["routing-holdout.yaml"]) >= 200


def test_ids_are_unique_across_files(sets: dict[str, list[dict[str, Any]]]) -> None:
    ids = Counter(it["id"] for items in sets.values() for it in items)
    assert [i for i, n in ids.items() if n > 1] == []


def test_every_category_has_enough_items(sets: dict[str, list[dict[str, Any]]]) -> None:
    for name, items in sets.items():
        counts = Counter(it["expect_category"] for it in items)
        assert set(counts) <= routing.CATEGORIES, name
        floor = MIN_PER_CATEGORY if "dev" in name else MIN_PER_CATEGORY // 2
        thin = {c: counts[c] for c in routing.CATEGORIES if counts[c] < floor}
        assert thin == {}, f"{name}: categories under {floor} items"


def test_every_unit_is_a_known_family_and_every_family_appears(
    sets: dict[str, list[dict[str, Any]]],
) -> None:
    units = Counter(it["expect_unit"] for items in sets.values() for it in items)
    assert set(units) <= routing.FAMILIES
    assert set(routing.FAMILIES) - set(units) == {"pemprov"}  # the fallback is never the right answer


def test_bad_items_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "- {id: x-1, channel: qlue, text: t, expect_category: sampah, expect_unit: dinas-sampah}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="unknown unit family"):
        routing.load_items([bad])


def test_every_place_exists_in_the_boundaries(
    sets: dict[str, list[dict[str, Any]]], gazetteer: routing.Gazetteer
) -> None:
    problems = []
    for items in sets.values():
        for it in items:
            try:
                gazetteer.check_place(it.get("place"))
            except ValueError as e:
                problems.append(f"{it['id']}: {e}")
    assert problems == []


def test_gps_points_fall_inside_their_kelurahan(
    sets: dict[str, list[dict[str, Any]]], gazetteer: routing.Gazetteer
) -> None:
    from shapely.geometry import Point

    for it in sets["routing-dev.yaml"][:60]:
        if not it["gps"]:
            continue
        place = it["place"]
        pt = gazetteer.gps_point(place, it["id"])
        assert pt == gazetteer.gps_point(place, it["id"])  # deterministic
        feature = gazetteer.kelurahan(place["kelurahan"], place["kecamatan"], place["kota"])
        assert feature.geometry.contains(Point(pt.lon, pt.lat)), it["id"]


def test_expected_unit_resolution(city: CityConfig, gazetteer: routing.Gazetteer) -> None:
    kel = {"kelurahan": "Kebon Melati", "kecamatan": "Tanah Abang", "kota": "Jakarta Pusat"}

    def item(unit: str, place: dict[str, str] | None) -> dict[str, Any]:
        return {"expect_unit": unit, "place": place}

    assert routing.expected(item("kelurahan", kel), city, gazetteer) == "kel-3171071005"
    kec = {"kecamatan": "Tanah Abang", "kota": "Jakarta Pusat"}
    assert routing.expected(item("kelurahan", kec), city, gazetteer) == "kec-317107"
    assert routing.expected(item("kelurahan", {"kota": "Jakarta Pusat"}), city, gazetteer) == "kota-3171"
    assert routing.expected(item("kelurahan", None), city, gazetteer) == "triage"
    assert routing.expected(item("triage", kel), city, gazetteer) == "triage"
    assert routing.expected(item("inspektorat", kel), city, gazetteer) == "inspektorat"
    assert routing.expected(item("dbm", None), city, gazetteer) == "dbm"
    # The Suku Dinas when the registry has it, else the dinas: the runner works before and after.
    units = [u for u in city.skpd.units if u.code != "dbm-3171"]
    without = city.model_copy(update={"skpd": SkpdRegistry(version="t", units=units)})
    assert routing.expected(item("dbm", kec), without, gazetteer) == "dbm"
    sudin = SkpdUnit(code="dbm-3171", name="Suku Dinas Bina Marga", level=SkpdLevel.SUKU_DINAS)
    with_sudin = city.model_copy(update={"skpd": SkpdRegistry(version="t", units=[*units, sudin])})
    assert routing.expected(item("dbm", kel), with_sudin, gazetteer) == "dbm-3171"
    assert routing.expected(item("dbm", kec), with_sudin, gazetteer) == "dbm-3171"


def test_family_of_routed_codes() -> None:
    assert routing.family_of("kel-3171071005", False) == "kelurahan"
    assert routing.family_of("kec-317107", False) == "kelurahan"
    assert routing.family_of("kota-3171", False) == "kelurahan"
    assert routing.family_of("dbm-3174", False) == "dbm"
    assert routing.family_of("dbm", False) == "dbm"
    assert routing.family_of("dbm", True) == "triage"


def test_runner_scores_twenty_items(
    sets: dict[str, list[dict[str, Any]]], city: CityConfig, gazetteer: routing.Gazetteer
) -> None:
    from aduan_normalizer.pipeline import load_geocoder

    items = sets["routing-dev.yaml"][:20]
    geocoder = load_geocoder(BOUNDARIES, registry=city.skpd)
    for with_hint in (False, True):
        m = routing.evaluate(items, city, gazetteer, geocoder, with_hint=with_hint, repeat=1)
        assert m["reports"] == 20
        for key in ("unit_accuracy", "family_accuracy", "category_accuracy", "triage_rate"):
            assert 0.0 <= m[key] <= 1.0, key
        assert sum(f["support"] for f in m["families"].values()) == 20
        assert m["us_per_report"] > 0


def test_missing_boundaries_stop_the_runner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert routing.main(["--boundaries", str(tmp_path / "none.geojson")]) == 2
    assert "boundaries file not found" in capsys.readouterr().err


def test_min_accuracy_turns_the_report_into_a_gate(
    sets: dict[str, list[dict[str, Any]]],
    gazetteer: routing.Gazetteer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = []
    for name, items in sets.items():  # a few items of each file, under the same names
        (tmp_path / name).write_text(yaml.safe_dump(items[:5], allow_unicode=True), encoding="utf-8")
        files += ["--file", str(tmp_path / name)]
    args = [*files, "--boundaries", str(BOUNDARIES), "--repeat", "0", "--json", str(tmp_path / "e.json")]
    assert routing.main([*args, "--min-accuracy", "0"]) == 0
    assert routing.main([*args, "--min-accuracy", "1.01"]) == 1
    out = capsys.readouterr().out
    assert "routing-holdout.yaml · text-only" in out
    report = json.loads((tmp_path / "e.json").read_text(encoding="utf-8"))
    assert set(report["files"]) == {"routing-dev.yaml", "routing-holdout.yaml"}
    assert report["files"]["routing-holdout.yaml"]["text-only"]["worst_misses"] == []  # no holdout texts
