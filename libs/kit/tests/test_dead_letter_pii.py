"""Dead letters carry no reporter contact: a raw record's letter is a pointer only, any other record's
value and every error text has typed contacts masked, in the value, the headers and the log line."""

import json
from collections.abc import Awaitable, Callable, Sequence

import pytest
from pydantic import TypeAdapter

from aduan_kit.kafka import BatchResult, Emit, Received, Subscription, parser_for
from aduan_kit.logs import configure_logging
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.kafka import create_topics, eventually, find_events, publish_bytes, read_topic
from aduan_kit.testing.samples import normalized, raw_qlue
from aduan_kit.testing.worker import run_worker
from aduan_schemas.events import DeadLetter, NormalizedReport, RawQlue, Reporter

PHONE, EMAIL, NAME = "+62 812-3456-7890", "budi.santoso@example.id", "Budi Santoso"
# Parts of the contact as a mask could leave them. Digits stand with their neighbours: a bare "7890" was
# once found in a log line's timestamp (10:25:40.789071), not in anything the reporter typed.
SECRETS = ("812-3456", "3456-7890", "-7890", "8123456", "4567890", "budi.santoso", NAME)


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


async def test_a_raw_record_is_dead_lettered_as_a_pointer_and_nothing_quotes_the_contact(
    common: CommonSettings, capfd: pytest.CaptureFixture[str]
) -> None:
    """Checked to fail: with the dead letter copying the raw value (``payload`` for every topic), with
    ``error=f"{type}: {error}"`` (the former text, quoting inputs), and with the log processor
    ``mask_log_fields`` removed (the batch handler's traceback quotes the text), each went red."""
    configure_logging("test")
    await create_topics(common)
    t = common.topics
    # A raw record of the right shape but a bad field next to the contact: pydantic quotes inputs.
    bad = json.loads(raw_qlue(reporter=Reporter(name=NAME, phone=PHONE, email=EMAIL)).model_dump_json())
    bad["received_at"] = f"hubungi {PHONE} / {EMAIL}"
    await publish_bytes(common, t.raw("qlue"), json.dumps(bad).encode(), key=b"qlue-bad")
    good = raw_qlue()
    await publish_bytes(common, t.raw("qlue"), good.model_dump_json().encode(), key=b"qlue-good")
    # A downstream record whose handler fails with the text it read (a bug quoting its input).
    typed = normalized(text=f"Sampah menumpuk, hubungi saya di {PHONE} atau {EMAIL}")
    await publish_bytes(common, t.normalized, typed.model_dump_json().encode(), typed.report_id.encode())
    # The same on a batch handler: its traceback is logged (log.exception) before the record is retried.
    await publish_bytes(common, t.routed, typed.model_dump_json().encode(), typed.report_id.encode())
    seen: list[str] = []

    async def handle_raw(ev: RawQlue, _: Received) -> Sequence[Emit]:
        seen.append(ev.channel_message_id)
        return []

    async def quoting(ev: NormalizedReport, _: Received) -> Sequence[Emit]:
        raise RuntimeError(f"cannot handle {ev.text!r}")

    def letters(n: int) -> Callable[[], Awaitable[object]]:
        return lambda: find_events(common, t.dlq, DeadLetter, lambda d: True, count=n, timeout=30)

    async def good_flowed() -> None:
        await letters(1)()
        await eventually(lambda: good.channel_message_id in seen, timeout=30)

    raw_sub = Subscription(t.raw("qlue"), parser_for(TypeAdapter(RawQlue)), handle_raw)
    await run_worker(common, raw_sub, good_flowed)  # the record after the poison flowed
    await run_worker(common, Subscription(t.normalized, parser_for(NormalizedReport), quoting), letters(2))

    async def quoting_batch(batch: list[tuple[NormalizedReport, Received]]) -> BatchResult:
        raise RuntimeError(f"cannot handle {batch[0][0].text!r}")

    batch_sub = Subscription(t.routed, parser_for(NormalizedReport), handle_batch=quoting_batch)
    await run_worker(common, batch_sub, letters(3))

    records = await read_topic(common, t.dlq, 3, settle=0.5)
    letters = {DeadLetter.model_validate_json(r.value).original_topic: r for r in records}
    raw_rec, typed_rec = letters[t.raw("qlue")], letters[t.normalized]
    raw_letter = DeadLetter.model_validate_json(raw_rec.value)
    assert (raw_letter.payload, raw_letter.key, raw_letter.offset) == (None, "qlue-bad", 0)
    assert "received_at" in raw_letter.error
    typed_letter = DeadLetter.model_validate_json(typed_rec.value)
    assert typed_letter.payload is not None and "[TELEPON]" in typed_letter.payload
    assert "[EMAIL]" in typed_letter.error
    for rec in records:
        wire = rec.value.decode() + repr(rec.headers) + repr(rec.key)
        assert leaks(wire) == [], wire
    logs = capfd.readouterr().err
    assert "dead-lettered" in logs and "Traceback" in logs
    assert leaks(logs) == [], [line for line in logs.splitlines() if leaks(line)]
