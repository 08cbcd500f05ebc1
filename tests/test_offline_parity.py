"""``aduan normalize | aduan route`` and the running services decide the same for the same input.

Forty labelled reports of the routing evaluation set (every eleventh of the dev file: every channel, GPS
and text-only, right, wrong and missing channel categories, triage cases) are published raw onto the
stack's raw topics and, as the same events, piped through the CLI as an operator would for a backfill.
Every decision field of the routed reports must agree: category and its confidence and runner-up, area,
place, geocode, unit, rule, reason, confidence, runner-up unit, triage flag and deadlines.

How this was checked to fail: ``route_lines`` in ``offline.py`` was made to drop each report's area
before routing (a one-line change); the test went red naming the differing field, and passed again once
restored.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aduan_cli.stack import Stack
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.kafka import find_events, publish_bytes
from aduan_kit.testing.plugin import CITY_DIR, REPO
from aduan_schemas.events import RawReport, RoutedReport
from bench.eval import routing

SAMPLE_EVERY = 11
PSEUDONYM_KEY = "ADUAN_NORMALIZER_PSEUDONYM_KEY"
DECISION_FIELDS = {
    "category",
    "category_confidence",
    "category_runner_up",
    "category_runner_up_confidence",
    "area",
    "place",
    "geocode",
    "reporter",
    "skpd_code",
    "skpd_name",
    "routing",
    "needs_triage",
    "sla",
}


def sample_raw_events(boundaries: Path) -> list[RawReport]:
    gaz = routing.Gazetteer.load(boundaries)
    items = routing.load_items([routing.DEFAULT_FILES[0]])["routing-dev.yaml"][::SAMPLE_EVERY]
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC).replace(microsecond=0)
    return [
        routing.build_raw(it, gaz, with_hint=True).model_copy(
            update={"channel_message_id": f"{it['id']}-{tag}", "received_at": now}
        )
        for it in items
    ]


def cli_pipeline(raw: list[RawReport], pseudonym_key: str, boundaries: Path) -> list[RoutedReport]:
    aduan = [sys.executable, "-c", "from aduan_cli.main import main; main()"]
    env = {**os.environ, PSEUDONYM_KEY: pseudonym_key}
    normalized = subprocess.run(
        [*aduan, "normalize", "--city-dir", str(CITY_DIR), "--boundaries", str(boundaries)],
        input="".join(r.model_dump_json() + "\n" for r in raw),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
        check=True,
    )
    routed = subprocess.run(
        [*aduan, "route", "--city-dir", str(CITY_DIR)],
        input=normalized.stdout,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
        check=True,
    )
    return [RoutedReport.model_validate_json(line) for line in routed.stdout.splitlines()]


def decisions(r: RoutedReport) -> dict[str, object]:
    return r.model_dump(mode="json", include=DECISION_FIELDS)


async def test_cli_and_services_route_the_same_reports_the_same_way(
    stack: Stack, stack_common: CommonSettings, boundaries_path: Path
) -> None:
    raw = sample_raw_events(boundaries_path)
    assert len(raw) >= 40
    for r in raw:
        await publish_bytes(
            stack_common,
            stack_common.topics.raw(r.channel),
            r.model_dump_json().encode(),
            key=r.channel_message_id.encode(),
        )
    offline = {r.report_id: r for r in cli_pipeline(raw, stack.secrets()[PSEUDONYM_KEY], boundaries_path)}
    assert len(offline) == len(raw)

    online = await find_events(
        stack_common,
        stack_common.topics.routed,
        RoutedReport,
        lambda e: e.report_id in offline,
        count=len(offline),
        timeout=90,
    )
    by_id = {r.report_id: r for r in online}
    assert by_id.keys() == offline.keys()
    differing = {
        rid: {k for k, v in decisions(r).items() if v != decisions(by_id[rid])[k]}
        for rid, r in offline.items()
        if decisions(r) != decisions(by_id[rid])
    }
    assert not differing, differing
    # The sample is varied enough to mean something: several units, GPS and text-only places.
    assert len({r.skpd_code for r in offline.values()}) >= 10
    assert {r.geocode.method for r in offline.values()} >= {"gps", "text"}
