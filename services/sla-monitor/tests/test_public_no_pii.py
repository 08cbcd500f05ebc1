"""No personal data leaves the public endpoints: the whole service (broker, consumers, database) is
fed reports and status updates that carry known personal data in every place it can hide, then every
response of every public endpoint (JSON and HTML) is scanned for it.

Breaking it on purpose showed: without ``mask_contacts`` on the complaint text (``public_case``), the
phone, e-mail and handle typed into the text are found; without it on the units' notes, the official's
phone and e-mail were found (since then the status consumer masks notes when it applies them too,
``cases.masked_note``: both have to go for that leak); with the whole case document published
instead of the whitelist, the reporter's name, contact and pseudonym and the official's name in ``by``
are found.
"""

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.kafka import create_topics, eventually, publish_bytes
from aduan_schemas.events import Attachment, Event, Reporter, ReportStatus, RoutedReport, StatusUpdate
from aduan_sla_monitor.config import SlaMonitorSettings
from aduan_sla_monitor.main import build
from aduan_sla_monitor.public_case import STATUS_LABELS

MakeRouted = Callable[..., RoutedReport]
API = "/open311/v2"

# Every string below is personal data that must never appear in a public response (compared lowercase).
REPORTER = Reporter(
    name="Siti Rahmawati Kusumaningrum",
    handle="@siti_kusumaningrum",
    email="siti.kusumaningrum@surel.example.net",
    phone="+6281311112222",
    pseudonym="psn_4f9a8b7c6d5e",
)
TEXT = (
    "Sampah menumpuk di depan rumah saya. Hubungi saya 0813-1111-2222 atau "
    "siti.kusumaningrum@surel.example.net, ig @siti_kusumaningrum, WA wa.me/6281311112222, "
    "atau kakak saya di wati at surel dot com / +62 857 4444 5555."
)
OFFICIAL = "Bambang Sutrisno"
NOTE = "Dicek, info lanjut ke 0857-2222-3333 atau bambang.sutrisno@dinas.example.id (@bambang_dlh)."
SECRETS = [
    "siti",
    "rahmawati",
    "kusumaningrum",
    "surel.example",
    "psn_4f9a8b7c6d5e",
    "wati at surel",
    "bambang",
    "sutrisno",
    "dinas.example",
    "jl. kenanga",
    "qlue-private-message",
]
PHONE_DIGITS = ["81311112222", "85722223333", "85744445555"]


async def publish(common: CommonSettings, topic: str, event: Event) -> None:
    key = event.subject()
    await publish_bytes(common, topic, event.model_dump_json().encode(), key=key.encode() if key else None)


def leaks(text: str) -> list[str]:
    lowered = text.lower()
    found = [s for s in SECRETS if s in lowered]
    digits = re.sub(r"\D", "", text)
    return found + [d for d in PHONE_DIGITS if d in digits]


async def test_no_public_response_carries_personal_data(
    common: CommonSettings, make_routed: MakeRouted
) -> None:
    await create_topics(common)
    t = common.topics
    now = datetime.now(UTC).replace(microsecond=0)
    open_case = make_routed(
        "dlh",
        received_at=now - timedelta(days=8),
        channel_message_id="qlue-private-message-1",
        reporter=REPORTER,
        text=TEXT,
        address_text="Jl. Kenanga No. 12 RT 03/RW 04",
        attachments=[
            Attachment(url="https://foto.example.org/tpu.jpg?hp=081311112222"),
            Attachment(url="https://foto.example.org/sampah.jpg"),
        ],
    )
    closed_case = make_routed(
        "dbm", received_at=now - timedelta(days=2), reporter=REPORTER, text=TEXT, category="jalan"
    )
    updates = [
        StatusUpdate(
            report_id=open_case.report_id,
            status=ReportStatus.IN_PROGRESS,
            at=now - timedelta(days=1),
            by=OFFICIAL,
            note=NOTE,
            evidence=["https://foto.example.org/cek.jpg", "https://wa.me/6285722223333"],
        ),
        StatusUpdate(
            report_id=closed_case.report_id,
            status=ReportStatus.RESOLVED,
            at=now - timedelta(hours=1),
            by=f"{OFFICIAL} ({REPORTER.email})",
            note=NOTE,
            evidence=["https://foto.example.org/selesai.jpg"],
        ),
    ]
    async with running(build(SlaMonitorSettings(common=common, scan_interval_s=0.1))) as client:
        for report in (open_case, closed_case):
            await publish(common, t.routed, report)
        for update in updates:
            await publish(common, t.status, update)

        async def both_stored() -> bool:
            both = f"{open_case.report_id},{closed_case.report_id}"
            r = await client.get(f"{API}/requests.json", params={"service_request_id": both})
            got = r.json() if r.status_code == 200 else []
            # Stored with their routed report (a service code) and their status update (its note replaces
            # the status label); nothing here depends on masking.
            routed = STATUS_LABELS["routed"]
            return len(got) == 2 and all(x["service_code"] and x["status_notes"] != routed for x in got)

        await eventually(both_stored, timeout=30)

        responses: dict[str, httpx.Response] = {}
        queries: list[tuple[str, dict[str, Any]]] = [
            (f"{API}/services.json", {}),
            (f"{API}/requests.json", {}),
            (f"{API}/requests.json", {"status": "open"}),
            (f"{API}/requests.json", {"status": "closed"}),
            (f"{API}/requests.json", {"service_code": "sampah"}),
            (f"{API}/requests.json", {"service_request_id": open_case.report_id}),
            (
                f"{API}/requests.json",
                {"page_size": 200, "start_date": (now - timedelta(days=30)).isoformat()},
            ),
            (f"{API}/requests/{open_case.report_id}.json", {}),
            (f"{API}/requests/{closed_case.report_id}.json", {}),
            (f"{API}/requests/rpt-none.json", {}),
            (f"/laporan/{open_case.report_id}", {}),
            (f"/laporan/{closed_case.report_id}", {}),
            ("/laporan/rpt-none", {}),
        ]
        for path, params in queries:
            r = await client.get(path, params=params)
            responses[f"{path} {params}"] = r

    # No personal data in any response...
    found = {name: leaks(r.text) for name, r in responses.items()}
    assert {name: f for name, f in found.items() if f} == {}
    assert all("by" not in x for x in responses[f"{API}/requests.json {{}}"].json())
    # ...while the responses do hold the cases (so the scan above scanned something real).
    detail = responses[f"{API}/requests/{open_case.report_id}.json {{}}"].json()[0]
    assert "[TELEPON]" in detail["description"] and "[EMAIL]" in detail["description"]
    assert "[AKUN]" in detail["description"] and detail["media_url"] == "https://foto.example.org/sampah.jpg"
    page = responses[f"/laporan/{open_case.report_id} {{}}"].text
    assert "Sedang ditangani" in page and "[TELEPON]" in page and "https://foto.example.org/cek.jpg" in page
    closed = responses[f"{API}/requests.json {{'status': 'closed'}}"].json()
    assert [x["service_request_id"] for x in closed] == [closed_case.report_id]
