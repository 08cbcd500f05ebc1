"""The status API for SKPD systems against the real broker and database: per-unit keys, a unit only
updates its own cases, evidence before closing, listing open cases, limits. Posting publishes on
``aduan.reports.status``; the monitor's own consumer applies it."""

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.kafka import create_topics, eventually, publish_bytes, read_topic
from aduan_schemas.events import DeadLetter, RoutedReport, StatusUpdate
from aduan_sla_monitor.config import SlaMonitorSettings
from aduan_sla_monitor.main import build
from aduan_sla_monitor.status_api import RateLimit
from aduan_sla_monitor.unit_keys import add_key, revoke

MakeRouted = Callable[..., RoutedReport]
PHOTO = "https://example.org/sesudah.jpg"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def case_where(client: httpx.AsyncClient, rid: str, check: Callable[[dict[str, Any]], bool]) -> Any:
    async def probe() -> dict[str, Any] | None:
        r = await client.get(f"/v1/cases/{rid}")
        return r.json() if r.status_code == 200 and check(r.json()) else None

    return await eventually(probe, timeout=20)


async def test_a_unit_updates_only_its_own_cases_and_closing_needs_evidence(
    common: CommonSettings, make_routed: MakeRouted, tmp_path: Path
) -> None:
    """Guarantees, each seen red once by breaking the code:
    - 403 and nothing published: fails if the owner check in ``status_api.post_status`` is removed;
    - 422 without a photo: fails if the evidence rule in ``cases.check_update`` is removed;
    - the listing holds only the unit's open cases: fails without the ``skpd_code`` filter of
      ``store.open_cases_of``."""
    await create_topics(common)
    t = common.topics
    keys_file = tmp_path / "unit-keys"
    dlh, dbm = add_key(keys_file, "dlh"), add_key(keys_file, "dbm")
    ours, ours2, theirs = make_routed("dlh"), make_routed("dlh"), make_routed("dbm")
    settings = SlaMonitorSettings(common=common, scan_interval_s=60, unit_keys_file=keys_file)
    async with running(build(settings)) as client:
        for r in (ours, ours2, theirs):
            await publish_bytes(common, t.routed, r.model_dump_json().encode(), key=r.report_id.encode())
        for r in (ours, ours2, theirs):
            await case_where(client, r.report_id, lambda c: "respond_by" in c)
        url = f"/v1/cases/{ours.report_id}/status"
        at = ours.received_at + timedelta(hours=1)
        body: dict[str, Any] = {"status": "in_progress", "at": at.isoformat(), "by": "petugas-7"}

        assert (await client.post(url, json=body)).status_code == 401
        assert (await client.post(url, json=body, headers=bearer("aduk_wrong"))).status_code == 401
        other = await client.post(f"/v1/cases/{theirs.report_id}/status", json=body, headers=bearer(dlh))
        assert other.status_code == 403 and "not assigned to your unit (dlh)" in other.json()["detail"]
        unresolved = await client.post(url, json={**body, "status": "resolved"}, headers=bearer(dlh))
        assert unresolved.status_code == 422 and "needs evidence" in unresolved.json()["detail"]
        no_photo = {**body, "status": "resolved", "evidence": ["ftp://example.org/a.jpg"]}
        assert (await client.post(url, json=no_photo, headers=bearer(dlh))).status_code == 422
        for bad in (
            {**body, "status": "reopened"},
            {**body, "reason_code": "recategorised"},
            {"status": "x"},
        ):
            assert (await client.post(url, json=bad, headers=bearer(dlh))).status_code == 422
        assert (await client.post(url, json={**body, "extra": 1}, headers=bearer(dlh))).status_code == 422
        huge = await client.post(url, content=b"{" + b" " * 70_000 + b"}", headers=bearer(dlh))
        assert huge.status_code == 413
        missing = await client.post("/v1/cases/rpt-none/status", json=body, headers=bearer(dlh))
        assert missing.status_code == 404
        # Nothing of the refused requests reached the status topic.
        assert await read_topic(common, t.status, 0, timeout=3, settle=1.0) == []

        accepted = await client.post(url, json=body, headers=bearer(dlh))
        assert accepted.status_code == 202 and accepted.json()["event_id"].startswith("status:")
        await case_where(client, ours.report_id, lambda c: c["status"] == "in_progress")
        again = await client.post(url, json=body, headers=bearer(dlh))  # a client's retry: same update
        assert again.status_code == 202

        listing = (await client.get("/v1/unit/cases", params={"limit": 1}, headers=bearer(dlh))).json()
        assert listing["skpd_code"] == "dlh" and len(listing["items"]) == 1
        rest = await client.get(
            "/v1/unit/cases", params={"after": listing["next_after"]}, headers=bearer(dlh)
        )
        listed = {i["report_id"] for i in listing["items"] + rest.json()["items"]}
        assert listed == {ours.report_id, ours2.report_id}
        item = next(i for i in listing["items"] + rest.json()["items"] if i["report_id"] == ours.report_id)
        assert datetime.fromisoformat(item["respond_by"]) == ours.sla.respond_by
        assert (
            await client.get("/v1/unit/cases", params={"limit": 500}, headers=bearer(dlh))
        ).status_code == 422

        done = {
            **body,
            "status": "resolved",
            "at": (at + timedelta(hours=3)).isoformat(),
            "evidence": [PHOTO],
        }
        assert (await client.post(url, json=done, headers=bearer(dlh))).status_code == 202
        case = await case_where(client, ours.report_id, lambda c: c["status"] == "resolved")
        assert case["history"][-1]["skpd_code"] == "dlh" and case["history"][-1]["evidence"] == [PHOTO]
        # The retry was one update, and the closed case left the unit's listing.
        assert [h["status"] for h in case["history"]] == ["in_progress", "resolved"]
        open_now = (await client.get("/v1/unit/cases", headers=bearer(dlh))).json()["items"]
        assert [i["report_id"] for i in open_now] == [ours2.report_id]

        theirs_list = (await client.get("/v1/unit/cases", headers=bearer(dbm))).json()["items"]
        assert [i["report_id"] for i in theirs_list] == [theirs.report_id]
        revoke(keys_file, "dbm")  # read again without a restart
        assert (await client.get("/v1/unit/cases", headers=bearer(dbm))).status_code == 401

    published = [StatusUpdate.model_validate_json(r.value) for r in await read_topic(common, t.status, 3)]
    assert {(u.report_id, u.status.value, u.skpd_code) for u in published} == {
        (ours.report_id, "in_progress", "dlh"),
        (ours.report_id, "resolved", "dlh"),
    }


