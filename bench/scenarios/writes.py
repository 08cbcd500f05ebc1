"""The database's bound for the pipeline's own work: every store write and id lookup one report causes,
run alone against SecantusDB, through the services' own store classes and indexes.

Benchmark-corpus reports are made into raw events, normalized and routed in this process (the
services' pure functions, outside the clock). Then, in batches of ``BATCH`` (what a stage fetches under
a backlog), on a fresh SecantusDB:

- normalizer: the dedupe lookup (``ProcessedKeys.seen_many``), the near-duplicate roots
  (``OpenRootStore.save``, every report counted as a root: an upper bound), the ids published
  (``ProcessedKeys.mark``);
- notifier: the contacts (``ContactStore.record_many``), the routing it remembers
  (``CaseLinks.record_many``), and the lookups of both per batch;
- SLA monitor: the cases (``CaseStore.apply_routed_batch``, scheduled at insert as the service does).

The figure is SecantusDB's CPU per report (from /proc): at one full core, 1 / that is the most reports
per second the database allows for this work, whatever the stages around it do. The pipeline's own
figure (CPU of SecantusDB over the sustained window / reports) is larger: it adds the scanner, the
open-case counts, status and notification records and the near-duplicate links.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient

from aduan_kit.mongo import ProcessedKeys
from aduan_normalizer.classify import Classifier
from aduan_normalizer.neardup import evidence, load_policy, partition_key
from aduan_normalizer.neardup_store import OpenRootStore
from aduan_normalizer.pipeline import load_geocoder, normalize
from aduan_notifier.contacts import ContactStore, contact_document
from aduan_notifier.links import CaseLinks, link_of
from aduan_router.rules import route
from aduan_schemas.city import load_city
from aduan_sla_monitor.scanner import AlarmRules
from aduan_sla_monitor.store import CaseStore
from aduan_text import analyzer_for
from bench.corpus import Corpus, message_id
from bench.harness import CITY_DIR, database
from bench.measure import usage
from bench.scenarios.common import Options

BATCH = 500
RETENTION_S = 30 * 86_400


def _prepared(opts: Options, n: int, now: datetime) -> list[tuple[Any, Any, Any]]:
    """(raw event, normalized report, routed report) for ``n`` corpus reports."""
    city = load_city(CITY_DIR)
    geocoder = load_geocoder(opts.boundaries, registry=city.skpd)
    classifier = Classifier(city.taxonomy)
    corpus = Corpus(opts.boundaries)
    out = []
    for seq in range(n):
        raw = corpus.raw_event(message_id("writes", seq), seq, now)
        norm = normalize(raw, geocoder=geocoder, taxonomy=classifier, pseudonym_key="bench", now=now)
        out.append((raw, norm, route(norm, city, now)))
    return out


async def _run(opts: Options, url: str, db_pid: int, n: int) -> dict[str, Any]:
    city = load_city(CITY_DIR)
    policy = load_policy(CITY_DIR)
    analyzer = analyzer_for(city.taxonomy)
    now = datetime.now(UTC)
    reports = _prepared(opts, n, now)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True)
    try:
        db = client["bench"]
        seen = ProcessedKeys(db["normalizer_seen"])
        await seen.ensure_retention(RETENTION_S)
        roots = OpenRootStore(db["normalizer_neardup"], policy)
        await roots.ensure_indexes()
        contacts, links = ContactStore(db), CaseLinks(db)
        await contacts.ensure_retention(RETENTION_S)
        await links.ensure_indexes(RETENTION_S)
        cases = CaseStore(db)
        await cases.ensure_indexes()
        rules = AlarmRules(city.sla, city.skpd)

        steps: dict[str, float] = {}  # SecantusDB CPU seconds per step

        async def step(name: str, work: Awaitable[Any]) -> None:
            before = usage(db_pid).cpu_s
            await work
            steps[name] = steps.get(name, 0.0) + usage(db_pid).cpu_s - before

        cpu0, t0 = usage(db_pid).cpu_s, time.monotonic()
        for start in range(0, n, BATCH):
            batch = reports[start : start + BATCH]
            ids = [norm.report_id for _, norm, _ in batch]
            found = [
                (evidence(norm, analyzer, policy), part)
                for _, norm, _ in batch
                if (part := partition_key(norm))
            ]
            await step("normalizer: dedupe lookup", seen.seen_many(ids))
            await step("normalizer: near-duplicate roots", roots.save(found))
            await step("normalizer: ids published", seen.mark(ids))
            await step(
                "notifier: contacts",
                contacts.record_many([contact_document(raw, now) for raw, _, _ in batch]),
            )
            await step(
                "sla-monitor: cases",
                cases.apply_routed_batch([r for _, _, r in batch], now, rules.first_alarm),
            )
            await step("notifier: routing kept", links.record_many([link_of(r) for _, _, r in batch], now))
            await step("notifier: lookups", _both(links.get_many(ids), contacts.get_many(ids)))
        wall, db_cpu = time.monotonic() - t0, usage(db_pid).cpu_s - cpu0
        names = ["normalizer_seen", "normalizer_neardup", "contacts", "notifier_cases", "cases"]
        documents = sum([await db[c].count_documents({}) for c in names])
        indexes = {c: len(await db[c].index_information()) for c in names}
    finally:
        await client.close()
    per_report_ms = 1000 * db_cpu / n
    return {
        "reports": n,
        "batch": BATCH,
        "documents_per_report": round(documents / n, 2),
        "indexes": indexes,
        "wall_per_s": round(n / wall),
        "db_cpu_ms_per_report": round(per_report_ms, 2),
        "db_bound_per_s": round(1000 / per_report_ms) if per_report_ms else None,
        "db_cpu_ms_per_report_by_step": {k: round(1000 * v / n, 2) for k, v in steps.items()},
    }


async def _both(a: Awaitable[Any], b: Awaitable[Any]) -> None:
    await a
    await b


def run(opts: Options) -> dict[str, Any]:
    n = max(BATCH, min(opts.reports, 5_000))
    with database() as (url, proc):
        assert proc.proc is not None
        return asyncio.run(_run(opts, url, proc.proc.pid, n))
