"""A real HTTP receiver on a free loopback port, standing in for SKPD systems."""

from collections.abc import Iterator

import pytest

from aduan_kit.testing.receiver import Receiver, webhook_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as r:
        yield r
