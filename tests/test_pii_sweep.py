"""Contact details never leave the raw topics: a mixed run through the whole stack, then a sweep of
everything it left behind.

Reporters' contacts made up for this run (``tests/pii_sweep.py``: phone numbers written ``0812-…``,
``+62 812-…``, ``62812…`` and ``+62 (0)812 …``, e-mail addresses, accounts, names) go in through the
contact fields of every channel — Qlue, SMS, Open311, X and e-mail webhooks — and are typed into the
complaint texts and addresses (one report, with no recognisable problem, is held for triage). An
official of the responsible unit writes a citizen's number and address into status notes: once
through the status API, once as a unit's system publishing on ``aduan.reports.status`` itself. Bad
requests carrying contacts are refused (their answers are swept too). Three records carry contacts to
the dead-letter topic: a bad record on a raw topic (its key a phone number), a bad record on
``aduan.reports.normalized`` and a status update no rule accepts (``resolved`` without a photo). Once
every report is a case, the notes are applied, the dead letters written and the notifier has answered
every report (webhooks to the units included), the test looks for each value in:

- every record (key, value, headers) of every topic of the stack's prefix except ``aduan.raw.*``, but
  the three records the test wrote there itself (the unit's two updates, the bad normalized record);
- every document of every collection of the stack's database except the notifier's protected contact
  store (``contacts``);
- every service's log file (``Stack.logs_dir``) and ``/metrics`` answer;
- every request (headers and body) the units' webhook receiver got;
- ``GET /v1/cases/{id}``, ``GET /v1/unit/cases`` (every page), the router's triage list, Open311
  ``requests.json`` (by id, and the newest page) and ``requests/{id}.json``, ``/laporan/{id}``.

It fails listing every hit: where, and which value. It cannot pass on an empty search: every value is
found on the raw topics or in the test's own records, and the masks (``[TELEPON]``, ``[EMAIL]``,
``[AKUN]``) are seen in the case's text, its notes and the dead letter of the normalized record.

Checked to fail (each planted alone, then restored):
- with ``cases.masked_note`` returning the update as given (the monitor before notes were masked), it
  went red with 10 hits: both notes in the case store (``mongodb cases``) and in ``GET /v1/cases/{id}``,
  and the status API's update on ``aduan.reports.status``;
- with the normalizer's text left unmasked (``text=text`` instead of ``mask_contacts(text, keep)``) and
  the normalizer logging each report's reporter (``log.info("normalized", reporter=raw.reporter
  .model_dump())``), it went red with 92 hits: the typed numbers, addresses and accounts on the
  normalized, routed, triage and SKPD topics, in the case and triage stores, the webhook bodies,
  ``GET /v1/cases/{id}``, ``GET /v1/unit/cases`` and the triage list, and the contact fields' names,
  numbers, addresses and accounts in ``log normalizer.log``;
- with the kit's dead letters keeping payload and key unmasked (``aduan_kit.kafka``), it went red with
  5 hits on ``aduan.dlq``: the raw record's key, the poison update's note, the normalized record's text.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import httpx
import pytest

from aduan_cli.stack import Stack
from aduan_kit.kafka import Emit, EventProducer, producer_for
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.kafka import eventually, ids_on_topic
from aduan_kit.testing.receiver import Receiver
from aduan_notifier.contacts import COLLECTION as CONTACT_STORE
from aduan_router.api import MAX_LIST
from aduan_schemas.city import load_city
from aduan_schemas.events import DeadLetter, Notification, ReportStatus, RoutedReport, StatusUpdate
from tests.pii_sweep import (
    Contacts,
    Place,
    documents,
    found,
    hits,
    log_files,
    prefixed_topics,
    responses,
    topic_records,
    webhooks,
)
from tests.test_end_to_end import MONAS, case_of, post_signed
from tests.test_reliability import stored_ids

JSON = {"content-type": "application/json"}
UNIT = "dlh-3171"  # the unit of rubbish at Monas, which the stack's development unit key answers for
ADDRESS = "Jl. Medan Merdeka Barat, Gambir"
Position = tuple[str, int, int]  # topic, partition, offset


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def post_open311(stack: Stack, body: bytes) -> httpx.Response:
    return httpx.post(
        f"{stack.services['ingest-open311'].url}/requests.json",
        content=body,
        headers={**JSON, "x-api-key": stack.secrets()["ADUAN_INGEST_OPEN311_DEV_API_KEY"]},
        timeout=30,
    )


def send_reports(stack: Stack, c: Contacts) -> dict[str, str]:
    """One report per channel (and one for triage), contacts in its contact fields and typed into its
    text: channel -> report id."""
    ids: dict[str, str] = {}
    qlue = {
        "id": f"QLU-{uuid.uuid4().hex[:10]}",
        "created_at": now_iso(),
        "description": f"Tumpukan sampah di trotoar, sudah tiga hari tidak diangkut. Hubungi saya di "
        f"{c.phone().local} atau {c.email('Sari', 'Gmail.com')}, IG @{c.handle('ig')}",
        "category": "Sampah",
        "lat": MONAS[0],
        "lng": MONAS[1],
        "address": f"Jl. Medan Merdeka Barat no. 5 (WA {c.phone().trunk})",
        "user": {"id": c.handle("qlue"), "name": c.name("Sutini"), "phone": c.phone().international},
    }
    r = post_signed(stack, "qlue", qlue, timeout=30)
    assert r.status_code == 202, r.text
    ids["qlue"] = r.json()["report_id"]

    sms = {
        "id": f"SMS-{uuid.uuid4().hex[:10]}",
        "from": c.phone().plain,
        "to": "1708",
        "text": f"Sampah menumpuk di {ADDRESS}, belum diangkut. Tlp {c.phone().trunk} "
        f"email {c.email('budi', 'yahoo.co.id')}",
        "timestamp": now_iso(),
    }
    r = post_signed(stack, "sms", sms, timeout=30)
    assert r.status_code == 202, r.text
    ids["sms"] = r.json()["report_id"]

    # No recognisable problem: held for an operator's triage (the router's store and triage topic).
    hello = {
        "id": f"SMS-{uuid.uuid4().hex[:10]}",
        "from": c.phone().local,
        "to": "1708",
        "text": f"Halo admin, mohon info. Telepon balik ke {c.phone().international} atau "
        f"{c.email('yanti', 'gmail.com')} ya",
        "timestamp": now_iso(),
    }
    r = post_signed(stack, "sms", hello, timeout=30)
    assert r.status_code == 202, r.text
    ids["triage"] = r.json()["report_id"]

    tweet_author = str(uuid.uuid4().int)[:15]
    tweet = {
        "data": {
            "id": str(uuid.uuid4().int)[:19],
            "text": f"@DKIJakarta sampah menumpuk di trotoar {ADDRESS}, tolong diangkut. "
            f"WA {c.phone().local} / @{c.handle('tetangga')}",
            "created_at": now_iso(),
            "author_id": tweet_author,
            "geo": {"coordinates": {"type": "Point", "coordinates": [MONAS[1], MONAS[0]]}},
        },
        "includes": {"users": [{"id": tweet_author, "username": c.handle("warga"), "name": c.name("Rudi")}]},
    }
    r = post_signed(stack, "twitter", tweet, timeout=30)
    assert r.status_code == 202, r.text
    ids["twitter"] = r.json()["report_id"]

    mail = EmailMessage()
    mail["From"] = f"{c.name('Dewi')} <{c.email('dewi', 'gmail.com')}>"
    mail["To"] = "aduan@jakarta.go.id"
    mail["Subject"] = f"Sampah menumpuk, hubungi {c.phone().international}"
    mail["Message-ID"] = f"<{uuid.uuid4().hex}@mail.example.net>"
    mail["Date"] = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    mail.set_content(
        f"Sampah menumpuk di trotoar {ADDRESS}, sudah seminggu. "
        f"Nomor saya {c.phone().plain}, surel {c.email('dewi.kantor', 'kantor.co.id')}."
    )
    r = post_signed(stack, "email", mail.as_bytes(), content_type="message/rfc822", timeout=30)
    assert r.status_code == 202, r.text
    ids["email"] = r.json()["report_id"]

    first, last = c.name("Agus").split(" ", 1)
    open311 = {
        "service_code": "sampah",
        "description": f"Sampah berserakan di trotoar, mohon diangkut. Kontak {c.phone().international}",
        "lat": MONAS[0],
        "long": MONAS[1],
        "address_string": f"{ADDRESS}, dekat halte (hubungi {c.phone().plain})",
        "first_name": first,
        "last_name": last,
        "email": c.email("agus", "outlook.com"),
        "phone": c.phone().local,
        "account_id": c.handle("akun"),
    }
    r = post_open311(stack, json.dumps(open311).encode())
    assert r.status_code in (200, 201), r.text
    ids["open311"] = r.json()[0]["service_request_id"]
    return ids


def refused_requests(
    stack: Stack, c: Contacts, unit: dict[str, str], case_id: str
) -> tuple[list[Place], list[Place]]:
    """Bad requests that carry contacts, each refused with a reason: (what was sent, what was answered)."""
    sent: list[Place] = []
    answers: list[Place] = []

    def check(name: str, body: bytes, r: httpx.Response, status: int) -> None:
        assert r.status_code == status, (name, r.status_code, r.text)
        sent.append(Place(f"sent {name}", body.decode()))
        answers.append(Place(f"answer of {name} ({r.status_code})", f"{dict(r.headers)}\n{r.text}"))

    qlue = json.dumps(
        {
            "id": f"QLU-{uuid.uuid4().hex[:10]}",
            "created_at": now_iso(),
            "description": f"Sampah menumpuk, hubungi {c.phone().trunk}",
            "lat": 123.0,  # not a latitude
            "lng": MONAS[1],
            "user": {"id": c.handle("qlue"), "name": c.name("Wati"), "phone": c.phone().plain},
        }
    ).encode()
    check("qlue webhook", qlue, post_signed(stack, "qlue", qlue, timeout=30), 422)
    sms = json.dumps(
        {
            "id": f"SMS-{uuid.uuid4().hex[:10]}",
            "from": c.phone().local,
            "text": f"Sampah, {c.email('joko', 'gmail.com')}",
            "timestamp": f"tadi pagi {c.phone().international}",
        }
    ).encode()
    check("sms webhook", sms, post_signed(stack, "sms", sms, timeout=30), 422)
    open311 = json.dumps(
        {
            "service_code": f"kode-{c.phone().plain}",
            "description": f"Sampah, {c.email('tono', 'gmail.com')}",
            "lat": MONAS[0],
            "long": MONAS[1],
            "phone": c.phone().local,
            "first_name": c.name("Tono"),
        }
    ).encode()
    check("open311 request", open311, post_open311(stack, open311), 400)
    status = json.dumps(
        {
            "status": "in_progress",
            "at": f"tadi, hubungi {c.phone().trunk}",
            "by": "petugas-7",
            "note": f"Warga: {c.email('lina', 'gmail.com')}",
        }
    ).encode()
    sla = stack.services["sla-monitor"].url
    r = httpx.post(f"{sla}/v1/cases/{case_id}/status", content=status, headers={**JSON, **unit}, timeout=30)
    check("status update", status, r, 422)
    return sent, answers


async def publish(common: CommonSettings, topic: str, value: bytes, key: bytes) -> Position:
    producer = producer_for(common)
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()
    return (topic, meta.partition, meta.offset)


async def unit_updates(common: CommonSettings, updates: list[StatusUpdate]) -> list[Position]:
    """Status updates as a unit's system publishes them on Kafka itself."""
    producer = EventProducer(common, source=f"/skpd/{UNIT}")
    await producer.start()
    try:
        futures = [await producer.send(Emit(common.topics.status, u)) for u in updates]
        metas = [await f for f in futures]
    finally:
        await producer.stop()
    return [(common.topics.status, m.partition, m.offset) for m in metas]


