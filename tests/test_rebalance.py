"""A second worker of the normalizer and of the router joins the stack's consumer groups under load, then
leaves while it handles a batch: nothing is lost or doubled. Every report is a case exactly once (the
case store's ``_id``); each is on the routed topic at least once (a batch handed over in a rebalance
may be produced twice, recognisable by report id); both groups end with every record committed.

The second workers run in this test's process (the services' own app and worker code), so the test sees
the moment a worker has fetched a batch and can make it leave right then; leaving cancels that batch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from aduan_cli.stack import Stack
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.kafka import eventually, ids_on_topic
from aduan_kit.testing.offsets import behind
from aduan_kit.testing.plugin import consumer_timings
from aduan_normalizer.config import NormalizerSettings
from aduan_normalizer.main import build as build_normalizer
from aduan_router.config import RouterSettings
from aduan_router.main import build as build_router
from aduan_schemas.events import RoutedReport
from tests.load import Accepted, raw_burst
from tests.test_reliability import stored_ids


@contextlib.asynccontextmanager
async def steady_raw(common: CommonSettings, accepted: Accepted, per_tick: int) -> AsyncIterator[None]:
    """``per_tick`` raw events every 0.3 s until the block ends."""

    async def feed() -> None:
        n = 0
        while True:
            n += 1
            await raw_burst(common, accepted, per_tick, tag=f"REBAL-{n}")
            await asyncio.sleep(0.3)

    task = asyncio.create_task(feed())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def leave_mid_batch(app: Any, exit_stack: contextlib.AsyncExitStack) -> None:
    """Once the worker holds partitions and has fetched a new batch, leave (cancelling that batch)."""
    worker = app.state.worker
    await eventually(lambda: worker.assignment(), timeout=90, interval=0.1)
    before = worker.consumed
    await eventually(lambda: worker.consumed > before, timeout=60, interval=0.002)
    await exit_stack.aclose()


async def test_a_second_worker_joins_and_leaves_under_load_and_nothing_is_lost_or_doubled(
    stack: Stack, stack_common: CommonSettings, boundaries_path: Path
) -> None:
    """Checked to fail: with the kit's worker committing its consumer's position when it stops
    (``consumer.commit()`` before ``consumer.stop()``: offsets of the batch it was cancelled in, never
    produced), the batch in flight at the leave was lost: "14 of 420 reports are no case", red."""
    t = stack_common.topics
    common = stack_common.model_copy(update={f"kafka_{k}": v for k, v in consumer_timings().items()})
    key = SecretStr(stack.secrets()["ADUAN_NORMALIZER_PSEUDONYM_KEY"])
    normalizer = build_normalizer(
        NormalizerSettings(
            common=common, pseudonym_key=key, boundaries_path=boundaries_path, near_duplicates=False
        )
    )
    router = build_router(RouterSettings(common=common))
    accepted = Accepted()
    async with steady_raw(stack_common, accepted, per_tick=30):
        for app in (normalizer, router):  # joins: the stack's worker gives up partitions mid-stream
            async with contextlib.AsyncExitStack() as joined:
                await joined.enter_async_context(running(app))
                await leave_mid_batch(app, joined)
    ids = accepted.report_ids

    async def all_cases() -> bool:
        return await stored_ids(stack_common, ids) == ids

    with contextlib.suppress(AssertionError):
        await eventually(all_cases, timeout=120, interval=2)
    missing = ids - await stored_ids(stack_common, ids)
    assert not missing, f"{len(missing)} of {len(ids)} reports are no case"

    def routed_id(value: bytes) -> str:
        return RoutedReport.model_validate_json(value).report_id

    routed = await ids_on_topic(stack_common, t.routed, routed_id, ids, timeout=60)
    assert routed.keys() == ids
    groups = {"normalizer": {t.raw("qlue")}, "router": {t.normalized}}
    for group, topics in groups.items():
        name = f"{t.prefix}aduan-{group}"

        async def committed_all(name: str = name, topics: set[str] = topics) -> bool:
            return not await behind(stack.kafka_bootstrap, name, topics)

        with contextlib.suppress(AssertionError):
            await eventually(committed_all, timeout=30, interval=1)
        assert not await behind(stack.kafka_bootstrap, name, topics)
