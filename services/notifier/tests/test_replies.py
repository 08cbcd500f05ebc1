"""Citizens and units told on every channel, against the real broker, database and local servers that
speak each wire format: SMTP (aiosmtpd), X API v2, Qlue's callback and an SMS gateway (HTTP)."""

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from structlog.testing import capture_logs

from aduan_kit import signing
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.fake_x import FakeX
from aduan_kit.testing.kafka import eventually, find_events, publish_bytes, read_topic
from aduan_kit.testing.mailbox import Mailbox
from aduan_kit.testing.receiver import Receiver
from aduan_kit.testing.samples import normalized, raw_qlue
from aduan_notifier.contacts import ContactStore, contact_document
from aduan_notifier.main import build
from aduan_schemas.events import (
    DuplicateDecision,
    Notification,
    RawEmail,
    RawReport,
    RawTwitter,
    Reporter,
    RoutedReport,
    Routing,
    SlaDeadlines,
    SlaEvent,
    StatusUpdate,
)
from aduan_schemas.ids import report_id
from services.notifier.tests.builders import FROM, QLUE_SECRET, SMS_TOKEN, publish, settings

pytestmark = pytest.mark.usefixtures("fixed_topics")

# The reporters' contacts: none of these strings may appear in a log line or a notification.
TWEETER = Reporter(handle="@warga_satu", name="Warga Satu")
MAILER = Reporter(email="warga.dua@example.org", name="Warga Dua")
QLUER = Reporter(handle="qlue-u-3", name="Warga Tiga", phone="+6281211112222")
TEXTER = Reporter(phone="+6281333334444")
CONTACT_STRINGS = [
    "warga_satu",
    "Warga Satu",
    "warga.dua@example.org",
    "Warga Dua",
    "qlue-u-3",
    "Warga Tiga",
    "6281211112222",
    "6281333334444",
]


def tweet(n: int = 1) -> RawTwitter:
    return RawTwitter(
        channel_message_id=f"18500000000000000{n:02d}",
        received_at=datetime.now(UTC),
        text="Lampu jalan mati",
        reporter=TWEETER,
    )


def mail() -> RawEmail:
    return RawEmail(
        channel_message_id="CAF-1234.5678@mail.example.org",
        received_at=datetime.now(UTC),
        text="Jalan berlubang",
        subject_line="Jalan berlubang di Gambir",
        reporter=MAILER,
    )


def routed_for(raw: RawReport, skpd: str = "dbm", name: str = "Dinas Bina Marga", **kw: Any) -> RoutedReport:
    rid = report_id(raw)
    n = normalized(
        report_id=rid,
        channel=raw.channel,
        channel_message_id=raw.channel_message_id,
        reporter=Reporter(pseudonym=f"psn_{rid[:8]}"),
    )
    return RoutedReport(
        **{**n.model_dump(), **kw},
        skpd_code=skpd,
        skpd_name=name,
        routing=Routing(rule="test", version="1", reason="test"),
        sla=SlaDeadlines(policy="standard", respond_by=n.received_at, resolve_by=n.received_at),
    )


def status(rid: str, value: str, **kw: Any) -> StatusUpdate:
    return StatusUpdate(report_id=rid, status=value, at=datetime.now(UTC), by="dbm", **kw)  # type: ignore[arg-type]


def breach(rid: str, unit: str = "dbm", escalate_to: str | None = None) -> SlaEvent:
    now = datetime.now(UTC)
    return SlaEvent(
        report_id=rid,
        kind="respond_breached",
        policy="standard",
        due_at=now,
        detected_at=now,
        skpd_code=unit,
        escalate_to=escalate_to,
    )


async def citizen_notes(common: CommonSettings, count: int, settle: float = 0.0) -> list[Notification]:
    return await find_events(
        common,
        common.topics.notifications,
        Notification,
        lambda n: n.audience == "citizen",
        count,
        timeout=30,
        settle=settle,
    )


