"""The SLA sweep and a case lookup at growing numbers of open cases, with the sla-monitor's own code.

The cases collection (SecantusDB alone, fresh) is filled directly with ``insert_many`` in batches of
5,000, level by level (10 k, then up to 100 k, then up to 1 M by default), with the monitor's own
indexes (``CaseStore.ensure_indexes``) in place. Documents are real cases: routed reports made by the
normalizer's and router's pure functions from the benchmark corpus, stored as ``case_fields`` makes
them, then given an age spread over the last 10 days: deadlines 6 h (respond) and 7 days (resolve)
after creation; 80 % of those older than 6 h have responded; every alarm already passed (warnings,
breaches, escalation steps) is already recorded and the next one scheduled (``next_alarm_at``), as the
scanner would have left it. All are open (not closed).

At each level ``newly_due`` extra cases have a respond deadline that passed in the last minute and no
breach yet: the work a sweep really finds (one breach event each). A sweep is
``Scanner.scan_once`` (the monitor's scanner: query due alarms by index, claim, emit events to a
broker started alone, record them) repeated until
a pass finds nothing (no new pass starts after 300 s), by a new scanner per level; ``idle_sweep`` is
the last, empty pass. The open-case count (the ``aduan_cases_open`` gauge, refreshed by the monitor in
its own loop, not part of a sweep) is timed alone as ``count_open_s``. The
target is a sweep that costs the same whatever the number of open cases (within 2x from 10 k to 1 M).
Lookup: ``CaseStore.get`` (what ``GET /v1/cases/{id}`` runs) of 1,000 random existing ids, one after
another.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from aduan_kit.kafka import EventProducer
from aduan_kit.settings import CommonSettings
from aduan_normalizer.classify import Classifier
from aduan_normalizer.pipeline import load_geocoder, normalize
from aduan_router.rules import route
from aduan_schemas.city import load_city
from aduan_sla import Policy, policy_named
from aduan_sla_monitor.cases import ROUTED, case_fields
from aduan_sla_monitor.deadlines import RESPOND as RESPOND_KIND
from aduan_sla_monitor.deadlines import CaseClock, timeline
from aduan_sla_monitor.escalation import Rung, ladder
from aduan_sla_monitor.scanner import Scanner
from aduan_sla_monitor.store import NEXT_ALARM, CaseStore
from bench.corpus import Corpus, message_id
from bench.harness import CITY_DIR, broker, database
from bench.measure import percentile
from bench.scenarios.common import Options

BATCH = 5_000
TEMPLATES = 64
AGE_DAYS = 10
RESPOND, RESOLVE = timedelta(hours=6), timedelta(days=7)
LOOKUPS = 1_000
SWEEP_LIMIT_S = 300  # stop starting passes after this: a sweep that slow is the finding


def templates(boundaries: Path | None) -> list[dict[str, Any]]:
    """Case documents as the monitor stores them, from the corpus through normalize and route."""
    city = load_city(CITY_DIR)
    geocoder = load_geocoder(boundaries, registry=city.skpd)
    classifier = Classifier(city.taxonomy)
    corpus = Corpus(boundaries)
    now = datetime.now(UTC)
    out = []
    for seq in range(TEMPLATES):
        raw = corpus.raw_event(message_id("case", seq), seq, now)
        report = normalize(raw, geocoder=geocoder, taxonomy=classifier, pseudonym_key="bench", now=now)
        routed = route(report, city, now)
        doc = {
            **case_fields(routed),
            "skpd_code": routed.skpd_code,
            "skpd_name": routed.skpd_name,
            "status": ROUTED,
            "created_at": now,
            "updated_at": now,
        }
        out.append(doc)
    return out


def case(
    template: dict[str, Any],
    i: int,
    now: datetime,
    rng: random.Random,
    due_now: bool,
    schedule: Callable[[dict[str, Any]], tuple[Policy, list[Rung]]],
) -> dict[str, Any]:
    if due_now:  # respond deadline passed within the last minute, not yet flagged
        created = now - RESPOND - timedelta(seconds=rng.uniform(1, 60))
    else:
        created = now - timedelta(seconds=rng.uniform(0, AGE_DAYS * 86_400))
    doc = dict(template)
    doc["_id"] = f"rpt-bench-{i:08d}"
    doc["created_at"] = doc["updated_at"] = doc["received_at"] = created
    doc["respond_by"], doc["resolve_by"] = created + RESPOND, created + RESOLVE
    doc["sla"] = {**template["sla"], "respond_by": doc["respond_by"], "resolve_by": doc["resolve_by"]}
    if not due_now and doc["respond_by"] < now and rng.random() < 0.8:
        doc["responded_at"] = created + timedelta(seconds=rng.uniform(600, RESPOND.total_seconds()))
        doc["status"] = "in_progress"
    # Alarms as the scanner would have left them: every passed one sent (for a newly due case, all
    # but its respond breach), the next one scheduled.
    policy, rungs = schedule(doc)
    alarms = timeline(CaseClock.from_case(doc), policy, rungs)
    sent = [a for a in alarms if a.at <= now and not (due_now and a.key == RESPOND_KIND)]
    later = [a.at for a in alarms if a not in sent]
    if sent:
        doc["alarms"] = {a.key: a.at for a in sent}
        breaches = {a.key: a.at for a in sent if a.is_breach}
        if breaches:
            doc["breaches"] = breaches
    if later:
        doc[NEXT_ALARM] = min(later)
    return doc


async def _run(opts: Options, mongodb_url: str, bootstrap: str, topic: str) -> list[dict[str, Any]]:
    tmpl = templates(opts.boundaries)
    city = load_city(CITY_DIR)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url, tz_aware=True)
    producer = EventProducer(CommonSettings(kafka_bootstrap=bootstrap), "aduan.bench")
    await producer.start()
    rng = random.Random(11)
    results = []
    try:
        store = CaseStore(client["aduan"])
        await store.ensure_indexes()
        ladders = {u: ladder(u, city.sla, city.skpd) for u in {t["skpd_code"] for t in tmpl}}

        def schedule(doc: dict[str, Any]) -> tuple[Policy, list[Rung]]:
            return policy_named(city.sla, doc["sla"]["policy"]), ladders[doc["skpd_code"]]

        filled = 0
        for level in sorted(opts.cases):
            now = datetime.now(UTC)
            t = time.monotonic()
            while filled < level:
                n = min(BATCH, level - filled)
                docs = [
                    case(
                        tmpl[(filled + k) % len(tmpl)],
                        filled + k,
                        now,
                        rng,
                        due_now=filled + k >= level - opts.newly_due,
                        schedule=schedule,
                    )
                    for k in range(n)
                ]
                await store.coll.insert_many(docs, ordered=False)
                filled += n
            fill_s = time.monotonic() - t
            # A new scanner per level, as after a restart; the same lease holder, so it takes the lease
            # the previous level's scanner holds (a new replica would wait up to ``lease`` for it: a
            # fill shorter than that, 92 s at 100 k, once made the sweep find nothing, held off).
            scanner = Scanner(
                store=store,
                producer=producer,
                registry=city.skpd,
                topic=topic,
                interval_s=60,
                sla=city.sla,
                holder="bench",
            )
            t = time.monotonic()
            due = passes = 0
            idle_s: float | None = None
            while time.monotonic() - t < SWEEP_LIMIT_S:
                t_pass = time.monotonic()
                emitted = await scanner.scan_once()
                passes += 1
                due += emitted
                if emitted == 0:
                    idle_s = time.monotonic() - t_pass
                    break
            sweep_s = time.monotonic() - t  # with idle_s None: gave up after SWEEP_LIMIT_S
            # The parts of a pass, timed alone: the due query (one page) and the open-case count.
            t = time.monotonic()
            await store.due(datetime.now(UTC), scanner.batch)
            due_query_s = time.monotonic() - t
            t = time.monotonic()
            await store.count_open()
            count_open_s = time.monotonic() - t
            lookups = []
            for _ in range(LOOKUPS):
                rid = f"rpt-bench-{rng.randrange(filled):08d}"
                t_get = time.perf_counter()
                found = await store.get(rid)
                lookups.append(time.perf_counter() - t_get)
                assert found is not None
            results.append(
                {
                    "open_cases": filled,
                    "fill_docs_per_s": round(level / fill_s, 0) if fill_s else None,
                    "due_found": due,
                    "sweep_passes": passes,
                    "sweep_s": round(sweep_s, 3),
                    "idle_sweep_s": round(idle_s, 3) if idle_s is not None else None,
                    "sweep_complete": idle_s is not None,
                    "due_query_s": round(due_query_s, 3),
                    "count_open_s": round(count_open_s, 3),
                    "lookup_p50_ms": round(1000 * percentile(lookups, 0.5), 2),
                    "lookup_p99_ms": round(1000 * percentile(lookups, 0.99), 2),
                }
            )
            print(f"  sweep at {filled:,} open cases: {results[-1]}", flush=True)
    finally:
        await producer.stop()
        await client.close()
    return results


def run(opts: Options) -> list[dict[str, Any]]:
    topic = "aduan.sla.events"
    with database() as (mongodb_url, _), broker([(topic, 3)]) as (bootstrap, _):
        return asyncio.run(_run(opts, mongodb_url, bootstrap, topic))