async def until(what: str, check: Callable[[], Awaitable[bool]], timeout: float = 120) -> None:
    try:
        await eventually(check, timeout=timeout, interval=0.5)
    except AssertionError as e:
        raise AssertionError(f"{what}: {e}") from None


@pytest.mark.timeout(900)  # the session's stack may start here (up to 3 min)
async def test_no_contact_leaves_the_raw_topics(
    stack: Stack, stack_common: CommonSettings, skpd_inbox: Receiver
) -> None:
    common, t = stack_common, stack_common.topics
    c = Contacts()
    ids = send_reports(stack, c)
    rids = set(ids.values())

    # A bad record on a raw topic: its contacts and its key (a phone number) stay there.
    bad_phone = c.phone()
    bad_raw = json.dumps(
        {
            "channel": "qlue",
            "text": f"Sampah di {ADDRESS}, telp {bad_phone.local}, {c.email('rina', 'gmail.com')}",
            "reporter": {"name": c.name("Rina"), "phone": bad_phone.international},
        }
    ).encode()
    raw_position = await publish(common, t.raw("qlue"), bad_raw, f"QLU-{bad_phone.plain}".encode())

    async def all_cases() -> bool:
        return await stored_ids(common, rids) == rids

    await until("every report a case", all_cases)
    case = await case_of(common, ids["qlue"])
    assert case is not None and case["skpd_code"] == UNIT, case

    # The unit writes the citizen's contacts into notes: on Kafka itself, and through the status API.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10)
    received = StatusUpdate(
        report_id=ids["qlue"],
        status=ReportStatus.RECEIVED,
        at=start,
        by="sistem-dlh",
        skpd_code=UNIT,
        note=f"Pelapor bisa dihubungi di {c.phone().trunk} / {c.email('Sari.Kontak', 'GMAIL.COM').upper()}",
    )
    poison = StatusUpdate(  # resolved without a photo: dead-lettered by the monitor
        report_id=ids["qlue"],
        status=ReportStatus.RESOLVED,
        at=start + timedelta(seconds=8),
        by="sistem-dlh",
        skpd_code=UNIT,
        note=f"Selesai, konfirmasi ke {c.phone().plain} atau @{c.handle('petugas')}",
    )
    own = await unit_updates(common, [received, poison])
    unit_key = stack.demo_unit_key(load_city(stack.config.city_dir))
    assert unit_key
    unit = {"Authorization": f"Bearer {unit_key}"}
    sla = stack.services["sla-monitor"].url
    in_progress = {
        "status": "in_progress",
        "at": (start + timedelta(seconds=5)).isoformat(),
        "by": "petugas-7",
        "note": f"Warga sudah dihubungi di {c.phone().local} dan {c.email('warga', 'gmail.com')}",
    }
    r = httpx.post(f"{sla}/v1/cases/{ids['qlue']}/status", json=in_progress, headers=unit, timeout=30)
    assert r.status_code == 202, r.text
    api_event = r.json()["event_id"]
    refused, answers = refused_requests(stack, c, unit, ids["qlue"])
    refused.append(Place("sent status update", json.dumps(in_progress)))

    # A bad record after the raw topic: its payload goes to the dead-letter topic, masked.
    bad_normalized = json.dumps(
        {
            "report_id": f"rpt-{uuid.uuid4().hex[:8]}",
            "text": f"Hubungi {c.phone().trunk} / {c.email('x', 'ymail.com')}",
        }
    ).encode()
    own.append(await publish(common, t.normalized, bad_normalized, f"rpt-{uuid.uuid4().hex[:8]}".encode()))
    dead = {raw_position, own[1], own[2]}

    async def notes_applied() -> bool:
        case = await case_of(common, ids["qlue"]) or {}
        done = {h.get("event_id") for h in case.get("history") or ()}
        return {received.event_id(), api_event} <= done

    await until("the unit's notes applied", notes_applied)

    def letter_of(value: bytes) -> str:
        d = DeadLetter.model_validate_json(value)
        return f"{d.original_topic}|{d.partition}|{d.offset}"

    lettered = await ids_on_topic(
        common, t.dlq, letter_of, {"|".join(map(str, p)) for p in dead}, timeout=120
    )
    assert len(lettered) == len(dead), f"dead letters seen: {sorted(lettered)}"

    # The notifier answered every report (webhooks to units included) and the API's in_progress update.
    def notified(value: bytes) -> str:
        n = Notification.model_validate_json(value)
        return api_event if api_event in n.notification_id else f"{n.report_id}|{n.about}"

    wanted = {f"{rid}|{RoutedReport.EVENT_TYPE}" for rid in rids} | {api_event}
    told = await ids_on_topic(common, t.notifications, notified, wanted, timeout=180)
    assert wanted <= told.keys(), sorted(wanted - told.keys())

    # The sweep.
    raw_topics = set(t.raw_all)
    later_topics = [name for name in await prefixed_topics(common) if name not in raw_topics]
    assert {t.normalized, t.routed, t.status, t.dlq, t.notifications, t.skpd(UNIT)} <= set(later_topics)
    records = await topic_records(common, later_topics)
    for p in own:  # the test's own input: a unit's updates, a bad record
        records.pop(p, None)
    places: list[Place] = list(records.values())
    places += await documents(common, skip=[CONTACT_STORE])
    places += log_files(stack.logs_dir)
    places += webhooks(skpd_inbox)
    services = list(stack.services.values())
    token = {"Authorization": f"Bearer {stack.secrets()['ADUAN_ROUTER_OPERATOR_TOKEN']}"}
    urls: list[tuple[str, dict[str, str]]] = [(f"{s.url}/metrics", {}) for s in services]
    urls += [(f"{sla}/v1/cases/{rid}", {}) for rid in sorted(rids)]
    urls += [(f"{sla}/open311/v2/requests/{rid}.json", {}) for rid in sorted(rids)]
    urls += [(f"{sla}/laporan/{rid}", {}) for rid in sorted(rids)]
    urls += [
        (f"{sla}/open311/v2/requests.json?service_request_id={','.join(sorted(rids))}", {}),
        (f"{sla}/open311/v2/requests.json?page_size=200", {}),
        (f"{stack.services['router'].url}/v1/triage?limit={MAX_LIST}", token),
    ]
    places += await responses(urls)
    places += await unit_cases(sla, unit)
    places += answers

    # Not an empty search: every value is found where it went in.
    mine = [
        Place("sent", v)
        for v in (received.model_dump_json(), poison.model_dump_json(), bad_normalized.decode())
    ]
    inputs = [*(await topic_records(common, sorted(raw_topics))).values(), *mine, *refused]
    assert found(inputs, c.known) == {k.label for k in c.known}, "values not found in the input"

    found_hits = hits(places, c.known)
    assert not found_hits, f"{len(found_hits)} contact(s) found beyond the raw topics:\n" + "\n".join(
        found_hits[:300]
    )

    # ... and the masks where it went on.
    case = await case_of(common, ids["qlue"]) or {}
    notes = " ".join(str(h.get("note")) for h in case.get("history") or ())
    assert all(m in case.get("text", "") for m in ("[TELEPON]", "[EMAIL]", "[AKUN]")), case.get("text")
    assert "[TELEPON]" in notes and "[EMAIL]" in notes, notes
    assert any("[TELEPON]" in p.text and t.normalized in p.text for p in places if "aduan.dlq" in p.where)
    assert any(ids["qlue"] in p.text for p in places if p.where.startswith("webhook"))
    assert any(ids["triage"] in p.text for p in places if "aduan.reports.triage" in p.where)


async def unit_cases(sla: str, unit: dict[str, str]) -> list[Place]:
    """Every page of the unit's open cases."""
    out: list[Place] = []
    after: str | None = None
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(100):
            r = await client.get(
                f"{sla}/v1/unit/cases",
                params={"limit": 200, **({"after": after} if after else {})},
                headers=unit,
            )
            assert r.status_code == 200, r.text
            out.append(Place(f"GET {r.url}", r.text))
            after = r.json()["next_after"]
            if after is None:
                return out
    raise AssertionError("more than 100 pages of the unit's open cases")
