"""Several worker processes per service in the embedded stack: naming, ports and input checks.

Starting real workers is exercised by the benchmark (bench/, two workers per stage); these tests pin
what the stack derives from its configuration. Checked by breaking it on purpose: giving every worker
the service's own name makes ``test_extra_workers_get_their_own_name_and_port`` fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aduan_cli.stack import Stack, StackConfig, parse_workers
from aduan_kit.embedded import StartError
from aduan_kit.testing.plugin import CITY_DIR


def test_parse_workers() -> None:
    assert parse_workers("normalizer=2, router=3") == {"normalizer": 2, "router": 3}
    assert parse_workers("") == {}
    for bad in ("normalizer", "normalizer=0", "router=two"):
        with pytest.raises(ValueError):
            parse_workers(bad)


def test_extra_workers_get_their_own_name_and_port(tmp_path: Path) -> None:
    stack = Stack(StackConfig(data_dir=tmp_path, city_dir=CITY_DIR, workers={"normalizer": 2, "router": 2}))
    names = [name for _, name in stack.instances()]
    assert names.count("normalizer") == names.count("normalizer-2") == 1
    assert "router-2" in names and "sla-monitor-2" not in names
    ports = {name: stack.port_of(spec, name) for spec, name in stack.instances()}
    assert len(set(ports.values())) == len(ports)
    assert ports["normalizer-2"] == stack.port_of(
        stack.instances()[names.index("normalizer-2")][0], "normalizer-2"
    )


def test_one_worker_each_by_default(tmp_path: Path) -> None:
    stack = Stack(StackConfig(data_dir=tmp_path, city_dir=CITY_DIR))
    assert [name for _, name in stack.instances()] == [s.name for s in stack.specs]


def test_unknown_service_in_workers_is_refused(tmp_path: Path) -> None:
    stack = Stack(StackConfig(data_dir=tmp_path, city_dir=CITY_DIR, workers={"normaliser": 2}))
    with pytest.raises(StartError, match="normaliser"):
        stack.instances()
