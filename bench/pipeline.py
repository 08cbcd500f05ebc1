"""End-to-end benchmark of the embedded stack: signed webhooks in, routed reports and cases out.

    make bench                      # 2,000 reports over HTTP, 8 concurrent senders
    .venv/bin/python bench/pipeline.py --reports 5000 --concurrency 16

Starts its own broker, database and services on free ports in a temporary data dir, posts signed Qlue
reports to ingest-qlue, and measures: ingest throughput (HTTP 202s per second), end-to-end latency from
the POST to the report appearing on aduan.reports.routed (p50/p95/p99), time until every report is a case
in the store, and each process's resident memory. Writes bench/results/pipeline-<UTC time>.json and
prints a table. Targets are in bench/README.md; nothing here asserts them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from aduan_cli.stack import Stack, StackConfig
from aduan_kit.embedded import free_port
from aduan_kit.signing import sign
from aduan_schemas.events import RoutedReport

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BOUNDARIES = REPO.parent / "shared" / "data" / "jakarta-kelurahan.geojson"
SAMPLES = [
    ("Sampah", "Tumpukan sampah belum diangkut", -6.1754, 106.8272),
    ("Jalan Rusak", "Jalan berlubang besar, bahaya untuk motor", -6.2443, 106.8000),
    ("Parkir Liar", "Parkir liar di trotoar menutup jalan", -6.1352, 106.8133),
    ("Saluran Air", "Selokan mampet, air meluap ke jalan", -6.2297, 106.8295),
]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


async def send_all(
    stack: Stack, ids: list[str], concurrency: int, sent_at: dict[str, float]
) -> tuple[float, int]:
    """POST every report; ``sent_at`` gets each id's send time (filled in place, read by the collector)."""
    url = f"{stack.services['ingest-qlue'].url}/v1/reports"
    secret = stack.secrets()["ADUAN_INGEST_QLUE_WEBHOOK_SECRET"]
    failures = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(ids)):
        queue.put_nowait(i)

    async def sender(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while not queue.empty():
            i = queue.get_nowait()
            cat, text, lat, lon = SAMPLES[i % len(SAMPLES)]
            msg_id = ids[i]
            body = json.dumps(
                {
                    "id": msg_id,
                    "created_at": datetime.now(UTC).isoformat(),
                    "description": text,
                    "category": cat,
                    "lat": lat,
                    "lng": lon,
                    "user": {"id": f"u{i}", "phone": f"+62812{i:07d}"},
                }
            ).encode()
            sent_at[msg_id] = time.monotonic()
            r = await client.post(
                url, content=body, headers={"content-type": "application/json", **sign(secret, body)}
            )
            if r.status_code != 202:
                del sent_at[msg_id]
                failures += 1

    start = time.monotonic()
    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(sender(client) for _ in range(concurrency)))
    return time.monotonic() - start, failures


async def start_reader(stack: Stack) -> AIOKafkaConsumer:
    """A reader of aduan.reports.routed assigned to every partition directly (no group join to wait for)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20
    )
    await consumer.start()
    topic = stack.topics.routed
    partitions = consumer.partitions_for_topic(topic) or set()
    consumer.assign([TopicPartition(topic, p) for p in partitions])
    await consumer.seek_to_end()
    return consumer


async def collect_routed(
    consumer: AIOKafkaConsumer, expected: set[str], sent_at: dict[str, float], deadline_s: float
) -> list[float]:
    latencies: dict[str, float] = {}
    try:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end and len(latencies) < len(expected):
            for records in (await consumer.getmany(timeout_ms=200)).values():
                now = time.monotonic()
                for r in records:
                    mid = RoutedReport.model_validate_json(r.value).channel_message_id
                    if mid in expected and mid not in latencies and mid in sent_at:
                        # From sending the POST to this reader seeing the routed record (an upper bound:
                        # it includes the reader's own fetch wait).
                        latencies[mid] = now - sent_at[mid]
    finally:
        await consumer.stop()
    return list(latencies.values())


async def wait_cases(stack: Stack, n: int, deadline_s: float) -> float:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_url)
    start = time.monotonic()
    try:
        while time.monotonic() - start < deadline_s:
            if await client[stack.config.mongodb_db]["cases"].count_documents({}) >= n:
                return time.monotonic() - start
            await asyncio.sleep(0.5)
    finally:
        await client.close()
    return float("nan")


async def bench(stack: Stack, n: int, concurrency: int) -> dict[str, Any]:
    run_start = time.monotonic()
    ids = [f"BENCH-{uuid.uuid4().hex[:12]}" for _ in range(n)]
    sent_at: dict[str, float] = {}
    reader = await start_reader(stack)
    collector = asyncio.create_task(collect_routed(reader, set(ids), sent_at, deadline_s=300))
    send_s, failures = await send_all(stack, ids, concurrency, sent_at)
    latencies = await collector
    cases_after = await wait_cases(stack, len(sent_at), deadline_s=300)
    memory = {
        name: rss_kib(svc.process.proc.pid) // 1024
        for name, svc in stack.services.items()
        if svc.process.proc
    }
    memory.update({s.name.split()[0]: rss_kib(s.proc.pid) // 1024 for s in stack.servers if s.proc})
    return {
        "reports": n,
        "concurrency": concurrency,
        "accepted": len(sent_at),
        "refused": failures,
        "ingest_per_s": round(len(sent_at) / send_s, 1),
        "routed": len(latencies),
        "post_to_routed_s": {
            "p50": round(pct(latencies, 0.50), 3),
            "p95": round(pct(latencies, 0.95), 3),
            "p99": round(pct(latencies, 0.99), 3),
            "mean": round(statistics.fmean(latencies), 3) if latencies else None,
        },
        "all_cases_stored_s_after_routing_read": round(cases_after, 2),
        "wall_s": round(time.monotonic() - run_start, 1),
        "rss_mib": memory,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument(
        "--boundaries", type=Path, default=DEFAULT_BOUNDARIES if DEFAULT_BOUNDARIES.exists() else None
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="aduan-bench-") as d:
        stack = Stack(
            StackConfig(
                data_dir=Path(d),
                city_dir=REPO / "config" / "jakarta",
                boundaries=args.boundaries,
                kafka_port=free_port(),
                mongo_port=free_port(),
            )
        )
        stack.config.service_ports = {s.name: free_port() for s in stack.specs}
        t = time.monotonic()
        stack.start()
        startup = time.monotonic() - t
        try:
            result = asyncio.run(bench(stack, args.reports, args.concurrency))
        finally:
            stack.stop()
    result["stack_startup_s"] = round(startup, 1)
    result["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"pipeline-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    print(f"written to {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
