"""The operator's view, proven: a real Prometheus scrapes every service of a running stack under a mixed
workload, and every dashboard panel query and every alert expression is evaluated through its HTTP API.

Workload, one or more reports on every channel:

- Qlue (signed webhook): three reports. One at Monas for dlh-3171, answered ``in_progress`` then
  ``resolved`` on the status API. One received 11 hours ago on a broken road (dbm-3171, a suku dinas of
  Jakarta Pusat; respond within 6 h, a ladder step every 2 h): its breach (5 h ago) and ladder steps 2
  (3 h ago) and 3 (1 h ago) are all due at once, so the first scan sends one breach and two
  escalations. One more, on time. Plus one unsigned post (401).
- SMS (signed webhook), one report.
- Twitter/X: one mention of @DKIJakarta, read by the adapter from a local server speaking the X API v2
  wire format (``aduan_kit.testing.fake_x``: user lookup, stream rules, the filtered stream); the
  notifier replies to it there.
- E-mail: one citizen's mail, delivered by IMAP APPEND to a real Dovecot mailbox the adapter reads.
- Open311: one ``POST /requests.json`` with the stack's development API key.
- One record of garbage on the raw Qlue topic (one dead letter).

Every panel must parse and return data; the panels that count what was sent (reports by channel and
outcome, reports published by channel, dead letters, breaches and escalations per unit, kota and
level, open cases per unit and state, cases, status updates, time to resolve) must show exactly that.
Every alert expression is evaluated: the dead-letter alert returns exactly the stage and reason of the
garbage record; service down, GPS off, outbox and HTTP 5xx return nothing (latency alerts are not
asserted: a loaded machine may trip them). Each panel's and alert's value is printed (``-s`` shows it).

Before the workload, every service's /metrics shows every route of its API with a series per status
class at zero, so a route's first request (or first error) counts in ``rate()`` and ``increase()``.

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
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from aduan_cli.stack import Stack
from aduan_ingest_twitter.accounts import load_accounts
from aduan_kit.embedded import free_port
from aduan_kit.metrics import HTTP_STATUS_CLASSES
from aduan_kit.testing.dovecot import Dovecot, mail
from aduan_kit.testing.fake_x import FakeX, fake_x_server, tweet
from aduan_kit.testing.kafka import eventually, publish_bytes
from aduan_kit.testing.plugin import CITY_DIR
from aduan_kit.testing.receiver import webhook_receiver
from aduan_schemas.city import load_city
from tests.conftest import common_for, running_stack
from tests.test_end_to_end import MONAS, post_qlue, post_signed, qlue_payload, routed_for
from tests.test_observability import RULES, dashboard_expressions, rule_expressions

PROMETHEUS = "/usr/bin/prometheus"


@pytest.fixture(scope="module")
def x_api() -> Iterator[FakeX]:
    """The X API the stack's Twitter adapter reads and its notifier replies on; it knows the city's
    accounts (``twitter.yaml``)."""
    with fake_x_server() as x:
        x.users.update({name: str(100 + i) for i, name in enumerate(load_accounts(CITY_DIR).accounts)})
        yield x


@pytest.fixture(scope="module")
def proof_stack(
    kafka_bootstrap: str,
    mongodb_url: str,
    boundaries_path: Path,
    x_api: FakeX,
    dovecot: Dovecot,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """A stack of its own (its counters start at zero) that refreshes open cases every second, reads X
    and a mailbox of its own."""
    pollers = {
        "ADUAN_INGEST_TWITTER_API_URL": x_api.url,
        "ADUAN_INGEST_TWITTER_BEARER_TOKEN": x_api.token,
        "ADUAN_NOTIFIER_X_API_URL": x_api.url,  # replies to tweets go to the same local X
        "ADUAN_NOTIFIER_X_BEARER_TOKEN": x_api.token,
        "ADUAN_INGEST_EMAIL_IMAP_HOST": dovecot.host,
        "ADUAN_INGEST_EMAIL_IMAP_PORT": str(dovecot.port),
        "ADUAN_INGEST_EMAIL_IMAP_TLS": "false",
        "ADUAN_INGEST_EMAIL_IMAP_USER": dovecot.new_user(),
        "ADUAN_INGEST_EMAIL_IMAP_PASSWORD": dovecot.password,
    }
    with (
        webhook_receiver() as inbox,
        running_stack(
            kafka_bootstrap,
            mongodb_url,
            boundaries_path,
            inbox,
            tmp_path_factory.mktemp("proof-stack"),
            {"ADUAN_SLA_MONITOR_OPEN_COUNT_INTERVAL_S": "1", **pollers},
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
    return post_signed(stack, "sms", body)


def post_open311(stack: Stack, request_key: str, **args: Any) -> httpx.Response:
    """A GeoReport v2 service request with the development API key; its id is ``dev:<request_key>``."""
    headers = {
        "X-Api-Key": stack.secrets()["ADUAN_INGEST_OPEN311_DEV_API_KEY"],
        "Idempotency-Key": request_key,
    }
    return httpx.post(
        f"{stack.services['ingest-open311'].url}/requests.json", json=args, headers=headers, timeout=15
    )


def http_series(url: str) -> dict[tuple[str, str, str], float]:
    """A service's HTTP request counts by (method, route, status class), as its /metrics shows them."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "aduan_http_request_seconds"
        for s in family.samples
        if s.name == "aduan_http_request_seconds_count"
    }


