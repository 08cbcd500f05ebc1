"""Models of a city's configuration: SKPD registry, categories, routing rules and SLA policies.

Everything city-specific lives in files (``config/<city>/``); another city runs Aduan by swapping them.
``load_city`` reads and cross-checks them so a broken file fails at start-up, not on the first report.
"""

from __future__ import annotations

import re
from datetime import date as date_
from datetime import time, timedelta
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aduan_schemas import yamlfile
from aduan_schemas.topics import SKPD_CODE_PATTERN

CITY_FILES = ("skpd.yaml", "categories.yaml", "routing.yaml", "sla.yaml")
# Routing targets besides plain SKPD codes: the unit of the report's own kelurahan (falling back to its
# kecamatan, then its kota), of its kecamatan (then kota), and "@sudin:<dinas>" (the dinas's Suku Dinas
# for the report's kota, else the dinas itself).
KELURAHAN_TARGET = "@kelurahan"
KECAMATAN_TARGET = "@kecamatan"
SUDIN_PREFIX = "@sudin:"
_LABEL_NOISE = re.compile(r"[\W_]+")


class CityConfigError(ValueError):
    """A city configuration file is invalid; the message names the file and the problem."""


def fold_label(label: str) -> str:
    """A channel label's matching key: case-, space- and punctuation-insensitive
    ("Reklame/Spanduk" == "reklame / spanduk" == "REKLAME SPANDUK")."""
    return _LABEL_NOISE.sub("", label.casefold())


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SkpdLevel(StrEnum):
    DINAS = "dinas"
    SUKU_DINAS = "suku_dinas"
    KOTA = "kota"
    KECAMATAN = "kecamatan"
    KELURAHAN = "kelurahan"
    OTHER = "other"


class SkpdContact(Strict):
    webhook_url: str | None = None
    email: str | None = None


class SkpdUnit(Strict):
    code: str
    name: str = Field(min_length=1, description="Official name, as officials read it")
    level: SkpdLevel
    parent: str | None = Field(default=None, description="Escalation target (an SKPD code)")
    area_code: str | None = Field(default=None, description="Kemendagri code of the territory it serves")
    contact: SkpdContact = SkpdContact()

    @field_validator("code")
    @classmethod
    def _code_shape(cls, v: str) -> str:
        if not SKPD_CODE_PATTERN.match(v):
            raise ValueError(f"invalid SKPD code {v!r}: use lowercase letters, digits and '-'")
        return v


