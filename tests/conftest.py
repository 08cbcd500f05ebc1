"""Cross-service tests: the whole pipeline as processes, against the session's real broker and database."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from aduan_cli.stack import Stack, StackConfig
from aduan_kit.embedded import free_port
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.dovecot import dovecot as dovecot  # the real IMAP server (a session fixture)
from aduan_kit.testing.plugin import BOUNDARIES, CITY_DIR, consumer_timings, kafka_server, mongodb_server
from aduan_kit.testing.receiver import Receiver, webhook_receiver

if TYPE_CHECKING:
    from bench.eval import routing


# The cross-service tests start whole stacks (nine services, every SKPD topic). They get a broker and a
# database of their own: servers that have served every earlier test (thousands of topics, a long-running
# SecantusDB) answered their start-up too slowly.
@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with kafka_server() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def mongodb_url() -> Iterator[str]:
    with mongodb_server() as url:
        yield url


@pytest.fixture(scope="session")
def gazetteer() -> routing.Gazetteer:
    """The kelurahan boundaries the evaluation sets' places are checked against (skips without them)."""
    if not BOUNDARIES.is_file():
        pytest.skip(f"kelurahan boundaries not found at {BOUNDARIES}: place names cannot be checked")
    from bench.eval import routing  # only the evaluation-set tests pay for loading it

    return routing.Gazetteer.load(BOUNDARIES)


@pytest.fixture(scope="session")
def skpd_inbox() -> Iterator[Receiver]:
    with webhook_receiver() as r:
        yield r


def distinct_free_ports(count: int) -> list[int]:
    """``count`` free ports, no two alike: the kernel may hand out a port it just gave (a stack whose
    router and normalizer got the same port answered the normalizer's readiness from the router, and
    the normalizer, unable to listen, was gone)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


@contextlib.contextmanager
def running_stack(
    kafka_bootstrap: str,
    mongodb_url: str,
    boundaries: Path,
    inbox: Receiver,
    data_dir: Path,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """Every service as a process on free ports, on a topic prefix and database of its own."""
    tag = uuid.uuid4().hex[:8]
    s = Stack(
        StackConfig(
            data_dir=data_dir,
            city_dir=CITY_DIR,
            boundaries=boundaries,
            kafka_bootstrap=kafka_bootstrap,
            mongodb_url=mongodb_url,
            mongodb_db=f"e2e_{tag}",
            topic_prefix=f"e2e{tag}.",
            service_ports={},
            ready_timeout_s=180,  # nine services joining their groups on a loaded machine
            consumer_env={f"ADUAN_KAFKA_{k.upper()}": str(v) for k, v in consumer_timings().items()},
            extra_env={
                "ADUAN_NOTIFIER_WEBHOOK_URL_TEMPLATE": inbox.url + "/skpd/{skpd_code}",
                "ADUAN_SLA_MONITOR_SCAN_INTERVAL_S": "0.2",
                # Tests kill the monitor (kill -9 keeps its scanner lease until it expires): a restarted
                # one takes the scan over within seconds instead of the deployed 120 s.
                "ADUAN_SLA_MONITOR_CLAIM_LEASE_S": "3",
                # These tests count one case per report sent; their generated reports are alike enough
                # to be merged as near-duplicates (tested in the normalizer's own tests).
                "ADUAN_NORMALIZER_NEAR_DUPLICATES": "false",
                **(extra_env or {}),
            },
        )
    )
    s.config.service_ports = dict(
        zip([spec.name for spec in s.specs], distinct_free_ports(len(s.specs)), strict=True)
    )
    s.start()
    try:
        yield s
    finally:
        s.stop(drain=False)  # the tests wait for what they need; nothing is kept after the session


@pytest.fixture(scope="session")
def stack(
    kafka_bootstrap: str,
    mongodb_url: str,
    boundaries_path: Path,
    skpd_inbox: Receiver,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("stack")
    with running_stack(kafka_bootstrap, mongodb_url, boundaries_path, skpd_inbox, data_dir) as s:
        yield s


def common_for(stack: Stack) -> CommonSettings:
    """Settings that point test helpers at a stack's broker, database and topics."""
    return CommonSettings(
        kafka_bootstrap=stack.kafka_bootstrap,
        mongodb_url=stack.mongodb_url,  # type: ignore[arg-type]
        mongodb_db=stack.config.mongodb_db,
        topic_prefix=stack.config.topic_prefix,
        city_dir=CITY_DIR,
    )


@pytest.fixture
def stack_common(stack: Stack) -> CommonSettings:
    return common_for(stack)
