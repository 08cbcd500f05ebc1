"""The public Open311 API and the citizen status page against the real database.

Cases are written by the case store's own write paths (routed report, status updates); the public
router is served on its own (no broker needed) exactly as ``main.build`` mounts it.

Breaking it on purpose showed (each test's docstring names its guarantee): without ``escape`` in
``status_page._e`` both page tests fail; without the http(s) check in ``public_case.public_links`` the
field test and the page test fail; without rounding the field test fails; with unknown parameters
ignored the operator test fails; with ``page_size`` unbounded the paging test fails; without the date
window in ``CaseStore.public_find`` the filter test fails; with lateness judged only for unanswered
deadlines (not from the timestamps) the page test fails.
"""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from aduan_kit.mongo import mongo_client
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.samples import GAMBIR
from aduan_schemas.city import CityConfig
from aduan_schemas.events import Attachment, GeoPoint, ReportStatus, RoutedReport, StatusUpdate
from aduan_sla_monitor import open311
from aduan_sla_monitor.cases import status_change
from aduan_sla_monitor.public_api import public_api
from aduan_sla_monitor.status_page import when
from aduan_sla_monitor.store import CaseStore

MakeRouted = Callable[..., RoutedReport]
WIB = ZoneInfo("Asia/Jakarta")
NOW = datetime.now(UTC).replace(microsecond=0)
API = "/open311/v2"


@dataclass
class Public:
    store: CaseStore
    client: httpx.AsyncClient
    city: CityConfig

    async def routed(self, report: RoutedReport) -> RoutedReport:
        await self.store.apply_routed(report, NOW)
        return report

    async def status(self, report_id: str, status: ReportStatus, at: datetime, **kw: Any) -> None:
        update = StatusUpdate(report_id=report_id, status=status, at=at, by=kw.pop("by", "petugas-1"), **kw)
        await self.store.apply_status(status_change(update, self.city.skpd), NOW)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params)


@pytest.fixture
async def public(common: CommonSettings, city: CityConfig) -> AsyncIterator[Public]:
    mongo = mongo_client(common)
    store = CaseStore(mongo[common.mongodb_db])
    await store.ensure_indexes()
    app = FastAPI()
    app.state.cases = store
    app.include_router(public_api(city, WIB))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://service"
        ) as client:
            yield Public(store, client, city)
    finally:
        await mongo.close()


def rfc(value: datetime) -> str:
    return value.isoformat()


async def test_services_are_our_categories_in_bahasa(public: Public, city: CityConfig) -> None:
    r = await public.get(f"{API}/services.json")
    assert r.status_code == 200
    services = {s["service_code"]: s for s in r.json()}
    assert list(services) == [c.code for c in city.taxonomy.categories]
    sampah = services["sampah"]
    assert sampah["service_name"] == "Sampah" and sampah["metadata"] is False and sampah["type"] == "realtime"
    assert "kebersihan" in sampah["keywords"] and sampah["description"]
    assert services["pkl"]["service_name"] == "Pedagang Kaki Lima"
    assert (sampah["group"], services["pkl"]["group"]) == (
        "Kebersihan dan Lingkungan Hidup",
        "Ketertiban Umum",
    )
    assert set(sampah) == {
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    }


