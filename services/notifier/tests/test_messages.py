"""Pure rules: templates, what each event triggers, and what goes out on each channel."""

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aduan_kit.signing import verify
from aduan_kit.testing.plugin import CITY_DIR
from aduan_kit.testing.samples import normalized, raw_qlue
from aduan_notifier.config import NotifierSettings
from aduan_notifier.contacts import Contact, contact_document
from aduan_notifier.digest import due, entry, slot_of
from aduan_notifier.links import CaseLink
from aduan_notifier.outbound import HttpRequest, Mail, Skip, citizen_reply, message_id
from aduan_notifier.templates import load_templates
from aduan_notifier.triggers import Ignored, Plan, plan, tolerant
from aduan_schemas.city import load_city
from aduan_schemas.events import (
    Reporter,
    RoutedReport,
    Routing,
    SlaDeadlines,
    SlaEvent,
    StatusUpdate,
)
from aduan_schemas.ids import report_id

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
CITY = load_city(CITY_DIR)
TEMPLATES = load_templates(CITY_DIR)
LINK = CaseLink("rpt-1", "dbm", "Dinas Bina Marga", "psn_1")


def routed(triage: bool = False, rerouted_from: str | None = None) -> RoutedReport:
    n = normalized(report_id="rpt-1")
    return RoutedReport(
        **n.model_dump(),
        rerouted_at=NOW if rerouted_from else None,
        rerouted_from=rerouted_from,
        skpd_code="dbm",
        skpd_name="Dinas Bina Marga",
        needs_triage=triage,
        routing=Routing(rule="t", version="1", reason="t"),
        sla=SlaDeadlines(policy="standard", respond_by=NOW, resolve_by=NOW),
    )


def status(value: str, evidence: list[str] | None = None) -> StatusUpdate:
    return StatusUpdate(report_id="rpt-1", status=value, at=NOW, by="dbm", evidence=evidence or [])  # type: ignore[arg-type]


def breach(escalate_to: str | None, kind: str = "respond_breached") -> SlaEvent:
    return SlaEvent(
        report_id="rpt-1",
        kind=kind,  # type: ignore[arg-type]
        policy="standard",
        due_at=NOW,
        detected_at=NOW,
        skpd_code="dbm",
        escalate_to=escalate_to,
    )


def settings(**kw: object) -> NotifierSettings:
    return NotifierSettings(signing_secret="s", **kw)  # type: ignore[arg-type]


def test_every_citizen_template_renders_in_bahasa_indonesia() -> None:
    text = {
        k: TEMPLATES.citizen_text(k, report_id="R1", unit="Dinas Bina Marga", evidence="https://e/1.jpg")
        for k in ("received", "forwarded", "in_progress", "resolved", "escalated", "reopened")
    }
    assert "kami terima" in text["received"] and "R1" in text["received"]
    assert "diteruskan ke Dinas Bina Marga" in text["forwarded"]
    assert "sedang ditangani oleh Dinas Bina Marga" in text["in_progress"]
    assert "selesai" in text["resolved"] and "https://e/1.jpg" in text["resolved"]
    assert "dieskalasi ke Dinas Bina Marga" in text["escalated"]
    assert "dibuka kembali" in text["reopened"]
    assert all(len(t) <= 280 for t in text.values())  # an X reply holds them whole


def test_times_are_shown_in_local_time() -> None:
    assert TEMPLATES.when(NOW) == "02-11-2026 15:00 WIB"


