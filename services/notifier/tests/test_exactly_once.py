"""Exactly once: redelivered events across consumer restarts send nothing twice, to a real webhook
receiver and a real SMTP server; the breach digest goes out once per unit and period."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.kafka import eventually, find_events
from aduan_kit.testing.mailbox import Mailbox
from aduan_kit.testing.receiver import Receiver
from aduan_kit.testing.samples import normalized
from aduan_notifier import digest
from aduan_notifier.main import build
from aduan_schemas.events import (
    Notification,
    RawEmail,
    Reporter,
    RoutedReport,
    Routing,
    SlaDeadlines,
    SlaEvent,
    StatusUpdate,
)
from aduan_schemas.ids import report_id
from services.notifier.tests.builders import publish, settings

pytestmark = pytest.mark.usefixtures("fixed_topics")

DIGEST_SUBJECT = "[Aduan] Ringkasan"


def breach(rid: str, unit: str) -> SlaEvent:
    now = datetime.now(UTC)
    return SlaEvent(
        report_id=rid,
        kind="respond_breached",
        policy="standard",
        due_at=now - timedelta(hours=1),
        detected_at=now,
        skpd_code=unit,
    )


async def test_redelivery_across_restarts_sends_nothing_twice(
    common: CommonSettings, receiver: Receiver, mailbox: Mailbox
) -> None:
    """Every delivery is checked against the durable sent log. Checked to fail: with the
    ``done.get(d.key)`` check removed from ``deliver``, the second consumer sent every webhook and email
    again (4 POSTs where 2 were expected)."""
    t = common.topics
    raw = RawEmail(
        channel_message_id="CAF-99@mail.example.org",
        received_at=datetime.now(UTC),
        text="Sampah",
        subject_line="Sampah menumpuk",
        reporter=Reporter(email="warga@example.org"),
    )
    rid = report_id(raw)
    n = normalized(report_id=rid, channel="email", channel_message_id=raw.channel_message_id)
    report = RoutedReport(
        **n.model_dump(),
        skpd_code="dlh",
        skpd_name="Dinas Lingkungan Hidup",
        routing=Routing(rule="t", version="1", reason="t"),
        sla=SlaDeadlines(policy="standard", respond_by=n.received_at, resolve_by=n.received_at),
    )
    done = StatusUpdate(
        report_id=rid,
        status="resolved",
        at=datetime.now(UTC),
        by="dlh",  # type: ignore[arg-type]
        evidence=["https://foto.example/1.jpg"],
    )
    late = breach(rid, "dlh")
    await publish(common, t.raw("email"), raw)
    await publish(common, t.routed, report)
    await publish(common, t.status, done)
    await publish(common, t.sla_events, late)
    s = settings(common, receiver, mailbox)

    # routed: webhook, unit email, reply; resolved: reply; breach: webhook, unit email
    async with running(build(s)):
        # Outcomes are published only after their batch's sent-log write: this run is complete.
        await find_events(common, t.notifications, Notification, lambda x: x.outcome == "delivered", 6)
    assert len(receiver.to("/skpd/dlh")) == 2 and mailbox.count() == 4
    # The broker delivers the same events again (a producer retry, a replay): a new consumer sees them.
    await publish(common, t.routed, report)
    await publish(common, t.status, done)
    await publish(common, t.sla_events, late)
    async with running(build(s)):  # each redelivered event is answered, whatever was sent
        notes = await find_events(common, t.notifications, Notification, lambda x: True, 12, settle=1.0)
    again = [x for x in notes[6:] if x.outcome == "delivered"]

    assert len(receiver.to("/skpd/dlh")) == 2
    assert mailbox.count() == 4
    assert len(mailbox.to("warga@example.org")) == 2 and len(mailbox.to("dlh@skpd.jakarta.go.id")) == 2
    # (more than 6 when the first consumer stopped between publishing and committing)
    assert all(x.detail == "delivered before" for x in again) and len(again) >= 6
    assert {(x.audience, x.channel) for x in again} == {
        ("unit", "webhook"),
        ("unit", "email"),
        ("citizen", "email"),
    }


async def test_one_digest_per_unit_and_period_listing_its_breaches(
    common: CommonSettings, receiver: Receiver, mailbox: Mailbox
) -> None:
    """Breaches are filed under the period they arrive in; once it closes each unit gets one email
    listing them, and never a second one: not after a restart, a crash between sending and marking, or a
    redelivered breach. Checked to fail: with the sent-log check (``key in done``) removed from
    ``send_digests``, the restarted notifier sent both digests again."""
    t = common.topics
    now = [datetime(2026, 11, 2, 8, 0, 10, tzinfo=UTC)]  # 10 s into an hour-long period

    def clock() -> datetime:
        return now[0]

    breaches = [breach("rpt-a", "dbm"), breach("rpt-b", "dbm"), breach("rpt-c", "dlh")]
    await publish(common, t.sla_events, *breaches)
    s = settings(common, receiver, mailbox, digest_interval_s=3600, digest_check_s=0.1)
    async with running(build(s, clock=clock)):
        await find_events(common, t.notifications, Notification, lambda x: x.channel == "email", 3)
        await eventually(lambda: mailbox.count() == 3)  # the breach emails, and no digest yet
        assert not [m for _, m in mailbox.messages if m["Subject"].strip().startswith(DIGEST_SUBJECT)]
        now[0] += timedelta(hours=1)  # the period closes
        # Outcomes are published after the digest's sent-log write: both digests are complete.
        await find_events(
            common, t.notifications, Notification, lambda x: (x.detail or "").startswith("digest of"), 3
        )
        assert mailbox.count() == 5
    # As if the process had died after sending the digests and before marking their breaches sent.
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(common.mongodb_url.get_secret_value())
    await client[common.mongodb_db][digest.COLLECTION].update_many({}, {"$set": {"done": False}})
    await client.close()
    await publish(common, t.sla_events, breaches[0])  # redelivered: filed already, not filed again
    async with running(build(s, clock=clock)):
        now[0] += timedelta(hours=1)
        await find_events(
            common,
            t.notifications,
            Notification,
            lambda x: x.detail == "delivered before" and x.channel == "email",
            1,
            settle=1.0,
        )

    digests = [(rcpt, m) for rcpt, m in mailbox.messages if m["Subject"].strip().startswith(DIGEST_SUBJECT)]
    assert sorted(r[0] for r, _ in digests) == ["dbm@skpd.jakarta.go.id", "dlh@skpd.jakarta.go.id"]
    dbm = next(m for r, m in digests if r == ["dbm@skpd.jakarta.go.id"])
    assert "2 laporan" in dbm["Subject"] and "02-11-2026 15:00 WIB" in dbm["Subject"]
    body = dbm.get_content()
    assert "- rpt-a: batas waktu tanggapan" in body and "- rpt-b: batas waktu tanggapan" in body
    assert dbm["Message-ID"].strip().startswith("<aduan-digest.dbm.")
    notes = await find_events(
        common, t.notifications, Notification, lambda x: (x.detail or "").startswith("digest of"), 3
    )
    assert {(x.report_id, x.recipient, x.outcome) for x in notes} == {
        ("rpt-a", "dbm", "delivered"),
        ("rpt-b", "dbm", "delivered"),
        ("rpt-c", "dlh", "delivered"),
    }
