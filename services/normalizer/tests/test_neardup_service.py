"""Near-duplicates in the running normalizer, against the real broker and database.

Checked to fail: with ``OpenRootStore.save`` made a no-op (roots only in one batch's memory), the copies
published after the restart were not linked (test_copies_across_channels_out_of_order_and_a_restart_make_
one_case red); with ``status_effects`` mapping ``resolved`` to "open", test_a_resolved_case_is_not_the_
target_of_a_recurring_problem went red.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.kafka import create_topics, eventually, publish_bytes
from aduan_kit.testing.samples import MONAS, raw_qlue
from aduan_normalizer.main import build
from aduan_schemas.events import ReportStatus, StatusUpdate
from aduan_schemas.ids import report_id
from services.normalizer.tests.neardup_reports import (
    normalized,
    publish,
    settings,
    tree_qlue,
    tree_sms,
    tree_tweet,
)


async def test_copies_across_channels_out_of_order_and_a_restart_make_one_case(
    common: CommonSettings, boundaries_path: Path
) -> None:
    await create_topics(common)
    now = datetime.now(UTC)
    first, tweet, sms = (
        tree_qlue(now - timedelta(minutes=10)),
        tree_tweet(now - timedelta(minutes=30)),
        tree_sms(now),
    )
    # Elsewhere on the same street, another problem: never linked to the tree.
    rubbish = raw_qlue(received_at=now, location=MONAS)
    await publish(common, first)
    async with running(build(settings(common, boundaries_path))):
        out = await normalized(common, 1)
    assert out[report_id(first)].duplicate_of is None

    # After a restart (the root only in the database), the tweet written earlier but arriving later,
    # then an SMS, then another problem on the same street.
    await publish(common, tweet)
    await publish(common, sms)
    await publish(common, rubbish)
    async with running(build(settings(common, boundaries_path))):
        out = await normalized(common, 4)
    root = report_id(first)
    assert out[report_id(tweet)].duplicate_of == root, out[report_id(tweet)]
    assert out[report_id(sms)].duplicate_of == root, out[report_id(sms)]
    assert out[report_id(rubbish)].duplicate_of is None


async def roots(common: CommonSettings) -> dict[str, Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(common.mongodb_url.get_secret_value())
    try:
        return {d["_id"]: d async for d in client[common.mongodb_db]["normalizer_neardup"].find()}
    finally:
        await client.close()


async def test_a_resolved_case_is_not_the_target_of_a_recurring_problem(
    common: CommonSettings, boundaries_path: Path
) -> None:
    await create_topics(common)
    now = datetime.now(UTC)
    first, again = tree_qlue(now - timedelta(hours=2)), tree_sms(now)
    root = report_id(first)
    await publish(common, first)
    async with running(build(settings(common, boundaries_path))):
        await normalized(common, 1)
        done = StatusUpdate(
            report_id=root, status=ReportStatus.RESOLVED, at=now - timedelta(hours=1), by="dpkp"
        )
        await publish_bytes(common, common.topics.status, done.model_dump_json().encode(), key=root.encode())

        async def resolved() -> bool:
            return bool((await roots(common)).get(root, {}).get("resolved"))

        await eventually(resolved)
        await publish(common, again)
        out = await normalized(common, 2)
    assert out[report_id(again)].duplicate_of is None  # a new case: the tree fell again
    assert report_id(again) in await roots(common)  # and itself the root of later copies
