"""A local stand-in for X API v2 ``POST /2/tweets`` (create a post, here: a reply), on a free loopback
port, answering as the API does and recording what it accepted."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class XApi:
    """``POST /2/tweets`` as X API v2 answers it: 201 ``{"data": {"id", "text"}}``; 401 without the
    expected bearer token; 400 when the body is not a valid reply."""

    token: str
    url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        with self.lock:
            return len(self.posts)


@contextmanager
def x_api(token: str) -> Iterator[XApi]:
    state = XApi(token)
    ids = itertools.count(1_900_000_000_000_000_000)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if self.path != "/2/tweets":
                return self._answer(404, {"title": "Not Found"})
            if self.headers.get("authorization") != f"Bearer {state.token}":
                return self._answer(401, {"title": "Unauthorized", "status": 401})
            try:
                data = json.loads(body)
                text, reply_to = data["text"], data["reply"]["in_reply_to_tweet_id"]
                assert isinstance(text, str) and 0 < len(text) <= 280 and isinstance(reply_to, str)
            except (ValueError, KeyError, TypeError, AssertionError):
                return self._answer(400, {"title": "Invalid Request", "status": 400})
            with state.lock:
                state.posts.append(data)
            self._answer(201, {"data": {"id": str(next(ids)), "text": text}})

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
