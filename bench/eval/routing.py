"""Routing evaluation: the project's labelled reports through ``aduan normalize | aduan route``.

Algorithm:

1. Load the YAML files (``routing-dev.yaml``, ``routing-holdout.yaml``); each item is a report as a
   citizen wrote it, the channel category they picked (``hint``), the true place and the expected
   category and unit family.
2. Build one raw event per item (RawQlue / RawTwitter / RawEmail). ``gps: true`` items get a point inside
   the place's kelurahan polygon: the polygon's representative point moved by a small offset derived from
   the item id (deterministic), kept only if it stays well inside the polygon.
3. Run the events through the very functions the CLI runs (``normalize_lines`` then ``route_lines``),
   in-process, twice: text only (hint removed) and with the channel category.
4. Resolve each expected unit family to an exact SKPD code with the city's registry (see ``expected``)
   and compare. A report flagged ``needs_triage`` counts as a triage answer: right when triage was
   expected, wrong otherwise (it did not reach the right unit first time).
5. Print accuracies, per-family precision/recall, a compact confusion table, the triage rate, the cost
   per report (median over repetitions of the whole set) and, for the dev file only, the worst misses.

It is a report, not a gate: exit 0 unless ``--min-accuracy`` is given and some mode falls below it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from aduan_cli.offline import route_lines
from aduan_normalizer.pipeline import load_geocoder, normalize_lines
from aduan_schemas.city import CityConfig, SkpdLevel, load_city
from aduan_schemas.events import GeoPoint, RawEmail, RawQlue, RawReport, RawTwitter

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_FILES = (HERE / "routing-dev.yaml", HERE / "routing-holdout.yaml")
DEFAULT_BOUNDARIES = REPO.parent / "shared" / "data" / "jakarta-kelurahan.geojson"
DEFAULT_CITY = REPO / "config" / "jakarta"

# The category codes the labels use (the taxonomy), kept here so the yardstick does not depend on
# the configuration it measures.
CATEGORIES = frozenset(
    {
        "sampah", "parkir-liar", "pohon", "taman", "fasilitas-gedung", "kdm", "jaringan-listrik",
        "lalu-lintas", "trotoar", "jalan", "lampu-jalan", "kebisingan", "pkl", "ppsu", "reklame",
        "saluran", "tutup-saluran", "banjir", "perizinan", "tata-ruang", "ketertiban", "telekomunikasi",
        "transportasi-umum", "perlengkapan-jalan", "pelayanan", "pungli", "bansos", "pmks", "kesehatan",
        "pendidikan", "kependudukan", "air-bersih", "pasar", "polusi", "lainnya",
    }
)  # fmt: skip
KELURAHAN = "kelurahan"
TRIAGE = "triage"
# Dinas that work through one Suku Dinas per kota (code "<dinas>-<kota4>").
SUKU_DINAS = frozenset(
    {"dbm", "dishub", "distamhut", "dsda", "dlh", "citata", "satpolpp", "dinsos", "dinkes", "dukcapil"}
)
OTHER_UNITS = frozenset({"disdik", "dpmptsp", "diskominfotik", "dpe", "bpbumd", "inspektorat", "pemprov"})
FAMILIES = frozenset({KELURAHAN, TRIAGE, *SUKU_DINAS, *OTHER_UNITS})
CHANNELS = {"qlue": RawQlue, "twitter": RawTwitter, "email": RawEmail}
MODES = ("text-only", "with-hint")
RECEIVED_AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
OFFSET_DEG = 0.0015  # about 170 m: enough to leave the representative point, small next to a kelurahan
INSIDE_MARGIN_DEG = 0.0004  # about 45 m from the boundary: clear of the overlaps of simplified polygons
PSEUDONYM_KEY = "eval"  # pseudonyms play no part in routing
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ten times faster


@dataclass(frozen=True)
class Feature:
    kelurahan: str
    kecamatan: str
    kota: str
    kode_kelurahan: str
    kode_kecamatan: str
    kode_kota: str
    geometry: BaseGeometry


@dataclass
class Gazetteer:
    """The boundaries file's names (and polygons), looked up by (kelurahan, kecamatan, kota)."""

    features: list[Feature]
    kecamatan: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (code, kota)
    kota: dict[str, str] = field(default_factory=dict)  # name -> code

    def __post_init__(self) -> None:
        for f in self.features:
            self.kecamatan[f.kecamatan] = (f.kode_kecamatan, f.kota)
            self.kota[f.kota] = f.kode_kota

    @classmethod
    def load(cls, path: Path) -> Gazetteer:
        data = json.loads(path.read_text(encoding="utf-8"))
        feats = []
        for ft in data["features"]:
            p = ft["properties"]
            feats.append(
                Feature(
                    p["kelurahan"],
                    p["kecamatan"],
                    p["kota"],
                    p["kode_kelurahan"],
                    p["kode_kecamatan"],
                    p["kode_kota"],
                    shape(ft["geometry"]),
                )
            )
        return cls(feats)

    def kelurahan(self, name: str, kecamatan: str | None = None, kota: str | None = None) -> Feature:
        found = [
            f
            for f in self.features
            if f.kelurahan == name
            and (kecamatan is None or f.kecamatan == kecamatan)
            and (kota is None or f.kota == kota)
        ]
        if len(found) != 1:
            raise ValueError(f"kelurahan {name!r} ({kecamatan}, {kota}) matches {len(found)} boundaries")
        return found[0]

    def check_place(self, place: dict[str, str] | None) -> None:
        """Raise ValueError unless every name of the place exists, consistently, in the boundaries."""
        if not place:
            return
        if place.get(KELURAHAN):
            self.kelurahan(place[KELURAHAN], place.get("kecamatan"), place.get("kota"))
            return
        kec, kota = place.get("kecamatan"), place.get("kota")
        if kec is not None:
            if kec not in self.kecamatan:
                raise ValueError(f"unknown kecamatan {kec!r}")
            if kota is not None and self.kecamatan[kec][1] != kota:
                raise ValueError(f"kecamatan {kec!r} is not in {kota!r}")
        if kota is not None and kota not in self.kota:
            raise ValueError(f"unknown kota {kota!r}")
        if kec is None and kota is None:
            raise ValueError(f"empty place {place!r}")

    def gps_point(self, place: dict[str, str], item_id: str) -> GeoPoint:
        """A deterministic point well inside the place's kelurahan polygon."""
        f = self.kelurahan(place[KELURAHAN], place.get("kecamatan"), place.get("kota"))
        base = f.geometry.representative_point()
        digest = hashlib.sha256(item_id.encode()).digest()
        angle = digest[0] / 256 * 2 * math.pi
        for scale in (1.0, 0.5, 0.25, 0.1):
            pt = Point(
                base.x + math.cos(angle) * OFFSET_DEG * scale, base.y + math.sin(angle) * OFFSET_DEG * scale
            )
            if f.geometry.contains(pt) and f.geometry.boundary.distance(pt) > INSIDE_MARGIN_DEG:
                return GeoPoint(lat=pt.y, lon=pt.x)
        return GeoPoint(lat=base.y, lon=base.x)


