"""``aduan normalize`` and ``aduan route``: JSONL in, JSONL out, running the services' own code."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import IO

from aduan_router.rules import route
from aduan_schemas.city import CityConfig
from aduan_schemas.events import NormalizedReport

Result = tuple[str | None, str | None]  # (output line, error message)


def route_lines(lines: Iterable[str], city: CityConfig, now_fn: Callable[[], datetime]) -> Iterator[Result]:
    for line in lines:
        if not line.strip():
            continue
        try:
            report = NormalizedReport.model_validate_json(line)
        except ValueError as e:
            yield None, _first_line(e)
            continue
        yield route(report, city, now_fn()).model_dump_json(), None


def run_jsonl(results: Iterable[Result], out: IO[str], err: IO[str]) -> int:
    """Write outputs and per-line errors; return the exit code (1 if any line failed)."""
    failed = 0
    for n, (line, error) in enumerate(results, start=1):
        if line is not None:
            out.write(line + "\n")
        if error is not None:
            failed += 1
            err.write(json.dumps({"record": n, "error": error}, ensure_ascii=False) + "\n")
    out.flush()
    return 1 if failed else 0


def _first_line(e: Exception) -> str:
    return " ".join(str(e).split())[:500]


def utc_now() -> datetime:
    return datetime.now(UTC)
