"""Measuring tools: per-process CPU and memory from /proc, percentiles, least-squares slope.

CPU of a process is utime + stime (its own plus that of its descendants still running, found by parent
pid), taken as a delta between the start and the end of a measured window. Peak memory is VmHWM (the
kernel's high-water mark of resident memory since the process started; for a process tree, the largest
of its members, summed). The sampler runs in a thread of the orchestrating process, which does no load
work of its own.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, cpu seconds) of one process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children_map() -> dict[int, list[int]]:
    """Parent pid -> child pids, for every process."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                children.setdefault(st[0], []).append(int(entry))
    return children


def tree(root: int, children: dict[int, list[int]] | None = None) -> list[int]:
    """``root`` and its descendants."""
    children = children_map() if children is None else children
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


@dataclass
class Usage:
    cpu_s: float
    rss_kib: int
    hwm_kib: int


def usage(root: int, children: dict[int, list[int]] | None = None) -> Usage:
    pids = tree(root, children)
    cpu = sum(st[1] for p in pids if (st := _stat(p)) is not None)
    rss = sum(_status_kib(p, "VmRSS") for p in pids)
    hwm = sum(_status_kib(p, "VmHWM") for p in pids)
    return Usage(cpu, rss, hwm)


@dataclass
class Series:
    t0_cpu: float
    times: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    last_cpu: float = 0.0
    hwm_kib: int = 0


class Sampler:
    """Samples named process trees every ``interval_s`` in a background thread."""

    def __init__(self, processes: Callable[[], dict[str, int]], interval_s: float = 1.0) -> None:
        self._processes = processes
        self.interval_s = interval_s
        self.series: dict[str, Series] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self.started = 0.0
        self.ended = 0.0

    def __enter__(self) -> Sampler:
        self.started = time.monotonic()
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.ended = time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _sample(self) -> None:
        now = time.monotonic()
        children = children_map()
        for name, pid in self._processes().items():
            u = usage(pid, children)
            s = self.series.setdefault(name, Series(t0_cpu=u.cpu_s))
            if u.rss_kib == 0:  # the process is gone: keep what it had
                continue
            s.times.append(now)
            s.rss_kib.append(u.rss_kib)
            s.last_cpu = u.cpu_s
            s.hwm_kib = max(s.hwm_kib, u.hwm_kib)

    def table(self) -> dict[str, dict[str, float]]:
        """Per process: CPU seconds and % of one core over the window, peak and end memory in MiB."""
        wall = max(self.ended - self.started, 1e-9)
        out = {}
        for name, s in self.series.items():
            cpu = s.last_cpu - s.t0_cpu
            out[name] = {
                "cpu_s": round(cpu, 1),
                "cpu_pct": round(100 * cpu / wall, 1),
                "peak_mib": round(s.hwm_kib / 1024, 1),
                "rss_end_mib": round(s.rss_kib[-1] / 1024, 1) if s.rss_kib else 0.0,
            }
        return out

    def memory_trend(self, warm_fraction: float = 0.4) -> dict[str, dict[str, float]]:
        """Per process: resident memory at start, end and max (MiB) and its slope in MiB per minute once
        warm (least squares over the samples after the first ``warm_fraction`` of them: caches and
        buffers fill at the start of any run)."""
        out = {}
        for name, s in self.series.items():
            if not s.rss_kib:
                continue
            mib = [r / 1024 for r in s.rss_kib]
            skip = int(len(mib) * warm_fraction)
            out[name] = {
                "start_mib": round(mib[0], 1),
                "end_mib": round(mib[-1], 1),
                "max_mib": round(max(mib), 1),
                "slope_mib_per_min": round(60 * slope(s.times[skip:], mib[skip:]), 2),
            }
        return out


def self_cpu_s() -> float:
    """CPU seconds used so far by the calling process (for a load generator to report its own)."""
    t = os.times()
    return t.user + t.system


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; ``inf`` entries (never seen) sort last, so they show when they matter."""
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys over xs (0 with fewer than two points)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0
