"""The stack's supervisor backs off a service that keeps crashing, and forgives one that stayed up.

Real processes: the router, started by the stack with a setting it refuses (an operator token shorter
than 16 characters), exits at once, every time, until the setting is fixed.
"""

from __future__ import annotations

import itertools
import re
import time
from pathlib import Path

import pytest

from aduan_cli.stack import CrashBackoff, Stack, StackConfig
from aduan_kit.testing.plugin import CITY_DIR

# A crashing router still takes its import time to exit (seconds; 30 s on a loaded 2-core machine), so
# the crash loop runs with a long `stable_s`; the "stayed up" part then switches to a short one.
POLICY = CrashBackoff(initial_s=1.0, max_s=2.0, stable_s=600.0)
FORGIVING = CrashBackoff(initial_s=1.0, max_s=2.0, stable_s=5.0)


def test_policy_counts_crashes_in_a_row_and_forgives_a_stable_run() -> None:
    assert FORGIVING.crashes(previous=3, up_s=2.0) == 4
    assert FORGIVING.crashes(previous=3, up_s=5.0) == 1
    assert POLICY.delay(1) == 0.0  # the first crash: restarted at once
    assert 0.5 <= POLICY.delay(2) <= 1.0
    assert all(1.0 <= POLICY.delay(n) <= 2.0 for n in range(3, 12))  # capped


def supervise_until(stack: Stack, done: object, timeout: float) -> list[str]:
    said: list[str] = []
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, said
        said += stack.supervise()
        time.sleep(0.05)
    return said


def announced_delays(said: list[str]) -> list[float]:
    """The delay of each scheduled restart, from the supervisor's lines ("... restarting it in 1.3 s")."""
    found = [re.search(r"restarting it in ([0-9.]+) s", line) for line in said]
    return [float(m.group(1)) if m else 0.0 for m in found]


@pytest.mark.timeout(600)
def test_a_service_that_keeps_crashing_is_restarted_later_and_later(tmp_path: Path) -> None:
    """Checked to fail: with `CrashBackoff.delay` returning 0 (restart at once, the former behaviour), no
    restart is ever scheduled for later, and the test fails after "crash 6 in a row" restarts, every one
    at once."""
    stack = Stack(
        StackConfig(
            data_dir=tmp_path,
            city_dir=CITY_DIR,
            kafka_bootstrap="127.0.0.1:9",  # never contacted: the router exits on its settings first
            mongodb_url="mongodb://127.0.0.1:9",
            extra_env={"ADUAN_ROUTER_OPERATOR_TOKEN": "too-short"},
            crash_backoff=POLICY,
        )
    )
    stack.logs_dir.mkdir(parents=True)
    router = next(s for s in stack.specs if s.name == "router")
    try:
        stack._start_service(router)
        starts: list[tuple[float, float | None]] = []  # (started_at, the restart_at it was due at)

        def four_crashes() -> bool:
            svc = stack.services["router"]
            if svc.restart_at is not None and (not starts or starts[-1][0] != svc.started_at):
                starts.append((svc.started_at, svc.restart_at))
            return len(starts) >= 4

        said = supervise_until(stack, four_crashes, timeout=400)
        delays = announced_delays(said)
        assert delays[0] == 0.0  # the first crash: at once
        assert 0.5 <= delays[1] <= 1.0 and 1.0 <= delays[2] <= 2.0, said
        assert 1.0 <= delays[3] <= 2.0, said  # capped: 2.0-4.0 without the cap
        assert "crash 4 in a row" in said[3]
        for (_, due), (next_start, _) in itertools.pairwise(starts):  # never restarted before its time
            assert due is not None and next_start >= due

        # Fixed: it now waits for the broker instead of exiting; once it has been up for stable_s, a
        # crash counts as its first again and is restarted at once.
        stack.config.extra_env.clear()
        stack.config.crash_backoff = FORGIVING
        supervise_until(
            stack,
            lambda: stack.services["router"].restart_at is None and stack.services["router"].process.alive,
            timeout=120,
        )
        time.sleep(FORGIVING.stable_s + 1)
        assert stack.services["router"].process.alive
        stack.kill("router")
        said = supervise_until(stack, lambda: stack.services["router"].process.alive, timeout=120)
        assert any("(crash 1 in a row); restarting it (see" in line for line in said), said
    finally:
        stack.stop()
