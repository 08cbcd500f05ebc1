"""The sender against a real HTTP receiver (and a closed port): attempts, back-off, outcome."""

import httpx

from aduan_kit.embedded import free_port
from aduan_kit.testing.receiver import Receiver
from aduan_notifier.sender import WebhookSender


def make(client: httpx.AsyncClient, waits: list[float], attempts: int = 4) -> WebhookSender:
    async def sleep(s: float) -> None:
        waits.append(s)

    return WebhookSender(client, max_attempts=attempts, backoff_initial_s=0.1, backoff_max_s=0.3,
                         request_timeout_s=2, sleep=sleep)  # fmt: skip


async def test_retries_server_errors_with_bounded_backoff(receiver: Receiver) -> None:
    receiver.answer("/x", 503, 500, 429)
    waits: list[float] = []
    async with httpx.AsyncClient() as client:
        result = await make(client, waits).post(f"{receiver.url}/x", b"{}", lambda: {"h": "1"})
    assert result.delivered and result.attempts == 4 and result.status_code == 200
    assert waits == [0.1, 0.2, 0.3]
    assert all(r.headers["h"] == "1" for r in receiver.to("/x"))


async def test_client_error_is_final(receiver: Receiver) -> None:
    receiver.answer("/x", 404)
    waits: list[float] = []
    async with httpx.AsyncClient() as client:
        result = await make(client, waits).post(f"{receiver.url}/x", b"{}", dict)
    assert not result.delivered and result.attempts == 1 and result.detail == "HTTP 404 Not Found"
    assert waits == []


async def test_unreachable_endpoint_gives_up_after_max_attempts() -> None:
    waits: list[float] = []
    async with httpx.AsyncClient() as client:
        result = await make(client, waits, attempts=3).post(f"http://127.0.0.1:{free_port()}/x", b"{}", dict)
    assert not result.delivered and result.attempts == 3 and result.status_code is None
    assert "ConnectError" in result.detail and result.detail.endswith("after 3 attempts")
    assert waits == [0.1, 0.2]