def api_routes(url: str) -> set[tuple[str, str]]:
    """(method, route template) of every route a service documents in its OpenAPI."""
    paths = httpx.get(f"{url}/openapi.json", timeout=10).json()["paths"]
    return {(method.upper(), path) for path, operations in paths.items() for method in operations}


OPS_ROUTES = ("/healthz", "/readyz", "/metrics")  # polled by the stack and by Prometheus


def test_every_route_starts_with_its_http_series_at_zero(proof_stack: Stack) -> None:
    """Each service of a fresh stack, before any request but the stack's and Prometheus' polls: every
    route its OpenAPI documents has a series per status class (2xx, 4xx, 5xx), at zero.

    Checked to fail: with the series created from ``app.routes`` (as before; FastAPI keeps each
    included router there as one entry), it named every route of the services' own routers missing,
    e.g. ``ingest-qlue: ('POST', '/v1/reports', '2xx')`` and ``normalizer: ('GET', '/geocoding',
    '5xx')``."""
    missing, counted = [], []
    for name, svc in proof_stack.services.items():
        series = http_series(svc.url)
        routes = api_routes(svc.url)
        assert routes, name
        for method, route in sorted(routes):
            for status in HTTP_STATUS_CLASSES:
                value = series.get((method, route, status))
                if value is None:
                    missing.append(f"{name}: {(method, route, status)}")
                elif route not in OPS_ROUTES and value != 0:
                    counted.append(f"{name}: {(method, route, status)} = {value}")
    assert not missing, "HTTP series born with their first request:\n" + "\n".join(missing)
    assert not counted, "requests nobody sent:\n" + "\n".join(counted)


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


