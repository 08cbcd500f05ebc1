"""Deadline rules on the Jakarta configuration: which policy applies, and the deadlines it gives."""

from datetime import UTC, datetime, timedelta

import pytest

from aduan_kit.testing.plugin import CITY_DIR
from aduan_schemas.city import CityConfig, load_city
from aduan_sla import deadlines, policy_for, policy_named, resolve_deadline, warning_time

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # Monday 08:00 WIB


@pytest.fixture(scope="module")
def city() -> CityConfig:
    return load_city(CITY_DIR)


def test_default_is_six_hours_and_seven_days_around_the_clock(city: CityConfig) -> None:
    p = policy_for(city.sla, "sampah", "kel-3171011001", city.skpd)
    d = deadlines(p, T0)
    assert (d.policy, d.respond_by, d.resolve_by) == (
        "standard",
        T0 + timedelta(hours=6),
        T0 + timedelta(days=7),
    )


@pytest.mark.parametrize("category", ["lampu-jalan", "jalan", "trotoar", "perlengkapan-jalan"])
def test_street_lights_and_road_works_resolve_on_the_long_clock(city: CityConfig, category: str) -> None:
    """Fails if the by_category entries are dropped from sla.yaml or ignored by policy_for."""
    p = policy_for(city.sla, category, "dbm-3171", city.skpd)
    assert p.name == "pekerjaan-fisik"
    assert deadlines(p, T0).resolve_by == T0 + timedelta(days=14)
    assert deadlines(p, T0).respond_by == T0 + timedelta(hours=6)


def test_a_unit_override_covers_the_units_under_it_and_wins_over_the_category(city: CityConfig) -> None:
    """kota-3101 (Kepulauan Seribu) is in by_unit: its kelurahan inherit it, even for road works.
    Fails if policy_for stops at the unit itself or checks the category first."""
    island_kelurahan = "kel-3101011002"
    assert policy_for(city.sla, "sampah", island_kelurahan, city.skpd).name == "kepulauan"
    assert policy_for(city.sla, "jalan", "kota-3101", city.skpd).name == "kepulauan"
    assert policy_for(city.sla, "sampah", "kel-3171011001", city.skpd).name == "standard"


def test_unknown_policy_name_and_unknown_unit_fall_back(city: CityConfig) -> None:
    assert policy_named(city.sla, "dropped-last-year").name == "standard"
    assert policy_for(city.sla, "sampah", "not-in-registry", city.skpd).name == "standard"
    assert policy_for(city.sla, None, None, city.skpd).name == "standard"


def test_resolve_deadline_restarts_from_a_reopening(city: CityConfig) -> None:
    reopened = T0 + timedelta(days=10)
    assert resolve_deadline(policy_named(city.sla, "standard"), reopened) == reopened + timedelta(days=7)


def test_warning_at_the_configured_fraction(city: CityConfig) -> None:
    p = policy_named(city.sla, "standard")
    assert p.rules.warn_at == 0.75
    assert warning_time(p, T0, T0 + timedelta(hours=6)) == T0 + timedelta(hours=4, minutes=30)
