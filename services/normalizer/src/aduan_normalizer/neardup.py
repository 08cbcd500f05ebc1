"""Near-duplicate reports: is a new report about the same problem as an open one?

Pure: a report's evidence (``Evidence``) is computed once from the normalized report, then compared
with the evidence of the open reports that share one of its keys (``candidate_keys`` /
``lookup_keys``). A new report B is a duplicate of an open report A when every gate passes and the
weighted score reaches the policy's threshold (config ``duplicates.yaml``):

Gates (any failing one rejects, and is the decision's reason):

- A is still open (a resolved case is never the target: a later report is a recurring problem);
- the categories are the same or in one compatibility group;
- the two were received within the category's window (the longer of the two categories' windows);
- place: both have GPS -> within the category's distance (haversine); otherwise the same kelurahan and,
  when both name a street, the same street.

Score = ``weights.text`` * text similarity + ``weights.place`` * place evidence + ``weights.time`` *
closeness in time. Text similarity is the cosine of the two sets of content tokens (the city's text
analyzer: slang folded, stemmed towards the taxonomy's words; stop words dropped), a taxonomy word
weighing twice another word: problem words say more than the rest. Place evidence: GPS 1.0 at the same
point falling to 0.5 at the distance limit; same kelurahan and street 0.9; same kelurahan only 0.5.
Time: 1.0 at the same moment, falling linearly to 0 at the window's end. Two different (compatible)
categories multiply the score by ``compatible_factor``: a different category is itself weak evidence
of a different problem.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aduan_normalizer.geocode import haversine_m
from aduan_schemas import yamlfile
from aduan_schemas.events import NormalizedReport
from aduan_text import Analyzer

POLICY_FILE = "duplicates.yaml"
CELL_DEG = 0.01  # grid cell of GPS keys (about 1.1 km): the 3 x 3 cells around a point cover any limit
MAX_DISTANCE_M = 1_000.0  # the largest distance a policy may set, so 3 x 3 cells always suffice
STRONG = 2.0  # weight of a taxonomy word in the text similarity; other words weigh 1

_STREET = re.compile(r"\b(jln|jl|jalan)\b\.?\s*", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+")
# Words that end a street name ("jl. kemang raya no 5 rt 3"): numbers, RT/RW, landmarks that follow.
_STREET_END = frozenset(
    {
        "no", "nomor", "rt", "rw", "gang", "gg", "kel", "kec", "kelurahan", "kecamatan", "dekat", "depan",
        "arah", "samping", "sebelah", "seberang", "persis", "tepat", "di", "ke", "dari", "yang", "yg", "dan",
        "kota", "jakarta", "raya", "sudah", "udah", "udh", "sdh", "sejak", "ada", "itu", "ini", "min",
    }
)  # fmt: skip
_STREET_WORDS = 3


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    window: timedelta = Field(gt=timedelta(0), le=timedelta(days=90))
    distance_m: float = Field(gt=0, le=MAX_DISTANCE_M)


class Weights(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    text: float = Field(ge=0, le=1)
    place: float = Field(ge=0, le=1)
    time: float = Field(ge=0, le=1)


class DuplicatePolicy(BaseModel):
    """``config/<city>/duplicates.yaml``: windows, distances, compatible categories, threshold."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str
    default: Limits
    categories: dict[str, Limits] = Field(default_factory=dict)
    compatible: list[list[str]] = Field(default_factory=list)
    stop_words: frozenset[str] = frozenset()
    threshold: float = Field(gt=0, le=1)
    weights: Weights
    compatible_factor: float = Field(default=1.0, gt=0, le=1)

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> DuplicatePolicy:
        w = self.weights
        if abs(w.text + w.place + w.time - 1.0) > 1e-6:
            raise ValueError("weights must sum to 1")
        return self

    def limits(self, category: str) -> Limits:
        return self.categories.get(category, self.default)

    def compatible_with(self, a: str, b: str) -> bool:
        return a == b or any(a in group and b in group for group in self.compatible)

    def keep_for(self, category: str) -> timedelta:
        """How long an open report of ``category`` can be a target: the longest window of the categories
        compatible with it (a later report's category may be any of them)."""
        groups = [g for g in self.compatible if category in g]
        return max(self.limits(c).window for c in {category, *(c for g in groups for c in g)})

    @property
    def retention(self) -> timedelta:
        """How long a report can still be the target of another: the longest window."""
        return max([self.default.window, *(lim.window for lim in self.categories.values())])


