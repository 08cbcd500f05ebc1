"""The router service against the real broker and database: triage, operator decisions, rules reload.

Until the routing rules flag uncertain reports themselves, ``_flag_fallback`` marks the report the
issue describes as uncertain (fallback category, confidence 0) as needing triage; once ``route`` does
it, the wrapper changes nothing.
"""

import os
import shutil
import signal
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.kafka import create_topics, eventually, find_events, publish_bytes, read_topic
from aduan_kit.testing.plugin import CITY_DIR
from aduan_kit.testing.samples import SAMPLE_UNIT, normalized
from aduan_router.config import RouterSettings
from aduan_router.main import build
from aduan_router.rules import route
from aduan_schemas.city import CityConfig, SkpdLevel
from aduan_schemas.events import NormalizedReport, RoutedReport

TOKEN = "test-operator-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _flag_fallback(report: NormalizedReport, city: CityConfig, now: datetime) -> RoutedReport:
    routed = route(report, city, now)
    if report.category == city.taxonomy.fallback and report.category_confidence == 0:
        return routed.model_copy(update={"needs_triage": True})
    return routed


async def _publish(common: CommonSettings, report: NormalizedReport) -> None:
    t = common.topics
    await publish_bytes(
        common, t.normalized, report.model_dump_json().encode(), key=report.report_id.encode()
    )


async def test_triage_decision_and_listing(common: CommonSettings) -> None:
    t = common.topics
    city = common.load_city()
    # the candidate (the fallback unit) and the unit decided (a dinas): topics this test reads
    dinas = [u.code for u in city.skpd.units if u.level == SkpdLevel.DINAS]
    await create_topics(common, [city.routing.fallback, *dinas])
    unsure = normalized(category=city.taxonomy.fallback, category_confidence=0.0, area=None)
    app = build(RouterSettings(common=common, operator_token=TOKEN), route_fn=_flag_fallback)
    await _publish(common, unsure)

    async with running(app) as client:
        held = await find_events(common, t.triage, RoutedReport, lambda r: r.report_id == unsure.report_id)
        candidate = held[0].skpd_code
        assert held[0].needs_triage
        routed = await find_events(common, t.routed, RoutedReport, lambda r: r.report_id == unsure.report_id)
        assert routed[0].needs_triage  # the case and its clocks exist
        # not on the candidate's topic (checked: emitting to it as well turns this red)
        assert await read_topic(common, t.skpd(candidate), 0, timeout=5, settle=1.0) == []

        assert (await client.get("/v1/triage")).status_code == 401
        assert (await client.get("/v1/triage", headers={"Authorization": "Bearer wrong"})).status_code == 401
        listing = (await client.get("/v1/triage", params={"limit": 10}, headers=AUTH)).json()
        assert [i["report_id"] for i in listing["items"]] == [unsure.report_id]
        assert listing["items"][0]["candidate"]["skpd_code"] == candidate

        unit = next(u for u in city.skpd.units if u.level == SkpdLevel.DINAS and u.code != candidate)
        body: dict[str, Any] = {"skpd_code": unit.code, "by": "operator-7", "note": "soal trotoar"}
        url = f"/v1/triage/{unsure.report_id}/decision"
        assert (await client.post(url, json=body)).status_code == 401
        assert (
            await client.post("/v1/triage/no-such-report/decision", json=body, headers=AUTH)
        ).status_code == 404
        unknown = await client.post(url, json={**body, "skpd_code": "no-such-unit"}, headers=AUTH)
        assert unknown.status_code == 422 and "no-such-unit" in unknown.text
        assert (await client.post(url, json={"by": "x"}, headers=AUTH)).status_code == 422
        huge = await client.post(url, content=b"{" + b" " * 20_000 + b"}", headers=AUTH)
        assert huge.status_code == 413

        ok = await client.post(url, json=body, headers=AUTH)
        assert ok.status_code == 200, ok.text
        assert ok.json()["skpd_code"] == unit.code and ok.json()["routing"]["rule"] == "operator"
        to_unit = await find_events(
            common, t.skpd(unit.code), RoutedReport, lambda r: r.report_id == unsure.report_id
        )
        decided = to_unit[0]
        assert (decided.routing.rule, decided.routing.confidence, decided.needs_triage) == (
            "operator",
            1.0,
            False,
        )
        assert "operator-7" in decided.routing.reason
        assert decided.sla == held[0].sla  # deadlines count from the citizen's report
        await find_events(
            common,
            t.routed,
            RoutedReport,
            lambda r: r.report_id == unsure.report_id and r.skpd_code == unit.code,
        )

        again = await client.post(url, json=body, headers=AUTH)
        assert again.status_code == 409 and "operator-7" in again.text
        assert (await client.get("/v1/triage", headers=AUTH)).json()["items"] == []

        # a re-delivered report keeps the operator's decision instead of going back to triage
        await _publish(common, unsure)
        await find_events(
            common,
            t.skpd(unit.code),
            RoutedReport,
            lambda r: r.report_id == unsure.report_id,
            count=2,
        )
        assert len(await read_topic(common, t.triage, 1, timeout=5, settle=1.0)) == 1


