"""Production settings reach the clients: topic replication for `aduan topics create`, the write concern
of every database write."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aduan_kit.kafka import new_topics
from aduan_kit.mongo import mongo_client
from aduan_kit.settings import CommonSettings


def test_new_topics_carry_replication_and_min_in_sync() -> None:
    """Checked to fail: with the replication factor hard-coded to 1 in `new_topics`."""
    made = new_topics([("aduan.raw.sms", 6), ("aduan.dlq", 1)], 3, 2)
    assert [(t.name, t.num_partitions, t.replication_factor) for t in made] == [
        ("aduan.raw.sms", 6, 3),
        ("aduan.dlq", 1, 3),
    ]
    assert all(t.topic_configs == {"min.insync.replicas": "2"} for t in made)
    assert new_topics([("t", 1)])[0].topic_configs == {}  # the broker's default


def test_min_in_sync_cannot_exceed_replicas() -> None:
    with pytest.raises(ValidationError, match="exceeds"):
        CommonSettings(kafka_replication_factor=1, kafka_min_insync_replicas=2)


def test_write_concern_reaches_the_client() -> None:
    """Checked to fail: with the `w` option not passed to AsyncMongoClient."""
    majority = mongo_client(CommonSettings(mongodb_write_concern="majority"))
    default = mongo_client(CommonSettings())
    assert majority.write_concern.document == {"w": "majority"}
    assert default.write_concern.document == {}