class SkpdRegistry(Strict):
    version: str
    units: list[SkpdUnit]

    @model_validator(mode="after")
    def _consistent(self) -> SkpdRegistry:
        codes = [u.code for u in self.units]
        dupes = {c for c in codes if codes.count(c) > 1}
        if dupes:
            raise ValueError(f"duplicate SKPD codes: {sorted(dupes)}")
        known = set(codes)
        for u in self.units:
            if u.parent is not None and u.parent not in known:
                raise ValueError(f"SKPD {u.code}: parent {u.parent!r} is not in the registry")
        for u in self.units:  # the escalation chain must end
            seen, cur = set(), u
            while cur.parent is not None:
                if cur.code in seen:
                    raise ValueError(f"SKPD {u.code}: escalation chain loops")
                seen.add(cur.code)
                cur = self.by_code[cur.parent]
        return self

    @cached_property
    def by_code(self) -> dict[str, SkpdUnit]:
        return {u.code: u for u in self.units}

    @cached_property
    def by_area(self) -> dict[tuple[SkpdLevel, str], SkpdUnit]:
        """Territorial units (kota, kecamatan, kelurahan) by level and Kemendagri code."""
        return {
            (u.level, u.area_code): u
            for u in self.units
            if u.area_code and u.level in (SkpdLevel.KOTA, SkpdLevel.KECAMATAN, SkpdLevel.KELURAHAN)
        }

    def get(self, code: str) -> SkpdUnit:
        return self.by_code[code]

    def kelurahan_unit(self, kelurahan_code: str) -> SkpdUnit | None:
        return self.by_area.get((SkpdLevel.KELURAHAN, kelurahan_code))

    @cached_property
    def _kota_by_name(self) -> dict[str, SkpdUnit]:
        out: dict[str, SkpdUnit] = {}
        for u in self.units:
            if u.level is SkpdLevel.KOTA:
                short = re.sub(r"^(kota|kabupaten) administrasi ", "", u.name.casefold())
                out[fold_label(short)] = u
        return out

    @cached_property
    def _kecamatan_by_name(self) -> dict[tuple[str, str], SkpdUnit]:
        return {
            (u.parent or "", fold_label(u.name.removeprefix("Kecamatan "))): u
            for u in self.units
            if u.level is SkpdLevel.KECAMATAN
        }

    def kota_unit(self, kota: str) -> SkpdUnit | None:
        """The kota unit for a kota name as areas carry it ("Jakarta Selatan", "Kepulauan Seribu")."""
        return self._kota_by_name.get(fold_label(kota))

    def kecamatan_unit(self, kota: str, kecamatan: str) -> SkpdUnit | None:
        k = self.kota_unit(kota)
        return self._kecamatan_by_name.get((k.code, fold_label(kecamatan))) if k else None

    def suku_dinas(self, dinas: str, kota_unit: SkpdUnit) -> SkpdUnit | None:
        """The Suku Dinas of ``dinas`` serving ``kota_unit``, if the registry has one."""
        return self._suku_dinas.get((dinas, kota_unit.area_code or ""))

    @cached_property
    def _suku_dinas(self) -> dict[tuple[str, str], SkpdUnit]:
        return {
            (u.parent, u.area_code): u
            for u in self.units
            if u.level is SkpdLevel.SUKU_DINAS and u.parent and u.area_code
        }


class Category(Strict):
    code: str
    name: str = Field(description="Name in Bahasa Indonesia")
    description: str | None = Field(
        default=None, description="One sentence in Bahasa Indonesia for the public (Open311 services)"
    )
    hints: list[str] = Field(default_factory=list, description="Channel labels that mean this category")
    hints_by_channel: dict[str, list[str]] = Field(
        default_factory=dict, description="Labels that mean this category on one channel only"
    )
    strong: list[str] = Field(default_factory=list, description="Words/phrases that nearly decide it")
    keywords: list[str] = Field(
        default_factory=list, description="Words/phrases in report text that suggest it"
    )
    weak: list[str] = Field(default_factory=list, description="Words that only lean towards it")


class Language(Strict):
    """Text normalisation resources of the city's language."""

    slang: dict[str, str] = Field(
        default_factory=dict, description="Abbreviation/slang word -> standard word(s)"
    )
    keep: list[str] = Field(
        default_factory=list, description="Common words never corrected as typos of a keyword"
    )
    counters: list[str] = Field(
        default_factory=list, description="Words that after a number are a count, dropped there"
    )
    numbers: list[str] = Field(default_factory=list, description="Number words (besides digits)")
    money_units: list[str] = Field(
        default_factory=list, description="Currency words and suffixes: '300rb', 'Rp 50.000', '1 juta'"
    )
    money_word: str = Field(default="uang", description="The word an amount of money reads as")
    emphasis: list[str] = Field(default_factory=list, description="Phrases after which words weigh more")
    negations: list[str] = Field(default_factory=list, description="Words that negate the next keyword")
    accounts: dict[str, str] = Field(
        default_factory=dict,
        description="Handles that name a service, read as its words (other @mentions are dropped)",
    )


