"""Fixtures that give tests real servers.

Once per test session, in this order of preference: the servers named by ``KAFKA_BOOTSTRAP`` /
``MONGODB_URL``; Apache Kafka and MongoDB containers (testcontainers) when a Docker engine answers
(``ADUAN_TEST_DOCKER=off`` disables that); else a Tansu broker and a SecantusDB server on free loopback
ports. Each test gets its own topic prefix and database name (``common`` fixture), so tests never see
each other's records.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from aduan_kit import embedded
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.broker import own_broker as own_broker  # a fixture of this plugin

REPO = Path(__file__).resolve().parents[5]
CITY_DIR = REPO / "config" / "jakarta"
BOUNDARIES = REPO.parent / "shared" / "data" / "jakarta-kelurahan.geojson"


# Tansu joins a group in about half the session timeout, so the embedded broker gets short sessions.
# Apache Kafka refuses sessions under 6 s (group.min.session.timeout.ms), so other brokers get 6 s.
EMBEDDED_TIMINGS = {"fetch_max_wait_ms": 20, "session_timeout_ms": 3_000, "heartbeat_interval_ms": 500}
KAFKA_TIMINGS = {"fetch_max_wait_ms": 20, "session_timeout_ms": 6_000, "heartbeat_interval_ms": 1_000}
_broker = {"embedded": True}


def consumer_timings() -> dict[str, int]:
    """Consumer timings that suit the session's broker."""
    return EMBEDDED_TIMINGS if _broker["embedded"] else KAFKA_TIMINGS


def docker_engine() -> bool:
    if os.environ.get("ADUAN_TEST_DOCKER", "auto") == "off":
        return False
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


@contextlib.contextmanager
def kafka_server() -> Iterator[str]:
    """A broker for tests: ``KAFKA_BOOTSTRAP``, else a Kafka container, else an embedded Tansu."""
    if os.environ.get("KAFKA_BOOTSTRAP"):
        _broker["embedded"] = False
        yield os.environ["KAFKA_BOOTSTRAP"]
        return
    if docker_engine():
        from testcontainers.community.kafka import KafkaContainer

        _broker["embedded"] = False
        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    port = embedded.free_port()
    proc = embedded.tansu(port).start()
    try:
        proc.wait_port()
        yield f"127.0.0.1:{port}"
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with kafka_server() as bootstrap:
        yield bootstrap


@contextlib.contextmanager
def mongodb_server() -> Iterator[str]:
    """A database for tests: ``MONGODB_URL``, else a MongoDB container, else an embedded SecantusDB."""
    if os.environ.get("MONGODB_URL"):
        yield os.environ["MONGODB_URL"]
        return
    if docker_engine():
        from testcontainers.community.mongodb import MongoDbContainer

        with MongoDbContainer("mongo:7.0") as mongo:
            yield mongo.get_connection_url()
        return
    port = embedded.free_port()
    with tempfile.TemporaryDirectory(prefix="aduan-test-db-") as d:
        proc = embedded.secantus(port, Path(d)).start()
        try:
            proc.wait_port()
            yield f"mongodb://127.0.0.1:{port}"
        finally:
            proc.stop()


@pytest.fixture(scope="session")
def mongodb_url() -> Iterator[str]:
    with mongodb_server() as url:
        yield url


@pytest.fixture(scope="session")
def boundaries_path() -> Path:
    """The kelurahan boundaries for tests (configuration kept outside the project)."""
    path = Path(os.environ.get("ADUAN_TEST_BOUNDARIES", BOUNDARIES))
    if not path.is_file():
        pytest.fail(f"boundaries GeoJSON not found at {path}: set ADUAN_TEST_BOUNDARIES")
    return path


@pytest.fixture
def common(kafka_bootstrap: str, mongodb_url: str) -> CommonSettings:
    """Settings for one test: real servers, a unique topic prefix and database, quick consumer timings."""
    tag = uuid.uuid4().hex[:10]
    return CommonSettings(
        kafka_bootstrap=kafka_bootstrap,
        mongodb_url=mongodb_url,
        mongodb_db=f"test_{tag}",
        topic_prefix=f"t{tag}.",
        city_dir=CITY_DIR,
    ).model_copy(update={f"kafka_{k}": v for k, v in consumer_timings().items()})
