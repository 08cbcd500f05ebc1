"""A Tansu broker of one test's own, which the test may pause (SIGSTOP) and resume (SIGCONT).

A paused broker keeps its sockets open but answers nothing: what clients see when a broker hangs, the
hardest outage for a producer (no connection error, only time-outs).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from aduan_kit import embedded
from aduan_kit.embedded import ManagedProcess
from aduan_kit.settings import CommonSettings


@dataclass
class OwnBroker:
    process: ManagedProcess
    paused: bool = False

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.process.port}"

    def settings(self, common: CommonSettings) -> CommonSettings:
        """``common`` (the test's prefix and database) pointed at this broker."""
        return common.model_copy(update={"kafka_bootstrap": self.bootstrap})

    def pause(self) -> None:
        assert self.process.proc is not None
        os.kill(self.process.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.process.proc is not None
        os.kill(self.process.proc.pid, signal.SIGCONT)
        self.paused = False


@pytest.fixture
def own_broker() -> Iterator[OwnBroker]:
    """A fresh Tansu on a free port; resumed and stopped after the test whatever happened."""
    broker = OwnBroker(embedded.tansu(embedded.free_port()).start())
    try:
        broker.process.wait_port()
        yield broker
    finally:
        if broker.paused:
            broker.resume()
        broker.process.stop()
