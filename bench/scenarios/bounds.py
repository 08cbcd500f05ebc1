"""The database's own bounds, measured alone: what SecantusDB does with no pipeline around it.

On a fresh SecantusDB, with case-sized documents (a routed report as the case store keeps it, ~1.5 KB):

- ``insert_many``: N documents in batches of 1,000 into a collection with only ``_id``;
- ``bulk_write`` upserts: N / 3 ``UpdateOne(..., upsert=True)`` (``$set`` + ``$setOnInsert``, as the case
  store writes a routed report) in unordered batches of 500, half of them on existing ids;
- ``find_one`` by ``_id``: 1,000 reads one after another.

(Tansu's produce-only and consume-only rates are in the ``limit`` scenario.)
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pymongo import AsyncMongoClient, UpdateOne

from bench.harness import database
from bench.scenarios.common import Options
from bench.scenarios.sweep import templates

BATCH_INSERT = 1_000
BATCH_UPSERT = 500


async def _run(opts: Options, url: str, n: int) -> dict[str, Any]:
    tmpl = templates(opts.boundaries)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True)
    try:
        db = client["bench"]
        t = time.monotonic()
        for start in range(0, n, BATCH_INSERT):
            docs = [
                {**tmpl[i % len(tmpl)], "_id": f"ins-{i}"} for i in range(start, min(n, start + BATCH_INSERT))
            ]
            await db["inserted"].insert_many(docs, ordered=False)
        insert_rate = n / (time.monotonic() - t)

        m = n // 3  # upserts are far slower than inserts on SecantusDB: fewer keep the run short
        half = m // 2
        t = time.monotonic()
        for start in range(0, m, BATCH_UPSERT):
            ops = []
            for i in range(start, min(m, start + BATCH_UPSERT)):
                doc = {k: v for k, v in tmpl[i % len(tmpl)].items() if k not in ("status", "created_at")}
                rid = f"ups-{i % half}"  # the first half inserts, the second updates the same ids
                ops.append(
                    UpdateOne(
                        {"_id": rid},
                        {"$set": doc, "$setOnInsert": {"status": "routed", "created_at": doc["updated_at"]}},
                        upsert=True,
                    )
                )
            await db["upserted"].bulk_write(ops, ordered=False)
        upsert_rate = m / (time.monotonic() - t)

        t = time.monotonic()
        for i in range(1_000):
            await db["inserted"].find_one({"_id": f"ins-{(i * 7919) % n}"})
        read_rate = 1_000 / (time.monotonic() - t)
    finally:
        await client.close()
    return {
        "documents": n,
        "secantus_insert_many_per_s": round(insert_rate),
        "secantus_bulk_upsert_per_s": round(upsert_rate),
        "secantus_find_by_id_per_s": round(read_rate),
    }


def run(opts: Options) -> dict[str, Any]:
    n = max(1_000, min(opts.reports, 30_000))
    with database() as (url, _):
        return asyncio.run(_run(opts, url, n))
