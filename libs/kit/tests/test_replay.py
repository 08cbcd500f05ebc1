"""A replayed webhook (the same signed request again, inside the signature window) is refused with 401
and publishes nothing, also after the adapter restarted on the same outbox file; a new signature (a
new body, or the same body signed again with a new timestamp) is accepted. Real broker, real outbox
file, the kit's ``ingest_service`` with a minimal channel parser.

Checked to fail: with the ``_first_use`` check removed from ``Outbox._write_batch`` (and the digest
written with ``INSERT OR REPLACE``, else its primary key refuses the replay with an IntegrityError, a
500), the replay was accepted and its record published a second time: red at the topic check after the
first replay ("QLU-replay-1" twice). With the ``seen`` table emptied when the outbox opens (``DELETE
FROM seen`` in ``Outbox._open``), the replay after the restart was accepted and published again: red
at the topic check after the restart.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from aduan_kit.ingest import IngestSettings, ingest_service, json_object
from aduan_kit.settings import CommonSettings
from aduan_kit.signing import TIMESTAMP_HEADER, sign
from aduan_kit.testing.app import running
from aduan_kit.testing.ingest import WEBHOOK_PATH, ingest_count
from aduan_kit.testing.kafka import create_topics, eventually, read_topic
from aduan_schemas.events import RawQlue

SECRET = "replay-test-secret-0123456789"


class ReplaySettings(IngestSettings):
    model_config = SettingsConfigDict(env_prefix="ADUAN_TEST_REPLAY_", extra="ignore")


def parse(body: bytes, now: datetime) -> RawQlue:
    payload = json_object(body)
    return RawQlue(channel_message_id=payload.get("id"), received_at=now, text=payload.get("text", ""))


def adapter(common: CommonSettings, outbox_dir: Path) -> FastAPI:
    settings = ReplaySettings(common=common, webhook_secret=SECRET, outbox_dir=outbox_dir)  # type: ignore[arg-type]
    return ingest_service("ingest-replay-test", "qlue", parse, settings)


def report(message_id: str) -> bytes:
    return json.dumps({"id": message_id, "text": "Lampu jalan mati"}).encode()


async def published(common: CommonSettings, app: FastAPI, count: int) -> list[str]:
    """The keys on the raw topic once the outbox is empty (read on a while, to catch an extra one)."""
    await eventually(lambda: app.state.intake.outbox.count == 0, timeout=30)
    records = await read_topic(common, common.topics.raw("qlue"), count, timeout=30, settle=1.5)
    return sorted(r.key.decode() for r in records)


async def test_a_replayed_request_is_refused_also_after_a_restart(
    common: CommonSettings, tmp_path: Path
) -> None:
    await create_topics(common)
    body = report("QLU-replay-1")
    captured = {**sign(SECRET, body), "content-type": "application/json"}  # what an eavesdropper keeps

    app = adapter(common, tmp_path)
    async with running(app) as client:
        first = await client.post(WEBHOOK_PATH, content=body, headers=captured)
        assert first.status_code == 202, first.text
        assert await published(common, app, 1) == ["QLU-replay-1"]
        replay = await client.post(WEBHOOK_PATH, content=body, headers=captured)
        other = report("QLU-replay-2")
        fresh = await client.post(WEBHOOK_PATH, content=other, headers=sign(SECRET, other))
        assert await published(common, app, 2) == ["QLU-replay-1", "QLU-replay-2"]  # nothing from the replay
        metrics_text = (await client.get("/metrics")).text
    assert replay.status_code == 401, replay.text
    detail = replay.json()["detail"]
    assert detail.startswith("replayed request") and SECRET not in detail and "Lampu" not in detail
    assert fresh.status_code == 202, fresh.text
    assert ingest_count(metrics_text, "qlue", "unauthorized") == 1
    assert ingest_count(metrics_text, "qlue", "accepted") == 2

    # A new process on the same outbox file still knows the signature.
    app = adapter(common, tmp_path)
    async with running(app) as client:
        again = await client.post(WEBHOOK_PATH, content=body, headers=captured)
        assert await published(common, app, 2) == ["QLU-replay-1", "QLU-replay-2"]
        # The sender's retry: the same body signed again, one second later.
        resigned = {
            **sign(SECRET, body, int(captured[TIMESTAMP_HEADER]) + 1),
            "content-type": "application/json",
        }
        retry = await client.post(WEBHOOK_PATH, content=body, headers=resigned)
    assert again.status_code == 401 and again.json()["detail"].startswith("replayed request"), again.text
    assert retry.status_code == 202, retry.text
    assert retry.json()["report_id"] == first.json()["report_id"]  # one report: downstream deduplicates