def test_a_template_with_an_unknown_placeholder_is_refused(tmp_path: Path) -> None:
    """Fails if ``_only`` is not called for citizen messages: the file then loads."""
    text = (CITY_DIR / "templates.yaml").read_text().replace("{unit} untuk ditindaklanjuti.", "{unitt}.", 1)
    (tmp_path / "templates.yaml").write_text(text)
    with pytest.raises(ValueError, match=r"citizen\.forwarded: unknown placeholder\(s\) \['unitt'\]"):
        load_templates(tmp_path)
    with pytest.raises(ValueError, match="missing"):
        load_templates(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (routed(triage=True), Plan(citizen="received", held_for_triage=True, webhook_to="dbm")),
        (
            routed(),
            Plan(
                webhook_to="dbm",
                email_to="dbm",
                email="routed",
                citizen="forwarded",
                unit_name="Dinas Bina Marga",
            ),
        ),
        # Re-routed after "not ours" or a re-categorisation: the unit it was taken from is told too.
        (
            routed(rerouted_from="kel-3171011001"),
            Plan(
                webhook_to="dbm",
                email_to="dbm",
                email="routed",
                citizen="forwarded",
                unit_name="Dinas Bina Marga",
                moved_from="kel-3171011001",
            ),
        ),
        (
            status("in_progress"),
            Plan(citizen="in_progress", unit_name="Dinas Bina Marga", duplicates_too=True),
        ),
        (
            status("resolved", ["https://e/1.jpg", "https://e/2.jpg"]),
            Plan(
                citizen="resolved",
                unit_name="Dinas Bina Marga",
                evidence="https://e/1.jpg",
                duplicates_too=True,
            ),
        ),
        (
            status("reopened"),
            Plan(
                webhook_to="dbm",
                email_to="dbm",
                email="reopened",
                citizen="reopened",
                unit_name="Dinas Bina Marga",
                duplicates_too=True,
            ),
        ),
        (
            breach("pemprov"),
            Plan(
                webhook_to="pemprov",
                email_to="pemprov",
                email="breach",
                citizen="escalated",
                unit_name="Sekretariat Daerah Provinsi DKI Jakarta",
                duplicates_too=True,
                digest_unit="dbm",
            ),
        ),
        (
            breach(None),
            Plan(
                webhook_to="dbm",
                email_to="dbm",
                email="breach",
                unit_name="unit terkait",
                duplicates_too=True,
                digest_unit="dbm",
            ),
        ),
        # Step 1 of a Suku Dinas ladder is its own head: the report has not moved up, the citizen waits.
        (
            breach("dbm"),
            Plan(
                webhook_to="dbm",
                email_to="dbm",
                email="breach",
                unit_name="Dinas Bina Marga",
                duplicates_too=True,
                digest_unit="dbm",
            ),
        ),
        # A warning reminds the unit alone; a later ladder step is not a new breach in the digest.
        (breach(None, "resolve_warning"), Plan(webhook_to="dbm", email_to="dbm", email="warning")),
        (
            breach("pemprov", "resolve_escalated"),
            Plan(
                webhook_to="pemprov",
                email_to="pemprov",
                email="breach",
                citizen="escalated",
                unit_name="Sekretariat Daerah Provinsi DKI Jakarta",
                duplicates_too=True,
            ),
        ),
    ],
)
def test_what_each_event_triggers(event: RoutedReport | StatusUpdate | SlaEvent, expected: Plan) -> None:
    assert plan(event, LINK, CITY.skpd) == expected


@pytest.mark.parametrize("value", ["received", "rejected", "reassigned"])
def test_statuses_the_unit_wrote_itself_tell_nobody(value: str) -> None:
    assert isinstance(plan(status(value), LINK, CITY.skpd), Ignored)


def test_unknown_future_kinds_are_ignored_but_broken_records_still_fail() -> None:
    """Fails if ``tolerant`` is replaced by the plain model parser: the new kind raises instead."""
    parse = tolerant(SlaEvent, "kind", frozenset({"respond_breached", "resolve_breached"}))
    body = breach(None).model_dump(mode="json")
    new_kind = {**body, "kind": "respond_warning"}
    ignored = parse(json.dumps(new_kind).encode())
    assert isinstance(ignored, Ignored) and ignored.report_id == "rpt-1"
    assert isinstance(parse(json.dumps(body).encode()), SlaEvent)
    with pytest.raises(ValueError):
        parse(json.dumps({**body, "due_at": "not a time"}).encode())
    with pytest.raises(ValueError):
        parse(b"not json")


def contact(channel: str, **kw: str | None) -> Contact:
    return Contact(report_id="rpt-1", channel=channel, channel_message_id="m-1", **kw)  # type: ignore[arg-type]


def test_the_contact_store_keeps_the_reply_context_under_the_normalizers_report_id() -> None:
    raw = raw_qlue(reporter=Reporter(name="Budi", phone="+62811"), raw={"conversation_id": 42})
    doc = contact_document(raw, NOW)
    assert doc["_id"] == report_id(raw) and doc["channel"] == "qlue"
    assert doc["channel_message_id"] == raw.channel_message_id and doc["conversation_id"] == "42"
    assert (doc["phone"], doc["name"], doc["at"]) == ("+62811", "Budi", NOW)
    assert "+62811" not in repr(contact("sms", phone="+62811"))  # a stray log line shows no contact


def test_x_reply_has_the_v2_shape() -> None:
    out = citizen_reply(
        settings(x_bearer_token="tok", x_api_url="http://x.test/"),
        contact("twitter"),
        "a" * 300,
        "forwarded",
        "k",
        NOW,
    )
    assert isinstance(out, HttpRequest) and out.url == "http://x.test/2/tweets"
    body = json.loads(out.body)
    assert body["reply"] == {"in_reply_to_tweet_id": "m-1"} and len(body["text"]) == 280
    assert out.headers_now()["authorization"] == "Bearer tok"