class Taxonomy(Strict):
    version: str
    fallback: str
    language: Language = Language()
    names: list[str] = Field(
        default_factory=list,
        description='Place names that contain a keyword ("Pasar Minggu"): matched whole, then ignored',
    )
    categories: list[Category]
    groups: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Group name (Bahasa Indonesia) -> category codes, for the public (Open311 services)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Taxonomy:
        codes = [c.code for c in self.categories]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"duplicate category codes: {dupes}")
        grouped = [code for members in self.groups.values() for code in members]
        if unknown := sorted(set(grouped) - set(codes)):
            raise ValueError(f"groups: unknown category codes {unknown}")
        if twice := sorted({c for c in grouped if grouped.count(c) > 1}):
            raise ValueError(f"groups: categories in more than one group {twice}")
        if self.fallback not in codes:
            raise ValueError(f"fallback category {self.fallback!r} is not defined")
        _ = self.hint_map  # built now, so a label claimed by two categories fails at load time
        return self

    @cached_property
    def hint_map(self) -> dict[str, dict[str, str]]:
        """Folded label -> category code, per channel ("" = every channel). A label may mean one category."""
        out: dict[str, dict[str, str]] = {"": {}}
        for c in self.categories:
            labelled = [("", h) for h in c.hints]
            labelled += [(ch, h) for ch, hs in c.hints_by_channel.items() for h in hs]
            for channel, label in labelled:
                key = fold_label(label)
                if not key:
                    raise ValueError(f"category {c.code}: empty hint {label!r}")
                seen = out.setdefault(channel, {}).get(key) or out[""].get(key)
                if seen is not None and seen != c.code:
                    raise ValueError(f"hint {label!r} maps to both {seen!r} and {c.code!r}")
                out[channel][key] = c.code
        return out

    @cached_property
    def group_of(self) -> dict[str, str]:
        """Category code -> its group's name (categories in no group are absent)."""
        return {code: name for name, members in self.groups.items() for code in members}

    def category_for_hint(self, label: str | None, channel: str | None = None) -> str | None:
        """Our category code for a channel's label, or None if the label is unknown."""
        if not label:
            return None
        key = fold_label(label)
        return self.hint_map.get(channel or "", {}).get(key) or self.hint_map[""].get(key)


class RoutingRule(Strict):
    """One rule: the first rule whose category, area and words match a report decides its unit."""

    id: str
    category: str
    to: str = Field(
        description=f"An SKPD code, {KELURAHAN_TARGET!r}, {KECAMATAN_TARGET!r} or '{SUDIN_PREFIX}<dinas>'"
    )
    words: list[str] = Field(
        default_factory=list, description="The rule applies only if one of these words/phrases occurs"
    )
    also: list[str] = Field(default_factory=list, description="With `words`: one of these must occur as well")
    unless: list[str] = Field(
        default_factory=list, description="The rule does not apply if one of these words/phrases occurs"
    )
    kota: list[str] = Field(default_factory=list, description="The rule applies only in these kota")
    otherwise: str | None = Field(
        default=None, description="SKPD code when the target cannot be resolved (area unknown)"
    )
    alternative: str | None = Field(
        default=None, description="Target of the second-best unit for reports this rule routes"
    )
    certainty: float = Field(default=1.0, gt=0, le=1, description="How sure the rule itself is")
    triage: bool = Field(default=False, description="Reports routed by this rule always go to triage")


class RoutingRules(Strict):
    version: str
    fallback: str = Field(description="SKPD code for reports no rule matches")
    triage_below: float = Field(
        default=0.5, ge=0, le=1, description="Routing confidence below this goes to operator triage"
    )
    rules: list[RoutingRule]

    @model_validator(mode="after")
    def _unique_ids(self) -> RoutingRules:
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate rule ids: {dupes}")
        for r in self.rules:
            if r.also and not r.words:
                raise ValueError(f"rule {r.id}: 'also' needs 'words'")
            for phrase in (*r.words, *r.also, *r.unless):
                if not re.search(r"\w", phrase):
                    raise ValueError(f"rule {r.id}: word {phrase!r} has no letters or digits")
        return self


class Holiday(Strict):
    date: date_
    name: str = Field(min_length=1)
    kind: str = Field(default="libur_nasional", description="libur_nasional or cuti_bersama")


