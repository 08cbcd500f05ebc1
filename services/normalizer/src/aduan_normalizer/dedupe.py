"""Exact dedupe of channel messages across restarts (the service's edge; the store is MongoDB).

A report id is recorded as published only after the broker acknowledged the normalized report
(``delivered``, called from the worker's ``after_delivery``). A crash between the two republishes the
report on restart: downstream tolerates that, since the id (and the CloudEvents id) is deterministic.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from aduan_kit.mongo import ProcessedKeys

Position = tuple[str, int, int]  # topic, partition, offset of the record that made the report
Labels = tuple[str, str]  # category, geocode method


class RedeliveryFilter:
    """Tells re-deliveries of a channel message from the first delivery.

    Three layers, cheapest first: a bounded in-memory set of recently published ids; the ids claimed by
    the batch in flight (with the record that claimed them, so the worker re-driving a failed batch is
    not mistaken for a duplicate); the store of every id ever published.
    """

    def __init__(self, store: ProcessedKeys, capacity: int = 100_000) -> None:
        self._store = store
        self._capacity = capacity
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._pending: dict[str, tuple[Position, Labels]] = {}

    async def is_duplicate(self, report_id: str, position: Position) -> bool:
        if report_id in self._recent:
            self._recent.move_to_end(report_id)
            return True
        claimed = self._pending.get(report_id)
        if claimed is not None:
            return claimed[0] != position  # same record again = the batch is being re-driven
        if await self._store.seen(report_id):
            self._remember(report_id)
            return True
        return False

    def claim(self, report_id: str, position: Position, labels: Labels) -> None:
        self._pending[report_id] = (position, labels)

    async def delivered(self, report_ids: Iterable[str]) -> list[Labels]:
        """Record ids whose reports the broker acknowledged; returns the labels of newly published ones."""
        ids = list(dict.fromkeys(report_ids))
        await self._store.mark(ids)
        published = []
        for rid in ids:
            claimed = self._pending.pop(rid, None)
            if claimed is not None:
                published.append(claimed[1])
            self._remember(rid)
        return published

    def _remember(self, report_id: str) -> None:
        if self._capacity <= 0:
            return
        self._recent[report_id] = None
        self._recent.move_to_end(report_id)
        while len(self._recent) > self._capacity:
            self._recent.popitem(last=False)
