"""Lifespan wiring shared by every service: producer, optional MongoDB, stream workers, background tasks.

A service describes itself with ``setup(runtime) -> Wiring``; this module starts and stops the parts in
order and exposes /healthz, /readyz and /metrics. Handlers reach the runtime via ``app.state.runtime``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from aduan_kit import mongo
from aduan_kit.http import ReadyCheck, flag, service_app
from aduan_kit.kafka import EventProducer, StreamWorker, Subscription
from aduan_kit.logs import get_logger
from aduan_kit.settings import CommonSettings

log = get_logger(component="service")


@dataclass
class Runtime:
    name: str
    common: CommonSettings
    producer: EventProducer
    mongo: AsyncMongoClient[dict[str, Any]] | None = None
    # Set once the producer is connected (at once when the service waits for the broker to start).
    broker_connected: asyncio.Event = field(default_factory=asyncio.Event)
    # Every consumer of this process, by group (a service that runs a worker of its own adds it).
    workers: list[StreamWorker] = field(default_factory=list)

    @property
    def db(self) -> AsyncDatabase[dict[str, Any]]:
        assert self.mongo is not None, "service was built without uses_mongo=True"
        return self.mongo[self.common.mongodb_db]

    def group_id(self, suffix: str = "") -> str:
        return f"{self.common.topic_prefix}aduan-{self.name}{suffix}"


@dataclass
class Wiring:
    """What a service runs: consumers (one group per worker) and background loops."""

    subscriptions: Sequence[Subscription] = ()
    stage: str = ""
    tasks: Sequence[Callable[[], Coroutine[Any, Any, None]]] = ()
    extra_checks: dict[str, ReadyCheck] = field(default_factory=dict)
    on_stop: Callable[[], Awaitable[None]] | None = None


def build_service(
    name: str,
    common: CommonSettings,
    setup: Callable[[Runtime], Awaitable[Wiring]],
    *,
    uses_mongo: bool = False,
    routers: Sequence[APIRouter] = (),
    wait_for_broker: bool = True,
) -> FastAPI:
    """``wait_for_broker=False`` serves HTTP before the broker answers (an ingest adapter with an outbox
    accepts reports during an outage); its tasks wait for ``runtime.broker_connected`` before sending."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = Runtime(name, common, EventProducer(common, source=f"/aduan/{name}"))
        if uses_mongo:
            rt.mongo = mongo.mongo_client(common)
        connecting = None
        if wait_for_broker:
            await _start_producer(rt.producer)
            rt.broker_connected.set()
        else:
            connecting = asyncio.create_task(_connect(rt))
        wiring = await setup(rt)
        worker = None
        if wiring.subscriptions:
            worker = StreamWorker(
                common, rt.group_id(), wiring.stage or name, wiring.subscriptions, rt.producer
            )
            rt.workers.append(worker)
        tasks = [asyncio.create_task(t()) for t in wiring.tasks]
        if connecting is not None:
            tasks.append(connecting)
        if worker is not None:
            tasks.append(asyncio.create_task(worker.run()))
        for t in tasks:
            t.add_done_callback(_exit_on_failure)
        app.state.runtime, app.state.worker, app.state.wiring = rt, worker, wiring
        log.info("service started", service=name)
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if wiring.on_stop is not None:
                await wiring.on_stop()
            await rt.producer.stop()
            if rt.mongo is not None:
                await rt.mongo.close()
            log.info("service stopped", service=name)

    def checks(app: FastAPI) -> dict[str, ReadyCheck]:
        rt: Runtime = app.state.runtime
        named: dict[str, ReadyCheck] = {"kafka": rt.producer.reachable}
        if rt.mongo is not None:
            client = rt.mongo

            async def db() -> bool:
                return await mongo.reachable(client)

            named["mongodb"] = db
        if app.state.worker is not None:
            w = app.state.worker
            named["consumer"] = flag(lambda: w.ready)
        named.update(app.state.wiring.extra_checks)
        return named

    app = service_app(name, lifespan, checks)

    @app.get("/consumers", tags=["ops"])
    async def consumers() -> dict[str, list[str]]:
        """The consumer groups of this process and the topics each reads (the embedded stack's orderly
        stop waits until each group has committed to the end of its topics)."""
        rt: Runtime = app.state.runtime
        return {w.group_id: sorted({s.topic for s in w.subscriptions}) for w in rt.workers}

    for r in routers:
        app.include_router(r)
    return app


# Set by ``runner.serve``: a deployed process stops when a background loop dies. In-process tests leave
# it off, so a failing loop fails the test instead of the test runner.
EXIT_ON_TASK_FAILURE = {"enabled": False}


def _exit_on_failure(task: asyncio.Task[None]) -> None:
    """A background loop that dies would leave a process that answers HTTP but does no work: stop the
    process instead, so its supervisor (the stack, Kubernetes) restarts it."""
    if task.cancelled() or task.exception() is None:
        return
    log.error("background task failed", error=repr(task.exception()))
    if EXIT_ON_TASK_FAILURE["enabled"]:
        os.kill(os.getpid(), signal.SIGTERM)


async def _connect(rt: Runtime) -> None:
    await _start_producer(rt.producer)
    rt.broker_connected.set()


async def _start_producer(producer: EventProducer) -> None:
    """Wait for the broker rather than crash: a service may start before it."""
    while True:
        try:
            await producer.start()
            return
        except Exception as e:
            log.warning("broker not reachable yet, retrying", error=repr(e))
            await asyncio.sleep(1)
