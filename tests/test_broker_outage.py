"""A broker that hangs (SIGSTOP) while webhooks keep arriving: every 202 is published, none twice.

Readers deduplicate by CloudEvents id, so "published exactly once" means: the distinct ids on the raw
topic are exactly the accepted reports' ids (none missing, none extra).

Proven by breaking it on purpose:
- bypassing the outbox (the webhook publishing directly, as before the outbox) makes both tests fail:
  the requests during the outage get 503, not 202;
- an outbox that does not reach the disk (SQLite ``:memory:``) makes the kill -9 test fail: the reports
  accepted before the kill are missing from the topic;
- a relay that forgets records before the acknowledgement (``remove`` before ``_acknowledged``) makes
  the kill -9 test fail the same way.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from aduan_ingest_qlue.config import QlueSettings
from aduan_ingest_qlue.main import build
from aduan_kit import embedded
from aduan_kit.cloudevents import header
from aduan_kit.embedded import ManagedProcess
from aduan_kit.kafka import ensure_topics
from aduan_kit.settings import CommonSettings
from aduan_kit.signing import sign
from aduan_kit.testing.app import running
from aduan_kit.testing.broker import OwnBroker
from aduan_kit.testing.kafka import eventually, read_topic

SECRET = "qlue-outage-secret-0123456789"
WEBHOOK = "/v1/reports"


def report(n: int) -> bytes:
    return json.dumps(
        {
            "id": f"QLU-outage-{n:04d}",
            "created_at": "2026-03-02T15:42:10+07:00",
            "description": f"Sampah menumpuk nomor {n}",
            "lat": -6.1754,
            "lng": 106.8272,
        }
    ).encode()


async def post(client: httpx.AsyncClient, n: int) -> str:
    body = report(n)
    resp = await client.post(
        WEBHOOK, content=body, headers={**sign(SECRET, body), "content-type": "application/json"}
    )
    assert resp.status_code == 202, f"report {n}: {resp.status_code} {resp.text}"
    return f"raw:qlue:QLU-outage-{n:04d}"


async def published_ids(common: CommonSettings, expected: int) -> list[str]:
    records = await read_topic(common, common.topics.raw("qlue"), expected, timeout=60, settle=2.0)
    return [header(r.headers, "ce_id") or "" for r in records]


def assert_exactly_once(accepted: list[str], ids: list[str]) -> None:
    assert len(set(accepted)) == len(accepted)
    missing = sorted(set(accepted) - set(ids))
    extra = sorted(set(ids) - set(accepted))
    assert not missing, f"{len(missing)} accepted reports never published, e.g. {missing[:3]}"
    assert not extra, f"published but never accepted: {extra[:3]}"


async def test_reports_accepted_while_the_broker_hangs_are_published_once_it_is_back(
    own_broker: OwnBroker, common: CommonSettings, tmp_path: Path
) -> None:
    c = own_broker.settings(common)
    await ensure_topics(c.kafka_bootstrap, [(c.topics.raw("qlue"), 3)])
    settings = QlueSettings(common=c, webhook_secret=SECRET, outbox_dir=tmp_path, publish_timeout_s=2)  # type: ignore[arg-type]
    app = build(settings)
    accepted: list[str] = []
    async with running(app) as client:
        accepted += [await post(client, n) for n in range(5)]
        await eventually(lambda: app.state.intake.outbox.count == 0, timeout=30)
        own_broker.pause()
        started = time.monotonic()
        accepted += [await post(client, n) for n in range(5, 35)]
        assert time.monotonic() - started < 10, "accepting must not wait for the broker"
        not_ready = await client.get("/readyz")
        metrics_during = (await client.get("/metrics")).text
        own_broker.resume()
        await eventually(lambda: app.state.intake.outbox.count == 0, timeout=60)
        ready = await client.get("/readyz")
    assert not_ready.status_code == 503 and not_ready.json()["checks"]["kafka"] is False
    assert 'aduan_ingest_outbox_records{channel="qlue"} 30.0' in metrics_during
    assert ready.status_code == 200, ready.text
    assert_exactly_once(accepted, await published_ids(c, len(accepted)))


@contextmanager
def adapter(c: CommonSettings, outbox: Path, port: int, log: Path) -> Iterator[ManagedProcess]:
    env = {
        "ADUAN_KAFKA_BOOTSTRAP": c.kafka_bootstrap,
        "ADUAN_TOPIC_PREFIX": c.topic_prefix,
        "ADUAN_CITY_DIR": str(c.city_dir),
        "ADUAN_INGEST_QLUE_WEBHOOK_SECRET": SECRET,
        "ADUAN_INGEST_QLUE_PORT": str(port),
        "ADUAN_INGEST_QLUE_OUTBOX_DIR": str(outbox),
        "ADUAN_INGEST_QLUE_PUBLISH_TIMEOUT_S": "2",
    }
    proc = ManagedProcess("ingest-qlue", [sys.executable, "-m", "aduan_ingest_qlue"], port, env=env,
                          log=log.open("ab")).start()  # fmt: skip
    try:
        proc.wait_port(timeout=60)
        yield proc
    finally:
        proc.stop()
        if proc.log is not None:
            proc.log.close()


async def outbox_records(client: httpx.AsyncClient) -> float:
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith('aduan_ingest_outbox_records{channel="qlue"}'):
            return float(line.split()[-1])
    return -1.0


async def test_adapter_killed_during_the_outage_publishes_what_it_accepted_after_restart(
    own_broker: OwnBroker, common: CommonSettings, tmp_path: Path
) -> None:
    c = own_broker.settings(common)
    await ensure_topics(c.kafka_bootstrap, [(c.topics.raw("qlue"), 3)])
    port = embedded.free_port()
    url = f"http://127.0.0.1:{port}"
    accepted: list[str] = []
    with adapter(c, tmp_path / "outbox", port, tmp_path / "first.log") as first:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            accepted += [await post(client, n) for n in range(5)]

            async def published_all() -> bool:
                return await outbox_records(client) == 0

            await eventually(published_all, timeout=30, interval=0.2)
            own_broker.pause()
            accepted += [await post(client, n) for n in range(5, 25)]
        first.kill()  # kill -9: no shutdown, whatever was in flight stays where it was
    # Restarted while the broker still hangs: it serves at once and keeps accepting.
    with adapter(c, tmp_path / "outbox", port, tmp_path / "second.log"):
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            accepted += [await post(client, n) for n in range(25, 35)]
            assert (await client.get("/readyz")).status_code == 503
            assert await outbox_records(client) == 30  # 20 from before the kill, 10 since
            # The age shows the wait although this process never reached the broker (the alert's input).
            await eventually(lambda: _oldest_age(client), timeout=10)
            own_broker.resume()

            async def drained() -> bool:
                return await outbox_records(client) == 0

            await eventually(drained, timeout=90, interval=0.5)
            await eventually(lambda: _ready(client), timeout=30)
    assert_exactly_once(accepted, await published_ids(c, len(accepted)))


async def _oldest_age(client: httpx.AsyncClient) -> bool:
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith('aduan_ingest_outbox_oldest_age_seconds{channel="qlue"}'):
            return float(line.split()[-1]) > 1.0
    return False


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200