class WorkingHours(Strict):
    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> WorkingHours:
        if not self.start < self.end:
            raise ValueError("working hours: start must be before end")
        return self


class WorkCalendar(Strict):
    """When a policy's clock runs: working hours on working days, local time, holidays excluded."""

    utc_offset: timedelta = Field(description="Local time minus UTC (ISO 8601, e.g. PT7H for WIB)")
    weekdays: list[int] = Field(description="Working days, ISO numbers (1 = Monday ... 7 = Sunday)")
    hours: WorkingHours
    holidays: list[Holiday] = Field(default_factory=list)

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, v: list[int]) -> list[int]:
        if not v or any(d < 1 or d > 7 for d in v):
            raise ValueError("weekdays: at least one, each 1 (Monday) to 7 (Sunday)")
        return v

    @cached_property
    def holiday_dates(self) -> frozenset[date_]:
        return frozenset(h.date for h in self.holidays)


class EscalationRung(Strict):
    """One rung of an escalation ladder: who is told at that step."""

    to: str = Field(
        description="'self' (the unit's head), 'parent' (registry parent of the rung before) or a code"
    )
    level: str = Field(
        min_length=1, max_length=64, description="The official told, e.g. lurah, camat, wali_kota"
    )


SELF_RUNG = "self"
PARENT_RUNG = "parent"


class SlaPolicy(Strict):
    respond_within: timedelta
    resolve_within: timedelta
    calendar: str | None = Field(default=None, description="Calendar name; none = the clock never stops")
    warn_at: float = Field(default=0.75, gt=0, lt=1, description="Warn when this fraction of a clock has run")
    respond_escalate_every: timedelta = Field(
        default=timedelta(hours=2),
        gt=timedelta(0),
        description="Time between ladder steps after a respond breach",
    )
    resolve_escalate_every: timedelta = Field(
        default=timedelta(days=1),
        gt=timedelta(0),
        description="Time between ladder steps after a resolve breach",
    )


class SlaPolicies(Strict):
    version: str
    default: str
    policies: dict[str, SlaPolicy]
    by_category: dict[str, str] = Field(default_factory=dict)
    by_unit: dict[str, str] = Field(
        default_factory=dict, description="SKPD code -> policy, for the unit and the units under it"
    )
    calendars: dict[str, WorkCalendar] = Field(default_factory=dict)
    ladders: dict[SkpdLevel, list[EscalationRung]] = Field(
        default_factory=dict, description="Escalation ladder per level of the responsible unit"
    )

    @model_validator(mode="after")
    def _known(self) -> SlaPolicies:
        for name in [self.default, *self.by_category.values(), *self.by_unit.values()]:
            if name not in self.policies:
                raise ValueError(f"SLA policy {name!r} is not defined")
        for name, policy in self.policies.items():
            if policy.calendar is not None and policy.calendar not in self.calendars:
                raise ValueError(f"SLA policy {name}: calendar {policy.calendar!r} is not defined")
        return self

    def for_category(self, category: str) -> tuple[str, SlaPolicy]:
        name = self.by_category.get(category, self.default)
        return name, self.policies[name]


