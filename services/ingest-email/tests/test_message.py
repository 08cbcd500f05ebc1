"""An RFC 822 message -> RawEmail (pure)."""

from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage

import pytest
from pydantic import ValidationError

from aduan_ingest_email.message import follow_up_of, html_to_text, parse_email, read_message, skip_reason
from aduan_kit.ingest import PayloadError, describe_error
from aduan_schemas.events import MAX_TEXT

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

PLAIN = b"""\
Return-Path: <siti@example.co.id>
Received: from mx.example.co.id by mail.jakarta.example; Mon, 2 Mar 2026 14:01:12 +0700
From: =?utf-8?q?Siti_Rahayu?= <siti@example.co.id>
To: dki@jakarta.go.id
Subject: =?utf-8?q?Saluran_mampet_di_Jl._Pramuka?=
Date: Mon, 2 Mar 2026 14:00:00 +0700
Message-ID: <CAF3x9Qe+abc123@mail.example.co.id>
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 8bit

Selamat siang,\r
\r
Saluran air di depan rumah nomor 15 mampet sejak seminggu, air meluap ke jalan.\r
\r
\r
\r
Terima kasih.\r
"""


def message(**headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Budi <budi@example.com>"
    msg["To"] = "dki@jakarta.go.id"
    msg["Subject"] = "Parkir liar"
    msg["Date"] = "Mon, 02 Mar 2026 08:00:00 +0000"
    msg["Message-ID"] = "<m1@example.com>"
    for name, value in headers.items():
        del msg[name.replace("_", "-")]
        if value:
            msg[name.replace("_", "-")] = value
    return msg


def test_plain_message_maps_every_field() -> None:
    r = parse_email(PLAIN, NOW)
    assert r.channel == "email" and r.channel_message_id == "CAF3x9Qe+abc123@mail.example.co.id"
    assert r.received_at == datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    assert r.subject_line == "Saluran mampet di Jl. Pramuka"
    assert r.text == (
        "Selamat siang,\n\nSaluran air di depan rumah nomor 15 mampet sejak seminggu, air meluap ke jalan."
        "\n\nTerima kasih."
    )
    assert r.reporter is not None and (r.reporter.name, r.reporter.email) == (
        "Siti Rahayu",
        "siti@example.co.id",
    )
    assert r.attachments == [] and r.location is None
    assert r.raw is not None
    assert ["Message-ID", "<CAF3x9Qe+abc123@mail.example.co.id>"] in r.raw["headers"]
    assert r.raw["skipped_attachments"] == []


def test_plain_text_is_preferred_over_html() -> None:
    msg = message()
    msg.set_content("Mobil parkir di trotoar Jl. Sabang")
    msg.add_alternative("<p>Mobil parkir di <b>trotoar</b></p>", subtype="html")
    assert parse_email(msg.as_bytes(), NOW).text == "Mobil parkir di trotoar Jl. Sabang"


def test_html_only_body_is_reduced_to_text() -> None:
    msg = message()
    msg.set_content(
        "<html><head><title>t</title><style>p{color:red}</style></head><body>"
        "<p>Lampu&nbsp;PJU mati</p><div>di Jl. Diponegoro &amp; sekitarnya<br>sejak   kemarin</div>"
        "<script>alert(1)</script></body></html>",
        subtype="html",
    )
    assert (
        parse_email(msg.as_bytes(), NOW).text
        == "Lampu PJU mati\n\ndi Jl. Diponegoro & sekitarnya\nsejak kemarin"
    )


def test_binary_attachments_are_listed_and_skipped() -> None:
    msg = message()
    msg.set_content("Foto terlampir")
    msg.add_attachment(b"\xff\xd8\xff" + b"0" * 100, maintype="image", subtype="jpeg", filename="jalan.jpg")
    r = parse_email(msg.as_bytes(), NOW)
    assert r.text == "Foto terlampir" and r.attachments == []
    assert r.raw is not None
    assert r.raw["skipped_attachments"] == [
        {"filename": "jalan.jpg", "content_type": "image/jpeg", "size": 103, "section": "2"}
    ]


def test_a_message_without_text_uses_its_subject() -> None:
    msg = message(Subject="Pohon tumbang di Jl. Cikini")
    msg.add_attachment(b"\x89PNG", maintype="image", subtype="png", filename="pohon.png")
    assert parse_email(msg.as_bytes(), NOW).text == "Pohon tumbang di Jl. Cikini"


def test_legacy_charset_is_decoded() -> None:
    body = (
        message().as_bytes().split(b"\n\n")[0]
        + b'\nContent-Type: text/plain; charset="iso-8859-1"\n\nCaf\xe9 liar\n'
    )
    assert parse_email(body, NOW).text == "Café liar"


def test_unknown_charset_does_not_lose_the_report() -> None:
    body = (
        message().as_bytes().split(b"\n\n")[0]
        + b'\nContent-Type: text/plain; charset="x-klingon"\n\nSampah\xff\n'
    )
    assert parse_email(body, NOW).text == "Sampah\ufffd"


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("", NOW),  # absent
        ("kemarin sore", NOW),  # unreadable
        ("Tue, 03 Mar 2026 08:00:00 +0000", NOW),  # in the future
        ("Mon, 02 Mar 2026 08:00:00 -0000", datetime(2026, 3, 2, 8, 0, tzinfo=UTC)),  # zone unknown: UTC
        ("Mon, 02 Mar 2026 10:00:00 +0700", datetime(2026, 3, 2, 10, 0, tzinfo=timezone(timedelta(hours=7)))),
    ],
)
def test_received_at_is_the_date_header_or_now(date: str, expected: datetime) -> None:
    msg = message(Date=date) if date else message(Date="")
    assert parse_email(msg.as_bytes(), NOW).received_at == expected


