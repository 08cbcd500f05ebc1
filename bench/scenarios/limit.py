"""The limit: what the broker allows with no pipeline code at all, on the same records.

On one Tansu started alone, with the same raw Qlue events (same sizes, same CloudEvents headers):

- produce only: N records onto a topic with the raw topic's partition count as fast as it takes them,
  with the generator's tuned producer;
- consume only: read them back (one consumer, every partition assigned);
- passthrough: a bare aiokafka consume -> produce loop in a consumer group, in a process of its own:
  fetch a batch, send each value unchanged to an output topic, await the acknowledgements, commit;
  run once with the bytes as they are and once with a JSON decode + encode of every value (orjson
  when installed, else the standard library), the least a real stage does.

Passthrough throughput is N / (time from its first fetch to its last commit), over a backlog already on
the input topic. This is the ceiling the pipeline is compared to (``ratio`` in the report).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from aduan_schemas.topics import RAW_TOPICS
from bench.harness import broker
from bench.load import Generator, producer, publish_child
from bench.scenarios.common import Options, start_time, tag

IN, OUT_BYTES, OUT_JSON = "bench.in", "bench.out.bytes", "bench.out.json"
PARTITIONS = RAW_TOPICS["qlue"].partitions  # as many as the pipeline's raw topic


def _codec() -> tuple[str, Callable[[bytes], bytes]]:
    try:
        import orjson

        return "orjson", lambda v: orjson.dumps(orjson.loads(v))
    except ImportError:
        return "json", lambda v: json.dumps(json.loads(v), separators=(",", ":")).encode()


async def _passthrough(bootstrap: str, n: int, out_topic: str, transform: bool) -> dict[str, Any]:
    _, codec = _codec()
    consumer = AIOKafkaConsumer(
        IN,
        bootstrap_servers=bootstrap,
        group_id=f"passthrough-{out_topic}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
        session_timeout_ms=3000,
        heartbeat_interval_ms=500,
    )
    prod = producer(bootstrap)
    await prod.start()
    await consumer.start()
    done = 0
    first = None
    try:
        while done < n:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            if not batches:
                continue
            first = first or time.time()
            futures = []
            for records in batches.values():
                for r in records:
                    value = codec(r.value) if transform and r.value else r.value
                    futures.append(
                        await prod.send(out_topic, value=value, key=r.key, headers=list(r.headers))
                    )
                    done += 1
            await asyncio.gather(*futures)
            await consumer.commit()
        end = time.time()
    finally:
        await consumer.stop()
        await prod.stop()
    assert first is not None
    return {"records": done, "per_s": round(done / (end - first), 1)}


def passthrough_child(conn: Connection, bootstrap: str, n: int, out_topic: str, transform: bool) -> None:
    conn.send({"ready": True})
    conn.recv()
    conn.send(asyncio.run(_passthrough(bootstrap, n, out_topic, transform)))


async def _consume_only(bootstrap: str, n: int) -> float:
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20)
    await c.start()
    try:
        c.assign([TopicPartition(IN, p) for p in range(PARTITIONS)])
        await c.seek_to_beginning()
        got, t = 0, time.time()
        while got < n:
            for records in (await c.getmany(timeout_ms=500, max_records=5000)).values():
                got += len(records)
        return round(n / (time.time() - t), 1)
    finally:
        await c.stop()


def run(opts: Options, boundaries: Path | None) -> dict[str, Any]:
    n = opts.reports
    topics = [(IN, PARTITIONS), (OUT_BYTES, PARTITIONS), (OUT_JSON, PARTITIONS)]
    with broker(topics) as (bootstrap, _):
        gen = Generator(publish_child, bootstrap, IN, boundaries, tag("l"), n, None).start()
        gen.go(start_time())
        produced = gen.result(timeout_s=600) or {}
        consume = asyncio.run(_consume_only(bootstrap, n))
        out: dict[str, Any] = {
            "records": n,
            "record_bytes": gen.info.get("bytes_per_record"),
            "tansu_produce_per_s": produced.get("rate_per_s"),
            "tansu_consume_per_s": consume,
        }
        for name, topic, transform in (("bytes", OUT_BYTES, False), (_codec()[0], OUT_JSON, True)):
            p = Generator(passthrough_child, bootstrap, n, topic, transform).start()
            p.go(0)
            res = p.result(timeout_s=600) or {}
            p.stop()
            out[f"passthrough_{'bytes' if name == 'bytes' else 'json'}_per_s"] = res.get("per_s")
        out["json_codec"] = _codec()[0]
        return out