def load_items(paths: Iterable[Path]) -> dict[str, list[dict[str, Any]]]:
    """Each file's items, checked: required fields, known channel, category and unit family."""
    return load_checked(paths, _item_problem)


def load_checked(
    paths: Iterable[Path], item_problem: Callable[[Any], str | None]
) -> dict[str, list[dict[str, Any]]]:
    """Each YAML file's list of items by file name; the first item ``item_problem`` finds fault with
    (its answer is the reason) fails the whole load, naming the file and the item."""
    out = {}
    for p in paths:
        with p.open(encoding="utf-8") as fh:
            items = yaml.load(fh, Loader=_YAML_LOADER) or []
        if not isinstance(items, list):
            raise ValueError(f"{p}: expected a YAML list of items")
        for it in items:
            problem = item_problem(it)
            if problem:
                raise ValueError(
                    f"{p.name}: item {it.get('id') if isinstance(it, dict) else it!r}: {problem}"
                )
        out[p.name] = items
    return out


def _item_problem(it: Any) -> str | None:
    if not isinstance(it, dict):
        return "not a mapping"
    missing = [k for k in ("id", "channel", "text", "expect_category", "expect_unit") if k not in it]
    if missing:
        return f"missing {', '.join(missing)}"
    if it["channel"] not in CHANNELS:
        return f"unknown channel {it['channel']!r}"
    if it["expect_category"] not in CATEGORIES:
        return f"unknown category {it['expect_category']!r}"
    if it["expect_unit"] not in FAMILIES:
        return f"unknown unit family {it['expect_unit']!r}"
    if it.get("gps") and not (it.get("place") or {}).get(KELURAHAN):
        return "gps: true needs a place with a kelurahan"
    return None