def test_sender_without_display_name() -> None:
    r = parse_email(message(From="warga@example.com").as_bytes(), NOW)
    assert r.reporter is not None and (r.reporter.name, r.reporter.email) == (None, "warga@example.com")


def test_message_without_from_has_no_reporter() -> None:
    assert parse_email(message(From="").as_bytes(), NOW).reporter is None


def test_long_body_is_truncated_and_says_so() -> None:
    msg = message()
    msg.set_content("banjir " * 3_000)
    r = parse_email(msg.as_bytes(), NOW)
    assert len(r.text) == MAX_TEXT
    assert r.raw is not None and r.raw["text_truncated_from"] == len(("banjir " * 3_000).strip())


@pytest.mark.parametrize(
    "body", [b"", b"   \r\n", b'{"text": "not an email"}', message(Message_ID="").as_bytes()]
)
def test_message_id_is_required(body: bytes) -> None:
    with pytest.raises(PayloadError, match=r"Message-ID|empty message"):
        parse_email(body, NOW)


def test_overlong_message_id_is_schema_invalid() -> None:
    with pytest.raises(ValidationError) as info:
        parse_email(message(Message_ID=f"<{'x' * 300}@example.com>").as_bytes(), NOW)
    assert describe_error(info.value).startswith("invalid payload: channel_message_id: ")


def test_html_to_text_keeps_blocks_apart() -> None:
    assert html_to_text("<ul><li>satu</li><li>dua</li></ul><p>tiga</p>") == "satu\n\ndua\n\ntiga"


REPORT = "0b7e4a52-6d1f-5c1e-9a4b-3f2d1c0e9a87"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"In_Reply_To": f"<aduan.{REPORT}.sla-2@jakarta.go.id>"}, REPORT),
        ({"References": f"<x@example.com> <aduan.{REPORT.upper()}.ack@jakarta.go.id>"}, REPORT),
        (
            {"In_Reply_To": "<CAF3x9@mail.example.com>", "References": "<aduan.not-a-uuid.x@jakarta.go.id>"},
            None,
        ),
        ({}, None),
    ],
)
def test_reply_to_a_notification_is_a_follow_up(headers: dict[str, str], expected: str | None) -> None:
    """Fails if follow_up_of ignores References or accepts ids that are not report ids."""
    msg = message(**headers)
    msg.set_content("Belum ditangani")
    assert follow_up_of(read_message(msg.as_bytes())) == expected
    assert parse_email(msg.as_bytes(), NOW).follow_up_of == expected


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Auto_Submitted": "auto-replied"}, "auto-reply (Auto-Submitted: auto-replied)"),
        ({"X_Autoreply": "yes"}, "auto-reply (X-Autoreply)"),
        ({"Precedence": "bulk"}, "auto-reply (Precedence: bulk)"),
        ({"Precedence": "auto_reply"}, "auto-reply (Precedence: auto_reply)"),
        ({"From": "Mail Delivery System <MAILER-DAEMON@mx.example.com>"}, "bounce (from mailer-daemon)"),
        ({"Auto_Submitted": "no"}, None),
    ],
)
def test_auto_replies_and_bounces_are_recognised(headers: dict[str, str], reason: str | None) -> None:
    msg = message(**headers)
    msg.set_content("Saya sedang cuti")
    assert skip_reason(read_message(msg.as_bytes())) == reason
    if reason:
        with pytest.raises(PayloadError, match="not a report"):
            parse_email(msg.as_bytes(), NOW)


def test_delivery_report_is_a_bounce() -> None:
    msg = message()
    msg.set_content("The message could not be delivered")
    msg.make_mixed()
    msg.replace_header("Content-Type", 'multipart/report; report-type=delivery-status; boundary="b"')
    assert skip_reason(read_message(msg.as_bytes())) == "bounce (multipart/report)"


def test_windows_1252_html_is_decoded() -> None:
    body = (
        message().as_bytes().split(b"\n\n")[0]
        + b'\nContent-Type: text/html; charset="windows-1252"\n\n<p>Trotoar \x96 rusak \x93parah\x94</p>\n'
    )
    assert parse_email(body, NOW).text == "Trotoar \u2013 rusak \u201cparah\u201d"