async def test_one_request_has_every_open311_field(public: Public, make_routed: MakeRouted) -> None:
    """Fails if coordinates are not rounded (``COORD_DECIMALS``), or if a ``javascript:`` photo link is
    published (the scheme check in ``public_case.public_links``)."""
    report = await public.routed(
        make_routed(
            "dlh",
            received_at=NOW - timedelta(hours=2),
            location=GeoPoint(lat=-6.175432, lon=106.827189),
            attachments=[
                Attachment(url="javascript:alert(1)"),
                Attachment(url="https://foto.example.org/sampah-1.jpg"),
                Attachment(url="https://foto.example.org/sampah-2.jpg"),
            ],
        )
    )
    await public.status(
        report.report_id, ReportStatus.IN_PROGRESS, NOW - timedelta(hours=1), note="Petugas menuju lokasi"
    )
    r = await public.get(f"{API}/requests/{report.report_id}.json")
    assert r.status_code == 200
    (req,) = r.json()
    assert req["service_request_id"] == report.report_id
    assert (req["status"], req["status_notes"]) == ("open", "Petugas menuju lokasi")
    assert (req["service_code"], req["service_name"]) == ("sampah", "Sampah")
    assert req["description"] == report.text
    assert req["agency_responsible"] == "Dinas Lingkungan Hidup"
    assert datetime.fromisoformat(req["requested_datetime"]) == report.received_at
    assert req["requested_datetime"].endswith("+07:00")
    assert datetime.fromisoformat(req["updated_datetime"]) == NOW - timedelta(hours=1)
    assert datetime.fromisoformat(req["expected_datetime"]) == report.sla.resolve_by
    assert req["address"] == "Kelurahan Gambir, Kecamatan Gambir, Jakarta Pusat"
    assert (req["lat"], req["long"]) == (-6.175, 106.827)
    assert req["media_url"] == "https://foto.example.org/sampah-1.jpg"


async def test_closed_when_resolved_or_rejected(public: Public, make_routed: MakeRouted) -> None:
    done = await public.routed(make_routed("dlh", received_at=NOW - timedelta(days=2)))
    await public.status(
        done.report_id,
        ReportStatus.RESOLVED,
        NOW - timedelta(days=1),
        evidence=["https://foto.example.org/a.jpg"],
    )
    (req,) = (await public.get(f"{API}/requests/{done.report_id}.json")).json()
    assert req["status"] == "closed" and req["status_notes"] == "Selesai"


async def test_unknown_or_malformed_id_is_an_open311_404(public: Public) -> None:
    for rid in ("rpt-unknown", '{"$gt":""}', "a" * 300):
        r = await public.get(f"{API}/requests/{rid}.json")
        assert r.status_code == 404
        (err,) = r.json()
        assert err["code"] == 404 and "no service request" in err["description"]


