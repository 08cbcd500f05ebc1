"""A local HTTP server speaking the X API v2 wire format, for the ingest-twitter tests.

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

Every request must carry ``Authorization: Bearer <token>`` (401 otherwise).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlparse

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
    live: queue.Queue[bytes] = field(default_factory=queue.Queue)
    lock: threading.Lock = field(default_factory=threading.Lock)
    generation: int = 0  # bumped by close_streams(): open streams end
    keepalives: int = 0  # keep-alive lines sent
    stopping: threading.Event = field(default_factory=threading.Event)
    _rule_id: int = 0

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


@contextmanager
def fake_x_server() -> Iterator[FakeX]:
    state = FakeX()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

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
            if not self._authorized():
                return
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
            if urlparse(self.path).path == "/2/tweets/search/stream/rules":
                self._json(200, state.change_rules(body))
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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
