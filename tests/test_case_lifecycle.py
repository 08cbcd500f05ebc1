"""A case's life across the router and the SLA monitor, on the real broker and database: a unit's
"not our authority" sends the report to the next candidate with unchanged deadlines, a report refused by
every candidate goes to operator triage, an operator's re-categorisation routes it by the new category,
and re-delivered statuses change nothing."""

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.kafka import create_topics, eventually, find_events, publish_bytes, read_topic
from aduan_kit.testing.samples import normalized
from aduan_router.config import RouterSettings
from aduan_router.main import build as build_router
from aduan_schemas.events import RerouteRequest, RoutedReport
from aduan_sla_monitor.config import SlaMonitorSettings
from aduan_sla_monitor.main import build as build_monitor
from aduan_sla_monitor.unit_keys import add_key

TOKEN = "test-operator-token-0123456789"
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}
FIRST, SECOND = "dlh-3171", "kel-3171011001"  # uncollected rubbish at Monas: Sudin LH, then the kelurahan


async def case_where(client: httpx.AsyncClient, rid: str, check: Callable[[dict[str, Any]], bool]) -> Any:
    async def probe() -> dict[str, Any] | None:
        r = await client.get(f"/v1/cases/{rid}")
        return r.json() if r.status_code == 200 and check(r.json()) else None

    return await eventually(probe, timeout=30)


async def test_not_ours_goes_to_the_next_unit_then_triage_then_the_operators_category(
    common: CommonSettings, tmp_path: Path
) -> None:
    """Each seen red once by breaking the code:
    - the next unit: fails if the monitor does not emit the reroute request (``main.on_status``);
    - unchanged deadlines: fails if ``reroute.reroute`` takes ``route``'s deadlines from ``now``;
    - re-delivery changes nothing: fails without the ``rejected_by`` guard of ``store._routed_ops``
      (the re-delivered first routed report hands the case back to the refusing unit);
    - triage: fails if ``reroute`` falls back to the first candidate instead of triage;
    - an operator's decision after triage: fails if the router's ``handle_reroute`` does not hold the
      refused report (``hold_again``): the listing is empty and the decision answers 404."""
    await create_topics(common, [FIRST, SECOND, "dbm-3171"])  # the units it is routed to
    t = common.topics
    keys_file = tmp_path / "unit-keys"
    first_key, second_key = add_key(keys_file, FIRST), add_key(keys_file, SECOND)
    report = normalized(received_at=datetime.now().astimezone().replace(microsecond=0) - timedelta(hours=2))
    router = build_router(RouterSettings(common=common, operator_token=TOKEN))
    monitor = build_monitor(SlaMonitorSettings(common=common, scan_interval_s=60, unit_keys_file=keys_file))
    async with running(router) as ops, running(monitor) as api:
        await publish_bytes(
            common, t.normalized, report.model_dump_json().encode(), key=report.report_id.encode()
        )
        case = await case_where(api, report.report_id, lambda c: c.get("skpd_code") == FIRST)
        respond_by, resolve_by = case["respond_by"], case["resolve_by"]
        url = f"/v1/cases/{report.report_id}/status"
        not_ours = {"status": "rejected", "reason_code": "not_our_authority", "by": "sistem-dlh"}

        at1 = datetime.now().astimezone()
        r = await api.post(
            url, json={**not_ours, "at": at1.isoformat()}, headers={"Authorization": f"Bearer {first_key}"}
        )
        assert r.status_code == 202, r.text
        case = await case_where(api, report.report_id, lambda c: c["skpd_code"] == SECOND)
        assert case["status"] == "routed" and case["rejected_by"] == [FIRST]
        assert (case["respond_by"], case["resolve_by"]) == (respond_by, resolve_by)
        assert "responded_at" not in case and "closed_at" not in case  # "not ours" answers nothing
        to_second = await find_events(
            common, t.skpd(SECOND), RoutedReport, lambda x: x.report_id == report.report_id
        )
        assert (
            to_second[0].routing.rule == "reroute" and to_second[0].sla.resolve_by.isoformat() == resolve_by
        )
        # The refusing unit may no longer post on the case.
        again = await api.post(
            url, json={**not_ours, "at": at1.isoformat()}, headers={"Authorization": f"Bearer {first_key}"}
        )
        assert again.status_code == 403

        # Re-delivery of the refusal and of the first routed report: nothing moves.
        (refusal,) = await read_topic(common, t.status, 1)
        await publish_bytes(common, t.status, refusal.value, key=refusal.key, headers=list(refusal.headers))
        (first_routed,) = await find_events(
            common, t.routed, RoutedReport, lambda x: x.report_id == report.report_id and x.skpd_code == FIRST
        )
        await publish_bytes(
            common, t.routed, first_routed.model_dump_json().encode(), key=report.report_id.encode()
        )
        await read_topic(common, t.reroute, 1, timeout=5, settle=3.0)
        case = (await api.get(f"/v1/cases/{report.report_id}")).json()
        assert case["skpd_code"] == SECOND and case["status"] == "routed" and len(case["history"]) == 1
        assert len(await read_topic(common, t.reroute, 1, timeout=5, settle=1.0)) == 1

        # The second unit refuses too: no candidate left, an operator decides.
        at2 = datetime.now().astimezone()
        r = await api.post(
            url, json={**not_ours, "at": at2.isoformat()}, headers={"Authorization": f"Bearer {second_key}"}
        )
        assert r.status_code == 202, r.text
        case = await case_where(api, report.report_id, lambda c: c["status"] == "triage")
        assert case["rejected_by"] == [FIRST, SECOND] and case["needs_triage"] is True
        held = await find_events(common, t.triage, RoutedReport, lambda x: x.report_id == report.report_id)
        assert "no other candidate" in held[0].routing.reason
        listing = (await ops.get("/v1/triage", headers=OPERATOR)).json()
        assert [i["report_id"] for i in listing["items"]] == [report.report_id]

        # An operator may give it back to a unit that refused it (their decision, not a re-delivery).
        decision = {"skpd_code": FIRST, "by": "operator-3", "note": "sudah dikonfirmasi"}
        r = await ops.post(f"/v1/triage/{report.report_id}/decision", json=decision, headers=OPERATOR)
        assert r.status_code == 200, r.text
        case = await case_where(api, report.report_id, lambda c: c["status"] == "routed")
        assert case["skpd_code"] == FIRST and case["routing"]["rule"] == "operator"

        # The operator re-categorises it as a road problem: the rules of that category pick the unit.
        r = await ops.post(
            f"/v1/reports/{report.report_id}/category",
            json={"category": "jalan", "by": "operator-3"},
            headers=OPERATOR,
        )
        assert r.status_code == 202, r.text
        case = await case_where(api, report.report_id, lambda c: c["skpd_code"] == "dbm-3171")
        assert case["status"] == "routed" and case["category"] == "jalan"
        assert (case["respond_by"], case["resolve_by"]) == (respond_by, resolve_by)

    requests = [RerouteRequest.model_validate_json(x.value) for x in await read_topic(common, t.reroute, 3)]
    assert [q.exclude_units for q in requests] == [[FIRST], [FIRST, SECOND], [FIRST, SECOND]]
