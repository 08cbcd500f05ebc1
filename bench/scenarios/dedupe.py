"""Near-duplicate linking: cost per report against a filled root store, and the store's size.

SecantusDB alone, fresh. The roots collection (``normalizer_neardup``, with the normalizer's own
indexes: ``OpenRootStore.ensure_indexes``) is filled level by level (2 k, then up to 10 k roots by
default) with ``insert_many`` of ``to_document``: the evidence of benchmark-corpus reports (Qlue
reports in all 267 kelurahan, 9 in 10 with GPS) made by the normalizer's own ``normalize`` and
``evidence``, each copy with its own id and a ``received_at`` spread over the last 14 days, so the
store holds what the windows keep. At each level a new ``StreamLinker`` first reads every unexpired root
(what a worker does at its first batch; timed apart), then ``probes`` new corpus reports (received now)
go through ``StreamLinker.link`` (what the service runs per batch: a read of what other workers wrote
since the last batch, none here, the decisions over the roots in memory, one bulk write of the new
roots) in batches of ``batch`` reports. Measured per report: wall time, this process's CPU (evidence,
decisions, the driver's decoding), SecantusDB's CPU (from /proc), and how many roots lie under the
batch's lookup keys (what the decisions score; read by ``candidates`` outside the clock). Then, for
200 of the probes, the pure part alone (in memory, no database): ``evidence`` and
``OpenReports.decide`` over the roots under its keys.

Size: documents and the mean BSON size of a stored root (and SecantusDB's ``collStats`` when it answers
it). At 1 million reports a day, the store holds every root until its ``keep_for`` ends: documents =
1 M x the mean ``keep_for`` in days of the corpus's category mix (an upper bound: every report counted
as a root); bytes = documents x the mean BSON size measured here. Extrapolated linearly from the
levels measured, not filled: the cost of one lookup grows with the roots under its keys, so the
roots per lookup at 1 M/day are extrapolated the same way (documents at 1 M/day / documents measured).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bson
from pymongo import AsyncMongoClient

from aduan_normalizer.classify import Classifier
from aduan_normalizer.neardup import Evidence, evidence, load_policy, lookup_keys, partition_key
from aduan_normalizer.neardup_state import OpenReports
from aduan_normalizer.neardup_store import OpenRootStore, to_document
from aduan_normalizer.neardup_stream import StreamLinker
from aduan_normalizer.pipeline import load_geocoder, normalize
from aduan_schemas.city import load_city
from aduan_schemas.events import NormalizedReport
from aduan_text import analyzer_for
from bench.corpus import Corpus, message_id
from bench.harness import CITY_DIR, database
from bench.measure import usage
from bench.scenarios.common import Options

DISTINCT = 4_000  # distinct corpus reports normalized for the fill (copies get new ids and times)
SPREAD = timedelta(days=14)
FILL_BATCH = 5_000
PURE_SAMPLE = 200
PER_DAY = 1_000_000


def _reports(boundaries: Path | None, start: int, n: int, now: datetime) -> list[NormalizedReport]:
    city = load_city(CITY_DIR)
    geocoder = load_geocoder(boundaries, registry=city.skpd)
    classifier = Classifier(city.taxonomy)
    corpus = Corpus(boundaries)
    out = []
    for seq in range(start, start + n):
        raw = corpus.raw_event(message_id("dedupe", seq), seq, now)
        out.append(normalize(raw, geocoder=geocoder, taxonomy=classifier, pseudonym_key="bench", now=now))
    return out


def _cpu(pid: int) -> float:
    return usage(pid).cpu_s


async def _run(opts: Options, url: str, db_pid: int) -> dict[str, Any]:
    city = load_city(CITY_DIR)
    policy = load_policy(CITY_DIR)
    analyzer = analyzer_for(city.taxonomy)
    now = datetime.now(UTC)
    base = [
        (evidence(r, analyzer, policy), part)
        for r in _reports(opts.boundaries, 0, DISTINCT, now)
        if (part := partition_key(r)) is not None
    ]
    probes = [r for r in _reports(opts.boundaries, DISTINCT, opts.dedupe_probes, now) if partition_key(r)]
    keep_days = sum(policy.keep_for(ev.category) / timedelta(days=1) for ev, _ in base) / len(base)

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True)
    levels = []
    try:
        db = client["bench"]
        store = OpenRootStore(db["normalizer_neardup"], policy)
        await store.ensure_indexes(lookups=True)
        filled = 0
        for level in sorted(opts.dedupe_roots):
            t = time.monotonic()
            while filled < level:
                docs = []
                for i in range(filled, min(level, filled + FILL_BATCH)):
                    ev, part = base[i % len(base)]
                    age = SPREAD * ((i * 7919) % 10_000) / 10_000
                    copy = replace(ev, report_id=f"fill-{i}", received_at=now - age)
                    docs.append(to_document(copy, part, policy))
                await store.coll.insert_many(docs, ordered=False)
                filled += len(docs)
            fill_s = time.monotonic() - t
            live = await store.coll.count_documents({"expires_at": {"$gt": now}})
            levels.append(
                {
                    "roots": filled,
                    "unexpired": live,
                    "fill_docs_per_s": round(level / fill_s) if fill_s else None,
                    **await _linking(store, policy, analyzer, probes, opts.dedupe_batch, db_pid, level),
                    **await _pure(store, policy, analyzer, probes[:PURE_SAMPLE], now),
                }
            )
            await store.coll.delete_many({"_id": {"$not": {"$regex": "^fill-"}}})  # the probes' roots
        sample = [d async for d in store.coll.find({}).limit(2_000)]
        mean_bson = sum(len(bson.encode(d)) for d in sample) / len(sample)
        stats: dict[str, Any] = {}
        try:
            raw_stats = await db.command("collStats", "normalizer_neardup")
            stats = {k: raw_stats.get(k) for k in ("count", "size", "storageSize", "totalIndexSize")}
        except Exception as e:  # SecantusDB may not answer collStats: the BSON mean stands alone
            stats = {"error": f"{type(e).__name__}: {e}"[:200]}
    finally:
        await client.close()

    docs_per_day = PER_DAY * keep_days
    top = levels[-1]
    return {
        "batch": opts.dedupe_batch,
        "probes": len(probes),
        "levels": levels,
        "mean_keep_days": round(keep_days, 2),
        "mean_bson_bytes": round(mean_bson),
        "coll_stats": stats,
        "at_1m_per_day": {
            "documents": round(docs_per_day),
            "bytes": round(docs_per_day * mean_bson),
            "roots_per_report_lookup": round(top["roots_loaded_per_report"] * docs_per_day / top["roots"]),
            "basis": f"linear from {top['roots']:,} roots measured",
        },
    }


async def _linking(
    store: OpenRootStore,
    policy: Any,
    analyzer: Any,
    probes: list[NormalizedReport],
    batch: int,
    db_pid: int,
    level: int,
) -> dict[str, Any]:
    linker = StreamLinker(store, policy, analyzer)
    # A worker reads every unexpired root once (its first batch); timed apart from the batches.
    read_s, read_db = time.perf_counter(), _cpu(db_pid)
    read = await linker.sync(datetime.now(UTC))
    read_s, read_db = time.perf_counter() - read_s, _cpu(db_pid) - read_db
    tagged = [r.model_copy(update={"report_id": f"probe-{level}-{r.report_id}"}) for r in probes]
    linked = 0
    wall, cpu, db_cpu = time.perf_counter(), time.process_time(), _cpu(db_pid)
    for i in range(0, len(tagged), batch):
        out = await linker.link(tagged[i : i + batch], datetime.now(UTC))
        linked += sum(x.decision is not None for x in out)
    wall, cpu, db_cpu = (
        time.perf_counter() - wall,
        time.process_time() - cpu,
        _cpu(db_pid) - db_cpu,
    )
    roots_returned = 0  # outside the clock: the roots under each batch's lookup keys (what is scored)
    for i in range(0, len(tagged), batch):
        chunk = tagged[i : i + batch]
        keys = {k for r in chunk for k in lookup_keys(evidence(r, analyzer, policy))}
        roots_returned += len(await store.candidates(keys, datetime.now(UTC)))
    n = len(tagged)
    return {
        "link_wall_us_per_report": round(1e6 * wall / n),
        "link_cpu_us_per_report": round(1e6 * cpu / n),
        "db_cpu_us_per_report": round(1e6 * db_cpu / n),
        "roots_loaded_per_report": round(roots_returned / n, 1),
        "linked_share": round(linked / n, 3),
        "first_read_roots": read,
        "first_read_s": round(read_s, 2),
        "first_read_db_cpu_s": round(read_db, 2),
    }


async def _pure(
    store: OpenRootStore, policy: Any, analyzer: Any, probes: list[NormalizedReport], now: datetime
) -> dict[str, Any]:
    """Evidence and decision alone, in memory, over the roots each probe's lookup returns."""
    candidates: list[list[Evidence]] = []
    for r in probes:
        candidates.append(await store.candidates(lookup_keys(evidence(r, analyzer, policy)), now))
    t = time.process_time()
    evs = [evidence(r, analyzer, policy) for r in probes]
    ev_s = time.process_time() - t
    t = time.process_time()
    for ev, cands in zip(evs, candidates, strict=True):
        state = OpenReports(policy)
        for c in cands:
            state.add(c)
        state.decide(ev)
    decide_s = time.process_time() - t
    n = len(probes)
    return {
        "evidence_cpu_us_per_report": round(1e6 * ev_s / n),
        "decide_cpu_us_per_report": round(1e6 * decide_s / n),
    }


def run(opts: Options) -> dict[str, Any]:
    with database() as (url, proc):
        assert proc.proc is not None
        return asyncio.run(_run(opts, url, proc.proc.pid))
