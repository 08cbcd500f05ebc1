"""The operator's view, proven: a real Prometheus scrapes every service of a running stack under a mixed
workload, and every dashboard panel query and every alert expression is evaluated through its HTTP API.

Workload: three Qlue reports (one at Monas for dlh-3171, answered ``in_progress`` then ``resolved`` on the
status API; one received 7 hours ago on a broken road, whose respond deadline is breached at once by
dbm-3171; one more), one SMS, one unsigned Qlue post (401), and one record of garbage on the raw Qlue topic
(one dead letter). Every panel must parse and return data; the panels that count what was sent (reports
by channel and outcome, dead letters, breaches per unit and kota, open cases per unit and state, cases,
status updates, time to resolve) must show exactly that. Every alert expression is evaluated: the
dead-letter alert returns exactly the stage and reason of the garbage record; service down, GPS off,
outbox and HTTP 5xx return nothing (latency alerts are not asserted: a loaded machine may trip them).
Each panel's and alert's value is printed (``-s`` shows it).

Prometheus is the Debian package's ``/usr/bin/prometheus``, scraping every service's /metrics on
127.0.0.1 every second, with the repository's alert rules loaded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from aduan_cli.stack import Stack
from aduan_kit.embedded import free_port
from aduan_kit.signing import sign
from aduan_kit.testing.kafka import eventually, publish_bytes
from aduan_kit.testing.receiver import webhook_receiver
from aduan_schemas.city import load_city
from tests.conftest import common_for, running_stack
from tests.test_end_to_end import post_qlue, qlue_payload, routed_for
from tests.test_observability import RULES, dashboard_expressions, rule_expressions

PROMETHEUS = "/usr/bin/prometheus"


@pytest.fixture(scope="module")
def proof_stack(
    kafka_bootstrap: str, mongodb_url: str, boundaries_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A stack of its own (its counters start at zero) that refreshes open cases every second."""
    with (
        webhook_receiver() as inbox,
        running_stack(
            kafka_bootstrap,
            mongodb_url,
            boundaries_path,
            inbox,
            tmp_path_factory.mktemp("proof-stack"),
            {"ADUAN_SLA_MONITOR_OPEN_COUNT_INTERVAL_S": "1"},
        ) as s,
    ):
        yield s


@pytest.fixture(scope="module")
def prometheus(proof_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which(PROMETHEUS) is None:
        pytest.fail(f"{PROMETHEUS} not found: install the Debian package `prometheus`")
    work = tmp_path_factory.mktemp("prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "aduan",
                "static_configs": [
                    {"targets": [f"127.0.0.1:{svc.port}"], "labels": {"service": name}}
                    for name, svc in proof_stack.services.items()
                ],
            }
        ],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (work / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _ready(base):
            assert proc.poll() is None, f"prometheus exited: {(work / 'prometheus.log').read_text()[-2000:]}"
            assert time.monotonic() < deadline, "prometheus not ready within 60 s"
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/-/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def query(base: str, expr: str) -> list[dict[str, Any]]:
    """An instant query; fails on a parse or evaluation error."""
    r = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=10)
    body = r.json()
    assert r.status_code == 200 and body["status"] == "success", f"{expr}: {body.get('error')}"
    return body["data"]["result"]


def scalar(base: str, expr: str) -> float | None:
    result = query(base, expr)
    return float(result[0]["value"][1]) if len(result) == 1 else None


def by(result: list[dict[str, Any]], *labels: str) -> dict[tuple[str, ...], float]:
    return {tuple(r["metric"].get(lab, "") for lab in labels): float(r["value"][1]) for r in result}


def shown(result: list[dict[str, Any]]) -> str:
    """What a panel shows: one number, or each series' labels and value."""
    if len(result) == 1 and not result[0]["metric"]:
        return result[0]["value"][1]
    return "; ".join(
        f"{','.join(f'{k}={v}' for k, v in sorted(r['metric'].items()))}={r['value'][1]}" for r in result
    )