def qlue_calls(receiver: Receiver) -> list[dict[str, Any]]:
    out = []
    for r in receiver.to("/qlue"):
        signing.verify(QLUE_SECRET, r.body, r.headers["x-aduan-timestamp"], r.headers["x-aduan-signature"])
        out.append(json.loads(r.body))
    return out


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    with capture_logs() as captured:  # restores the logging configuration on exit
        yield captured


async def test_each_channel_gets_its_reply_and_the_unit_its_email(
    common: CommonSettings,
    receiver: Receiver,
    mailbox: Mailbox,
    xapi: FakeX,
    logs: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A routed report tells its unit (webhook + email) and its reporter on the channel they used.
    Checked to fail: with ``contact_document`` keyed by ``channel_message_id`` instead of the
    normalizer's report id, no contact was found and no reply went out; with a log line of the stored
    reporters added to ``store_contacts``, the contact scan at the end went red."""
    t = common.topics
    tw, em, ql = tweet(), mail(), raw_qlue(reporter=QLUER)
    sms = RawReport(
        channel="sms",
        channel_message_id="sms-0001",
        received_at=datetime.now(UTC),
        text="Saluran mampet",
        reporter=TEXTER,
    )
    await publish(common, t.raw("twitter"), tw)
    await publish(common, t.raw("email"), em)
    await publish(common, t.raw("qlue"), ql)
    # No raw SMS topic exists yet in this deployment: its contact goes into the store the same way.
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        common.mongodb_url.get_secret_value(), tz_aware=True
    )
    await ContactStore(client[common.mongodb_db]).record_many([contact_document(sms, datetime.now(UTC))])
    await client.close()
    reports = [routed_for(r) for r in (tw, em, ql, sms)]
    await publish(common, t.routed, *reports)

    async with running(build(settings(common, receiver, mailbox, xapi))):
        notes = await citizen_notes(common, 4)
        await eventually(lambda: mailbox.count() == 5 and len(receiver.to("/skpd/dbm")) == 4)
        records = await read_topic(common, t.notifications, 12)

    assert {(n.channel, n.outcome) for n in notes} == {
        ("twitter", "delivered"),
        ("email", "delivered"),
        ("qlue", "delivered"),
        ("sms", "delivered"),
    }
    assert {n.recipient for n in notes} == {r.reporter.pseudonym for r in reports if r.reporter}
    forwarded = "telah diteruskan ke Dinas Bina Marga untuk ditindaklanjuti."

    (post,) = xapi.posts
    assert post["reply"] == {"in_reply_to_tweet_id": tw.channel_message_id}
    assert post["text"] == f"Laporan Anda ({report_id(tw)}) {forwarded}"

    (reply,) = mailbox.to(MAILER.email or "")
    assert reply["In-Reply-To"] == f"<{em.channel_message_id}>" == reply["References"]
    assert reply["Subject"] == "Re: Jalan berlubang di Gambir" and reply["From"] == FROM
    assert re.fullmatch(
        rf"<aduan\.{report_id(em)}\.[0-9a-f]{{16}}@jakarta\.go\.id>", reply["Message-ID"].strip()
    )
    assert forwarded in reply.get_content()

    (callback,) = qlue_calls(receiver)
    assert callback["qlue_id"] == ql.channel_message_id and callback["status"] == "forwarded"
    assert callback["report_id"] == report_id(ql) and forwarded in callback["message"]

    (text,) = receiver.to("/sms")
    assert json.loads(text.body) == {
        "to": TEXTER.phone,
        "text": f"Laporan Anda ({report_id(sms)}) {forwarded}",
    }
    assert text.headers["authorization"] == f"Bearer {SMS_TOKEN}"

    unit_mails = mailbox.to("dbm@skpd.jakarta.go.id")
    assert len(unit_mails) == 4 and all(
        m["Subject"].strip().startswith("[Aduan] Laporan baru") for m in unit_mails
    )
    assert all(m["Message-ID"].startswith("<aduan-unit.") for m in unit_mails)  # never taken for a follow-up
    assert "Batas waktu tanggapan" in unit_mails[0].get_content()

    # Pseudonyms only: no contact in any notification record or any log line.
    published = b"".join(r.value for r in records)
    # The test's own SMTP server (aiosmtpd, logger ``mail.log``) logs the recipients it is given.
    logged = repr(logs) + "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail."))
    for secret in CONTACT_STRINGS:
        assert secret.encode() not in published, secret
        assert secret not in logged, secret
    assert any(e.get("event") == "delivered" and e.get("channel") == "twitter" for e in logs)


async def test_every_trigger_tells_the_citizen_its_message(
    common: CommonSettings, receiver: Receiver, mailbox: Mailbox
) -> None:
    """received (held for triage), forwarded, in progress, resolved with the evidence link, escalated,
    reopened (and the unit told of the reopening); rejected tells nobody; an SLA kind this notifier does
    not know yet is ignored, not dead-lettered (checked to fail: with ``parser_for(SlaEvent)`` instead
    of ``tolerant``, the new kind landed on the dead-letter topic)."""
    t = common.topics
    raw = raw_qlue(reporter=QLUER)
    rid = report_id(raw)
    decided = routed_for(raw)
    await publish(common, t.raw("qlue"), raw)
    await publish(common, t.routed, decided.model_copy(update={"needs_triage": True}), decided)
    async with running(build(settings(common, receiver, mailbox))):
        await eventually(lambda: len(receiver.to("/qlue")) == 2)
        await publish(
            common,
            t.status,
            status(rid, "in_progress"),
            status(rid, "rejected"),
            status(rid, "resolved", evidence=["https://foto.example/selesai.jpg"]),
            status(rid, "reopened", note="Warga melapor masalah muncul lagi."),
        )
        future = breach(rid).model_dump(mode="json") | {
            "kind": "respond_forecast"
        }  # a kind from a newer monitor
        await publish_bytes(common, t.sla_events, json.dumps(future).encode(), key=rid.encode())
        await publish(common, t.sla_events, breach(rid, escalate_to="pemprov"))
        await eventually(
            lambda: len(receiver.to("/qlue")) == 6 and len(mailbox.to("pemprov@skpd.jakarta.go.id"))
        )
        await eventually(lambda: len(mailbox.to("dbm@skpd.jakarta.go.id")) == 2)
        dlq = await read_topic(common, t.dlq, 1, timeout=1)

    calls = qlue_calls(receiver)
    assert [c["status"] for c in calls[:2]] == ["received", "forwarded"]
    status_calls = [c for c in calls[2:] if c["status"] != "escalated"]
    assert [c["status"] for c in status_calls] == ["in_progress", "resolved", "reopened"]
    by = {c["status"]: c["message"] for c in calls}
    assert "kami terima" in by["received"] and "Dinas Bina Marga" in by["forwarded"]
    assert "https://foto.example/selesai.jpg" in by["resolved"]
    assert "dieskalasi ke Sekretariat Daerah Provinsi DKI Jakarta" in by["escalated"]
    assert "dibuka kembali" in by["reopened"]
    reopened_mail = mailbox.to("dbm@skpd.jakarta.go.id")[1]
    assert "dibuka kembali" in reopened_mail["Subject"]
    assert "Warga melapor masalah muncul lagi." in reopened_mail.get_content()
    assert [r.headers["ce-type"] for r in receiver.to("/skpd/dbm")] == [
        RoutedReport.EVENT_TYPE,
        StatusUpdate.EVENT_TYPE,
    ]
    assert "melewati batas waktu tanggapan" in mailbox.to("pemprov@skpd.jakarta.go.id")[0].get_content()
    assert dlq == []


async def test_unconfigured_channels_are_skipped_with_the_reason(common: CommonSettings) -> None:
    """Checked to fail: without the bearer-token check in ``outbound.citizen_reply``, the notifier tried
    to reply on X, failed and dead-lettered the routed records instead of recording the reason."""
    t = common.topics
    tw, em, ql = tweet(), mail(), raw_qlue(reporter=QLUER)
    await publish(common, t.raw("twitter"), tw)
    await publish(common, t.raw("email"), em)
    await publish(common, t.raw("qlue"), ql)
    await publish(common, t.routed, *(routed_for(r) for r in (tw, em, ql)))
    async with running(build(settings(common, contact_retention_days=30))):
        notes = await find_events(common, t.notifications, Notification, lambda n: True, 9)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(common.mongodb_url.get_secret_value())
    db = client[common.mongodb_db]
    ttl = [
        i.get("expireAfterSeconds")
        for c in ("contacts", "notifier_cases")
        for i in (await db[c].index_information()).values()
    ]
    await client.close()
    assert ttl.count(30 * 86400) == 2  # contacts (and case links) are forgotten after the retention
    reasons = {(n.audience, n.channel, n.outcome, n.detail) for n in notes}
    assert reasons == {
        ("unit", "webhook", "skipped", "no webhook configured for dbm"),
        ("unit", "email", "skipped", "SMTP not configured"),
        ("citizen", "twitter", "skipped", "X API not configured (no bearer token)"),
        ("citizen", "email", "skipped", "SMTP not configured"),
        ("citizen", "qlue", "skipped", "Qlue status callback not configured"),
    }


async def test_a_reply_waits_for_a_contact_still_on_its_way(
    common: CommonSettings, receiver: Receiver
) -> None:
    """The contact store fills from its own consumer group, so a routed report may come first: its
    reply waits (up to ``contact_wait_s``) instead of being skipped. Checked to fail: without the
    ``TransientError`` for a young event, the reply was skipped "no contact on record"."""
    t = common.topics
    raw = raw_qlue(reporter=QLUER)
    async with running(build(settings(common, receiver))) as client:
        await publish(common, t.routed, routed_for(raw))
        app_worker = client._transport.app.state.worker  # type: ignore[attr-defined]
        await eventually(lambda: app_worker.consumed >= 1)
        await publish(common, t.raw("qlue"), raw)
        notes = await citizen_notes(common, 1)
    assert [(n.channel, n.outcome) for n in notes] == [("qlue", "delivered")]
    assert len(receiver.to("/qlue")) == 1


async def test_reporters_of_duplicates_are_told_when_the_case_moves(
    common: CommonSettings, receiver: Receiver, xapi: FakeX
) -> None:
    """Checked to fail: with ``duplicates_too`` ignored in ``notify_batch``, the duplicate's reporter
    heard nothing of the case's progress."""
    t = common.topics
    first, dup = raw_qlue(reporter=QLUER), tweet(7)
    main_id, dup_id = report_id(first), report_id(dup)
    await publish(common, t.raw("qlue"), first)
    await publish(common, t.raw("twitter"), dup)
    dup_routed = routed_for(dup, duplicate_of=main_id)
    await publish(common, t.routed, routed_for(first), dup_routed)
    async with running(build(settings(common, receiver, xapi=xapi))):
        await eventually(lambda: len(receiver.to("/qlue")) == 1 and xapi.count() == 1)
        await publish(common, t.status, status(main_id, "in_progress"))
        notes = await find_events(
            common,
            t.notifications,
            Notification,
            lambda n: n.audience == "citizen" and n.report_id == main_id,
            2,
        )
    assert [c["status"] for c in qlue_calls(receiver)] == ["forwarded", "in_progress"]
    assert [p["reply"]["in_reply_to_tweet_id"] for p in xapi.posts] == [dup.channel_message_id] * 2
    assert f"Laporan Anda ({dup_id}) sedang ditangani oleh Dinas Bina Marga." == xapi.posts[1]["text"]
    told = {n.recipient: n for n in notes}
    assert dup_routed.reporter is not None and told[dup_routed.reporter.pseudonym].channel == "twitter"


def decision(rid: str, action: str, into: str | None = None) -> DuplicateDecision:
    return DuplicateDecision(report_id=rid, action=action, into=into, at=datetime.now(UTC), by="operator-3")  # type: ignore[arg-type]


async def test_duplicate_links_follow_an_operators_split_and_merge(
    common: CommonSettings, receiver: Receiver, xapi: FakeX
) -> None:
    """Case A: a Qlue report with two X duplicates (tweets 7 and 8). Case B: another Qlue report with
    one X duplicate (tweet 9). The operator splits tweet 7 off A and merges B into A; then the routed
    report of tweet 7 is re-delivered, still linked to A. When A moves, its reporter, tweet 8's, B's and
    tweet 9's are told, tweet 7's not; when tweet 7's own case moves, only its reporter is told.

    Checked to fail: with ``on_decisions`` doing nothing, the test went red waiting for the decisions to
    be recorded; with the ``decided_at`` guard dropped from ``CaseLinks.record_many``, the re-delivered
    routed report linked tweet 7 to A again and its reporter heard of A's progress (red on the replies);
    with the merge not moving the reports linked to B, tweet 9's reporter heard nothing of A (10 of the 11
    citizen notifications)."""
    t = common.topics
    a, b = raw_qlue(reporter=QLUER), raw_qlue(reporter=QLUER)
    split_off, stays, follows_b = tweet(7), tweet(8), tweet(9)
    a_id, b_id, split_id = report_id(a), report_id(b), report_id(split_off)
    for raw in (a, b):
        await publish(common, t.raw("qlue"), raw)
    for raw in (split_off, stays, follows_b):
        await publish(common, t.raw("twitter"), raw)
    split_routed = routed_for(split_off, duplicate_of=a_id)
    await publish(
        common,
        t.routed,
        routed_for(a),
        split_routed,
        routed_for(stays, duplicate_of=a_id),
        routed_for(b),
        routed_for(follows_b, duplicate_of=b_id),
    )
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(common.mongodb_url.get_secret_value())
    cases = client[common.mongodb_db]["notifier_cases"]
    try:
        async with running(build(settings(common, receiver, xapi=xapi))):
            await eventually(lambda: len(receiver.to("/qlue")) == 2 and xapi.count() == 3)
            await publish(common, t.duplicates, decision(split_id, "split"), decision(b_id, "merge", a_id))

            async def decided() -> bool:
                docs = {d["_id"]: d async for d in cases.find({"decided_at": {"$exists": True}})}
                return {split_id, b_id} <= set(docs)

            await eventually(decided)
            before = await cases.find_one({"_id": split_id})
            assert before is not None
            await publish(common, t.routed, split_routed)  # re-delivered, with the link before the split

            async def recorded_again() -> bool:
                doc = await cases.find_one({"_id": split_id})
                return doc is not None and doc["at"] > before["at"]

            await eventually(recorded_again)
            await publish(common, t.status, status(a_id, "in_progress"))
            await publish(common, t.status, status(split_id, "in_progress"))
            await find_events(
                common,
                t.notifications,
                Notification,
                lambda n: n.audience == "citizen",
                11,
                settle=1,  # 5 + 1 again + 4 + 1
            )
    finally:
        await client.close()
    told_of_a = sorted(c["report_id"] for c in qlue_calls(receiver) if c["status"] == "in_progress")
    assert told_of_a == sorted([a_id, b_id])
    replies = [(p["reply"]["in_reply_to_tweet_id"], p["text"]) for p in xapi.posts[3:]]
    assert sorted(replies) == sorted(
        [
            (
                stays.channel_message_id,
                f"Laporan Anda ({report_id(stays)}) sedang ditangani oleh Dinas Bina Marga.",
            ),
            (
                follows_b.channel_message_id,
                f"Laporan Anda ({report_id(follows_b)}) sedang ditangani oleh Dinas Bina Marga.",
            ),
            (
                split_off.channel_message_id,
                f"Laporan Anda ({split_id}) sedang ditangani oleh Dinas Bina Marga.",
            ),
        ]
    )
