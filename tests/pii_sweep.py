"""Made-up contact details of one test run, and readers of every place a contact must not reach.

``Contacts`` makes values no other run (and no other test) uses: phone numbers, e-mail addresses,
accounts and surnames with random parts. Each value is searched for in the forms a leak could take:

- a phone by its national significant number (``812…``, the digits after ``+62``/``0``) in the text with
  up to three separators (space, dash, dot, brackets, slash) between digits removed, so
  ``0812-3456-78901``, ``+62 (0)812 3456 78901`` and ``62812345678901`` all match;
- an e-mail address by its local part, any case (so ``Sari.X@Gmail.com``, ``sari.x@gmail.com`` and a
  disguised ``sari.x at gmail dot com`` match);
- an account by its name without ``@``, any case; a name by its surname, any case.

Plain substring searches over two views of each text (lower-cased; digits joined), so a sweep of a
whole session's logs and topics stays fast.

``Place`` is one text a reader collected (a Kafka record, a document, a log file, a response) with where
it came from; ``hits`` lists each value found in it.
"""

from __future__ import annotations

import json
import random
import re
import string
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from aduan_kit.settings import CommonSettings
from aduan_kit.testing.receiver import Receiver

_RNG = random.SystemRandom()
_BETWEEN_DIGITS = re.compile(r"(?<=\d)[\s\-.()/]{1,3}(?=\d)")
MOBILE_PREFIXES = ("812", "813", "821", "852", "857")


def _digits(n: int) -> str:
    return "".join(_RNG.choice(string.digits) for _ in range(n))


def _letters(n: int) -> str:
    return "".join(_RNG.choice(string.ascii_lowercase) for _ in range(n))


@dataclass(frozen=True)
class Phone:
    nsn: str  # national significant number: 12 digits, e.g. 812345678901

    @property
    def local(self) -> str:
        return f"0{self.nsn[:3]}-{self.nsn[3:7]}-{self.nsn[7:]}"

    @property
    def international(self) -> str:
        return f"+62 {self.nsn[:3]}-{self.nsn[3:7]}-{self.nsn[7:]}"

    @property
    def plain(self) -> str:
        return f"62{self.nsn}"

    @property
    def trunk(self) -> str:
        return f"+62 (0){self.nsn[:3]} {self.nsn[3:7]} {self.nsn[7:]}"


@dataclass(frozen=True)
class Known:
    """One value and what finds it: ``needle`` (lower case) in a place's lower-cased text, or for a
    phone (``digits``) in its text with the separators between digits removed."""

    label: str
    needle: str
    digits: bool = False


@dataclass
class Contacts:
    """Values made for one run; every value handed out is searched for."""

    known: list[Known] = field(default_factory=list)

    def phone(self) -> Phone:
        p = Phone(_RNG.choice(MOBILE_PREFIXES) + _digits(9))
        self.known.append(Known(f"phone {p.local}", p.nsn, digits=True))
        return p

    def email(self, given: str, domain: str) -> str:
        local = f"{given}.{_letters(8)}"
        self.known.append(Known(f"e-mail {local}@{domain}", local.lower()))
        return f"{local}@{domain}"

    def handle(self, kind: str) -> str:
        """An account name, without ``@``."""
        name = f"{kind}_{_letters(8)}"
        self.known.append(Known(f"account @{name}", name))
        return name

    def name(self, given: str) -> str:
        surname = _letters(9).capitalize()
        self.known.append(Known(f"name {given} {surname}", surname.lower()))
        return f"{given} {surname}"


@dataclass(frozen=True)
class Place:
    where: str
    text: str

    @cached_property
    def lower(self) -> str:
        return self.text.lower()

    @cached_property
    def joined(self) -> str:
        """The text with the separators between digits removed: a phone number in any spelling."""
        return _BETWEEN_DIGITS.sub("", self.text)

    def find(self, k: Known) -> tuple[int, str]:
        """Where ``k`` is in this place (-1: not found), and the view it was searched in."""
        view = self.joined if k.digits else self.lower
        return view.find(k.needle), view


