"""The near-duplicate roots in the real database: restart, rebalance, resolution and the TTL index.

Checked to fail: with the ``expires_at`` filter dropped from ``OpenRootStore.load``,
test_expired_roots_are_not_loaded went red; with the ``partition`` filter dropped,
test_a_rebalance_loads_only_the_assigned_partitions went red; with ``resolve`` made a no-op,
test_state_survives_a_restart_and_a_resolution_stays went red.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from aduan_kit.testing.plugin import CITY_DIR
from aduan_normalizer.classify import Classifier
from aduan_normalizer.neardup import DuplicatePolicy, Evidence, load_policy
from aduan_normalizer.neardup_state import OpenReports
from aduan_normalizer.neardup_store import EXPIRY_INDEX, OpenRootStore
from aduan_normalizer.neardup_stream import StreamLinker
from aduan_normalizer.pipeline import load_geocoder, normalize
from aduan_schemas.city import load_city
from aduan_schemas.events import NormalizedReport, RawReport, ReportStatus, StatusUpdate
from aduan_text import analyzer_for
from services.normalizer.tests.neardup_reports import tree_qlue, tree_sms, tree_tweet

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
async def coll(mongodb_url: str) -> AsyncIterator[AsyncCollection[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
    db = client[f"neardup_{uuid.uuid4().hex[:8]}"]
    try:
        yield db["normalizer_neardup"]
    finally:
        await client.drop_database(db.name)
        await client.close()


@pytest.fixture(scope="module")
def policy() -> DuplicatePolicy:
    return load_policy(CITY_DIR)


def lamp(rid: str, after: timedelta = timedelta(0), lat: float = -6.2550) -> Evidence:
    return Evidence(
        report_id=rid,
        category="lampu-jalan",
        received_at=T0 + after,
        lat=lat,
        lon=106.8530,
        kelurahan_code="31.74.08.1002",
        kecamatan_code="31.74.08",
        streets=frozenset({("kalibata",)}),
        tokens=frozenset({"lampu", "mati", "gelap"}),
        strong=frozenset({"lampu", "mati"}),
    )


async def test_state_survives_a_restart_and_a_resolution_stays(
    coll: AsyncCollection[dict[str, Any]], policy: DuplicatePolicy
) -> None:
    store = OpenRootStore(coll, policy)
    await store.ensure_indexes()
    await store.save([(lamp("a"), "31.74.08"), (lamp("b", lat=-6.2650), "31.74.08")])
    await store.resolve("b")
    # A new worker (or the same after a restart) rebuilds its state from the database.
    fresh = OpenReports(policy)
    for ev in await OpenRootStore(coll, policy).load(["31.74.08"], T0 + timedelta(hours=1)):
        fresh.add(ev)
    copy_of_a = fresh.decide(lamp("c", timedelta(hours=3)))
    assert copy_of_a is not None and copy_of_a.target == "a"
    assert fresh.decide(lamp("d", timedelta(days=1), lat=-6.2650)) is None  # b was resolved: a new case


async def test_a_rebalance_loads_only_the_assigned_partitions(
    coll: AsyncCollection[dict[str, Any]], policy: DuplicatePolicy
) -> None:
    store = OpenRootStore(coll, policy)
    await store.save([(lamp("a"), "31.74.08"), (lamp("z"), "31.71.01")])
    loaded = await store.load(["31.71.01"], T0)
    assert [ev.report_id for ev in loaded] == ["z"]
    assert loaded[0].received_at == T0 and loaded[0].streets == frozenset({("kalibata",)})


async def test_expired_roots_are_not_loaded(
    coll: AsyncCollection[dict[str, Any]], policy: DuplicatePolicy
) -> None:
    store = OpenRootStore(coll, policy)
    await store.ensure_indexes()
    await store.save([(lamp("a"), "31.74.08")])
    keep = policy.keep_for("lampu-jalan")
    assert [e.report_id for e in await store.load(["31.74.08"], T0 + keep - timedelta(seconds=1))] == ["a"]
    assert await store.load(["31.74.08"], T0 + keep + timedelta(seconds=1)) == []
    info = await coll.index_information()
    assert info[EXPIRY_INDEX]["expireAfterSeconds"] == 0
    doc = await coll.find_one({"_id": "a"})
    assert doc is not None and doc["expires_at"].replace(tzinfo=UTC) == T0 + keep


async def test_workers_see_each_others_roots_and_resolutions(
    coll: AsyncCollection[dict[str, Any]], policy: DuplicatePolicy, boundaries_path: Path
) -> None:
    """Two workers' linkers, each with the roots in memory, over one store: a root one makes is a target
    for the other at its next batch, and a resolution applied by one reaches the other's memory.

    No margin here (``margin=0``): what B reads again of earlier writes would hide a change that was
    not stamped.

    Checked to fail: with ``StreamLinker.sync`` reading the store only once (no ``changed_since`` per
    batch), the SMS copy stayed a root (``duplicate_of`` None); with ``set_resolved`` not stamping
    ``updated_at``, B linked the tweet to the resolved root."""
    city = load_city(CITY_DIR)
    analyzer = analyzer_for(city.taxonomy)
    geocoder = load_geocoder(boundaries_path, registry=city.skpd)
    classifier = Classifier(city.taxonomy)
    now = datetime.now(UTC)

    def norm(raw: RawReport) -> NormalizedReport:
        return normalize(raw, geocoder=geocoder, taxonomy=classifier, pseudonym_key="k" * 16, now=now)

    a_store, b_store = OpenRootStore(coll, policy), OpenRootStore(coll, policy)
    await a_store.ensure_indexes()
    a = StreamLinker(a_store, policy, analyzer, margin=timedelta(0))
    b = StreamLinker(b_store, policy, analyzer, margin=timedelta(0))
    await b.link([], now)  # B read the store before the first report existed
    first = norm(tree_qlue(now - timedelta(minutes=3)))
    (root,) = await a.link([first], now)
    assert root.decision is None
    (copy,) = await b.link([norm(tree_sms(now - timedelta(minutes=2)))], now)
    assert copy.report.duplicate_of == first.report_id

    done = StatusUpdate(
        report_id=first.report_id,
        status=ReportStatus.RESOLVED,
        at=now,
        by="petugas",
        evidence=["https://example.org/sesudah.jpg"],
    )
    await a.apply_statuses([done])  # A resolves its own root: B must learn it
    (later,) = await b.link([norm(tree_tweet(now - timedelta(minutes=1)))], now)
    assert later.report.duplicate_of is None
