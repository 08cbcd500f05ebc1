"""A local HTTP server speaking the X API v2 wire format, for the ingest-twitter and notifier tests.

A real server on a free loopback port (``http.server``, one thread per connection), not patched
functions. What it serves, as X documents it:

- ``GET /2/tweets/search/stream``: a chunked ``application/json`` response, one tweet payload per line
  with ``\\r\\n`` after each, and a bare ``\\r\\n`` keep-alive every ``keepalive_s``. Each connection
  follows the next queued ``StreamPlan`` (an error status with its headers, e.g. 429 with
  ``x-rate-limit-reset``; tweets then hold, stall or end), then holds by default. Tweets ``push``ed
  while a stream is open are sent on it.
- ``GET``/``POST /2/tweets/search/stream/rules`` (``add``, ``delete.ids``), ``GET /2/users/by``.
- ``GET /2/users/:id/mentions``: newest first, ``since_id``, ``max_results``, ``pagination_token``,
  one shared ``includes`` per page, ``meta`` with ``newest_id``, ``oldest_id``, ``next_token``.
- ``POST /2/tweets`` (a reply): 201 ``{"data": {"id", "text"}}``, 400 when the body is not a valid reply
  (``text`` of 1-280 characters, ``reply.in_reply_to_tweet_id``); accepted posts are recorded in ``posts``.

Every request must carry ``Authorization: Bearer <token>`` (401 otherwise). ``tweet`` makes a
citizen's tweet payload.
"""

from __future__ import annotations

import itertools
import json
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qs, urlparse

from aduan_kit.testing.receiver import send_json, serving

TOKEN = "x-test-bearer-token"


@dataclass
class StreamPlan:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    tweets: list[dict[str, Any]] = field(default_factory=list)
    then: Literal["hold", "stall", "end", "reset"] = "hold"  # reset: close without an answer