def family_of(code: str, needs_triage: bool) -> str:
    """The unit family of a routed answer: triage, kelurahan (kel/kec/kota units) or the dinas code."""
    if needs_triage:
        return TRIAGE
    head, _, rest = code.partition("-")
    if head in {"kel", "kec", "kota"}:
        return KELURAHAN
    if rest.isdigit() and len(rest) == 4:
        return head
    return code


def expected(item: dict[str, Any], city: CityConfig, gaz: Gazetteer) -> str:
    """The exact SKPD code the item should reach, or ``triage``.

    kelurahan -> the place's kelurahan unit, else its kecamatan unit, else its kota unit, else triage;
    a dinas with Suku Dinas and a known kota -> ``<dinas>-<kota4>`` if the registry has it, else the dinas.
    """
    fam = item["expect_unit"]
    place = item.get("place") or {}
    reg = city.skpd
    kota = place.get("kota")
    if kota is None and place.get("kecamatan") in gaz.kecamatan:
        kota = gaz.kecamatan[place["kecamatan"]][1]
    if kota is None and place.get(KELURAHAN):
        kota = gaz.kelurahan(place[KELURAHAN]).kota
    if fam == TRIAGE:
        return TRIAGE
    if fam == KELURAHAN:
        if place.get(KELURAHAN):
            f = gaz.kelurahan(place[KELURAHAN], place.get("kecamatan"), place.get("kota"))
            unit = reg.kelurahan_unit(f.kode_kelurahan)
            if unit is not None:
                return unit.code
        if place.get("kecamatan") in gaz.kecamatan:
            unit = reg.by_area.get((SkpdLevel.KECAMATAN, gaz.kecamatan[place["kecamatan"]][0]))
            if unit is not None:
                return unit.code
        if kota in gaz.kota:
            unit = reg.by_area.get((SkpdLevel.KOTA, gaz.kota[kota]))
            if unit is not None:
                return unit.code
        return TRIAGE
    if fam in SUKU_DINAS and kota in gaz.kota:
        sudin = f"{fam}-{gaz.kota[kota].replace('.', '')}"
        if sudin in reg.by_code:
            return sudin
    return str(fam)


def build_raw(item: dict[str, Any], gaz: Gazetteer, with_hint: bool) -> RawReport:
    cls = CHANNELS[item["channel"]]
    place = item.get("place") or {}
    location = gaz.gps_point(place, item["id"]) if item.get("gps") else None
    extra = {"subject_line": item.get("subject")} if cls is RawEmail else {}
    return cls(
        channel_message_id=item["id"],
        received_at=RECEIVED_AT,
        text=item["text"],
        category_hint=item.get("hint") if with_hint else None,
        location=location,
        address_text=item.get("address"),
        **extra,
    )


def run_pipeline(raw_lines: list[str], city: CityConfig, geocoder: Any) -> list[str]:
    """normalize_lines | route_lines, in-process, exactly as ``aduan normalize | aduan route``."""
    now = lambda: RECEIVED_AT  # noqa: E731
    normalized = []
    for line, error in normalize_lines(
        raw_lines, geocoder=geocoder, taxonomy=city.taxonomy, pseudonym_key=PSEUDONYM_KEY, now_fn=now
    ):
        if line is None:
            raise RuntimeError(f"normalize failed: {error}")
        normalized.append(line)
    routed = []
    for line, error in route_lines(normalized, city, now):
        if line is None:
            raise RuntimeError(f"route failed: {error}")
        routed.append(line)
    return routed


