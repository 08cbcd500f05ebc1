"""The inbound-SMS gateway shape -> RawSms (pure): phone numbers, parts, incomplete sets."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from aduan_ingest_sms.message import GAP, assemble, normalize_phone, parse_sms
from aduan_kit.ingest import Fragment, PayloadError
from aduan_schemas.events import RawSms

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def sms(**overrides: Any) -> bytes:
    payload: dict[str, Any] = {
        "id": "gw-1",
        "from": "0812-3456-7890",
        "to": "1708",
        "text": "Lampu jalan mati di Jl. Kramat Raya",
        "timestamp": "2026-03-02T15:40:00+07:00",
    }
    payload.update(overrides)
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("given", "e164"),
    [
        ("081234567890", "+6281234567890"),
        ("6281234567890", "+6281234567890"),
        ("+6281234567890", "+6281234567890"),
        ("+62 812-3456-7890", "+6281234567890"),
        ("0062 812 3456 7890", "+6281234567890"),
        ("81234567890", "+6281234567890"),
        ("+6591234567", "+6591234567"),
    ],
)
def test_indonesian_numbers_become_e164(given: str, e164: str) -> None:
    assert normalize_phone(given) == e164


@pytest.mark.parametrize("given", ["TELKOMSEL", "0812", "+62812345678901234", "12345"])
def test_what_is_not_a_phone_number_is_refused(given: str) -> None:
    with pytest.raises(PayloadError, match="from: not a phone number"):
        normalize_phone(given)


def test_a_single_sms_maps_every_field() -> None:
    r = parse_sms(sms(), NOW)
    assert isinstance(r, RawSms)
    assert (r.channel, r.channel_message_id, r.to_number, r.parts, r.parts_expected) == (
        "sms",
        "gw-1",
        "1708",
        1,
        1,
    )
    assert r.reporter is not None and r.reporter.phone == "+6281234567890"
    assert r.received_at == datetime(2026, 3, 2, 8, 40, tzinfo=UTC)
    assert r.text.startswith("Lampu jalan mati") and r.raw == json.loads(sms())


def part(n: int, text: str, total: int = 3, ref: int = 42) -> Fragment:
    f = parse_sms(sms(id=f"gw-{n}", text=text, concat={"ref": ref, "part": n, "total": total}), NOW)
    assert isinstance(f, Fragment)
    return f


def test_parts_share_a_group_per_sender_and_reference() -> None:
    a, b = part(1, "x"), part(2, "y")
    assert a.group == b.group == "+6281234567890:42:3"
    assert (a.index, a.total, a.message_id) == (1, 3, "gw-1")
    assert part(1, "x", ref=43).group != a.group


def test_a_complete_set_is_joined_in_order_under_the_first_parts_id() -> None:
    parts = {3: part(3, "raya").body, 1: part(1, "Lampu jalan mati di Kra").body, 2: part(2, "mat ").body}
    r = assemble(parts, 3, True)
    assert (r.channel_message_id, r.text, r.parts, r.parts_expected) == (
        "gw-1",
        "Lampu jalan mati di Kramat raya",
        3,
        3,
    )
    assert r.raw is not None and [p["id"] for p in r.raw["parts"]] == ["gw-1", "gw-2", "gw-3"]


def test_an_incomplete_set_marks_what_is_missing() -> None:
    r = assemble({2: part(2, "tengah").body}, 3, False)
    assert r.text == f"{GAP.strip()} tengah{GAP}".strip()
    assert (r.channel_message_id, r.parts, r.parts_expected) == ("gw-2", 1, 3)


def test_a_long_join_is_cut_to_the_text_limit_instead_of_failing() -> None:
    parts = {n: part(n, "a" * 9_000, total=2).body for n in (1, 2)}
    assert len(assemble(parts, 2, True).text) == 10_000


@pytest.mark.parametrize(
    "change",
    [
        {"concat": {"ref": 1, "part": 4, "total": 3}},
        {"timestamp": "2026-03-02T15:40:00"},
        {"id": ""},
        {"text": None},
    ],
)
def test_invalid_messages_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises((PayloadError, ValidationError)):
        parse_sms(sms(**change), NOW)
