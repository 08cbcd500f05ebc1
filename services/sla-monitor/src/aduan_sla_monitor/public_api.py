"""The public HTTP edge: Open311 GeoReport v2 (JSON) and the citizen status page. Read-only, no login.

Everything here is an edge: parameters are parsed by ``open311.parse_query``, cases come from the store
projected on the public fields, ``public_case`` decides what is shown, ``open311``/``status_page`` format
it. Errors use the Open311 shape (an array of ``{code, description}``).
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from aduan_schemas.city import CityConfig
from aduan_sla_monitor import open311, status_page
from aduan_sla_monitor.public_case import public_case
from aduan_sla_monitor.store import CaseStore

OPEN311 = "/open311/v2"
STATUS_PAGE = "/laporan"


def _store(request: Request) -> CaseStore:
    store: CaseStore = request.app.state.cases
    return store


def _error(code: int, description: str) -> JSONResponse:
    return JSONResponse(open311.error(code, description), status_code=code)


def _too_long(request: Request) -> bool:
    return len(request.scope.get("query_string", b"")) > open311.MAX_QUERY_BYTES


def public_api(city: CityConfig, tz: tzinfo) -> APIRouter:
    router = APIRouter(tags=["public"])
    services = open311.services(city)

    @router.get(f"{OPEN311}/services.json")
    async def get_services(request: Request) -> Response:
        if _too_long(request):
            return _error(414, f"query string longer than {open311.MAX_QUERY_BYTES} bytes")
        return JSONResponse(services)

    @router.get(f"{OPEN311}/requests.json")
    async def get_requests(request: Request) -> Response:
        if _too_long(request):
            return _error(414, f"query string longer than {open311.MAX_QUERY_BYTES} bytes")
        now = datetime.now(UTC)
        params: dict[str, list[str]] = {}
        for name, value in request.query_params.multi_items():
            params.setdefault(name, []).append(value)
        try:
            query = open311.parse_query(params, now)
        except open311.BadQuery as e:
            return _error(400, str(e))
        cases = await _store(request).public_find(query)
        return JSONResponse([open311.request(public_case(c, city, now), tz) for c in cases])

    @router.get(OPEN311 + "/requests/{request_id}.json")
    async def get_request(request: Request, request_id: str) -> Response:
        if _too_long(request):
            return _error(414, f"query string longer than {open311.MAX_QUERY_BYTES} bytes")
        case = await _find(request, request_id)
        if case is None:
            return _error(404, f"no service request {open311.clip(request_id)!r}")
        return JSONResponse([open311.request(public_case(case, city, datetime.now(UTC)), tz)])

    @router.get(STATUS_PAGE + "/{report_id}", response_class=HTMLResponse)
    async def get_status_page(request: Request, report_id: str) -> Response:
        case = await _find(request, report_id)
        if case is None:
            html = status_page.not_found(open311.clip(report_id))
            return HTMLResponse(html, status_code=404, headers=status_page.HEADERS)
        now = datetime.now(UTC)
        html = status_page.page(public_case(case, city, now), now, tz)
        return HTMLResponse(html, headers=status_page.HEADERS)

    return router


async def _find(request: Request, report_id: str) -> dict[str, Any] | None:
    """The case of a well-formed report id (anything else is not looked up at all)."""
    if not open311.ID_SHAPE.fullmatch(report_id):
        return None
    return await _store(request).public_get(report_id)