async def test_resolved_without_evidence_on_kafka_is_dead_lettered(
    common: CommonSettings, make_routed: MakeRouted
) -> None:
    """Fails if the evidence rule in ``cases.check_update`` is removed (the case closes instead)."""
    await create_topics(common)
    t = common.topics
    report = make_routed("dlh")
    bare = StatusUpdate(report_id=report.report_id, status="resolved", at=report.received_at, by="sistem-dlh")
    await publish_bytes(common, t.routed, report.model_dump_json().encode(), key=report.report_id.encode())
    await publish_bytes(common, t.status, bare.model_dump_json().encode(), key=report.report_id.encode())
    async with running(build(SlaMonitorSettings(common=common, scan_interval_s=60))) as client:
        (letter,) = [DeadLetter.model_validate_json(r.value) for r in await read_topic(common, t.dlq, 1)]
        case = await case_where(client, report.report_id, lambda c: "respond_by" in c)
    assert letter.original_topic == t.status and "needs evidence" in letter.error
    assert case["status"] == "routed" and "closed_at" not in case


async def test_status_api_is_off_without_a_keys_file(common: CommonSettings) -> None:
    async with running(build(SlaMonitorSettings(common=common, scan_interval_s=60))) as client:
        r = await client.get("/v1/unit/cases", headers=bearer("aduk_x"))
    assert r.status_code == 503 and "UNIT_KEYS_FILE" in r.json()["detail"]


def test_rate_limit_per_unit_and_minute() -> None:
    """Fails if ``RateLimit.retry_after`` never refuses (checked by returning None always)."""
    now = [1000.0]
    limit = RateLimit(2, clock=lambda: now[0])
    assert limit.retry_after("a") is None and limit.retry_after("a") is None
    assert limit.retry_after("b") is None  # per unit
    wait = limit.retry_after("a")
    assert wait is not None and 1 <= wait <= 61
    now[0] += 60
    assert limit.retry_after("a") is None