async def test_every_panel_and_alert_agrees_with_the_workload(
    proof_stack: Stack, prometheus: str, x_api: FakeX, dovecot: Dovecot
) -> None:
    """Checked to fail: with the dashboards' count pattern reduced to ``round(sum(increase(x[24h])))``,
    "SLA breaches (24 h)" showed 0 (the unit's breach series is born with its first event) and this
    failed. With the e-mail adapter's ``accepted`` count left out (mailbox reader), "Reports received
    (24 h)" showed 6 and this failed. With escalations counted without their kota (``kota=""`` for
    ``*_escalated`` in ``count_alarm``), "Escalations by unit, kota and level (24 h)" showed
    ``("dbm-3171", "", "suku_dinas"): 2`` and this failed. Before the pollers counted what they
    published, "Published to the broker by channel (24 h)" showed ``email=0`` and ``twitter=0``."""
    stack, base = proof_stack, prometheus
    common = common_for(stack)
    services = len(stack.services)

    # Every service scraped at least twice before anything happens: series created at zero are seen
    # at zero first, as in production.
    await eventually(lambda: scalar(base, 'count(up{job="aduan"} == 1)') == services, timeout=60)
    scrapes = 'min(count_over_time(up{job="aduan"}[1m]))'
    await eventually(lambda: (scalar(base, scrapes) or 0) >= 3, timeout=30)

    now = datetime.now(UTC)
    monas = qlue_payload()
    # Respond deadline 6 h after receipt, ladder steps every 2 h after it: at 11 h the breach and
    # steps 2 and 3 (the suku dinas ladder's last rung) are all due.
    late = qlue_payload(
        created_at=now - timedelta(hours=11),
        category="Jalan Rusak",
        description="Jalan berlubang besar, sudah dua minggu belum diperbaiki",
    )
    other = qlue_payload(description="Sampah menumpuk di depan halte, bau sekali")
    for payload in (monas, late, other):
        assert post_qlue(stack, payload).status_code == 202
    sms_id = f"gw-{uuid.uuid4().hex[:8]}"
    assert post_sms(stack, sms_id, "Lampu jalan mati di Jl. Medan Merdeka Barat, Gambir").status_code == 202
    tweet_id = str(1_800_000_000_000_000_000 + uuid.uuid4().int % 10**17)
    x_api.push(
        tweet(
            int(tweet_id),
            "@DKIJakarta Sampah menumpuk di trotoar dekat Monas, sudah tiga hari tidak diangkut",
            created_at=now.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            geo={"coordinates": {"type": "Point", "coordinates": [MONAS[1], MONAS[0]]}},
        )
    )
    mail_id = uuid.uuid4().hex[:12]
    dovecot.append(
        stack.config.extra_env["ADUAN_INGEST_EMAIL_IMAP_USER"],
        mail(
            mail_id,
            "Sampah menumpuk di Jl. Medan Merdeka Barat, Gambir, sudah tiga hari tidak diangkut",
            Date=format_datetime(now),
        ),
    )
    request_key = uuid.uuid4().hex
    desk = post_open311(
        stack,
        request_key,
        service_code="sampah",
        description="Sampah berserakan di trotoar depan stasiun",
        lat=MONAS[0],
        long=MONAS[1],
    )
    assert desk.status_code == 200, desk.text
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
    # The reports left open and on time: their units as the router chose them.
    on_time_ids = (other["id"], sms_id, tweet_id, f"{mail_id}@example.co.id", f"dev:{request_key}")
    units_on_time = [(await routed_for(common, msg_id, timeout=60)).skpd_code for msg_id in on_time_ids]

    # Wait until Prometheus has seen the whole workload.
    truth = {
        "sum(aduan_cases_stored_total)": 7,
        "sum(aduan_status_updates_total)": 2,
        "sum(aduan_events_dead_lettered_total)": 1,
        'sum(aduan_sla_alarms_total{kind="respond_breached"})': 1,
        'sum(aduan_sla_alarms_total{kind="respond_escalated"})': 2,
        "sum(aduan_cases_open)": 6,
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

    # The citizen who tweeted is answered on X (the routed report's "forwarded" reply).
    await eventually(lambda: x_api.count() >= 1, timeout=60)
    assert [post["reply"]["in_reply_to_tweet_id"] for post in x_api.posts] == [tweet_id]

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

    def nonzero(title: str, *labels: str) -> dict[tuple[str, ...], float]:
        return {k: v for k, v in by(panel(title), *labels).items() if v}

    topic = common.topics.raw("qlue")
    assert one("Reports received (24 h)") == 7
    assert by(panel("Reports received by channel (24 h)"), "channel") == {
        ("qlue",): 3,
        ("sms",): 1,
        ("twitter",): 1,
        ("email",): 1,
        ("open311",): 1,
    }
    offered = nonzero("Reports offered by channel and outcome (24 h)", "channel", "outcome")
    assert offered == {
        ("qlue", "accepted"): 3,
        ("qlue", "unauthorized"): 1,
        ("sms", "accepted"): 1,
        ("twitter", "accepted"): 1,
        ("email", "accepted"): 1,
        ("open311", "accepted"): 1,
    }
    # What the broker acknowledged, from the webhooks' outboxes and from the X and mailbox pollers.
    assert by(panel("Published to the broker by channel (24 h)"), "channel") == {
        ("qlue",): 3,
        ("sms",): 1,
        ("twitter",): 1,
        ("email",): 1,
        ("open311",): 1,
    }
    assert one("Dead letters (24 h)") == 1
    letters = nonzero("Dead letters by stage, topic and reason (24 h)", "stage", "topic", "reason")
    assert letters == {("normalize", topic, "invalid"): 1}
    assert one("SLA breaches (24 h)") == 1
    assert nonzero("Breaches by unit (24 h)", "skpd_code", "kota") == {("dbm-3171", "Jakarta Pusat"): 1}
    assert nonzero("Breaches by kota (24 h)", "kota") == {("Jakarta Pusat",): 1}
    # The late report's ladder steps 2 and 3, under its responsible unit (a suku dinas).
    escalations = nonzero("Escalations by unit, kota and level (24 h)", "skpd_code", "kota", "level")
    assert escalations == {("dbm-3171", "Jakarta Pusat", "suku_dinas"): 2}
    assert nonzero("Escalations by kota (24 h)", "kota") == {("Jakarta Pusat",): 2}
    assert nonzero("Warnings by unit (24 h)", "skpd_code", "kota") == {}  # the late one's: skipped
    assert one("Breach rate (24 h)") == pytest.approx(1 / 7)
    assert one("Open cases") == 6
    assert one("Open cases past a deadline") == 1
    open_by_unit = nonzero("Open cases by unit and SLA state", "skpd_code", "sla_state")
    expected_open = Counter([(u, "on_time") for u in units_on_time] + [("dbm-3171", "respond_overdue")])
    assert open_by_unit == dict(expected_open)
    assert one("Answered within 6 h (24 h)") == 1
    assert {k: v for k, v in by(panel("Time to resolve, mean by unit (24 h)"), "skpd_code").items()} == {
        ("dlh-3171",): pytest.approx(resolved_after, abs=1)  # whole seconds
    }
    assert by(panel("Status updates by status (24 h)"), "status") == {("in_progress",): 1, ("resolved",): 1}
    assert one("Cases stored (24 h)") == 7
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
