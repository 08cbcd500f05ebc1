"""Near-duplicate evaluation: the project's labelled report groups through the normalizer and the scorer.

Algorithm:

1. Load the YAML files (``duplicates-dev.yaml``, ``duplicates-holdout.yaml``); each item is a group of
   reports (two or more) in the order they reach the normalizer, each with its channel, text, offset
   from the group's first moment (``after``), optional GPS, hint and place, and its label: ``same_as``
   (the index of the report whose case it belongs to) or nothing (a case of its own).
2. Each report becomes a raw event (RawQlue / RawTwitter / RawEmail; SMS, which has no channel model of
   its own yet, the base RawReport with channel "sms") and goes through ``normalize`` (classification,
   gazetteer, geocoding with the boundaries file), exactly as ``aduan normalize`` runs it. GPS reports get
   the group's spot (a deterministic point inside the group's kelurahan, as routing.py places them) moved
   by ``offset_m`` [east, north] and a jitter of up to 30 m derived from the report's id.
3. Each group runs through its own ``OpenReports`` state in order: a report marked ``resolved_after``
   is resolved once a later report's time passes that offset. A report the scorer links to a root is
   a predicted duplicate of that root.
4. Every report after the first is one decision. True positive: predicted root == labelled root; false
   positive: a root predicted that is not the label; false negative: a labelled root not predicted.
   Precision and recall of merging are printed per file and per item kind; the dev file also lists its
   misses with the decision's reasons. Exit 1 with ``--min-precision``/``--min-recall`` when below.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aduan_normalizer.neardup import Decision, DuplicatePolicy, evidence, load_policy, score
from aduan_normalizer.neardup_state import OpenReports
from aduan_normalizer.pipeline import load_geocoder, normalize
from aduan_schemas.city import load_city
from aduan_schemas.events import GeoPoint, NormalizedReport, RawEmail, RawQlue, RawReport, RawTwitter
from aduan_text import Analyzer, analyzer_for
from bench.eval.routing import DEFAULT_BOUNDARIES, DEFAULT_CITY, Gazetteer, load_checked

HERE = Path(__file__).resolve().parent
DEFAULT_FILES = (HERE / "duplicates-dev.yaml", HERE / "duplicates-holdout.yaml")
CHANNELS: dict[str, type[RawReport]] = {
    "qlue": RawQlue,
    "twitter": RawTwitter,
    "email": RawEmail,
    "sms": RawReport,
}
KINDS = frozenset(
    {
        "duplicate",  # one problem, written differently, across channels
        "same-street",  # negative: the same street or spot, a different problem
        "same-type-elsewhere",  # negative: the same problem type, another place
        "same-kelurahan",  # negative: the same kelurahan, a different problem
        "recurring",  # negative: the problem came back after the first case was resolved
        "out-of-window",  # negative: the same kind of problem at the same place, long after
        "mixed",  # a group holding duplicates and others
    }
)
START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
JITTER_M = 30.0
PSEUDONYM_KEY = "eval"  # pseudonyms play no part here
_AFTER = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")
M_PER_DEG_LAT = 111_320.0


def parse_after(s: str | int) -> timedelta:
    """ "25m", "3h", "2d", "1d4h30m" (0 or "0m": the group's first moment)."""
    m = _AFTER.match(str(s).strip())
    if not m or not str(s).strip():
        raise ValueError(f"bad offset {s!r} (e.g. 25m, 3h, 2d, 1d4h)")
    if str(s).strip() == "0":
        return timedelta(0)
    d, h, mi = (int(x) if x else 0 for x in m.groups())
    return timedelta(days=d, hours=h, minutes=mi)


def load_items(paths: Iterable[Path]) -> dict[str, list[dict[str, Any]]]:
    return load_checked(paths, item_problem)


def item_problem(it: Any) -> str | None:
    if not isinstance(it, dict):
        return "not a mapping"
    missing = [k for k in ("id", "kind", "place", "reports") if k not in it]
    if missing:
        return f"missing {', '.join(missing)}"
    if it["kind"] not in KINDS:
        return f"unknown kind {it['kind']!r}"
    reports = it["reports"]
    if not isinstance(reports, list) or len(reports) < 2:
        return "needs at least two reports"
    for i, r in enumerate(reports):
        if not isinstance(r, dict) or "channel" not in r or "text" not in r or "after" not in r:
            return f"report {i}: needs channel, after and text"
        if r["channel"] not in CHANNELS:
            return f"report {i}: unknown channel {r['channel']!r}"
        try:
            parse_after(r["after"])
        except ValueError as e:
            return f"report {i}: {e}"
        same = r.get("same_as")
        if same is not None:
            if not isinstance(same, int) or not 0 <= same < i:
                return f"report {i}: same_as must name an earlier report"
            if reports[same].get("same_as") is not None:
                return f"report {i}: same_as must name a root (a report with no same_as)"
        if r.get("gps") and not (r.get("place") or it["place"]).get("kelurahan"):
            return f"report {i}: gps needs a place with a kelurahan"
    labelled_dup = any(r.get("same_as") is not None for r in reports)
    if it["kind"] == "duplicate" and not labelled_dup:
        return "kind duplicate without any same_as"
    if it["kind"] not in {"duplicate", "mixed"} and labelled_dup:
        return f"kind {it['kind']} (a negative) with a same_as"
    return None


def _jitter(key: str) -> tuple[float, float]:
    d = hashlib.sha256(key.encode()).digest()
    angle = d[0] / 256 * 2 * math.pi
    r = d[1] / 255 * JITTER_M
    return r * math.cos(angle), r * math.sin(angle)


def gps_of(item: dict[str, Any], i: int, gaz: Gazetteer) -> GeoPoint:
    r = item["reports"][i]
    place = r.get("place") or item["place"]
    spot = gaz.gps_point(place, f"{item['id']}/{place['kelurahan']}")
    east, north = r.get("offset_m") or (0.0, 0.0)
    je, jn = _jitter(f"{item['id']}/{i}")
    lat = spot.lat + (north + jn) / M_PER_DEG_LAT
    lon = spot.lon + (east + je) / (M_PER_DEG_LAT * math.cos(math.radians(spot.lat)))
    return GeoPoint(lat=lat, lon=lon)


def build_raw(item: dict[str, Any], i: int, gaz: Gazetteer) -> RawReport:
    r = item["reports"][i]
    cls = CHANNELS[r["channel"]]
    extra: dict[str, Any] = {"subject_line": r.get("subject")} if cls is RawEmail else {}
    if cls is RawReport:
        extra["channel"] = "sms"
    return cls(
        channel_message_id=f"{item['id']}-{i}",
        received_at=START + parse_after(r["after"]),
        text=r["text"],
        category_hint=r.get("hint"),
        location=gps_of(item, i, gaz) if r.get("gps") else None,
        address_text=r.get("address"),
        **extra,
    )


@dataclass
class Outcome:
    item: str
    kind: str
    index: int
    label: int | None
    predicted: int | None
    reasons: tuple[str, ...]


def run_item(
    item: dict[str, Any], normalized: list[NormalizedReport], analyzer: Analyzer, policy: DuplicatePolicy
) -> list[Outcome]:
    state = OpenReports(policy)
    index = {rep.report_id: i for i, rep in enumerate(normalized)}
    resolve_at = {
        i: START + parse_after(r["resolved_after"])
        for i, r in enumerate(item["reports"])
        if r.get("resolved_after") is not None
    }
    out = []
    seen = []
    for i, rep in enumerate(normalized):
        for j, at in list(resolve_at.items()):
            if j < i and at <= rep.received_at:
                state.resolve(normalized[j].report_id)
                del resolve_at[j]
        ev = evidence(rep, analyzer, policy)
        seen.append(ev)
        decision = state.decide(ev)
        if i == 0:
            continue
        label = item["reports"][i].get("same_as")
        decision_shown: Decision | None = decision
        if decision is None and label is not None:
            decision_shown = score(ev, seen[label], policy)  # why the labelled root was not taken
        out.append(
            Outcome(
                item["id"],
                item["kind"],
                i,
                item["reports"][i].get("same_as"),
                index[decision.target] if decision else None,
                decision_shown.reasons if decision_shown else (),
            )
        )
    return out


def tally(outcomes: list[Outcome]) -> dict[str, float | int]:
    tp = sum(o.predicted is not None and o.predicted == o.label for o in outcomes)
    fp = sum(o.predicted is not None and o.predicted != o.label for o in outcomes)
    fn = sum(o.label is not None and o.predicted != o.label for o in outcomes)
    return {
        "decisions": len(outcomes),
        "duplicates": sum(o.label is not None for o in outcomes),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
    }


def evaluate(
    items: list[dict[str, Any]],
    gaz: Gazetteer,
    geocoder: Any,
    city: Any,
    policy: DuplicatePolicy,
    repeat: int,
) -> dict[str, Any]:
    analyzer = analyzer_for(city.taxonomy)
    normalized = []
    for it in items:
        reps = []
        for i in range(len(it["reports"])):
            raw = build_raw(it, i, gaz)
            reps.append(
                normalize(
                    raw,
                    geocoder=geocoder,
                    taxonomy=city.taxonomy,
                    pseudonym_key=PSEUDONYM_KEY,
                    now=raw.received_at,
                )
            )
        normalized.append(reps)
    outcomes = [
        o for it, reps in zip(items, normalized, strict=True) for o in run_item(it, reps, analyzer, policy)
    ]
    result: dict[str, Any] = {"items": len(items), **tally(outcomes)}
    kinds = Counter(it["kind"] for it in items)
    result["kinds"] = {
        k: {"items": n, **tally([o for o in outcomes if o.kind == k])} for k, n in sorted(kinds.items())
    }
    result["channels"] = dict(Counter(r["channel"] for it in items for r in it["reports"]))
    result["misses"] = [o for o in outcomes if o.predicted != o.label]
    # Cost of the duplicate step alone (evidence + decision), per report, median of the repetitions.
    timings = []
    n = sum(len(r) for r in normalized)
    for _ in range(max(repeat, 0)):
        t0 = time.perf_counter()
        for it, reps in zip(items, normalized, strict=True):
            run_item(it, reps, analyzer, policy)
        timings.append((time.perf_counter() - t0) / n * 1e6)
    result["us_per_report"] = statistics.median(timings) if timings else None
    return result


def render(name: str, m: dict[str, Any], show_misses: bool) -> str:
    out = [
        f"\n=== {name} · {m['items']} groups · {m['decisions']} decisions "
        f"({m['duplicates']} labelled duplicates) ===",
        f"precision {m['precision']:.3f}   recall {m['recall']:.3f}   "
        f"(tp {m['tp']}, fp {m['fp']}, fn {m['fn']})"
        + (f"   cost {m['us_per_report']:.0f} µs/report" if m.get("us_per_report") else ""),
        "channels: " + ", ".join(f"{c} {n}" for c, n in sorted(m["channels"].items())),
        f"\n{'kind':<22} {'items':>5} {'prec':>6} {'recall':>6} {'fp':>4} {'fn':>4}",
    ]
    for kind, k in m["kinds"].items():
        out.append(
            f"{kind:<22} {k['items']:5d} {k['precision']:6.2f} {k['recall']:6.2f} {k['fp']:4d} {k['fn']:4d}"
        )
    if show_misses and m["misses"]:
        out.append(f"\nmisses ({len(m['misses'])})")
        for o in m["misses"]:
            why = "; ".join(o.reasons) or "no target"
            out.append(f"  {o.item}[{o.index}] label {o.label} got {o.predicted}: {why}")
    elif m["misses"]:
        out.append(f"\nmisses: {len(m['misses'])} (not shown for this file)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument(
        "--file", type=Path, action="append", help="YAML file (repeatable; default: dev and holdout)"
    )
    env_boundaries = os.environ.get("ADUAN_BOUNDARIES_PATH")
    ap.add_argument(
        "--boundaries", type=Path, default=Path(env_boundaries) if env_boundaries else DEFAULT_BOUNDARIES
    )
    ap.add_argument("--city-dir", type=Path, default=DEFAULT_CITY)
    ap.add_argument("--repeat", type=int, default=5, help="timed repetitions of the duplicate step")
    ap.add_argument("--threshold", type=float, help="override the policy's decision threshold (for a sweep)")
    ap.add_argument("--min-precision", type=float)
    ap.add_argument("--min-recall", type=float)
    args = ap.parse_args(argv)
    if not args.boundaries.is_file():
        print(f"eval: boundaries file not found: {args.boundaries} (pass --boundaries PATH)", file=sys.stderr)
        return 2
    gaz = Gazetteer.load(args.boundaries)
    city = load_city(args.city_dir)
    policy = load_policy(args.city_dir)
    if args.threshold is not None:
        policy = policy.model_copy(update={"threshold": args.threshold})
    geocoder = load_geocoder(args.boundaries, registry=city.skpd)
    files = load_items(args.file or [p for p in DEFAULT_FILES if p.is_file()])
    failed = False
    for name, items in files.items():
        for it in items:
            gaz.check_place(it["place"])
            for r in it["reports"]:
                gaz.check_place(r.get("place"))
        m = evaluate(items, gaz, geocoder, city, policy, args.repeat)
        print(render(name, m, "holdout" not in name), flush=True)
        if args.min_precision is not None and m["precision"] < args.min_precision:
            failed = True
        if args.min_recall is not None and m["recall"] < args.min_recall:
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
