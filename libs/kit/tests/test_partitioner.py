"""The producer's partitioner chooses exactly the partition every Kafka client chooses for a key."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from aduan_kit.kafka import KeyHashPartitioner


def test_same_partition_as_the_default_partitioner_for_repeated_and_changing_keys() -> None:
    """Keys alternate (a, a, b, a, ...) and topics differ in partition count, as when the router sends
    each report to two topics. Fails if the remembered hash is reused for another key (the ``key !=``
    test in ``KeyHashPartitioner.__call__`` replaced by ``self._key is None`` made it red)."""
    ours, default = KeyHashPartitioner(), DefaultPartitioner()
    keys = [f"report-{i // 2 if i % 5 else i}".encode() for i in range(400)]
    for n, key in enumerate(keys):
        partitions = list(range(3 if n % 2 else 12))
        assert ours(key, partitions, partitions) == default(key, partitions, partitions), key


def test_records_without_a_key_go_to_an_available_partition() -> None:
    ours = KeyHashPartitioner()
    assert {ours(None, [0, 1, 2], [1]) for _ in range(20)} == {1}
