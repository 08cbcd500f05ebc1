from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from aduan_kit.testing.plugin import CITY_DIR
from aduan_kit.testing.samples import normalized
from aduan_schemas.city import CityConfig, load_city
from aduan_schemas.events import RoutedReport, Routing
from aduan_sla import deadlines, policy_for

MakeRouted = Callable[..., RoutedReport]


@pytest.fixture(scope="session")
def city() -> CityConfig:
    return load_city(CITY_DIR)


@pytest.fixture(scope="session")
def make_routed(city: CityConfig) -> MakeRouted:
    """A routed report as the router makes it: deadlines from the city's SLA policy and ``received_at``."""

    def make(skpd_code: str = "dlh", received_at: datetime | None = None, **overrides: Any) -> RoutedReport:
        received = (received_at or datetime.now(UTC)).replace(microsecond=0)
        report = normalized(received_at=received, **overrides)
        unit = city.skpd.get(skpd_code)
        return RoutedReport(
            **report.model_dump(),
            skpd_code=unit.code,
            skpd_name=unit.name,
            routing=Routing(rule="test", version=city.routing.version, reason="test"),
            sla=deadlines(policy_for(city.sla, report.category, unit.code, city.skpd), received),
            routed_at=datetime.now(UTC),
        )

    return make
