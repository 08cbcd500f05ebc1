"""``aduan replay``: push recorded raw events (JSONL) into a running stack's raw topics."""

from __future__ import annotations

from collections.abc import Iterable

from aduan_kit.kafka import Emit, EventProducer
from aduan_kit.settings import CommonSettings
from aduan_schemas.events import raw_report_adapter


async def replay(lines: Iterable[str], common: CommonSettings) -> tuple[int, list[str]]:
    """Publish each valid raw event to its channel's topic; return (published, errors)."""
    producer = EventProducer(common, source="/aduan/replay")
    await producer.start()
    published, errors, pending = 0, [], []
    try:
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                raw = raw_report_adapter.validate_json(line)
            except ValueError as e:
                errors.append(f"record {n}: {' '.join(str(e).split())[:300]}")
                continue
            emit = Emit(common.topics.raw(raw.channel), raw, key=raw.channel_message_id)
            pending.append(await producer.send(emit))
            published += 1
        for fut in pending:
            await fut
    finally:
        await producer.stop()
    return published, errors