async def test_operator_api_is_off_without_a_token(common: CommonSettings) -> None:
    app = build(RouterSettings(common=common))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router") as client:
        off = await client.post("/v1/admin/reload-rules", headers=AUTH)
        assert off.status_code == 503 and "ADUAN_ROUTER_OPERATOR_TOKEN" in off.text
        assert (await client.get("/v1/triage", headers=AUTH)).status_code == 503
        assert (await client.get("/v1/rules")).json()["routing_version"] == common.load_city().routing.version


def _set_version(city_dir: Path, version: str) -> None:
    path = city_dir / "routing.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["version"] = version
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


async def test_rules_reload_and_refusal(common: CommonSettings, tmp_path: Path) -> None:
    city_dir = tmp_path / "city"
    shutil.copytree(CITY_DIR, city_dir)
    common = common.model_copy(update={"city_dir": city_dir})
    await create_topics(common, [SAMPLE_UNIT])
    t = common.topics
    routing = city_dir / "routing.yaml"

    async with running(build(RouterSettings(common=common, operator_token=TOKEN))) as client:

        async def version() -> str:
            return str((await client.get("/v1/rules")).json()["routing_version"])

        first = await version()
        assert first == common.load_city().routing.version
        _set_version(city_dir, "reload-test-2")
        assert (await client.post("/v1/admin/reload-rules")).status_code == 401
        ok = await client.post("/v1/admin/reload-rules", headers=AUTH)
        assert ok.status_code == 200 and ok.json()["routing_version"] == "reload-test-2"

        good = routing.read_text(encoding="utf-8")
        routing.write_text(good + "\nrules: [unclosed\n", encoding="utf-8")
        bad_yaml = await client.post("/v1/admin/reload-rules", headers=AUTH)
        assert bad_yaml.status_code == 422
        reason = bad_yaml.json()["detail"]["error"]
        assert "YAML" in reason and "routing.yaml" in reason and str(tmp_path) not in reason
        data = yaml.safe_load(good)
        data["fallback"] = "no-such-unit"
        routing.write_text(yaml.safe_dump(data), encoding="utf-8")
        invalid = await client.post("/v1/admin/reload-rules", headers=AUTH)
        assert invalid.status_code == 422 and "no-such-unit" in invalid.json()["detail"]["error"]
        assert invalid.json()["detail"]["active"]["routing_version"] == "reload-test-2"
        status = (await client.get("/v1/rules")).json()
        assert (
            status["routing_version"] == "reload-test-2" and "no-such-unit" in status["last_refused"]["error"]
        )

        # the old rules keep routing (checked: routing with the files on disk instead turns this red)
        report = normalized()
        await _publish(common, report)
        out = await find_events(common, t.routed, RoutedReport, lambda r: r.report_id == report.report_id)
        assert out[0].routing.version == "reload-test-2"

        # SIGHUP: a good file is taken, a broken one refused and logged
        routing.write_text(good, encoding="utf-8")
        _set_version(city_dir, "reload-test-3")
        os.kill(os.getpid(), signal.SIGHUP)
        await eventually(lambda: _is(client, "reload-test-3"))
        routing.write_text("version: [unclosed\n", encoding="utf-8")
        os.kill(os.getpid(), signal.SIGHUP)
        await eventually(lambda: _refused(client))
        assert await version() == "reload-test-3"


async def _is(client: httpx.AsyncClient, version: str) -> bool:
    return bool((await client.get("/v1/rules")).json()["routing_version"] == version)


async def _refused(client: httpx.AsyncClient) -> bool:
    return (await client.get("/v1/rules")).json()["last_refused"] is not None
