from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aduan_kit.testing.plugin import CITY_DIR
from aduan_kit.testing.samples import normalized
from aduan_router.rules import route
from aduan_schemas.city import CityConfig, load_city


@pytest.fixture(scope="module")
def city() -> CityConfig:
    return load_city(CITY_DIR)


def test_category_rule_names_the_dinas_and_the_rule(city: CityConfig) -> None:
    r = route(normalized(category="jalan-rusak"), city, datetime.now(UTC))
    assert (r.skpd_code, r.skpd_name) == ("dbm", "Dinas Bina Marga")
    assert r.routing.rule == "jalan-dbm"
    assert r.routing.version == city.routing.version


def test_local_problem_goes_to_its_kelurahan(city: CityConfig) -> None:
    r = route(normalized(category="saluran-mampet"), city, datetime.now(UTC))
    assert (r.skpd_code, r.skpd_name) == ("kel-3171011001", "Kelurahan Gambir")


def test_local_problem_without_area_goes_to_the_otherwise_unit(city: CityConfig) -> None:
    r = route(normalized(category="saluran-mampet", area=None), city, datetime.now(UTC))
    assert r.skpd_code == "dsda"
    assert "kelurahan unknown" in r.routing.reason


def test_deadlines_count_from_receipt(city: CityConfig) -> None:
    received = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    r = route(normalized(received_at=received), city, received + timedelta(hours=1))
    assert r.sla.policy == "standard"
    assert r.sla.respond_by == received + timedelta(hours=6)
    assert r.sla.resolve_by == received + timedelta(days=7)


def test_unknown_category_goes_to_the_fallback(city: CityConfig) -> None:
    r = route(normalized(category="tidak-dikenal"), city, datetime.now(UTC))
    assert r.skpd_code == city.routing.fallback
    assert r.routing.rule == "fallback"


def test_city_dir_is_configuration() -> None:
    assert Path(CITY_DIR, "routing.yaml").is_file()
