"""The mailbox reader against a real Dovecot (IMAP) and the real broker and database.

Mail is delivered by IMAP APPEND; what the reader published is read back from ``aduan.raw.email``, and
where it put each message is read back from the IMAP folders.
"""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from typing import Any

import pytest
from fastapi import FastAPI

from aduan_ingest_email.checkpoint import COLLECTION
from aduan_ingest_email.config import EmailSettings
from aduan_ingest_email.main import build
from aduan_kit.kafka import ensure_topics
from aduan_kit.mongo import mongo_client
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.dovecot import Dovecot, mail
from aduan_kit.testing.ingest import ingest_count
from aduan_kit.testing.kafka import eventually, read_topic
from aduan_schemas.events import RawEmail

SECRET = "email-test-secret-0123456789"
REPORT_ID = "0b7e4a52-6d1f-5c1e-9a4b-3f2d1c0e9a87"
PROCESSED, SKIPPED, FAILED = "Aduan-Diproses", "Aduan-Dilewati", "Aduan-Gagal"


def service(common: CommonSettings, dovecot: Dovecot, user: str, **overrides: Any) -> FastAPI:
    settings: dict[str, Any] = {
        "common": common,
        "webhook_secret": SECRET,
        "imap_host": dovecot.host,
        "imap_port": dovecot.port,
        "imap_tls": False,
        "imap_user": user,
        "imap_password": dovecot.password,
        "poll_interval_s": 0.3,
        "reconnect_max_s": 0.5,
        **overrides,
    }
    return build(EmailSettings(**settings))


async def raw_topic(common: CommonSettings) -> None:
    await ensure_topics(common.kafka_bootstrap, [(common.topics.raw("email"), 6)])


async def published(common: CommonSettings, count: int, settle: float = 1.0) -> list[RawEmail]:
    records = await read_topic(common, common.topics.raw("email"), count, timeout=20, settle=settle)
    return [RawEmail.model_validate_json(r.value) for r in records]


async def folder(dovecot: Dovecot, user: str, name: str) -> list[str]:
    return await asyncio.to_thread(dovecot.message_ids, user, name)


async def test_mail_is_published_once_and_moved_by_kind(common: CommonSettings, dovecot: Dovecot) -> None:
    """Citizen mail, a follow-up, legacy charsets, an attachment: published; an auto-reply and a bounce:
    skipped. Each lands in its folder. (Fails if skip_reason is not consulted: 6 records instead of 4.)"""
    await raw_topic(common)
    user = dovecot.new_user()
    cp1252 = EmailMessage()
    cp1252["From"], cp1252["Message-ID"], cp1252["Subject"] = "a@example.com", "<cp1252@example.com>", "PJU"
    cp1252.set_content("<p>Lampu mati \u2013 caf\u00e9 gelap</p>", subtype="html", charset="windows-1252")
    photo = EmailMessage()
    photo["From"], photo["Message-ID"], photo["Subject"] = "b@example.com", "<photo@example.com>", "Banjir"
    photo.set_content("Banjir setinggi lutut di Kampung Melayu, \u00e0 lihat foto", charset="iso-8859-1")
    jpeg = b"\xff\xd8\xff" + b"0" * 2000
    photo.add_attachment(jpeg, maintype="image", subtype="jpeg", filename="banjir.jpg")
    bounce = EmailMessage()
    bounce["From"], bounce["Message-ID"] = "MAILER-DAEMON@mx.example.com", "<bounce@mx.example.com>"
    bounce.set_content("Delivery failed")
    await asyncio.to_thread(
        dovecot.append,
        user,
        mail("plain"),
        cp1252.as_bytes(),
        photo.as_bytes(),
        mail(
            "reply",
            "Sudah seminggu belum diangkut",
            In_Reply_To=f"<aduan.{REPORT_ID}.status-1@jakarta.go.id>",
        ),
        mail("away", Auto_Submitted="auto-replied"),
        bounce.as_bytes(),
    )
    async with running(service(common, dovecot, user)) as client:
        events = await published(common, 4)
        await eventually(lambda: _empty(dovecot, user), timeout=10)
        metrics = (await client.get("/metrics")).text
        ready = await client.get("/readyz")
    by_id = {e.channel_message_id: e for e in events}
    assert sorted(by_id) == sorted(
        ["plain@example.co.id", "cp1252@example.com", "photo@example.com", "reply@example.co.id"]
    )
    assert len(events) == 4
    assert by_id["cp1252@example.com"].text == "Lampu mati \u2013 caf\u00e9 gelap"
    photo_event = by_id["photo@example.com"]
    assert photo_event.text == "Banjir setinggi lutut di Kampung Melayu, \u00e0 lihat foto"
    assert photo_event.raw is not None
    assert photo_event.raw["skipped_attachments"] == [
        {"filename": "banjir.jpg", "content_type": "image/jpeg", "size": 2003, "section": "2"}
    ]
    assert photo_event.raw["mailbox"]["folder"] == "INBOX" and photo_event.raw["mailbox"]["uid"] == 3
    assert by_id["reply@example.co.id"].follow_up_of == REPORT_ID
    assert by_id["plain@example.co.id"].follow_up_of is None
    assert await folder(dovecot, user, "INBOX") == []
    assert sorted(await folder(dovecot, user, PROCESSED)) == sorted(by_id)
    assert sorted(await folder(dovecot, user, SKIPPED)) == ["away@example.co.id", "bounce@mx.example.com"]
    assert ingest_count(metrics, "email", "skipped") >= 2
    assert ready.status_code == 200 and ready.json()["checks"]["mailbox"] is True