def score(
    items: list[dict[str, Any]], routed: list[dict[str, Any]], city: CityConfig, gaz: Gazetteer
) -> dict[str, Any]:
    n = len(items)
    ok_unit = ok_fam = ok_cat = triaged = ok_non_triaged = 0
    tp: Counter[str] = Counter()
    pred: Counter[str] = Counter()
    support: Counter[str] = Counter()
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    cat_support: Counter[str] = Counter()
    cat_hits: Counter[str] = Counter()
    misses = []
    for item, r in zip(items, routed, strict=True):
        want = expected(item, city, gaz)
        triage = bool(r.get("needs_triage"))
        got = TRIAGE if triage else r["skpd_code"]
        want_fam = TRIAGE if want == TRIAGE else family_of(want, False)
        got_fam = family_of(r["skpd_code"], triage)
        right = got == want
        ok_unit += right
        ok_fam += got_fam == want_fam
        ok_cat += r["category"] == item["expect_category"]
        cat_support[item["expect_category"]] += 1
        cat_hits[item["expect_category"]] += r["category"] == item["expect_category"]
        if triage:
            triaged += 1
        else:
            ok_non_triaged += right
        support[want_fam] += 1
        pred[got_fam] += 1
        tp[want_fam] += got_fam == want_fam
        if got_fam != want_fam:
            confusion[want_fam][got_fam] += 1
        if not right:
            routing = r.get("routing") or {}
            misses.append(
                {
                    "id": item["id"],
                    "expected": want,
                    "got": got if not triage else f"triage ({r['skpd_code']})",
                    "category": f"{item['expect_category']} -> {r['category']}",
                    "rule": routing.get("rule"),
                    "reason": routing.get("reason"),
                    "confidence": routing.get("confidence", 1.0),
                }
            )
    families = {}
    for fam in sorted(set(support) | set(pred)):
        p = tp[fam] / pred[fam] if pred[fam] else 0.0
        rc = tp[fam] / support[fam] if support[fam] else 0.0
        families[fam] = {"precision": p, "recall": rc, "support": support[fam], "predicted": pred[fam]}
    # The worst misses: the ones the router was most sure of.
    misses.sort(key=lambda m: (-float(m["confidence"] or 0), m["id"]))
    return {
        "reports": n,
        "unit_accuracy": ok_unit / n if n else 0.0,
        "family_accuracy": ok_fam / n if n else 0.0,
        "category_accuracy": ok_cat / n if n else 0.0,
        "triage_rate": triaged / n if n else 0.0,
        "accuracy_non_triaged": ok_non_triaged / (n - triaged) if n - triaged else 0.0,
        "families": families,
        "category_recall": {c: cat_hits[c] / cat_support[c] for c in sorted(cat_support)},
        "confusion": {k: dict(v.most_common()) for k, v in sorted(confusion.items())},
        "misses": len(misses),
        "worst_misses": misses[:15],
    }


def evaluate(
    items: list[dict[str, Any]],
    city: CityConfig,
    gaz: Gazetteer,
    geocoder: Any,
    with_hint: bool,
    repeat: int = 5,
) -> dict[str, Any]:
    lines = [build_raw(it, gaz, with_hint).model_dump_json() for it in items]
    routed = [json.loads(line) for line in run_pipeline(lines, city, geocoder)]
    result = score(items, routed, city, gaz)
    timings = []
    for _ in range(max(repeat, 0)):
        t0 = time.perf_counter()
        run_pipeline(lines, city, geocoder)
        timings.append(time.perf_counter() - t0)
    per = [t / len(items) * 1e6 for t in timings] if items else []
    result["us_per_report"] = statistics.median(per) if per else None
    result["us_per_report_min"] = min(per) if per else None
    return result


def _pct(x: float) -> str:
    return f"{x * 100:5.1f} %"


