"""The HTTP face of every service: /healthz, /readyz (dependencies reachable), /metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from aduan_kit.metrics import HTTP_REQUEST_SECONDS, HTTP_STATUS_CLASSES, preinit

ReadyCheck = Callable[[], Awaitable[bool]]
MAX_BODY_BYTES = 1_000_000


def service_app(
    name: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    checks: Callable[[FastAPI], dict[str, ReadyCheck]],
) -> FastAPI:
    """A FastAPI app with the standard endpoints. ``checks(app)`` names the readiness checks."""

    @asynccontextmanager
    async def with_routes(app: FastAPI) -> AsyncIterator[None]:
        # Every route's series at zero from the start, one per status class (routers are added after
        # this function, so the routes are read here, at start-up).
        preinit(HTTP_REQUEST_SECONDS, http_label_sets(app))
        async with lifespan(app):
            yield

    app = FastAPI(title=f"aduan {name}", lifespan=with_routes)

    @app.middleware("http")
    async def timed(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            # The route's template (never the path itself: it may hold a report id), so labels stay bounded.
            route = getattr(request.scope.get("route"), "path", "unmatched")
            HTTP_REQUEST_SECONDS.labels(request.method, route, f"{status // 100}xx").observe(
                time.perf_counter() - started
            )

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        named = checks(app)
        results = await asyncio.gather(*(c() for c in named.values()))
        status = dict(zip(named, results, strict=True))
        ok = all(results)
        return JSONResponse({"ready": ok, "checks": status}, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["ops"])
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def http_label_sets(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, route template, status class) of every API route of ``app``: the HTTP series it starts
    with. The routes of included routers are not in ``app.routes`` themselves (FastAPI keeps each
    included router as one entry), so they are read through FastAPI's route contexts, as its OpenAPI
    document reads them."""
    return [
        (method, context.path, status)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute) and context.path
        for method in sorted(context.methods or ())
        for status in HTTP_STATUS_CLASSES
    ]


async def read_limited_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, or ``BodyTooLarge`` once it passes ``limit`` bytes (checked while streaming)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds {limit} bytes")


def flag(value: Any) -> ReadyCheck:
    """A readiness check from a synchronous predicate."""

    async def check() -> bool:
        return bool(value())

    return check
