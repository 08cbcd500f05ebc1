"""The report: the results as Markdown tables (stdout and ``bench/results/<time>.md``) and the same
numbers as JSON (``bench/results/<time>.json``). Pure formatting: nothing is measured here.

Targets (issue 7): >= 5,000 reports/s raw -> SKPD topic and >= 2,000/s with the case stored, sustained
over 100,000 reports; p99 intake -> SKPD topic <= 250 ms at 1,000/s offered; the sweep within 2x from
10 k to 1 M open cases; memory flat over a 10-minute run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TARGET_SKPD_PER_S = 5_000
TARGET_CASES_PER_S = 2_000
TARGET_P99_MS_AT_1000 = 250
TARGET_SWEEP_GROWTH = 2.0
FLAT_MIB_PER_MIN = 0.5  # resident memory growing slower than this once warm counts as flat
# The embedded servers keep the data itself in memory (Tansu: every record, memory:// storage;
# SecantusDB: its cache of a growing collection): their growth is the data, not a leak of ours.
SERVERS = ("tansu", "secantusdb")


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if abs(v) < 10:
            return f"{v:.3g}"
        return f"{v:,.1f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _ratio(x: float | None, limit: float | None) -> str:
    return f"{100 * x / limit:.1f} %" if x and limit else "–"


def _workers(w: dict[str, int]) -> str:
    return ", ".join(f"{k}×{v}" for k, v in w.items()) or "1 each"


def markdown(res: dict[str, Any]) -> str:
    s = res["scenarios"]
    out = [
        f"# Aduan benchmark — {res['at']}",
        "",
        f"Machine: {res['host']['cpus']} CPUs, load average at start {res['host']['load_at_start']}; "
        f"boundaries: {res['host']['boundaries']}; git {res['host']['git']}. "
        f"Runtime {res['runtime_s'].get('total', 0):.0f} s "
        f"({', '.join(f'{k} {v:.0f} s' for k, v in res['runtime_s'].items() if k != 'total')}).",
    ]
    limit = s.get("limit", {})
    if limit or s.get("bounds") or s.get("writes"):
        out += ["", "## The limit and the embedded servers alone", ""]
        rows = [
            [
                "bare aiokafka consume → produce passthrough (bytes)",
                limit.get("passthrough_bytes_per_s"),
                "msg/s",
            ],
            [
                f"passthrough with JSON decode + encode ({limit.get('json_codec')})",
                limit.get("passthrough_json_per_s"),
                "msg/s",
            ],
            ["Tansu produce only (acks=all, 256 KiB batches)", limit.get("tansu_produce_per_s"), "msg/s"],
            ["Tansu consume only", limit.get("tansu_consume_per_s"), "msg/s"],
        ]
        b = s.get("bounds", {})
        rows += [
            ["SecantusDB insert_many (batches of 1,000)", b.get("secantus_insert_many_per_s"), "docs/s"],
            ["SecantusDB bulk_write upserts (batches of 500)", b.get("secantus_bulk_upsert_per_s"), "ops/s"],
            ["SecantusDB find_one by _id (sequential)", b.get("secantus_find_by_id_per_s"), "reads/s"],
        ]
        w = s.get("writes", {})
        if w:
            rows.append(
                [
                    "SecantusDB: the stores' writes and lookups of one report, alone (one core of it)",
                    w.get("db_bound_per_s"),
                    f"reports/s ({w.get('db_cpu_ms_per_report')} ms CPU, "
                    f"{w.get('documents_per_report')} documents a report)",
                ]
            )
        out.append(table(["bound", "value", "unit"], [r for r in rows if r[1] is not None]))
        if limit:
            out.append(
                f"\nRecords of {limit.get('record_bytes')} bytes (the raw Qlue events), "
                f"{limit.get('records'):,} each."
            )
    lim = limit.get("passthrough_bytes_per_s")
    sus = s.get("sustained", [])
    if sus:
        out += ["", "## Sustained throughput (raw events published straight onto aduan.raw.qlue)", ""]
        rows = [
            [
                _workers(r["workers"]),
                r["reports"],
                r["publish_per_s"],
                r["skpd_per_s"],
                _ratio(r["skpd_per_s"], lim),
                r["cases_per_s"],
                _ratio(r["cases_per_s"], lim),
                "yes"
                if r["complete"]
                else f"no: {r['skpd_seen']:,} reached their unit, {r['cases_stored']:,} stored in "
                f"{r['timeout_s']:.0f} s",
            ]
            for r in sus
        ]
        out.append(
            table(
                [
                    "workers",
                    "reports",
                    "published/s",
                    "raw → SKPD /s",
                    "of limit",
                    "raw → case /s",
                    "of limit",
                    "complete",
                ],
                rows,
            )
        )
        for r in sus:
            st = r.get("stages", {})
            parts = [
                f"{k}: {v['reports']:,} reports in {v['records']:,} records, last at {_fmt(v['last_s'])} s"
                for k, v in st.items()
            ]
            out.append(
                f"\n{_workers(r['workers'])}: published in {_fmt(r['publish_s'])} s; "
                + "; ".join(parts)
                + f"; SKPD done at {_fmt(r['skpd_done_s'])} s; cases at {_fmt(r['cases_done_s'])} s "
                "(seconds after the first publish); "
                f"{r.get('linked_seen', 0):,} near-duplicates linked to an earlier report's case "
                "(counted on the routed topic and in the store, not on an SKPD topic or as cases)."
            )
        names = sorted({p for r in sus for p in r["processes"]})
        out += ["", "### CPU (% of one core over the sustained window) and peak memory (VmHWM)", ""]
        header = ["process"] + [f"{_workers(r['workers'])}: CPU % / peak MiB" for r in sus]
        prow = [
            [n]
            + [
                f"{r['processes'][n]['cpu_pct']:.0f} / {r['processes'][n]['peak_mib']:.0f}"
                if n in r["processes"]
                else "–"
                for r in sus
            ]
            for n in names
        ]
        prow.append(
            ["all of them"] + [f"{sum(v['cpu_pct'] for v in r['processes'].values()):.0f} / –" for r in sus]
        )
        out.append(table(header, prow))
    intake = s.get("intake", [])
    if intake:
        out += [
            "",
            "## HTTP intake (signed webhooks to ingest-qlue, closed loop, stages behind it stopped)",
            "",
        ]
        rows = [
            [
                r["ingest_processes"],
                r.get("connections"),
                r.get("accepted_per_s"),
                1000 * r["response_p50_s"] if "response_p50_s" in r else None,
                1000 * r["response_p99_s"] if "response_p99_s" in r else None,
                ", ".join(f"{k}: {v:,}" for k, v in r.get("statuses", {}).items()),
                r.get("generator_cpu_pct"),
            ]
            for r in intake
        ]
        out.append(
            table(
                [
                    "processes",
                    "connections",
                    "accepted/s",
                    "p50 ms",
                    "p99 ms",
                    "responses",
                    "generator CPU %",
                ],
                rows,
            )
        )
    lat = s.get("latency", [])
    if lat:
        out += ["", "## Latency intake → SKPD topic (open loop, fixed offered rate)", ""]
        rows = [
            [
                r["rate"],
                r["intake"],
                f"{r['seen']:,} / {r['reports']:,}",
                r["p50_ms"],
                r["p90_ms"],
                r["p99_ms"],
                r["max_ms"],
            ]
            for r in lat
        ]
        out.append(
            table(["offered /s", "intake", "seen / sent", "p50 ms", "p90 ms", "p99 ms", "max ms"], rows)
        )
        out.append(
            "\n– = not all reports reached an SKPD topic within "
            f"{lat[0]['drain_s']:.0f} s after the last was due."
        )
    sweep = s.get("sweep", [])
    if sweep:
        out += ["", "## SLA sweep and case lookup by number of open cases", ""]
        rows = [
            [
                r["open_cases"],
                r["due_found"],
                r["sweep_s"],
                r["idle_sweep_s"],
                r["due_query_s"],
                r["count_open_s"],
                r["lookup_p50_ms"],
                r["lookup_p99_ms"],
                r["fill_docs_per_s"],
            ]
            for r in sweep
        ]
        out.append(
            table(
                [
                    "open cases",
                    "due found",
                    "sweep s",
                    "idle pass s",
                    "due query s",
                    "count open s",
                    "lookup p50 ms",
                    "p99 ms",
                    "fill docs/s",
                ],
                rows,
            )
        )
    dedupe = s.get("dedupe")
    if dedupe:
        out += _dedupe(dedupe)
    soak = s.get("soak")
    if soak:
        out += [
            "",
            f"## Memory over {_span(soak['duration_s'])} at {soak['rate']:,}/s (HTTP, open loop)",
            "",
            f"Seen {soak['seen']:,} of {soak['reports']:,}; "
            f"latency p50 {_fmt(soak['p50_ms'])} ms, p99 {_fmt(soak['p99_ms'])} ms.",
            "",
        ]
        rows = [
            [n, m["start_mib"], m["end_mib"], m["max_mib"], m["slope_mib_per_min"]]
            for n, m in soak["memory"].items()
        ]
        out.append(table(["process", "RSS start MiB", "end MiB", "max MiB", "slope MiB/min (warm)"], rows))
        out.append(
            "\nTansu keeps every record in memory (memory:// storage) and SecantusDB caches the growing "
            "collections: their growth is the data. The target applies to the services."
        )
    errors = res.get("errors", {})
    if errors:
        out += [
            "",
            "## Scenarios that failed",
            "",
            table(["scenario", "error"], [[k, v] for k, v in errors.items()]),
        ]
    checks = targets(res)
    if checks:
        out += ["", "## Targets", "", table(["target", "measured", "met"], checks)]
    return "\n".join(out) + "\n"


def _dedupe(d: dict[str, Any]) -> list[str]:
    out = [
        "",
        f"## Near-duplicate linking by roots in the store (batches of {d['batch']}, {d['probes']:,} reports)",
        "",
    ]
    rows = [
        [
            r["roots"],
            r["roots_loaded_per_report"],
            r["link_wall_us_per_report"],
            r["link_cpu_us_per_report"],
            r["db_cpu_us_per_report"],
            r["evidence_cpu_us_per_report"],
            r["decide_cpu_us_per_report"],
            r["fill_docs_per_s"],
            f"{r.get('first_read_roots', '–')} in {r.get('first_read_s', '–')} s",
        ]
        for r in d["levels"]
    ]
    out.append(
        table(
            [
                "roots",
                "roots under its keys / report",
                "link wall µs / report",
                "link CPU µs",
                "database CPU µs",
                "pure: evidence µs",
                "pure: decide µs",
                "fill docs/s",
                "first read: roots in s",
            ],
            rows,
        )
    )
    day = d["at_1m_per_day"]
    stats = d.get("coll_stats", {})
    index = f", indexes {stats['totalIndexSize']:,} bytes" if stats.get("totalIndexSize") else ""
    out.append(
        f"\nState at 1 million reports/day ({day['basis']}; every report counted as a root, kept its "
        f"category's keep_for, mean {d['mean_keep_days']} days): {day['documents']:,} documents, "
        f"{day['bytes'] / 1e9:.1f} GB of BSON ({d['mean_bson_bytes']} bytes a root measured{index} at "
        f"{stats.get('count', 0):,} roots); a lookup would read about {day['roots_per_report_lookup']:,} "
        "roots per report."
    )
    return out


def targets(res: dict[str, Any]) -> list[list[Any]]:
    s = res["scenarios"]
    rows: list[list[Any]] = []
    best = max(s.get("sustained", []), key=lambda r: r["cases_per_s"] or 0, default=None)
    if best is not None:
        skpd = max(r["skpd_per_s"] or 0 for r in s["sustained"])
        rows.append(
            [
                f"raw → SKPD ≥ {TARGET_SKPD_PER_S:,}/s over ≥ 100,000",
                f"{skpd:,.0f}/s ({best['reports']:,} reports)",
                _met(skpd >= TARGET_SKPD_PER_S and best["reports"] >= 100_000),
            ]
        )
        cases = best["cases_per_s"] or 0
        rows.append(
            [
                f"raw → case stored ≥ {TARGET_CASES_PER_S:,}/s",
                f"{cases:,.0f}/s",
                _met(cases >= TARGET_CASES_PER_S and best["reports"] >= 100_000),
            ]
        )
    at1000 = next((r for r in s.get("latency", []) if r["rate"] == 1000), None)
    if at1000 is not None:
        p99 = at1000["p99_ms"]
        rows.append(
            [
                f"p99 intake → SKPD ≤ {TARGET_P99_MS_AT_1000} ms at 1,000/s",
                f"{_fmt(p99)} ms ({at1000['intake']})",
                _met(p99 is not None and p99 <= TARGET_P99_MS_AT_1000),
            ]
        )
    sweep = s.get("sweep", [])
    if len(sweep) >= 2:
        lo, hi = sweep[0], sweep[-1]
        growth = hi["sweep_s"] / lo["sweep_s"] if lo["sweep_s"] else float("inf")
        covers = lo["open_cases"] <= 10_000 and hi["open_cases"] >= 1_000_000
        count = (
            f"; idle pass {lo['idle_sweep_s']:.3f} → {hi['idle_sweep_s']:.3f} s; open-case count, "
            f"outside the sweep, {lo['count_open_s']:.2f} → {hi['count_open_s']:.2f} s"
        )
        rows.append(
            [
                f"sweep within {TARGET_SWEEP_GROWTH:g}× from 10 k to 1 M open cases",
                f"{growth:.1f}× from {lo['open_cases']:,} to {hi['open_cases']:,} ({lo['sweep_s']:.2f} → "
                f"{hi['sweep_s']:.2f} s{count})",
                (
                    _met(growth <= TARGET_SWEEP_GROWTH)
                    if all(r["due_found"] for r in sweep)
                    else "**not measured**: a level found nothing due"
                )
                + ("" if covers else " (not up to 1 M: run --cases-max 1000000)"),
            ]
        )
    soak = s.get("soak")
    ours = {k: v for k, v in (soak or {}).get("memory", {}).items() if k not in SERVERS}
    if soak and ours:
        worst = max(ours.items(), key=lambda kv: kv[1]["slope_mib_per_min"])
        rows.append(
            [
                f"service memory flat over {_span(soak['duration_s'])} (slope < {FLAT_MIB_PER_MIN} MiB/min)",
                f"steepest {worst[0]} {worst[1]['slope_mib_per_min']} MiB/min",
                _met(worst[1]["slope_mib_per_min"] < FLAT_MIB_PER_MIN),
            ]
        )
    return rows


def _span(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} minutes"


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def write(res: dict[str, Any], out_dir: Path, stamp: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / f"{stamp}.md", out_dir / f"{stamp}.json"
    md.write_text(markdown(res), encoding="utf-8")
    js.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return md, js