class CityConfig(Strict):
    skpd: SkpdRegistry
    taxonomy: Taxonomy
    routing: RoutingRules
    sla: SlaPolicies

    @model_validator(mode="after")
    def _cross_check(self) -> CityConfig:
        units = self.skpd.by_code
        cats = {c.code for c in self.taxonomy.categories}
        if self.routing.fallback not in units:
            raise ValueError(f"routing.yaml: fallback {self.routing.fallback!r} is not an SKPD")
        for r in self.routing.rules:
            if r.category not in cats:
                raise ValueError(f"routing.yaml: rule {r.id}: unknown category {r.category!r}")
            for target in (r.to, r.otherwise, r.alternative):
                problem = self.target_problem(target)
                if problem:
                    raise ValueError(f"routing.yaml: rule {r.id}: {problem}")
            if r.otherwise is not None and r.otherwise not in units:
                raise ValueError(f"routing.yaml: rule {r.id}: otherwise must be an SKPD code")
            for kota in r.kota:
                if self.skpd.kota_unit(kota) is None:
                    raise ValueError(f"routing.yaml: rule {r.id}: unknown kota {kota!r}")
        for cat in self.sla.by_category:
            if cat not in cats:
                raise ValueError(f"sla.yaml: by_category: unknown category {cat!r}")
        for code in self.sla.by_unit:
            if code not in units:
                raise ValueError(f"sla.yaml: by_unit: unknown SKPD {code!r}")
        for level, rungs in self.sla.ladders.items():
            for rung in rungs:
                if rung.to not in (SELF_RUNG, PARENT_RUNG) and rung.to not in units:
                    raise ValueError(f"sla.yaml: ladders.{level}: unknown SKPD {rung.to!r}")
        return self

    def target_problem(self, target: str | None) -> str | None:
        """Why a routing target is invalid, or None when it is valid (or absent)."""
        if target is None or target in (KELURAHAN_TARGET, KECAMATAN_TARGET):
            return None
        if target.startswith(SUDIN_PREFIX):
            dinas = self.skpd.by_code.get(target.removeprefix(SUDIN_PREFIX))
            if dinas is None:
                return f"unknown dinas in target {target!r}"
            if not any(u.parent == dinas.code and u.level is SkpdLevel.SUKU_DINAS for u in self.skpd.units):
                return f"target {target!r}: {dinas.code} has no Suku Dinas in skpd.yaml"
            return None
        if target.startswith("@"):
            return f"unknown target {target!r}"
        if target not in self.skpd.by_code:
            return f"unknown SKPD {target!r}"
        return None


_M = TypeVar("_M", bound=BaseModel)


def _read(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yamlfile.safe_load(f)


def _validated(model: type[_M], path: Path) -> _M:
    try:
        return model.model_validate(_read(path))
    except ValidationError as e:
        raise CityConfigError(f"{path}: {_summary(e)}") from None
    except yaml.YAMLError as e:
        raise CityConfigError(f"{path}: not valid YAML: {e}") from None


def _validated_sla(d: Path) -> SlaPolicies:
    """sla.yaml, with each calendar's ``holidays_file`` (relative to the directory) read in."""
    path = d / "sla.yaml"
    try:
        raw = _read(path)
        for cal in (raw.get("calendars") or {}).values() if isinstance(raw, dict) else ():
            if isinstance(cal, dict) and "holidays_file" in cal:
                listed = _read(d / str(cal.pop("holidays_file")))
                cal["holidays"] = [*(cal.get("holidays") or []), *(listed.get("holidays") or [])]
        return SlaPolicies.model_validate(raw)
    except ValidationError as e:
        raise CityConfigError(f"{path}: {_summary(e)}") from None
    except (yaml.YAMLError, OSError) as e:
        raise CityConfigError(f"{path}: {e}") from None


def _summary(e: ValidationError) -> str:
    parts = []
    for err in e.errors()[:3]:
        loc = ".".join(str(x) for x in err.get("loc", ()))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def load_city(directory: str | Path) -> CityConfig:
    """Load and validate a city's configuration directory.

    Raises ``CityConfigError`` naming the file and the problem (e.g. "routing.yaml: rule x: unknown SKPD").
    """
    d = Path(directory)
    missing = [n for n in CITY_FILES if not (d / n).is_file()]
    if missing:
        raise FileNotFoundError(f"city config {d}: missing {', '.join(missing)}")
    skpd = _validated(SkpdRegistry, d / "skpd.yaml")
    taxonomy = _validated(Taxonomy, d / "categories.yaml")
    routing = _validated(RoutingRules, d / "routing.yaml")
    sla = _validated_sla(d)
    try:
        return CityConfig(skpd=skpd, taxonomy=taxonomy, routing=routing, sla=sla)
    except ValidationError as e:
        raise CityConfigError(f"{d}/{_summary(e)}") from None
