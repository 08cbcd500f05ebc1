"""Models of a city's configuration: SKPD registry, categories, routing rules and SLA policies.

Everything city-specific lives in files (``config/<city>/``); another city runs Aduan by swapping them.
``load_city`` reads and cross-checks them so a broken file fails at start-up, not on the first report.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aduan_schemas.topics import SKPD_CODE_PATTERN

CITY_FILES = ("skpd.yaml", "categories.yaml", "routing.yaml", "sla.yaml")
KELURAHAN_TARGET = "@kelurahan"  # routing target: the unit of the report's own kelurahan


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
        return {(u.level, u.area_code): u for u in self.units if u.area_code}

    def get(self, code: str) -> SkpdUnit:
        return self.by_code[code]

    def kelurahan_unit(self, kelurahan_code: str) -> SkpdUnit | None:
        return self.by_area.get((SkpdLevel.KELURAHAN, kelurahan_code))


class Category(Strict):
    code: str
    name: str = Field(description="Name in Bahasa Indonesia")
    hints: list[str] = Field(default_factory=list, description="Channel labels that mean this category")
    keywords: list[str] = Field(default_factory=list, description="Words in report text that suggest it")


class Taxonomy(Strict):
    version: str
    fallback: str
    categories: list[Category]

    @model_validator(mode="after")
    def _fallback_known(self) -> Taxonomy:
        if self.fallback not in {c.code for c in self.categories}:
            raise ValueError(f"fallback category {self.fallback!r} is not defined")
        return self


class RoutingRule(Strict):
    id: str
    category: str
    to: str = Field(description=f"An SKPD code, or {KELURAHAN_TARGET!r} for the report's kelurahan")
    otherwise: str | None = Field(
        default=None, description=f"SKPD code when 'to' is {KELURAHAN_TARGET!r} and the area is unknown"
    )


class RoutingRules(Strict):
    version: str
    fallback: str = Field(description="SKPD code for reports no rule matches")
    rules: list[RoutingRule]


class SlaPolicy(Strict):
    respond_within: timedelta
    resolve_within: timedelta


class SlaPolicies(Strict):
    version: str
    default: str
    policies: dict[str, SlaPolicy]
    by_category: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> SlaPolicies:
        for name in [self.default, *self.by_category.values()]:
            if name not in self.policies:
                raise ValueError(f"SLA policy {name!r} is not defined")
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
            raise ValueError(f"routing fallback {self.routing.fallback!r} is not an SKPD")
        for r in self.routing.rules:
            if r.category not in cats:
                raise ValueError(f"routing rule {r.id}: unknown category {r.category!r}")
            for target in (r.to, r.otherwise):
                if target not in (None, KELURAHAN_TARGET) and target not in units:
                    raise ValueError(f"routing rule {r.id}: unknown SKPD {target!r}")
        for cat in self.sla.by_category:
            if cat not in cats:
                raise ValueError(f"SLA by_category: unknown category {cat!r}")
        return self


def _read(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_city(directory: str | Path) -> CityConfig:
    """Load and validate a city's configuration directory."""
    d = Path(directory)
    missing = [n for n in CITY_FILES if not (d / n).is_file()]
    if missing:
        raise FileNotFoundError(f"city config {d}: missing {', '.join(missing)}")
    return CityConfig(
        skpd=SkpdRegistry.model_validate(_read(d / "skpd.yaml")),
        taxonomy=Taxonomy.model_validate(_read(d / "categories.yaml")),
        routing=RoutingRules.model_validate(_read(d / "routing.yaml")),
        sla=SlaPolicies.model_validate(_read(d / "sla.yaml")),
    )
