"""Near-duplicate state two ways: a faust-streaming table (changelog topic on the embedded Tansu) against
the normalizer's root store in MongoDB (SecantusDB), with the same root documents.

    python -m bench.faust_state --roots 5000            # needs faust-streaming importable (see below)

faust-streaming is not a dependency of the project: run this with an interpreter that has it and the
project's packages (e.g. a scratch virtual environment with ``pip install faust-streaming`` whose
``site`` includes the project's ``.venv``). Each side runs on servers of its own, on free loopback ports.

- **faust, update**: one worker process (``faust.Worker``, ``store="memory://"``), a table of 6
  partitions; an agent reads N root documents from a topic and sets ``table[id] = document``, which
  produces one changelog record each. Timed from the first event to the N-th update, with the worker's
  CPU (this is the state update cost per report, the changelog write included).
- **faust, recovery**: a new worker of the same app (empty memory store, as after a restart or on a new
  host) rebuilds the table from the changelog; timed from the worker's start (interpreter loaded) until
  faust's recovery has read the changelog to its end, with the keys the table then holds.
- **MongoDB, save**: ``OpenRootStore.save`` of the same N roots in batches of 100 (the service writes a
  batch's new roots in one bulk write).
- **MongoDB, load**: ``OpenRootStore.load`` of one kecamatan partition and of every partition (what a
  worker would read on an assignment), and ``candidates`` for one batch's keys (what the service reads per
  batch instead).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aduan_kit import embedded

N_DEFAULT = 5_000
APP_ID = "aduan-faust-bench"
EMPTY = "roots-none"  # the recovering worker's source: nothing to process, only the table to rebuild


def _roots(n: int) -> list[dict[str, Any]]:
    """N root documents as the normalizer stores them (to_document of corpus evidence), JSON-ready."""
    from aduan_normalizer.neardup import evidence, load_policy, partition_key
    from aduan_normalizer.neardup_store import to_document
    from aduan_schemas.city import load_city
    from aduan_text import analyzer_for
    from bench.harness import CITY_DIR, DEFAULT_BOUNDARIES
    from bench.scenarios.dedupe import _reports

    policy = load_policy(CITY_DIR)
    analyzer = analyzer_for(load_city(CITY_DIR).taxonomy)
    now = datetime.now(UTC)
    boundaries = DEFAULT_BOUNDARIES if DEFAULT_BOUNDARIES.is_file() else None
    base = [(evidence(r, analyzer, policy), partition_key(r)) for r in _reports(boundaries, 0, 500, now)]
    base = [(ev, p) for ev, p in base if p is not None]
    out = []
    for i in range(n):
        ev, part = base[i % len(base)]
        copy = replace(ev, report_id=f"root-{i}", received_at=now - timedelta(minutes=i % 20_000))
        out.append(to_document(copy, str(part), policy))
    return out


# -- the faust side: a worker in a process of its own ------------------------------------------------------


def _faust_worker(bootstrap: str, mode: str, n: int, source: str) -> None:
    import faust

    app = faust.App(
        APP_ID,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        topic_partitions=6,
        topic_replication_factor=1,
        web_enabled=False,
    )
    table = app.Table("roots", default=None, partitions=6)
    topic = app.topic(source, value_serializer="json")
    started = time.monotonic()
    state: dict[str, float] = {}

    def done(label: str) -> None:
        cpu = time.process_time()
        took = time.monotonic() - state.get("t0", started)
        print(json.dumps({"mode": label, "s": took, "cpu_s": cpu, "keys": state.get("keys")}))
        sys.stdout.flush()
        os._exit(0)

    if mode == "update":

        @app.agent(topic)
        async def update(stream: Any) -> None:
            count = 0
            async for doc in stream:
                if count == 0:
                    state["t0"] = time.monotonic()
                    state["cpu0"] = time.process_time()
                table[doc["_id"]] = doc
                count += 1
                if count == n:
                    await asyncio.sleep(0)  # let the changelog producer flush what it holds
                    await app.producer.flush()
                    cpu = time.process_time() - state["cpu0"]
                    print(json.dumps({"mode": "update", "s": time.monotonic() - state["t0"], "cpu_s": cpu}))
                    sys.stdout.flush()
                    os._exit(0)

    else:  # an agent on an empty topic of 6 partitions, so the table's partitions are assigned

        @app.agent(topic)
        async def idle(stream: Any) -> None:
            async for _ in stream:
                pass

        @app.timer(0.05)
        async def watch() -> None:
            if app.tables.recovery.completed.is_set():  # the changelog read to its end
                state["keys"] = len(table)
                done("recover")

    faust.Worker(
        app, loglevel=os.environ.get("FAUST_LOGLEVEL", "WARNING"), quiet=True
    ).execute_from_commandline()


def _faust_run(bootstrap: str, mode: str, n: int, source: str, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.faust_state", "--worker", mode, "--bootstrap", bootstrap]
    cmd += ["--roots", str(n), "--source", source]
    t = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).parents[1]
        )
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        return {"error": f"no result within {timeout:.0f} s", "stderr": err[-3000:]}
    wall = time.monotonic() - t
    # faust routes a worker's stdout into its log (stderr): the result is the line with '{"mode"'
    text = proc.stdout + proc.stderr
    lines = [ln[ln.index('{"mode"') :].strip() for ln in text.splitlines() if '{"mode"' in ln]
    if not lines:
        return {"error": (proc.stderr or proc.stdout)[-1500:], "process_s": round(wall, 2)}
    out: dict[str, Any] = json.loads(lines[-1])
    out["process_s"] = round(wall, 2)  # process start to exit: interpreter, faust start-up, group join
    return out


async def _publish(bootstrap: str, topic: str, docs: list[dict[str, Any]]) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 6, 1), NewTopic(EMPTY, 6, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for d in docs:
            await producer.send(topic, json.dumps(d, default=str).encode(), key=str(d["_id"]).encode())
        await producer.flush()
    finally:
        await producer.stop()


# -- the MongoDB side ----------------------------------------------------------------------------------------


async def _mongo(url: str, docs: list[dict[str, Any]]) -> dict[str, Any]:
    from pymongo import AsyncMongoClient

    from aduan_normalizer.neardup import load_policy, lookup_keys
    from aduan_normalizer.neardup_store import OpenRootStore, from_document
    from bench.harness import CITY_DIR

    policy = load_policy(CITY_DIR)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True)
    try:
        store = OpenRootStore(client["bench"]["normalizer_neardup"], policy)
        await store.ensure_indexes(lookups=True)
        roots = [(from_document(d), d["partition"]) for d in docs]
        t, c = time.monotonic(), time.process_time()
        for i in range(0, len(roots), 100):
            await store.save(roots[i : i + 100])
        save_s, save_cpu = time.monotonic() - t, time.process_time() - c
        now = datetime.now(UTC)
        parts = sorted({d["partition"] for d in docs})
        biggest = max(parts, key=lambda p: sum(d["partition"] == p for d in docs))
        t = time.monotonic()
        one = await store.load([biggest], now)
        one_s = time.monotonic() - t
        t = time.monotonic()
        every = await store.load(parts, now)
        all_s = time.monotonic() - t
        keys = {k for d in docs[:10] for k in lookup_keys(from_document(d))}
        t = time.monotonic()
        found = await store.candidates(keys, now)
        batch_s = time.monotonic() - t
    finally:
        await client.close()
    n = len(docs)
    return {
        "save_us_per_root": round(1e6 * save_s / n),
        "save_client_cpu_us_per_root": round(1e6 * save_cpu / n),
        "load_one_partition": {"partition": biggest, "roots": len(one), "s": round(one_s, 3)},
        "load_all": {"partitions": len(parts), "roots": len(every), "s": round(all_s, 3)},
        "candidates_one_batch": {"reports": 10, "roots": len(found), "s": round(batch_s, 3)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.faust_state", description=__doc__.splitlines()[0])
    ap.add_argument("--roots", type=int, default=N_DEFAULT)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--worker", choices=["update", "recover"], help=argparse.SUPPRESS)
    ap.add_argument("--bootstrap", help=argparse.SUPPRESS)
    ap.add_argument("--source", default="roots-in", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _faust_worker(args.bootstrap, args.worker, args.roots, args.source)
        return
    try:
        import faust  # noqa: F401
    except ImportError:
        raise SystemExit("faust-streaming is not importable: see this module's docstring") from None
    from bench.harness import database

    docs = _roots(args.roots)
    result: dict[str, Any] = {"roots": args.roots, "load_average": os.getloadavg()}
    port = embedded.free_port()
    broker = embedded.tansu(port).start()
    try:
        broker.wait_port()
        bootstrap = f"127.0.0.1:{port}"
        asyncio.run(_publish(bootstrap, args.source, docs))
        result["faust_update"] = _faust_run(bootstrap, "update", args.roots, args.source, args.timeout)
        print(json.dumps(result["faust_update"]), flush=True)
        result["faust_recover"] = _faust_run(bootstrap, "recover", args.roots, EMPTY, args.timeout)
    finally:
        broker.stop()
    with database() as (url, _):
        result["mongo"] = asyncio.run(_mongo(url, docs))
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
