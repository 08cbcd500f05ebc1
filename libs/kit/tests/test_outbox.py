"""The durable outbox on its own (a real SQLite file): order, capacity, reopening, message parts.

Breakages tried: opening the database as ``:memory:`` makes ``test_records_survive_reopening`` fail;
dropping ``UNIQUE (topic, key)`` makes ``test_a_pending_key_is_not_added_twice`` fail; removing the
``_room_for`` check makes ``test_full_outbox_refuses`` fail; skipping the ``done`` lookup makes
``test_a_part_seen_again_after_its_group_is_published_is_a_duplicate`` fail.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from aduan_kit.outbox import Once, Outbox, OutboxFull, Record, Replayed


def record(key: str, value: bytes = b'{"x": 1}') -> Record:
    return Record("aduan.raw.test", key, [("ce_id", f"raw:test:{key}".encode())], value, time.time())


async def open_box(path: Path, **limits: int) -> Outbox:
    return await Outbox.open(
        path / "test.sqlite3",
        max_records=limits.get("max_records", 100),
        max_bytes=limits.get("max_bytes", 1_000_000),
    )


async def test_records_come_out_in_acceptance_order_until_removed(tmp_path: Path) -> None:
    box = await open_box(tmp_path)
    for i in range(5):
        assert await box.append(record(f"k{i}"))
    first = await box.peek(3)
    assert [r.key for r in first] == ["k0", "k1", "k2"]
    assert first[0].headers == [("ce_id", b"raw:test:k0")]
    await box.remove(first)
    assert [r.key for r in await box.peek(10)] == ["k3", "k4"]
    assert (await box.stats()).records == box.count == 2
    await box.close()


async def test_records_survive_reopening(tmp_path: Path) -> None:
    box = await open_box(tmp_path)
    await box.append(record("kept", b"value-bytes"))
    await box.close()
    again = await open_box(tmp_path)
    (rec,) = await again.peek(10)
    assert (rec.key, rec.value, again.count) == ("kept", b"value-bytes", 1)
    await again.close()


async def test_a_pending_key_is_not_added_twice(tmp_path: Path) -> None:
    box = await open_box(tmp_path)
    assert await box.append(record("same"))
    assert not await box.append(record("same"))
    assert box.count == 1
    await box.remove(await box.peek(1))
    assert await box.append(record("same"))  # published and forgotten: a later one is a new record
    await box.close()


async def test_full_outbox_refuses(tmp_path: Path) -> None:
    box = await open_box(tmp_path, max_records=2)
    await box.append(record("a"))
    await box.append(record("b"))
    with pytest.raises(OutboxFull):
        await box.append(record("c"))
    await box.remove(await box.peek(1))
    assert await box.append(record("c"))
    await box.close()
    by_bytes = await open_box(tmp_path / "bytes", max_bytes=1_024)
    with pytest.raises(OutboxFull):
        await by_bytes.append(record("big", b"x" * 2_000))
    await by_bytes.close()


def joined(parts: dict[int, bytes], total: int, complete: bool) -> Record:
    text = "|".join(parts[n].decode() for n in sorted(parts))
    key = f"msg-{min(parts)}"
    return record(key, json.dumps({"text": text, "complete": complete, "total": total}).encode())


async def test_parts_become_one_record_when_the_set_is_complete(tmp_path: Path) -> None:
    box = await open_box(tmp_path)
    assert await box.add_fragment("g1", 2, 3, b"two", joined) == "held"
    assert await box.add_fragment("g1", 2, 3, b"two", joined) == "duplicate"
    assert await box.add_fragment("g1", 1, 3, b"one", joined) == "held"
    assert await box.peek(10) == []
    assert await box.add_fragment("g1", 3, 3, b"three", joined) == "complete"
    (rec,) = await box.peek(10)
    assert json.loads(rec.value) == {"text": "one|two|three", "complete": True, "total": 3}
    assert box.count == 1  # the parts are gone, the record stays
    await box.close()


async def test_parts_wait_across_a_restart(tmp_path: Path) -> None:
    box = await open_box(tmp_path)
    await box.add_fragment("g1", 1, 2, b"one", joined)
    await box.close()
    box = await open_box(tmp_path)
    assert await box.add_fragment("g1", 2, 2, b"two", joined) == "complete"
    assert json.loads((await box.peek(1))[0].value)["text"] == "one|two"
    await box.close()


async def test_an_incomplete_set_is_published_after_the_wait(tmp_path: Path) -> None:
    box = await open_box(tmp_path)
    await box.add_fragment("g1", 1, 3, b"one", joined)
    await box.add_fragment("g1", 3, 3, b"three", joined)
    assert await box.expire(60, joined) == 0  # not yet
    assert await box.expire(0, joined) == 1
    (rec,) = await box.peek(10)
    assert json.loads(rec.value) == {"text": "one|three", "complete": False, "total": 3}
    # The missing part arrives late: it becomes a record of its own, not lost and not merged twice.
    assert await box.add_fragment("g1", 2, 3, b"two", joined) == "straggler"
    keys = [r.key for r in await box.peek(10)]
    assert keys == ["msg-1", "msg-2"]
    await box.close()


async def test_a_part_seen_again_after_its_group_is_published_is_a_duplicate(tmp_path: Path) -> None:
    box = await open_box(tmp_path)
    await box.add_fragment("g1", 1, 2, b"one", joined)
    await box.add_fragment("g1", 2, 2, b"two", joined)
    await box.remove(await box.peek(10))
    assert await box.add_fragment("g1", 1, 2, b"one", joined) == "duplicate"
    assert await box.peek(10) == []
    await box.close()


async def test_concurrent_appends_share_a_transaction_and_each_gets_its_answer(tmp_path: Path) -> None:
    """Group commit: fails if one full record fails the whole batch (``_write_batch`` raising)."""
    box = await open_box(tmp_path, max_records=3)
    results = await asyncio.gather(*(box.append(record(f"c{i}")) for i in range(5)), return_exceptions=True)
    assert results[:3] == [True, True, True]
    assert all(isinstance(r, OutboxFull) for r in results[3:])
    assert [r.key for r in await box.peek(10)] == ["c0", "c1", "c2"]
    await box.close()


def once(name: str, expires_in_s: float = 300) -> Once:
    return Once(name.encode().ljust(32, b"."), time.time() + expires_in_s)


async def test_a_request_is_accepted_once_until_its_digest_expires(tmp_path: Path) -> None:
    """Records and parts alike; two equal requests in one group-committed transaction: the second is
    the replay. Checked to fail: with ``_forget_expired`` skipped, the request whose window has passed
    was still refused (``Replayed``) instead of accepted."""
    box = await open_box(tmp_path)
    assert await box.append(record("a"), once("A"))
    with pytest.raises(Replayed):
        await box.append(record("a"), once("A"))
    with pytest.raises(Replayed):  # the digest, not the record, decides: another record, same request
        await box.append(record("b"), once("A"))
    together = await asyncio.gather(
        box.append(record("c"), once("C")), box.append(record("c"), once("C")), return_exceptions=True
    )
    assert together[0] is True and isinstance(together[1], Replayed)
    assert await box.add_fragment("g1", 1, 2, b"one", joined, once("P")) == "held"
    with pytest.raises(Replayed):
        await box.add_fragment("g1", 1, 2, b"one", joined, once("P"))
    assert await box.append(record("d"), once("D", expires_in_s=-1))  # a digest already past its window
    assert await box.append(record("e"), once("D"))  # forgotten by the next write: accepted again
    assert sorted(r.key for r in await box.peek(10)) == ["a", "c", "d", "e"]
    await box.close()


async def test_a_refused_request_is_not_remembered(tmp_path: Path) -> None:
    """A request the outbox refused (full) was not accepted: the sender's retry of it must not be taken
    for a replay. Checked to fail: with ``_remember`` called before ``_room_for`` in
    ``_write_batch``, the retry after the 503 was refused as ``Replayed``."""
    box = await open_box(tmp_path, max_records=1)
    assert await box.append(record("a"), once("A"))
    with pytest.raises(OutboxFull):
        await box.append(record("b"), once("B"))
    await box.remove(await box.peek(1))
    assert await box.append(record("b"), once("B"))
    await box.close()
