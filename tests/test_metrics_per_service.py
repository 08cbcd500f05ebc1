"""Each running service exports its own metric families and the kit's stream families, nothing else."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from aduan_cli.stack import Stack
from tests.metric_families import exporters, families_of


def scraped_families(url: str) -> set[str]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {f.name for f in text_string_to_metric_families(text) if f.name.startswith("aduan_")}


def test_each_service_exports_only_its_own_families(stack: Stack) -> None:
    """Scrapes every service of the stack over HTTP. The GPS gauge is on the normalizer alone (it read 0
    on six other services when one registry held every family).

    Checked to fail: with the normalizer's families declared back in ``aduan_kit.metrics`` (imported
    by every service), the router's /metrics listed ``aduan_geocoding_gps_enabled`` and this failed."""
    scraped = {name: scraped_families(svc.url) for name, svc in stack.services.items()}
    for name, families in scraped.items():
        assert families == set(families_of(name)), name
    assert "aduan_geocoding_gps_enabled" in scraped["normalizer"]
    assert "aduan_geocoding_gps_enabled" not in scraped["router"]
    assert exporters()["aduan_geocoding_gps_enabled"] == {"normalizer"}