def hits(places: Iterable[Place], known: list[Known]) -> list[str]:
    """``<where>: <value> in …<excerpt>…`` for every value found in every place."""
    out = []
    for place in places:
        for k in known:
            at, view = place.find(k)
            if at >= 0:
                excerpt = view[max(0, at - 40) : at + len(k.needle) + 40].replace("\n", " ")
                out.append(f"{place.where}: {k.label} in …{excerpt}…")
    return out


def found(places: Iterable[Place], known: list[Known]) -> set[str]:
    """The labels of the values found anywhere in ``places``."""
    every = list(places)
    return {k.label for k in known if any(p.find(k)[0] >= 0 for p in every)}


def _text(value: bytes | None) -> str:
    return (value or b"").decode("utf-8", errors="replace")


async def topic_records(
    common: CommonSettings, topics: Iterable[str], timeout: float = 120
) -> dict[tuple[str, int, int], Place]:
    """Every record (key, value, headers) now on ``topics``, by (topic, partition, offset)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=common.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # the cluster's metadata, for partitions_for_topic
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        todo = {tp: end for tp, end in ends.items() if end > starts[tp]}
        consumer.assign(list(todo))
        for tp in todo:
            consumer.seek(tp, starts[tp])
        out: dict[tuple[str, int, int], Place] = {}
        deadline = time.monotonic() + timeout
        while todo:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for r in records:
                    headers = "\n".join(f"{k}: {_text(v)}" for k, v in r.headers)
                    text = f"key: {_text(r.key)}\n{headers}\n{_text(r.value)}"
                    where = f"kafka {tp.topic.removeprefix(common.topic_prefix)} p{tp.partition}@{r.offset}"
                    out[(tp.topic, tp.partition, r.offset)] = Place(where, text)
            for tp in list(todo):
                if await consumer.position(tp) >= todo[tp]:
                    del todo[tp]
            if todo and time.monotonic() > deadline:
                raise AssertionError(
                    f"topics not read to their end within {timeout} s: {sorted(map(str, todo))}"
                )
        return out
    finally:
        await consumer.stop()


async def prefixed_topics(common: CommonSettings) -> list[str]:
    """Every topic of the stack's prefix on the broker."""
    consumer = AIOKafkaConsumer(bootstrap_servers=common.kafka_bootstrap)
    await consumer.start()
    try:
        return sorted(t for t in await consumer.topics() if t.startswith(common.topic_prefix))
    finally:
        await consumer.stop()


async def documents(common: CommonSettings, skip: Iterable[str]) -> list[Place]:
    """Every document of every collection of the stack's database but those in ``skip``."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(common.mongodb_url.get_secret_value())
    out = []
    try:
        db = client[common.mongodb_db]
        for name in sorted(set(await db.list_collection_names()) - set(skip)):
            async for doc in db[name].find({}):
                out.append(Place(f"mongodb {name} {doc.get('_id')}", json.dumps(doc, default=str)))
    finally:
        await client.close()
    return out


def log_files(logs_dir: Path) -> list[Place]:
    return [
        Place(f"log {p.name}", p.read_text(encoding="utf-8", errors="replace"))
        for p in logs_dir.glob("*.log")
    ]


def webhooks(receiver: Receiver) -> list[Place]:
    with receiver.lock:
        requests = list(receiver.requests)
    return [
        Place(
            f"webhook #{i} {r.path}",
            "\n".join(f"{k}: {v}" for k, v in r.headers.items()) + "\n" + _text(r.body),
        )
        for i, r in enumerate(requests)
    ]


async def responses(urls: Iterable[tuple[str, dict[str, str]]]) -> list[Place]:
    """``GET`` each URL (with its headers); every answer must be 200."""
    out = []
    async with httpx.AsyncClient(timeout=30) as client:
        for url, headers in urls:
            r = await client.get(url, headers=headers)
            assert r.status_code == 200, f"GET {url}: {r.status_code} {r.text[:300]}"
            out.append(
                Place(f"GET {url}", "\n".join(f"{k}: {v}" for k, v in r.headers.items()) + "\n" + r.text)
            )
    return out