async def test_requests_filters(public: Public, make_routed: MakeRouted) -> None:
    """Fails if the default 90-day window is dropped (the old case appears) or a filter is ignored."""
    old = await public.routed(make_routed("dlh", received_at=NOW - timedelta(days=100)))
    sampah = await public.routed(make_routed("dlh", received_at=NOW - timedelta(days=3)))
    jalan = await public.routed(make_routed("dbm", received_at=NOW - timedelta(days=2), category="jalan"))
    closed = await public.routed(make_routed("dlh", received_at=NOW - timedelta(days=1)))
    await public.status(
        closed.report_id, ReportStatus.RESOLVED, NOW, evidence=["https://foto.example.org/b.jpg"]
    )

    async def ids(**params: Any) -> list[str]:
        r = await public.get(f"{API}/requests.json", **params)
        assert r.status_code == 200, r.text
        return [x["service_request_id"] for x in r.json()]

    newest_first = [closed.report_id, jalan.report_id, sampah.report_id]
    assert await ids() == newest_first  # the last 90 days by default
    assert await ids(service_code="jalan") == [jalan.report_id]
    assert await ids(status="closed") == [closed.report_id]
    assert await ids(status="open") == [jalan.report_id, sampah.report_id]
    assert await ids(service_code="sampah", status="open") == [sampah.report_id]
    assert await ids(service_code="jalan,sampah", status="open") == [jalan.report_id, sampah.report_id]
    assert await ids(service_code="jalan,pkl") == [jalan.report_id]
    assert await ids(status="open,closed") == newest_first
    # Ids override every other filter and the window (GeoReport v2); unknown ids are left out.
    both = f"{sampah.report_id}, {old.report_id},rpt-none"
    assert await ids(service_request_id=both) == [sampah.report_id, old.report_id]
    assert await ids(service_request_id=both, service_code="jalan", status="closed") == [
        sampah.report_id,
        old.report_id,
    ]
    window = {"start_date": rfc(NOW - timedelta(days=101)), "end_date": rfc(NOW - timedelta(days=50))}
    assert await ids(**window) == [old.report_id]
    assert await ids(service_request_id=old.report_id, **window) == [old.report_id]
    assert await ids(start_date=rfc(NOW - timedelta(days=2, hours=1))) == [closed.report_id, jalan.report_id]
    assert await ids(end_date=rfc(NOW - timedelta(days=2, hours=1))) == [sampah.report_id]
    wib = (NOW - timedelta(days=1, hours=1)).astimezone(WIB).isoformat()  # another offset, same instant
    assert await ids(start_date=wib) == [closed.report_id]
    z = (NOW - timedelta(days=1, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert await ids(start_date=z, jurisdiction_id="jakarta") == [closed.report_id]


async def test_paging_is_bounded_and_stable(public: Public, make_routed: MakeRouted) -> None:
    """page_size above 200 is refused, not clamped. Fails if ``MAX_PAGE_SIZE`` is not enforced."""
    made = [
        await public.routed(make_routed("dlh", received_at=NOW - timedelta(hours=i + 1))) for i in range(5)
    ]
    expected = [r.report_id for r in made]  # newest first

    async def page(n: int, size: int) -> list[str]:
        r = await public.get(f"{API}/requests.json", page=n, page_size=size)
        assert r.status_code == 200, r.text
        return [x["service_request_id"] for x in r.json()]

    assert await page(1, 2) + await page(2, 2) + await page(3, 2) == expected
    assert await page(4, 2) == []
    assert await page(1, 200) == expected
    for bad in ({"page_size": 10_000}, {"page_size": 201}, {"page_size": 0}, {"page": 0}, {"page": "x"}):
        r = await public.get(f"{API}/requests.json", **bad)
        assert r.status_code == 400, bad
        (err,) = r.json()
        assert err["code"] == 400 and err["description"]
    deep = await public.get(f"{API}/requests.json", page=51, page_size=200)
    assert deep.status_code == 400 and "too deep" in deep.json()[0]["description"]


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "yesterday"},
        {"start_date": "2026-11-22"},  # no time zone: ambiguous
        {"end_date": "2026-13-40T00:00:00Z"},
        {"start_date": "2026-11-22T00:00:00Z", "end_date": "2026-11-21T00:00:00Z"},
        {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"},  # wider than 90 days
        {"status": "pending"},
        {"service_code": "Sampah Liar"},
    ],
)
async def test_bad_parameters_are_400(public: Public, params: dict[str, str]) -> None:
    r = await public.get(f"{API}/requests.json", **params)
    assert r.status_code == 400
    (err,) = r.json()
    assert err["code"] == 400


async def test_operator_shaped_values_never_reach_the_database_as_operators(
    public: Public, make_routed: MakeRouted
) -> None:
    """A case exists that ``{"$gt": ""}`` or ``$ne`` would match if read as an operator. Fails if unknown
    parameters are ignored instead of refused (``open311.parse_query``)."""
    await public.routed(make_routed("dlh", received_at=NOW - timedelta(hours=1)))
    raw_queries = [
        'service_code={"$gt":""}',
        "service_code[$ne]=x",
        "status[$ne]=closed",
        'service_request_id={"$ne":null}',
        "service_request_id[$in][]=a",
        "page_size[$gt]=0",
        "status=open&status=closed",
    ]
    for q in raw_queries:
        r = await public.client.get(f"{API}/requests.json?{q}")
        assert r.status_code == 400, q
        assert r.json()[0]["code"] == 400
    # The store compares what it is given as a plain value: an operator-shaped string matches nothing.
    query = open311.parse_query({}, NOW)
    shaped_ids = open311.RequestQuery(('{"$ne":null}',), None, None, query.start, query.end, 1, 50)
    shaped_code = open311.RequestQuery(None, ('{"$gt":""}',), None, query.start, query.end, 1, 50)
    assert await public.store.public_find(shaped_ids) == []
    assert await public.store.public_find(shaped_code) == []
    assert len(await public.store.public_find(query)) == 1