def post_sms(stack: Stack, msg_id: str, text: str) -> httpx.Response:
    body = json.dumps(
        {
            "id": msg_id,
            "from": "081234567890",
            "to": "1708",
            "text": text,
            "timestamp": datetime.now(UTC).replace(microsecond=0).isoformat(),
        }
    ).encode()
    headers = {"content-type": "application/json"} | sign(
        stack.secrets()["ADUAN_INGEST_SMS_WEBHOOK_SECRET"], body
    )
    return httpx.post(
        f"{stack.services['ingest-sms'].url}/v1/reports", content=body, headers=headers, timeout=15
    )


def post_status(stack: Stack, report_id: str, status: str, **extra: Any) -> datetime:
    """Post a status update on the unit's API; returns its time (``at``)."""
    at = datetime.now(UTC)
    body = {"status": status, "at": at.isoformat(), "by": "petugas-7", **extra}
    r = httpx.post(
        f"{stack.services['sla-monitor'].url}/v1/cases/{report_id}/status",
        json=body,
        headers={"Authorization": f"Bearer {stack.demo_unit_key(load_city(stack.config.city_dir))}"},
        timeout=15,
    )
    assert r.status_code == 202, r.text
    return at


async def test_every_panel_and_alert_agrees_with_the_workload(proof_stack: Stack, prometheus: str) -> None:
    """Checked to fail: with the dashboards' count pattern reduced to ``round(sum(increase(x[24h])))``,
    "SLA breaches (24 h)" showed 0 (the unit's breach series is born with its first event) and this
    failed."""
    stack, base = proof_stack, prometheus
    common = common_for(stack)
    services = len(stack.services)

    # Every service scraped at least twice before anything happens: series created at zero are seen
    # at zero first, as in production.
    await eventually(lambda: scalar(base, 'count(up{job="aduan"} == 1)') == services, timeout=60)
    scrapes = 'min(count_over_time(up{job="aduan"}[1m]))'
    await eventually(lambda: (scalar(base, scrapes) or 0) >= 3, timeout=30)

    monas = qlue_payload()
    late = qlue_payload(
        created_at=datetime.now(UTC) - timedelta(hours=7),
        category="Jalan Rusak",
        description="Jalan berlubang besar, sudah dua minggu belum diperbaiki",
    )
    other = qlue_payload(description="Sampah menumpuk di depan halte, bau sekali")
    for payload in (monas, late, other):
        assert post_qlue(stack, payload).status_code == 202
    sms_id = f"gw-{uuid.uuid4().hex[:8]}"
    assert post_sms(stack, sms_id, "Lampu jalan mati di Jl. Medan Merdeka Barat, Gambir").status_code == 202
    assert post_qlue(stack, qlue_payload(), signed=False).status_code == 401
    await publish_bytes(common, common.topics.raw("qlue"), b"\x00not json at all", key=b"garbage-1")

    routed = await routed_for(common, monas["id"], timeout=60)
    assert routed.skpd_code == "dlh-3171"  # the unit of the development key
    assert (await routed_for(common, late["id"], timeout=60)).skpd_code == "dbm-3171"
    case_url = f"{stack.services['sla-monitor'].url}/v1/cases/{routed.report_id}"
    await eventually(lambda: httpx.get(case_url).is_success)
    post_status(stack, routed.report_id, "in_progress")
    await eventually(lambda: httpx.get(case_url).json()["status"] == "in_progress")
    resolved_at = post_status(
        stack, routed.report_id, "resolved", evidence=["https://example.org/sesudah.jpg"]
    )
    resolved_after = (resolved_at - routed.received_at).total_seconds()
    # The two reports left open and on time: their units as the router chose them.
    units_on_time = [
        (await routed_for(common, msg_id, timeout=60)).skpd_code for msg_id in (other["id"], sms_id)
    ]

    # Wait until Prometheus has seen the whole workload.
    truth = {
        "sum(aduan_cases_stored_total)": 4,
        "sum(aduan_status_updates_total)": 2,
        "sum(aduan_events_dead_lettered_total)": 1,
        'sum(aduan_sla_alarms_total{kind="respond_breached"})': 1,
        "sum(aduan_cases_open)": 3,
        "sum(aduan_case_resolve_seconds_count)": 1,
    }
    seen: dict[str, float | None] = {}

    def settled() -> bool:
        seen.update({expr: scalar(base, expr) for expr in truth})
        return all(seen[expr] == want for expr, want in truth.items())

    try:
        await eventually(settled, timeout=150, interval=0.5)
    except AssertionError:
        pytest.fail(f"Prometheus never saw the whole workload: {seen}")

    values: dict[str, list[dict[str, Any]]] = {}
    for where, expr in dashboard_expressions():
        # A rate() needs two samples after the event: a scrape or two may still be due.
        result = await eventually(lambda e=expr: query(base, e), timeout=15, interval=0.5)
        print(f"PANEL {where} = {shown(result)}")
        values[where] = result

    def panel(title: str) -> list[dict[str, Any]]:
        (hit,) = [v for k, v in values.items() if f"{title!r}" in k]
        return hit

    def one(title: str) -> float:
        (r,) = panel(title)
        return float(r["value"][1])

    topic = common.topics.raw("qlue")
    assert one("Reports received (24 h)") == 4
    assert by(panel("Reports received by channel (24 h)"), "channel") == {
        ("qlue",): 3,
        ("sms",): 1,
        ("twitter",): 0,
        ("email",): 0,
        ("open311",): 0,
    }
    offered = by(panel("Reports offered by channel and outcome (24 h)"), "channel", "outcome")
    assert offered[("qlue", "accepted")] == 3 and offered[("qlue", "unauthorized")] == 1
    assert offered[("sms", "accepted")] == 1 and sum(offered.values()) == 5
    assert one("Dead letters (24 h)") == 1
    letters = by(panel("Dead letters by stage, topic and reason (24 h)"), "stage", "topic", "reason")
    assert {k: v for k, v in letters.items() if v} == {("normalize", topic, "invalid"): 1}
    assert one("SLA breaches (24 h)") == 1
    assert {k: v for k, v in by(panel("Breaches by unit (24 h)"), "skpd_code", "kota").items() if v} == {
        ("dbm-3171", "Jakarta Pusat"): 1
    }
    assert {k: v for k, v in by(panel("Breaches by kota (24 h)"), "kota").items() if v} == {
        ("Jakarta Pusat",): 1
    }
    assert one("Breach rate (24 h)") == 0.25
    assert one("Open cases") == 3
    assert one("Open cases past a deadline") == 1
    open_by_unit = by(panel("Open cases by unit and SLA state"), "skpd_code", "sla_state")
    expected_open = Counter([(u, "on_time") for u in units_on_time] + [("dbm-3171", "respond_overdue")])
    assert {k: v for k, v in open_by_unit.items() if v} == dict(expected_open)
    assert one("Answered within 6 h (24 h)") == 1
    assert {k: v for k, v in by(panel("Time to resolve, mean by unit (24 h)"), "skpd_code").items()} == {
        ("dlh-3171",): pytest.approx(resolved_after, abs=1)  # whole seconds
    }
    assert by(panel("Status updates by status (24 h)"), "status") == {("in_progress",): 1, ("resolved",): 1}
    assert one("Cases stored (24 h)") == 4
    assert one("Services up") == services
    assert one("GPS geocoding") == 1

    firing: dict[str, list[dict[str, Any]]] = {}
    for where, expr in rule_expressions():
        result = query(base, expr)
        print(f"ALERT {where} = {shown(result) or 'no data (not firing)'}")
        firing[where.split(": ", 1)[1]] = result
    assert set(by(firing["AduanDeadLettersIncreasing"], "stage", "reason")) == {("normalize", "invalid")}
    for healthy in (
        "AduanServiceDown",
        "AduanGpsGeocodingOff",
        "AduanIngestOutboxNotDraining",
        "AduanHttpServerErrors",
    ):
        assert firing[healthy] == [], healthy