@dataclass
class FakeX:
    url: str = ""
    token: str = TOKEN
    keepalive_s: float = 0.2
    users: dict[str, str] = field(default_factory=dict)  # username -> id
    timeline: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # user id -> payloads
    rules: list[dict[str, str]] = field(default_factory=list)
    plans: list[StreamPlan] = field(default_factory=list)
    stream_connects: list[float] = field(default_factory=list)  # time.time() of each stream request
    mention_requests: list[dict[str, str]] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)  # accepted POST /2/tweets bodies
    live: queue.Queue[bytes] = field(default_factory=queue.Queue)
    lock: threading.Lock = field(default_factory=threading.Lock)
    generation: int = 0  # bumped by close_streams(): open streams end
    keepalives: int = 0  # keep-alive lines sent
    stopping: threading.Event = field(default_factory=threading.Event)
    _rule_id: int = 0
    _post_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1_900_000_000_000_000_000))

    def mention(self, user_id: str, *payloads: dict[str, Any]) -> None:
        with self.lock:
            self.timeline.setdefault(user_id, []).extend(payloads)

    def push(self, payload: dict[str, Any]) -> None:
        self.live.put(json.dumps(payload).encode())

    def plan(self, *plans: StreamPlan) -> None:
        with self.lock:
            self.plans.extend(plans)

    def close_streams(self) -> None:
        with self.lock:
            self.generation += 1

    def connects(self) -> list[float]:
        with self.lock:
            return list(self.stream_connects)

    def count(self) -> int:
        """Posts accepted so far."""
        with self.lock:
            return len(self.posts)

    # -- answers -------------------------------------------------------------------------------------
    def mentions_page(self, user_id: str, query: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            tweets = sorted(self.timeline.get(user_id, []), key=lambda p: -int(p["data"]["id"]))
            self.mention_requests.append({**query, "user_id": user_id})
        since = int(query.get("since_id", "0"))
        newer = [p for p in tweets if int(p["data"]["id"]) > since]
        start, size = int(query.get("pagination_token", "0")), int(query.get("max_results", "10"))
        page = newer[start : start + size]
        if not page:
            return {"meta": {"result_count": 0}}
        includes: dict[str, list[Any]] = {"users": [], "media": [], "places": []}
        for p in page:
            for kind, items in p.get("includes", {}).items():
                includes[kind].extend(i for i in items if i not in includes[kind])
        meta: dict[str, Any] = {
            "result_count": len(page),
            "newest_id": page[0]["data"]["id"],
            "oldest_id": page[-1]["data"]["id"],
        }
        if start + size < len(newer):
            meta["next_token"] = str(start + size)
        return {"data": [p["data"] for p in page], "includes": includes, "meta": meta}

    def change_rules(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            added = []
            for r in body.get("add", []):
                self._rule_id += 1
                rule = {"id": str(self._rule_id), "value": r["value"], "tag": r.get("tag", "")}
                self.rules.append(rule)
                added.append(rule)
            gone = set(body.get("delete", {}).get("ids", []))
            self.rules = [r for r in self.rules if r["id"] not in gone]
        return {"data": added, "meta": {"summary": {"created": len(added), "deleted": len(gone)}}}

    def create_post(self, body: Any) -> tuple[int, dict[str, Any]]:
        try:
            text, reply_to = body["text"], body["reply"]["in_reply_to_tweet_id"]
            assert isinstance(text, str) and 0 < len(text) <= 280 and isinstance(reply_to, str)
        except (KeyError, TypeError, AssertionError):
            return 400, {"title": "Invalid Request", "status": 400}
        with self.lock:
            self.posts.append(body)
            post_id = next(self._post_ids)
        return 201, {"data": {"id": str(post_id), "text": text}}


def tweet(
    tweet_id: int, text: str = "@DKIJakarta jalan berlubang di Jl. Salemba", **data: Any
) -> dict[str, Any]:
    """A citizen's tweet (``author_id`` 500 unless given) as the stream delivers it, matched by the rule
    of the @DKIJakarta mention; ``data`` adds fields or replaces the defaults (``created_at`` is a fixed
    day in the past)."""
    author = data.pop("author_id", "500")
    return {
        "data": {
            "id": str(tweet_id),
            "text": text,
            "created_at": "2026-03-02T01:15:00.000Z",
            "author_id": author,
            "conversation_id": str(tweet_id),
            **data,
        },
        "includes": {"users": [{"id": author, "username": f"warga{author}", "name": "Warga"}]},
        "matching_rules": [{"id": "1", "tag": "aduan:mention:dkijakarta"}],
    }


@contextmanager
def fake_x_server(token: str = TOKEN) -> Iterator[FakeX]:
    state = FakeX(token=token)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            send_json(self, status, body, headers)

        def _authorized(self) -> bool:
            if self.headers.get("authorization") == f"Bearer {state.token}":
                return True
            self._json(401, {"title": "Unauthorized", "type": "about:blank", "status": 401})
            return False

        def do_GET(self) -> None:
            if not self._authorized():
                return
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            parts = url.path.strip("/").split("/")
            if url.path == "/2/tweets/search/stream":
                self._stream()
            elif url.path == "/2/tweets/search/stream/rules":
                with state.lock:
                    rules = list(state.rules)
                listed = {"data": rules, "meta": {"result_count": len(rules)}}
                self._json(200, listed if rules else {"meta": {"result_count": 0}})
            elif url.path == "/2/users/by":
                names = query.get("usernames", "").split(",")
                found = [{"id": state.users[n], "username": n} for n in names if n in state.users]
                self._json(200, {"data": found})
            elif len(parts) == 4 and parts[:2] == ["2", "users"] and parts[3] == "mentions":
                self._json(200, state.mentions_page(parts[2], query))
            else:
                self._json(404, {"title": "Not Found"})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            if not self._authorized():
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                return self._json(400, {"title": "Invalid Request", "status": 400})
            path = urlparse(self.path).path
            if path == "/2/tweets/search/stream/rules":
                self._json(200, state.change_rules(body))
            elif path == "/2/tweets":
                self._json(*state.create_post(body))
            else:
                self._json(404, {"title": "Not Found"})

        def _stream(self) -> None:
            with state.lock:
                state.stream_connects.append(time.time())
                plan = state.plans.pop(0) if state.plans else StreamPlan()
                generation = state.generation
            if plan.then == "reset":
                self.close_connection = True
                return
            if plan.status != 200:
                self._json(plan.status, {"title": "error", "status": plan.status}, plan.headers)
                return
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            self.close_connection = True
            try:
                for t in plan.tweets:
                    self._chunk(json.dumps(t).encode() + b"\r\n")
                while not state.stopping.is_set() and state.generation == generation:
                    if plan.then == "end":
                        break
                    if plan.then == "stall":
                        time.sleep(0.05)
                        continue
                    try:
                        self._chunk(state.live.get(timeout=state.keepalive_s) + b"\r\n")
                    except queue.Empty:
                        self._chunk(b"\r\n")  # keep-alive
                        with state.lock:
                            state.keepalives += 1
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                return  # the client went away

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def log_message(self, format: str, *args: object) -> None:
            return

    with serving(Handler, daemon_threads=True) as url:
        state.url = url
        try:
            yield state
        finally:
            state.stopping.set()  # open streams end before the server shuts down