async def test_huge_query_strings_are_refused(public: Public) -> None:
    long_value = "a" * 5_000
    for path in (f"{API}/requests.json", f"{API}/services.json", f"{API}/requests/rpt-1.json"):
        r = await public.client.get(f"{path}?service_code={long_value}")
        assert r.status_code == 414 and r.json()[0]["code"] == 414
    too_many = ",".join(f"rpt-{i}" for i in range(open311.MAX_IDS + 1))
    for name in ("service_request_id", "service_code"):
        r = await public.get(f"{API}/requests.json", **{name: too_many})
        assert r.status_code == 400 and "at most" in r.json()[0]["description"]


async def test_status_page_in_bahasa(public: Public, make_routed: MakeRouted) -> None:
    """Deadlines, lateness, history and evidence. Fails if the page stops escaping (the ``<script>`` in
    the text would appear raw) or if a non-http evidence link is shown."""
    report = await public.routed(
        make_routed(
            "kel-3171011001",
            received_at=NOW - timedelta(days=8),
            text="Sampah <script>alert('x')</script> menumpuk & bau",
        )
    )
    rid = report.report_id
    await public.status(rid, ReportStatus.RECEIVED, report.received_at + timedelta(hours=8))  # 2 h late
    await public.status(
        rid, ReportStatus.REASSIGNED, report.received_at + timedelta(hours=9), reassign_to="dlh"
    )
    await public.status(
        rid,
        ReportStatus.IN_PROGRESS,
        report.received_at + timedelta(days=1),
        note="Truk dijadwalkan",
        evidence=["https://foto.example.org/sebelum.jpg", "javascript:alert(1)"],
    )
    r = await public.client.get(f"/laporan/{rid}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "script-src" not in r.headers["content-security-policy"]  # default-src 'none': nothing runs
    html = r.text
    assert '<html lang="id">' in html and "<script" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; menumpuk &amp; bau" in html
    assert "Sedang ditangani" in html and "Dinas Lingkungan Hidup" in html
    assert "Dialihkan ke Dinas Lingkungan Hidup" in html
    respond_by = report.sla.respond_by.astimezone(WIB)
    assert f"{respond_by:%H.%M} WIB" in html
    # Answered 2 h after the respond deadline (judged from timestamps); resolve deadline passed unanswered.
    answered = when(report.received_at + timedelta(hours=8), WIB)
    assert f'ditanggapi {answered}, <span class="late">terlambat</span>' in html
    assert "terlambat: belum diselesaikan" in html
    assert "Truk dijadwalkan" in html
    assert 'href="https://foto.example.org/sebelum.jpg"' in html and "javascript:" not in html
    history = html[html.index("<h2>Riwayat</h2>") :]
    assert (
        history.index("Diterima oleh unit") < history.index("Dialihkan") < history.index("Truk dijadwalkan")
    )

    on_time = await public.routed(make_routed("dlh", received_at=NOW - timedelta(hours=1)))
    html = (await public.client.get(f"/laporan/{on_time.report_id}")).text
    assert "masih dalam batas waktu" in html and "terlambat" not in html
    assert "Belum ada tanggapan dari unit." in html


async def test_status_page_of_an_unknown_report_is_404_in_bahasa(public: Public) -> None:
    for rid in ("rpt-unknown", "<b>x<script>alert(1)"):
        r = await public.client.get(f"/laporan/{rid}")
        assert r.status_code == 404 and "Laporan tidak ditemukan" in r.text
        assert "<b>" not in r.text and "<script" not in r.text


async def test_reports_without_an_area_or_location_still_show(
    public: Public, make_routed: MakeRouted
) -> None:
    report = await public.routed(make_routed("pemprov", area=None, location=None, attachments=[]))
    (req,) = (await public.get(f"{API}/requests/{report.report_id}.json")).json()
    assert req["address"] is None and req["lat"] is None and req["media_url"] is None
    assert GAMBIR.kelurahan not in (await public.client.get(f"/laporan/{report.report_id}")).text
