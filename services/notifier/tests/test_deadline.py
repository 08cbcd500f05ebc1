"""A hanging SKPD endpoint cannot hold a batch past its deadline (and so past the consumer's poll
interval): the batch's deliveries are cut short, reported failed and dead-lettered, and the next fetch
comes in time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from pydantic import ValidationError

from aduan_kit.settings import CommonSettings
from aduan_kit.testing.app import running
from aduan_kit.testing.kafka import find_events, read_topic
from aduan_kit.testing.receiver import serving
from aduan_notifier.config import NotifierSettings
from aduan_notifier.main import build
from aduan_schemas.events import Notification
from services.notifier.tests.test_service import SECRET, publish, routed

pytestmark = pytest.mark.usefixtures("fixed_topics")


@pytest.fixture
def hanging_endpoint() -> Iterator[str]:
    """An SKPD webhook that accepts the connection, reads the request and never answers."""
    release = threading.Event()

    class Hang(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            release.wait(60)

        def log_message(self, format: str, *args: object) -> None:
            return

    with serving(Hang, daemon_threads=True) as url:
        yield url
        release.set()


async def test_a_hanging_endpoint_fails_the_batch_by_its_deadline(
    common: CommonSettings, hanging_endpoint: str
) -> None:
    """Six reports for a unit whose endpoint hangs, two in flight at a time, 5 attempts of 2 s each:
    about 30 s of sending without a deadline; with a 3 s batch deadline, all six are reported failed
    within seconds.
    Checked to fail: with `start_batch` not called in `notify_batch`, the notifications take over 30 s
    (find_events times out after 15 s)."""
    reports = [routed("dlh") for _ in range(6)]
    for r in reports:
        await publish(common, common.topics.routed, r)
    settings = NotifierSettings(
        common=common, signing_secret=SECRET,  # type: ignore[arg-type]
        webhook_url_template=f"{hanging_endpoint}/skpd/{{skpd_code}}",
        request_timeout_s=2, max_attempts=5, backoff_initial_s=0.05, backoff_max_s=0.2,
        concurrency=2, batch_deadline_s=3, contact_wait_s=0,
    )  # fmt: skip
    async with running(build(settings)):
        started = time.monotonic()
        notes = await find_events(
            common, common.topics.notifications, Notification, lambda n: n.channel == "webhook", 6,
            timeout=15,
        )  # fmt: skip
        elapsed = time.monotonic() - started
        letters = await read_topic(common, common.topics.dlq, 6, timeout=15)
    assert sorted(n.report_id for n in notes) == sorted(r.report_id for r in reports)
    assert all(n.outcome == "failed" and "batch deadline reached" in (n.detail or "") for n in notes)
    assert elapsed < 15
    assert len(letters) == 6  # replayable from the dead-letter topic once the unit is back


def test_the_deadline_must_fit_in_the_poll_interval(common: CommonSettings) -> None:
    with pytest.raises(ValidationError, match="at most half"):
        NotifierSettings(common=common, signing_secret=SECRET, batch_deadline_s=200)  # type: ignore[arg-type]
    NotifierSettings(common=common, signing_secret=SECRET, batch_deadline_s=150)  # type: ignore[arg-type]