def render(name: str, mode: str, m: dict[str, Any], show_misses: bool) -> str:
    out = [f"\n=== {name} · {mode} · {m['reports']} reports ==="]
    out.append(
        f"unit accuracy {_pct(m['unit_accuracy'])}   unit-family accuracy {_pct(m['family_accuracy'])}   "
        f"category accuracy {_pct(m['category_accuracy'])}"
    )
    out.append(
        f"triage rate {_pct(m['triage_rate'])}   "
        f"unit accuracy on non-triaged {_pct(m['accuracy_non_triaged'])}"
        + (
            f"   cost {m['us_per_report']:.0f} µs/report (median; fastest run {m['us_per_report_min']:.0f})"
            if m.get("us_per_report")
            else ""
        )
    )
    out.append(f"\n{'family':<14} {'prec':>6} {'recall':>6} {'support':>7} {'predicted':>9}")
    for fam, s in m["families"].items():
        out.append(
            f"{fam:<14} {s['precision']:6.2f} {s['recall']:6.2f} {s['support']:7d} {s['predicted']:9d}"
        )
    weak = sorted((r, c) for c, r in m["category_recall"].items() if r < 1.0)
    if weak:
        out.append("\ncategory recall below 1 (lowest first)")
        recalls = [f"{c} {r:.2f}" for r, c in weak]
        out.extend("  " + ", ".join(recalls[i : i + 6]) for i in range(0, len(recalls), 6))
    if m["confusion"]:
        out.append("\nconfusion (expected family -> got family: count, most frequent first)")
        for fam, row in m["confusion"].items():
            cells = ", ".join(f"{g}: {c}" for g, c in list(row.items())[:4])
            out.append(f"  {fam:<14} -> {cells}")
    if show_misses and m["worst_misses"]:
        out.append(f"\nworst misses ({m['misses']} in all; most confident first)")
        for w in m["worst_misses"]:
            out.append(
                f"  {w['id']}: expected {w['expected']}, got {w['got']} [{w['category']}] "
                f"rule={w['rule']} ({w['reason']})"
            )
    elif m["misses"]:
        out.append(f"\nmisses: {m['misses']} (texts not shown for this file)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--file",
        type=Path,
        action="append",
        help="YAML file to evaluate (repeatable; default: dev and holdout)",
    )
    env_boundaries = os.environ.get("ADUAN_BOUNDARIES_PATH")
    ap.add_argument(
        "--boundaries",
        type=Path,
        default=Path(env_boundaries) if env_boundaries else DEFAULT_BOUNDARIES,
        help="kelurahan boundaries GeoJSON (default: $ADUAN_BOUNDARIES_PATH or ../shared/data/...)",
    )
    ap.add_argument("--city-dir", type=Path, default=DEFAULT_CITY)
    ap.add_argument("--repeat", type=int, default=5, help="timed repetitions of each set (median is shown)")
    ap.add_argument("--json", type=Path, help="also write the numbers as JSON to this path")
    ap.add_argument("--min-accuracy", type=float, help="exit 1 if a mode's unit accuracy is below this")
    ap.add_argument("--limit", type=int, help="evaluate only the first N items of each file")
    args = ap.parse_args(argv)

    if not args.boundaries.is_file():
        print(f"eval: boundaries file not found: {args.boundaries} (pass --boundaries PATH)", file=sys.stderr)
        return 2
    gaz = Gazetteer.load(args.boundaries)
    city = load_city(args.city_dir)
    geocoder = load_geocoder(args.boundaries, registry=city.skpd)
    paths = args.file or [p for p in DEFAULT_FILES if p.is_file()]
    missing = [p for p in paths if not p.is_file()]
    if missing or not paths:
        print(f"eval: evaluation file not found: {missing or list(DEFAULT_FILES)}", file=sys.stderr)
        return 2
    files = load_items(paths)

    report: dict[str, Any] = {"city": str(args.city_dir.name), "files": {}}
    failed = False
    for name, items in files.items():
        items = items[: args.limit] if args.limit else items
        for it in items:
            gaz.check_place(it.get("place"))
        report["files"][name] = {}
        for mode in MODES:
            m = evaluate(items, city, gaz, geocoder, with_hint=mode == "with-hint", repeat=args.repeat)
            show = "holdout" not in name
            if not show:
                m["worst_misses"] = []
            print(render(name, mode, m, show), flush=True)
            report["files"][name][mode] = m
            if args.min_accuracy is not None and m["unit_accuracy"] < args.min_accuracy:
                failed = True
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