async def _empty(dovecot: Dovecot, user: str) -> bool:
    return not await folder(dovecot, user, "INBOX")


async def test_idle_delivers_new_mail_without_polling(common: CommonSettings, dovecot: Dovecot) -> None:
    """With polling every 5 minutes, mail appended while the reader waits arrives within seconds: only
    IDLE can have woken it. (Fails with idle=False: nothing arrives within the timeout.)"""
    await raw_topic(common)
    user = dovecot.new_user()
    async with running(service(common, dovecot, user, poll_interval_s=300)) as client:
        await eventually(lambda: _ready(client), timeout=15)  # the first pass is done: next comes IDLE
        await asyncio.to_thread(dovecot.append, user, mail("idle-1"))
        events = await published(common, 1, settle=0.3)
    assert [e.channel_message_id for e in events] == ["idle-1@example.co.id"]


async def _ready(client: Any) -> bool:
    return bool((await client.get("/readyz")).status_code == 200)


async def test_restart_neither_rereads_nor_misses(common: CommonSettings, dovecot: Dovecot) -> None:
    """Mail left in the inbox (processed_folder empty: marked \\Seen, not moved) is not read again after a
    restart; mail that arrived while the reader was down is read. Only the UID checkpoint can tell them
    apart. (Fails if Checkpoints.save is skipped: the first two are published again.)"""
    await raw_topic(common)
    user = dovecot.new_user()
    await asyncio.to_thread(dovecot.append, user, mail("r1"), mail("r2"))
    app = service(common, dovecot, user, processed_folder="")
    async with running(app):
        await published(common, 2, settle=0.2)
    await asyncio.to_thread(dovecot.append, user, mail("r3"))
    async with running(service(common, dovecot, user, processed_folder="")):
        events = await published(common, 3, settle=2.0)
    assert sorted(e.channel_message_id.split("@")[0] for e in events) == ["r1", "r2", "r3"]
    assert await folder(dovecot, user, "INBOX") == [f"r{i}@example.co.id" for i in (1, 2, 3)]
    assert await asyncio.to_thread(dovecot.seen_flags, user) == [True, True, True]


async def test_malformed_mail_is_set_aside_and_the_rest_is_published(
    common: CommonSettings, dovecot: Dovecot
) -> None:
    """A message without Message-ID and one over the size cap are not published, not lost (they wait in
    the failed folder) and do not stop the mail after them. (Fails if the size check in
    MailboxReader.handle is removed: the client then refuses the oversized literal and the reader never
    gets past that message.)"""
    await raw_topic(common)
    user = dovecot.new_user()
    no_id = mail("x").replace(b"Message-ID: <x@example.co.id>\n", b"")
    big = mail("big", "banjir " * 3_000)
    await asyncio.to_thread(dovecot.append, user, no_id, big, mail("ok"))
    async with running(service(common, dovecot, user, max_message_bytes=10_000)) as client:
        events = await published(common, 1, settle=1.5)
        metrics = (await client.get("/metrics")).text
    assert [e.channel_message_id for e in events] == ["ok@example.co.id"]
    assert await folder(dovecot, user, "Aduan-Gagal") == ["", "big@example.co.id"]
    assert await folder(dovecot, user, "INBOX") == []
    assert ingest_count(metrics, "email", "invalid") >= 1 and ingest_count(metrics, "email", "too_large") >= 1


