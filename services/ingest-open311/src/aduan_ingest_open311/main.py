"""Wiring: GeoReport v2 ``GET /services.json`` and ``POST /requests.json`` -> aduan.raw.open311.

Answers follow the GeoReport v2 shapes: a list of ``{service_request_id, service_notice, account_id}``
for a request, a list of ``{code, description}`` for an error.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from aduan_ingest_open311.config import Open311Settings
from aduan_ingest_open311.georeport import decode, service_labels, services, to_raw
from aduan_kit import ingest_metrics as metrics
from aduan_kit.http import BodyTooLarge, read_limited_body
from aduan_kit.ingest import RETRY_AFTER_S, Intake, RecordTooLarge, describe_error, intake_service
from aduan_kit.logs import get_logger
from aduan_kit.outbox import OutboxFull
from aduan_kit.runner import serve
from aduan_kit.settings import load_settings
from aduan_schemas.ids import report_id

NAME = "ingest-open311"
CHANNEL = "open311"
NOTICE = "Laporan diterima. Simpan nomor ini untuk menanyakan tindak lanjutnya."
log = get_logger(component="open311")


def key_checker(settings: Open311Settings) -> Any:
    """api_key -> the client's name, or None. Keys are compared as SHA-256 digests, in constant time."""
    hashes = dict(settings.api_key_hashes)
    if settings.dev_api_key is not None:
        hashes["dev"] = hashlib.sha256(settings.dev_api_key.get_secret_value().encode()).hexdigest()

    def client_of(api_key: str | None) -> str | None:
        if not api_key:
            return None
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        found = None
        for client, expected in hashes.items():
            if hmac.compare_digest(digest, expected):
                found = client
        return found

    return client_of


def error(status: int, outcome: str, description: str, **headers: str) -> JSONResponse:
    metrics.INGEST_REQUESTS.labels(CHANNEL, outcome).inc()
    log.warning("request rejected", channel=CHANNEL, outcome=outcome, status=status, reason=description)
    return JSONResponse(
        [{"code": status, "description": description}], status_code=status, headers=headers or None
    )


def open311_router(settings: Open311Settings, intake: Intake) -> APIRouter:
    labels = service_labels(settings.common.load_city().taxonomy)
    catalogue = services(settings.common.load_city().taxonomy)
    client_of = key_checker(settings)
    router = APIRouter(tags=["open311"])

    @router.get("/services.json", summary="GeoReport v2 service list (the city's categories)")
    async def service_list() -> list[dict[str, Any]]:
        return catalogue

    @router.post("/requests.json", summary="GeoReport v2: create a service request")
    async def create(request: Request) -> JSONResponse:
        try:
            body = await read_limited_body(request, settings.max_body_bytes)
        except BodyTooLarge as e:
            return error(413, "too_large", str(e))
        try:
            args = decode(body, request.headers.get("content-type", ""))
        except ValueError as e:
            return error(400, "invalid", str(e))
        client = client_of(request.headers.get("x-api-key") or _text(args.pop("api_key", None)))
        if client is None:
            return error(403, "unauthorized", "api_key missing or not valid")
        try:
            raw = to_raw(args, client, labels, request.headers.get("idempotency-key"), datetime.now(UTC))
            added = await intake.accept(raw)
        except RecordTooLarge as e:
            return error(413, "too_large", str(e))
        except ValueError as e:  # PayloadError, ValidationError
            return error(400, "invalid", describe_error(e))
        except OutboxFull as e:
            return error(503, "outbox_full", f"{e}; retry later", **{"Retry-After": str(RETRY_AFTER_S)})
        metrics.INGEST_REQUESTS.labels(CHANNEL, "accepted" if added else "duplicate").inc()
        rid = report_id(raw)
        log.info("service request accepted", channel=CHANNEL, client=client, report_id=rid)
        answer = {"service_request_id": rid, "service_notice": NOTICE, "account_id": None}
        return JSONResponse([answer], status_code=200)

    return router


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def build(settings: Open311Settings) -> FastAPI:
    return intake_service(NAME, CHANNEL, settings, lambda intake: [open311_router(settings, intake)])


def main() -> None:
    settings = load_settings(Open311Settings)
    serve(NAME, build(settings), settings)
