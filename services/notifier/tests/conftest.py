"""Real servers on free loopback ports, standing in for SKPD systems, the mail server, X, Qlue and the
SMS gateway."""

from collections.abc import Iterator

import pytest

from aduan_kit.settings import CommonSettings
from aduan_kit.testing.fake_x import FakeX, fake_x_server
from aduan_kit.testing.kafka import create_topics
from aduan_kit.testing.mailbox import Mailbox, smtp_server
from aduan_kit.testing.receiver import Receiver, webhook_receiver
from services.notifier.tests.builders import X_TOKEN


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as r:
        yield r


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
def xapi() -> Iterator[FakeX]:
    with fake_x_server(X_TOKEN) as api:
        yield api


@pytest.fixture
async def fixed_topics(common: CommonSettings) -> None:
    """The registry's fixed topics only: the notifier reads no per-unit topic."""
    await create_topics(common)