def test_email_reply_threads_on_the_citizens_message_id() -> None:
    s = settings(smtp_host="127.0.0.1", smtp_from="aduan@jakarta.go.id")
    out = citizen_reply(
        s,
        contact("email", email="warga@example.org", subject_line="Jalan rusak"),
        "teks",
        "forwarded",
        "k",
        NOW,
    )
    assert isinstance(out, Mail)
    m = out.message
    assert m["In-Reply-To"] == "<m-1>" and m["References"] == "<m-1>" and m["Subject"] == "Re: Jalan rusak"
    assert re.fullmatch(r"<aduan\.rpt-1\.[0-9a-f]{16}@jakarta\.go\.id>", m["Message-ID"])
    assert m["To"] == "warga@example.org" and m["Auto-Submitted"] == "auto-generated"
    assert message_id("rpt-1", "k", "d") == message_id("rpt-1", "k", "d") != message_id("rpt-1", "k2", "d")


def test_qlue_callback_is_signed_and_sms_goes_to_the_gateway() -> None:
    s = settings(
        qlue_callback_url="http://q.test/cb", qlue_callback_secret="qs", sms_gateway_url="http://g/s"
    )
    q = citizen_reply(s, contact("qlue"), "teks", "resolved", "k", NOW)
    assert isinstance(q, HttpRequest)
    h = q.headers_now()
    verify("qs", q.body, h["X-Aduan-Timestamp"], h["X-Aduan-Signature"])
    sms = citizen_reply(s, contact("sms", phone="+62811"), "teks", "resolved", "k", NOW)
    assert isinstance(sms, HttpRequest) and sms.body == b'{"to":"+62811","text":"teks"}'


@pytest.mark.parametrize(
    ("channel", "fields", "reason"),
    [
        ("twitter", {}, "X API not configured"),
        ("email", {}, "SMTP not configured"),
        ("qlue", {}, "Qlue status callback not configured"),
        ("sms", {}, "SMS gateway not configured"),
        ("lapor", {}, "no reply channel for lapor reports"),
    ],
)
def test_unconfigured_channels_are_skipped_with_a_reason(
    channel: str, fields: dict[str, str], reason: str
) -> None:
    out = citizen_reply(settings(), contact(channel, **fields), "teks", "forwarded", "k", NOW)
    assert isinstance(out, Skip) and out.reason.startswith(reason)


def test_a_reporter_without_an_address_on_the_channel_is_skipped() -> None:
    s = settings(smtp_host="h", smtp_from="a@b", sms_gateway_url="http://g/s")
    assert citizen_reply(s, contact("email"), "t", "f", "k", NOW) == Skip(
        "email", "the reporter left no email address"
    )
    assert citizen_reply(s, contact("sms"), "t", "f", "k", NOW) == Skip(
        "sms", "the reporter left no phone number"
    )


def test_settings_that_come_in_pairs() -> None:
    with pytest.raises(ValueError, match="SMTP_FROM is required"):
        settings(smtp_host="h")
    with pytest.raises(ValueError, match="QLUE_CALLBACK_SECRET is required"):
        settings(qlue_callback_url="http://q")
    with pytest.raises(ValueError, match="one address"):
        settings(unit_email_template="{skpd_code}")
    assert settings(smtp_host="h", smtp_from="aduan@jakarta.go.id").message_id_domain == "jakarta.go.id"


def test_digest_entries_are_filed_per_period_and_grouped_per_unit() -> None:
    a, b = breach(None), breach(None).model_copy(update={"report_id": "rpt-0", "due_at": NOW.replace(hour=7)})
    entries = [entry(a, "dbm", NOW, 3600), entry(b, "dbm", NOW, 3600), entry(a, "pemprov", NOW, 3600)]
    assert entries[0]["_id"] == "sla:rpt-1:respond_breached|dbm" and entries[0]["slot"] == slot_of(NOW, 3600)
    groups = due(entries)
    assert [e["report_id"] for e in groups[("dbm", slot_of(NOW, 3600))]] == ["rpt-0", "rpt-1"]
    assert len(groups) == 2
    subject, body = TEMPLATES.digest_mail(
        "Dinas Bina Marga",
        NOW,
        [{"report_id": "rpt-0", "deadline": TEMPLATES.deadline("respond_breached"), "due_at": "x"}],
    )
    assert "1 laporan" in subject and "- rpt-0: batas waktu tanggapan (x)" in body