async def test_stop_mid_sweep_then_restart_publishes_each_mail_once(
    common: CommonSettings, dovecot: Dovecot
) -> None:
    """The service is stopped while it works through 30 messages; after a restart every message is on the
    topic exactly once and the inbox is empty. (Without the shield around one message's handling in
    MailboxReader.sweep it failed one run in three: a stop during the publish left the message
    unrecorded, and the restart published it twice.)"""
    await raw_topic(common)
    user = dovecot.new_user()
    total = 100
    await asyncio.to_thread(dovecot.append, user, *[mail(f"m{i}") for i in range(total)])
    async with running(service(common, dovecot, user)) as client:
        start = ingest_count((await client.get("/metrics")).text, "email", "accepted")

        async def some_accepted() -> bool:
            return ingest_count((await client.get("/metrics")).text, "email", "accepted") >= start + 3

        await eventually(some_accepted, timeout=20, interval=0.02)
    first = len(await read_topic(common, common.topics.raw("email"), total, timeout=1))
    assert first < total, "the stop came after the sweep: nothing was cut short"
    async with running(service(common, dovecot, user)):
        events = await published(common, total, settle=2.0)
    ids = [e.channel_message_id for e in events]
    assert sorted(ids) == sorted(f"m{i}@example.co.id" for i in range(total)), ids
    assert await folder(dovecot, user, "INBOX") == []


async def test_a_move_cut_short_by_a_crash_is_finished_without_publishing(
    common: CommonSettings, dovecot: Dovecot
) -> None:
    """The state a crash leaves between writing the checkpoint and moving the message: on start the
    message is moved, not published again. (Fails if MailboxReader._checkpoint does not finish the move:
    the message stays in the inbox.)"""
    await raw_topic(common)
    user = dovecot.new_user()
    await asyncio.to_thread(dovecot.append, user, mail("done"), mail("next"))
    imap = await asyncio.to_thread(dovecot.client, user)
    uidvalidity = int(imap.select("INBOX") and imap.response("UIDVALIDITY")[1][0])
    imap.logout()
    client = mongo_client(common)
    mailbox = f"{user}@{dovecot.host}:{dovecot.port}/INBOX"
    await client[common.mongodb_db][COLLECTION].insert_one(
        {"_id": mailbox, "uidvalidity": uidvalidity, "last_uid": 1, "last_destination": PROCESSED}
    )
    await client.close()
    async with running(service(common, dovecot, user)):
        events = await published(common, 1, settle=1.5)
    assert [e.channel_message_id for e in events] == ["next@example.co.id"]
    assert await folder(dovecot, user, "INBOX") == []
    assert await folder(dovecot, user, PROCESSED) == ["done@example.co.id", "next@example.co.id"]


async def test_a_new_uidvalidity_reads_the_folder_from_its_start(
    common: CommonSettings, dovecot: Dovecot
) -> None:
    """A checkpoint of another UIDVALIDITY (the folder was re-created) says nothing about these UIDs:
    every message in the folder is read. (Fails if MailboxReader._checkpoint keeps the old UID: with
    last_uid 99 nothing is read.)"""
    await raw_topic(common)
    user = dovecot.new_user()
    await asyncio.to_thread(dovecot.append, user, mail("v1"), mail("v2"))
    client = mongo_client(common)
    mailbox = f"{user}@{dovecot.host}:{dovecot.port}/INBOX"
    await client[common.mongodb_db][COLLECTION].insert_one(
        {"_id": mailbox, "uidvalidity": 1, "last_uid": 99, "last_destination": PROCESSED}
    )
    await client.close()
    async with running(service(common, dovecot, user)):
        events = await published(common, 2, settle=1.0)
    assert sorted(e.channel_message_id for e in events) == ["v1@example.co.id", "v2@example.co.id"]


async def test_implicit_tls_verifies_the_server(common: CommonSettings, dovecot: Dovecot) -> None:
    """Over IMAPS the certificate is checked: trusted through IMAP_CA_FILE the mail is read; with the
    system's CAs only, the reader refuses the server and publishes nothing. (Fails if the reader turns
    certificate checking off: the second run publishes.)"""
    if dovecot.tls_port is None:
        pytest.skip("no openssl to make a certificate for the IMAPS listener")
    await raw_topic(common)
    user = dovecot.new_user()
    await asyncio.to_thread(dovecot.append, user, mail("tls-1"))
    tls = {"imap_port": dovecot.tls_port, "imap_tls": True}
    async with running(service(common, dovecot, user, **tls, imap_ca_file=dovecot.ca_file)):
        events = await published(common, 1, settle=0.3)
    assert [e.channel_message_id for e in events] == ["tls-1@example.co.id"]
    await asyncio.to_thread(dovecot.append, user, mail("tls-2"))
    refused = "TLS handshaking: Connection closed"  # Dovecot's line for a client that gave up the handshake
    before = dovecot.log_count(refused)
    async with running(service(common, dovecot, user, **tls)) as client:
        await eventually(lambda: dovecot.log_count(refused) >= before + 2, timeout=15)
        ready = await client.get("/readyz")
    assert len(await published(common, 1, settle=0.5)) == 1
    assert ready.status_code == 503 and ready.json()["checks"]["mailbox"] is False