def load_policy(city_dir: str | Path) -> DuplicatePolicy:
    path = Path(city_dir) / POLICY_FILE
    return DuplicatePolicy.model_validate(yamlfile.safe_load(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Evidence:
    """What the comparison needs of one report (also what the windowed state keeps per open report)."""

    report_id: str
    category: str
    received_at: datetime
    lat: float | None
    lon: float | None
    kelurahan_code: str | None
    kecamatan_code: str | None
    streets: frozenset[tuple[str, ...]]
    tokens: frozenset[str]
    strong: frozenset[str]  # the tokens that are taxonomy words
    resolved: bool = False


@dataclass(frozen=True)
class Decision:
    duplicate: bool
    target: str
    score: float
    reasons: tuple[str, ...]


def streets_of(
    texts: Iterable[str | None], analyzer: Analyzer, stop_words: frozenset[str]
) -> set[tuple[str, ...]]:
    """Street names after "jl"/"jln"/"jalan", casefolded, "raya" and what follows the name dropped.

    After a lower-case "jalan" the next word must not be a taxonomy or stop word: "jalan rusak" is a
    broken road, not a street called Rusak ("Jalan" with a capital, as formal letters write it, is a name).
    """
    found: set[tuple[str, ...]] = set()
    for text in texts:
        if not text:
            continue
        for m in _STREET.finditer(text):
            words = _WORD.findall(text[m.end() : m.end() + 60].casefold())
            if not words:
                continue
            if (
                m.group(1) != "Jalan"
                and m.group(1).casefold() == "jalan"
                and (words[0] in analyzer.vocabulary or words[0] in stop_words or words[0] in _STREET_END)
            ):
                continue
            if words[0] == "raya":  # "Jl. Raya Bogor": the name follows
                words = words[1:]
            name: list[str] = []
            for w in words[:_STREET_WORDS]:
                if w in _STREET_END or w.isdigit():
                    break
                name.append(w)
            if name:
                found.add(tuple(name))
    return found


def evidence(report: NormalizedReport, analyzer: Analyzer, policy: DuplicatePolicy) -> Evidence:
    subject = getattr(report, "subject_line", None) or ""
    tokens = {
        t
        for t in analyzer.tokens(f"{subject} {report.text}")
        if len(t) > 2 and not t.isdigit() and t not in policy.stop_words
    }
    loc = report.location
    return Evidence(
        report_id=report.report_id,
        category=report.category,
        received_at=report.received_at,
        lat=loc.lat if loc else None,
        lon=loc.lon if loc else None,
        kelurahan_code=report.area.kelurahan_code if report.area else None,
        kecamatan_code=report.place.kecamatan_code if report.place else None,
        streets=frozenset(
            streets_of((report.address_text, subject, report.text), analyzer, policy.stop_words)
        ),
        tokens=frozenset(tokens),
        strong=frozenset(t for t in tokens if t in analyzer.vocabulary),
    )


def partition_key(report: NormalizedReport) -> str | None:
    """The key that places a report's state on one worker: its kecamatan (None: no place, no dedupe).

    Coarser than the candidate keys so that neighbouring kelurahan, and GPS cells across their
    boundary, mostly live on the same worker.
    """
    place = report.place
    if place is None or place.kecamatan_code is None:
        return None
    return place.kecamatan_code


def _cell(lat: float, lon: float) -> tuple[int, int]:
    return math.floor(lat / CELL_DEG), math.floor(lon / CELL_DEG)


def candidate_keys(ev: Evidence) -> tuple[str, ...]:
    """The keys an open report is stored under: its kecamatan, its kelurahan (or, unknown, a key of the
    kecamatan's reports without one) and, with GPS, its grid cell."""
    keys = []
    if ev.kecamatan_code:
        keys.append(f"kec:{ev.kecamatan_code}")
    if ev.kelurahan_code:
        keys.append(f"kel:{ev.kelurahan_code}")
    elif ev.kecamatan_code:
        keys.append(f"kec-only:{ev.kecamatan_code}")
    if ev.lat is not None and ev.lon is not None:
        i, j = _cell(ev.lat, ev.lon)
        keys.append(f"cell:{i}:{j}")
    return tuple(keys)


def lookup_keys(ev: Evidence) -> tuple[str, ...]:
    """The keys to search for a new report's targets: its kelurahan and the kecamatan's reports without
    one (or, kelurahan unknown, the whole kecamatan) and, with GPS, the 3 x 3 cells around it."""
    keys = []
    if ev.kelurahan_code:
        keys.append(f"kel:{ev.kelurahan_code}")
        if ev.kecamatan_code:  # and the reports of its kecamatan whose kelurahan is unknown
            keys.append(f"kec-only:{ev.kecamatan_code}")
    elif ev.kecamatan_code:  # only the kecamatan is known: every open report of it may match
        keys.append(f"kec:{ev.kecamatan_code}")
    if ev.lat is not None and ev.lon is not None:
        i, j = _cell(ev.lat, ev.lon)
        keys.extend(f"cell:{i + di}:{j + dj}" for di in (-1, 0, 1) for dj in (-1, 0, 1))
    return tuple(keys)


def text_similarity(a: Evidence, b: Evidence) -> float:
    """Weighted cosine of the two content-token sets (a taxonomy word weighs ``STRONG``)."""

    def mass(ev: Evidence, toks: Iterable[str]) -> float:
        return sum(STRONG**2 if t in ev.strong else 1.0 for t in toks)

    if not a.tokens or not b.tokens:
        return 0.0
    shared = mass(a, a.tokens & b.tokens)
    return shared / math.sqrt(mass(a, a.tokens) * mass(b, b.tokens))


def _same_street(a: frozenset[tuple[str, ...]], b: frozenset[tuple[str, ...]]) -> bool:
    """The same first word ("veteran" in "jl veteran gambir" and "Jalan Veteran (Kebon Kelapa)"): what
    follows a street's first word is as often the place as the rest of its name."""
    return bool({x[0] for x in a} & {y[0] for y in b})


def _place_without_gps(new: Evidence, old: Evidence) -> tuple[float, str]:
    """Place evidence when at least one report has no GPS: (0 and why not) or (evidence and why).

    The same kelurahan, or the same street within the same kecamatan when one kelurahan is unknown (the
    words named a street and a kecamatan only). Two known, different kelurahan never match; nor do two
    named streets that differ.
    """
    both_streets = bool(new.streets and old.streets)
    same_street = both_streets and _same_street(new.streets, old.streets)
    if both_streets and not same_street:
        return 0.0, "different streets"
    if new.kelurahan_code and old.kelurahan_code:
        if new.kelurahan_code != old.kelurahan_code:
            return 0.0, "no GPS pair and different kelurahan"
        if same_street:
            return 0.9, f"same kelurahan {new.kelurahan_code} and street"
        return 0.5, f"same kelurahan {new.kelurahan_code}"
    if new.kecamatan_code is None or new.kecamatan_code != old.kecamatan_code:
        return 0.0, "no GPS pair, kelurahan unknown and not the same kecamatan"
    if same_street:
        return 0.8, f"same kecamatan {new.kecamatan_code} and street"
    return 0.3, f"same kecamatan {new.kecamatan_code}"


def _reject(target: str, reasons: list[str], why: str) -> Decision:
    return Decision(False, target, 0.0, (*reasons, why))


def score(new: Evidence, old: Evidence, policy: DuplicatePolicy) -> Decision:
    """Whether ``new`` is a duplicate of the open report ``old``, with the score and its reasons."""
    reasons: list[str] = []
    if old.resolved:
        return _reject(old.report_id, reasons, "target resolved: a later report is a recurring problem")
    if not policy.compatible_with(new.category, old.category):
        return _reject(old.report_id, reasons, f"category {new.category} vs {old.category}: not compatible")
    reasons.append(
        f"category {new.category}"
        if new.category == old.category
        else f"category {new.category}~{old.category}"
    )
    lim_new, lim_old = policy.limits(new.category), policy.limits(old.category)
    window = max(lim_new.window, lim_old.window)
    apart = abs(new.received_at - old.received_at)
    if apart > window:
        return _reject(old.report_id, reasons, f"{_hours(apart)} apart > window {_hours(window)}")
    reasons.append(f"{_hours(apart)} apart <= {_hours(window)}")
    if new.lat is not None and new.lon is not None and old.lat is not None and old.lon is not None:
        limit = max(lim_new.distance_m, lim_old.distance_m)
        d = haversine_m(new.lat, new.lon, old.lat, old.lon)
        if d > limit:
            return _reject(old.report_id, reasons, f"gps {d:.0f} m > {limit:.0f} m")
        place = 1.0 - 0.5 * d / limit
        reasons.append(f"gps {d:.0f} m <= {limit:.0f} m")
    else:
        place, why = _place_without_gps(new, old)
        if place == 0.0:
            return _reject(old.report_id, reasons, why)
        reasons.append(why)
    text = text_similarity(new, old)
    reasons.append(f"text {text:.2f}")
    closeness = 1.0 - apart / window
    w = policy.weights
    total = w.text * text + w.place * place + w.time * closeness
    if new.category != old.category:
        total *= policy.compatible_factor
        reasons.append(f"x{policy.compatible_factor} for compatible categories")
    dup = total >= policy.threshold
    reasons.append(f"score {total:.2f} {'>=' if dup else '<'} {policy.threshold}")
    return Decision(dup, old.report_id, round(total, 4), tuple(reasons))


def best_target(new: Evidence, open_reports: Iterable[Evidence], policy: DuplicatePolicy) -> Decision | None:
    """The duplicate decision with the highest score (earliest report on a tie), or None."""
    best: tuple[float, datetime, Decision] | None = None
    for old in open_reports:
        if old.report_id == new.report_id:
            continue
        d = score(new, old, policy)
        if d.duplicate and (
            best is None or (d.score, -old.received_at.timestamp()) > (best[0], -best[1].timestamp())
        ):
            best = (d.score, old.received_at, d)
    return best[2] if best else None


def _hours(t: timedelta) -> str:
    h = t.total_seconds() / 3600
    return f"{h:.1f}h" if h < 48 else f"{h / 24:.1f}d"
