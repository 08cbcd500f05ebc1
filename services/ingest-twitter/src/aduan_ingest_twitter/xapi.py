"""The X API v2 edge: the filtered stream, its rules, user lookup and the mentions timeline (httpx).

Endpoints: ``GET /2/tweets/search/stream`` (a chunked response of one JSON object per line, ``\\r\\n``
between them, an empty line as keep-alive about every 20 s), ``GET``/``POST
/2/tweets/search/stream/rules``, ``GET /2/users/by`` and ``GET /2/users/:id/mentions`` (newest first,
``since_id``, ``pagination_token``). Every request carries the app's bearer token.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from aduan_ingest_twitter.rules import RuleChanges

FIELDS = {
    "tweet.fields": "created_at,author_id,geo,attachments,note_tweet,conversation_id,in_reply_to_user_id,"
    "referenced_tweets",
    "expansions": "author_id,attachments.media_keys,geo.place_id",
    "media.fields": "url,preview_image_url,type",
    "user.fields": "username,name",
    "place.fields": "full_name",
}
MAX_PAGE = 100  # X's largest max_results for the mentions timeline


class XHttpError(Exception):
    """X answered with an error status. ``reset_at``: its ``x-rate-limit-reset`` (Unix seconds), if any."""

    def __init__(self, status: int, reset_at: float | None, detail: str) -> None:
        super().__init__(f"X API answered {status}: {detail}")
        self.status, self.reset_at = status, reset_at


class StreamStalled(Exception):
    """Neither data nor a keep-alive arrived within the stall timeout."""


class StreamError(Exception):
    """The stream broke its wire format (a line past the size limit) or X ended it with an error."""


def _reset_at(resp: httpx.Response) -> float | None:
    value = resp.headers.get("x-rate-limit-reset", "")
    return float(value) if value.isdigit() else None


async def _raise_for_status(resp: httpx.Response) -> None:
    if resp.status_code < 400:
        return
    body = (await resp.aread())[:300].decode(errors="replace")
    raise XHttpError(resp.status_code, _reset_at(resp), " ".join(body.split()))


class XApi:
    def __init__(self, base_url: str, token: str, timeout_s: float, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "User-Agent": "aduan-ingest-twitter"},
            timeout=httpx.Timeout(timeout_s),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def _get_json(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = await self._http.get(path, params=params)
        await _raise_for_status(resp)
        body = resp.json()
        return body if isinstance(body, dict) else {}

    async def user_ids(self, usernames: list[str]) -> dict[str, str]:
        """Lower-case username -> user id, for the accounts X knows."""
        body = await self._get_json("/2/users/by", {"usernames": ",".join(usernames)})
        return {
            str(u["username"]).lower(): str(u["id"])
            for u in body.get("data", [])
            if isinstance(u, dict) and "username" in u and "id" in u
        }

    async def rules(self) -> list[dict[str, str]]:
        body = await self._get_json("/2/tweets/search/stream/rules")
        return [r for r in body.get("data", []) if isinstance(r, dict)]

    async def change_rules(self, changes: RuleChanges) -> None:
        path = "/2/tweets/search/stream/rules"
        if changes.delete_ids:
            resp = await self._http.post(path, json={"delete": {"ids": changes.delete_ids}})
            await _raise_for_status(resp)
        if changes.add:
            add = [{"value": r.value, "tag": r.tag} for r in changes.add]
            resp = await self._http.post(path, json={"add": add})
            await _raise_for_status(resp)

    async def mentions(self, user_id: str, since_id: str | None, limit: int) -> list[dict[str, Any]]:
        """Pages of mentions newer than ``since_id`` (all of them, up to ``limit`` tweets; without
        ``since_id`` only the newest page), newest first as X returns them."""
        pages: list[dict[str, Any]] = []
        params: dict[str, Any] = {**FIELDS, "max_results": min(MAX_PAGE, max(limit, 5))}
        if since_id:
            params["since_id"] = since_id
        seen = 0
        while True:
            page = await self._get_json(f"/2/users/{user_id}/mentions", params)
            pages.append(page)
            seen += len(page.get("data") or [])
            token = (page.get("meta") or {}).get("next_token")
            if not since_id or not token or seen >= limit:
                return pages
            params["pagination_token"] = token

    @contextlib.asynccontextmanager
    async def stream(self, stall_s: float) -> AsyncIterator[AsyncIterator[bytes]]:
        """Open the filtered stream; yields an iterator of its lines (``b""`` for a keep-alive). Raises
        ``StreamStalled`` when nothing arrives for ``stall_s`` seconds."""
        timeout = httpx.Timeout(self._http.timeout.connect, read=None)
        async with self._http.stream(
            "GET", "/2/tweets/search/stream", params=FIELDS, timeout=timeout
        ) as resp:
            await _raise_for_status(resp)
            yield self._lines(resp, stall_s)

    async def _lines(self, resp: httpx.Response, stall_s: float) -> AsyncIterator[bytes]:
        chunks = resp.aiter_raw()
        buffer = b""
        while True:
            try:
                chunk = await asyncio.wait_for(anext(chunks), stall_s)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise StreamStalled(f"no data or keep-alive for {stall_s:g} s") from None
            buffer += chunk
            *lines, buffer = buffer.split(b"\r\n")
            for line in lines:
                yield line.strip()
            if len(buffer) > self.max_line_bytes:
                raise StreamError(f"a stream line exceeds {self.max_line_bytes} bytes")
