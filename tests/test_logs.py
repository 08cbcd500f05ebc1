"""Logs an operator can search: a real service process writes only JSON lines, its libraries' included."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from aduan_kit.embedded import ManagedProcess, free_port
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.kafka import create_topics, eventually, publish_bytes
from aduan_kit.testing.samples import raw_qlue
from aduan_schemas.ids import report_id

pytestmark = pytest.mark.asyncio


def env_of(common: CommonSettings, port: int) -> dict[str, str]:
    return {
        "ADUAN_KAFKA_BOOTSTRAP": common.kafka_bootstrap,
        "ADUAN_MONGODB_URL": common.mongodb_url.get_secret_value(),
        "ADUAN_MONGODB_DB": common.mongodb_db,
        "ADUAN_TOPIC_PREFIX": common.topic_prefix,
        "ADUAN_CITY_DIR": str(common.city_dir.resolve()),
        "ADUAN_KAFKA_FETCH_MAX_WAIT_MS": str(common.kafka_fetch_max_wait_ms),
        "ADUAN_KAFKA_SESSION_TIMEOUT_MS": str(common.kafka_session_timeout_ms),
        "ADUAN_KAFKA_HEARTBEAT_INTERVAL_MS": str(common.kafka_heartbeat_interval_ms),
        "ADUAN_NORMALIZER_PSEUDONYM_KEY": "log-test-pseudonym-key-0000",
        "ADUAN_NORMALIZER_HOST": "127.0.0.1",
        "ADUAN_NORMALIZER_PORT": str(port),
        "ADUAN_LOG_LEVEL": "INFO",
    }


def parsed(path: Path) -> list[dict[str, Any]]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    out = []
    for n, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"line {n} of the service's output is not JSON: {line!r}")
        assert isinstance(obj, dict), line
        out.append(obj)
    return out


async def test_every_line_of_a_service_is_json_with_level_time_service(
    common: CommonSettings, tmp_path: Path
) -> None:
    """The normalizer, started as a process: its own lines, uvicorn's start-up lines and aiokafka's
    consumer-group lines are all JSON objects with time, level and service; a line about a report
    carries its report_id.
    Checked to fail: with the stdlib handler left as `logging.basicConfig(format="%(message)s")` (the
    former set-up), the first uvicorn line ("Started server process [..]") is not JSON."""
    await create_topics(common)
    port = free_port()
    out_path = tmp_path / "output"  # stdout and stderr
    with out_path.open("wb") as out:
        proc = ManagedProcess(
            "normalizer", [sys.executable, "-m", "aduan_normalizer"], port, env_of(common, port), out
        ).start()
    try:
        async with httpx.AsyncClient(timeout=2) as client:

            async def ready() -> bool:
                try:
                    return (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False

            assert await eventually(ready, timeout=60)
        raw = raw_qlue()
        rid = report_id(raw)
        for _ in range(2):  # the second is dropped as a duplicate: a line with the report id
            await publish_bytes(
                common,
                common.topics.raw("qlue"),
                raw.model_dump_json().encode(),
                key=raw.channel_message_id.encode(),
            )

        def dropped() -> bool:
            return any(
                '"duplicate dropped"' in line and rid in line for line in out_path.read_text().splitlines()
            )

        assert await eventually(dropped, timeout=30)
    finally:
        proc.stop()  # SIGTERM: the shutdown lines are checked too

    lines = parsed(out_path)
    for line in lines:
        assert {"time", "level", "service", "event"} <= set(line), line
        assert line["service"] == "normalizer", line
        assert line["level"] in {"debug", "info", "warning", "error", "critical"}, line
    loggers = {line.get("logger", "") for line in lines}
    assert "uvicorn.error" in loggers  # "Started server process", "Uvicorn running on ..."
    assert any(name.startswith("aiokafka") for name in loggers), loggers
    about = [line for line in lines if line["event"] == "duplicate dropped"]
    assert about and all(line["report_id"] == rid for line in about)
    assert any("Uvicorn running on" in line["event"] for line in lines)
