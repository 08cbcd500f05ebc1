"""``make bench``: every scenario in turn, each on servers of its own, then one report.

    .venv/bin/python -m bench.run                         # everything but the soak (see bench/README.md)
    .venv/bin/python -m bench.run --only limit,sustained --reports 20000
    .venv/bin/python -m bench.run --only soak             # memory over 10 minutes (make bench-soak)

Scenarios (``--only``, comma-separated; default all but ``soak``): limit, bounds, writes, sustained,
sustained2 (two workers per stage), intake, latency, sweep, dedupe, soak. Each starts what it needs on
free loopback ports in a temporary directory and stops it before the next begins. The report goes to
stdout and to ``bench/results/<UTC time>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aduan_kit.logs import configure_logging
from bench import report
from bench.harness import DEFAULT_BOUNDARIES, REPO
from bench.scenarios import bounds, dedupe, intake, latency, limit, soak, sustained, sweep, writes
from bench.scenarios.common import Options

SCENARIOS = [
    "limit",
    "bounds",
    "writes",
    "sustained",
    "sustained2",
    "intake",
    "latency",
    "sweep",
    "dedupe",
    "soak",
]
DEFAULT = [s for s in SCENARIOS if s != "soak"]
TWO_PER_STAGE = {"normalizer": 2, "router": 2, "sla-monitor": 2}


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=(__doc__ or "").splitlines()[0])
    ap.add_argument(
        "--only", default=",".join(DEFAULT), help=f"scenarios, comma-separated: {','.join(SCENARIOS)}"
    )
    ap.add_argument(
        "--reports", type=int, default=100_000, help="reports per sustained run and for the limit"
    )
    ap.add_argument("--sustained-timeout", type=float, default=150, help="s after the first publish")
    ap.add_argument("--rates", type=_ints, default=(100, 1_000, 5_000), help="latency: offered rates /s")
    ap.add_argument("--rate-duration", type=float, default=25, help="latency: seconds per rate")
    ap.add_argument("--http-max", type=int, default=1_000, help="latency: highest rate sent over HTTP")
    ap.add_argument("--intake-duration", type=float, default=15)
    ap.add_argument("--intake-workers", type=int, default=2, help="ingest-qlue processes")
    ap.add_argument(
        "--cases", type=_ints, default=(10_000, 100_000, 1_000_000), help="sweep: open-case levels"
    )
    ap.add_argument(
        "--cases-max", type=int, default=100_000, help="sweep: skip levels above this (1M: 1000000)"
    )
    ap.add_argument(
        "--dedupe-roots", type=_ints, default=(2_000,), help="dedupe: root-store levels (also 10000)"
    )
    ap.add_argument("--dedupe-probes", type=int, default=200, help="dedupe: reports linked per level")
    ap.add_argument("--dedupe-batch", type=int, default=10, help="dedupe: reports per batch")
    ap.add_argument("--soak-rate", type=int, default=500)
    ap.add_argument("--soak-duration", type=float, default=600)
    ap.add_argument(
        "--boundaries",
        type=Path,
        default=DEFAULT_BOUNDARIES if DEFAULT_BOUNDARIES.is_file() else None,
        help="kelurahan boundaries GeoJSON (default: ../shared/data/jakarta-kelurahan.geojson)",
    )
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    return ap


def _git() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
        )
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=REPO)
        return rev.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def main() -> None:
    args = parser().parse_args()
    configure_logging("bench", "WARNING")  # the scanner and kit log per event at INFO
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    opts = Options(
        boundaries=args.boundaries,
        reports=args.reports,
        sustained_timeout_s=args.sustained_timeout,
        latency_rates=args.rates,
        latency_duration_s=args.rate_duration,
        latency_http_max=args.http_max,
        intake_duration_s=args.intake_duration,
        intake_workers=args.intake_workers,
        cases=tuple(c for c in args.cases if c <= args.cases_max),
        soak_rate=args.soak_rate,
        soak_duration_s=args.soak_duration,
        dedupe_roots=args.dedupe_roots,
        dedupe_probes=args.dedupe_probes,
        dedupe_batch=args.dedupe_batch,
    )
    runs: dict[str, Callable[[], Any]] = {
        "limit": lambda: limit.run(opts, opts.boundaries),
        "bounds": lambda: bounds.run(opts),
        "writes": lambda: writes.run(opts),
        "sustained": lambda: sustained.run(opts),
        "sustained2": lambda: sustained.run(opts, TWO_PER_STAGE),
        "intake": lambda: intake.run(opts),
        "latency": lambda: latency.run(opts),
        "sweep": lambda: sweep.run(opts),
        "dedupe": lambda: dedupe.run(opts),
        "soak": lambda: soak.run(opts),
    }
    started = datetime.now(UTC)
    res: dict[str, Any] = {
        "at": started.isoformat(timespec="seconds"),
        "host": {
            "cpus": os.cpu_count(),
            "load_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "boundaries": opts.boundaries.name if opts.boundaries else "none (GPS geocoding off)",
            "git": _git(),
        },
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "scenarios": {},
        "runtime_s": {},
    }
    t_all = time.monotonic()
    stamp = f"{started:%Y%m%dT%H%M%SZ}"
    for name in [s for s in SCENARIOS if s in chosen]:
        print(f"bench: {name} ...", flush=True)
        t = time.monotonic()
        try:
            result = runs[name]()
        except Exception as e:  # one broken scenario must not cost the others' results
            traceback.print_exc()
            res.setdefault("errors", {})[name] = f"{type(e).__name__}: {e}"
        else:
            if name == "sustained2":
                res["scenarios"].setdefault("sustained", []).append(result)
            elif name == "sustained":
                res["scenarios"].setdefault("sustained", []).insert(0, result)
            else:
                res["scenarios"][name] = result
        res["runtime_s"][name] = round(time.monotonic() - t, 1)
        res["runtime_s"]["total"] = round(time.monotonic() - t_all, 1)
        report.write(res, args.out, stamp)  # after each scenario: an interrupted run keeps what it measured
        print(f"bench: {name} done in {res['runtime_s'][name]:.0f} s", flush=True)
    md, js = report.write(res, args.out, stamp)
    print()
    print(report.markdown(res))
    print(f"written: {md.relative_to(REPO) if md.is_relative_to(REPO) else md}, {js.name}")


if __name__ == "__main__":
    main()
