"""Fixtures that give tests real servers.

Once per test session: a Tansu broker and a SecantusDB server on free loopback ports, or the servers
named by ``KAFKA_BOOTSTRAP`` / ``MONGODB_URL`` when set. Each test gets its own topic prefix and database
name (``common`` fixture), so tests never see each other's records.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from aduan_kit import embedded
from aduan_kit.settings import CommonSettings

REPO = Path(__file__).resolve().parents[5]
CITY_DIR = REPO / "config" / "jakarta"
BOUNDARIES = REPO.parent / "shared" / "data" / "jakarta-kelurahan.geojson"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    if os.environ.get("KAFKA_BOOTSTRAP"):
        yield os.environ["KAFKA_BOOTSTRAP"]
        return
    port = embedded.free_port()
    proc = embedded.tansu(port).start()
    try:
        proc.wait_port()
        yield f"127.0.0.1:{port}"
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def mongodb_url() -> Iterator[str]:
    if os.environ.get("MONGODB_URL"):
        yield os.environ["MONGODB_URL"]
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
def boundaries_path() -> Path:
    """The kelurahan boundaries for tests (configuration kept outside the project)."""
    path = Path(os.environ.get("ADUAN_TEST_BOUNDARIES", BOUNDARIES))
    if not path.is_file():
        pytest.fail(f"boundaries GeoJSON not found at {path}: set ADUAN_TEST_BOUNDARIES")
    return path


@pytest.fixture
def common(kafka_bootstrap: str, mongodb_url: str) -> CommonSettings:
    """Settings for one test: real servers, a unique topic prefix and database, fast consumer timings."""
    tag = uuid.uuid4().hex[:10]
    return CommonSettings(
        kafka_bootstrap=kafka_bootstrap,
        mongodb_url=mongodb_url,
        mongodb_db=f"test_{tag}",
        topic_prefix=f"t{tag}.",
        city_dir=CITY_DIR,
        kafka_fetch_max_wait_ms=20,
        kafka_session_timeout_ms=3_000,
        kafka_heartbeat_interval_ms=500,
    )
