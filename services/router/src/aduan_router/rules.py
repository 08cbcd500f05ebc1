"""Routing: pure functions from a normalized report and the city's rules to a routed report.

A ``Router`` is compiled once per city configuration (rule words normalised like the classifier's
keywords: slang, affixes, repeated letters; see ``aduan_text.analyzer``). For a report:

1. Rule: the first rule of routing.yaml whose ``category`` is the report's, whose ``kota`` list (if any)
   holds the report's kota, one of whose ``words`` (if any) and one of whose ``also`` words (if any)
   occur in the text and none of whose ``unless`` words occurs (place names of the taxonomy's ``names``
   are blanked first). No rule: the ``fallback`` unit, flagged for triage.
2. Target -> unit: an SKPD code is itself. ``@kelurahan``: the report's kelurahan unit; unknown, its
   kecamatan (area factor ``KECAMATAN_FACTOR``), else its kota (``KOTA_FACTOR``), else unresolved.
   ``@kecamatan``: likewise from the kecamatan. ``@sudin:<dinas>``: the Suku Dinas of the report's kota,
   else the dinas itself (not a loss of confidence: the dinas dispatches). Unresolved: the rule's
   ``otherwise`` (else the fallback) is named as candidate (area factor ``UNRESOLVED_FACTOR``) and the
   report is flagged for triage.
3. Confidence = category confidence x rule ``certainty`` x area factor; when the runner-up category
   would reach the same unit its confidence is added (both readings agree on the unit), capped at 1.
4. Runner-up unit: where the runner-up category would be routed, if that is another unit; else the
   rule's ``alternative`` target.
5. ``needs_triage`` when the rule says so (``lainnya``), the unit is unresolved, or the confidence is
   below the file's ``triage_below``. A triaged report still names its best candidate in ``skpd_code``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from aduan_kit.compiled import CompiledPer
from aduan_schemas.city import (
    KECAMATAN_TARGET,
    KELURAHAN_TARGET,
    SUDIN_PREFIX,
    CityConfig,
    RoutingRule,
    SkpdLevel,
    SkpdUnit,
)
from aduan_schemas.events import MAX_SHORT, NormalizedReport, RoutedReport, Routing, SlaDeadlines
from aduan_sla import deadlines as sla_deadlines
from aduan_sla import policy_for as sla_policy_for
from aduan_text.phrases import PhraseIndex, analyzer_for

KECAMATAN_FACTOR = 0.9
KOTA_FACTOR = 0.8
UNRESOLVED_FACTOR = 0.5  # the area is unknown: the rule's `otherwise` unit is only a guess


@dataclass(frozen=True)
class Target:
    unit: SkpdUnit | None  # None: could not be resolved (area unknown)
    how: str
    factor: float = 1.0


@dataclass(frozen=True)
class Decision:
    unit: SkpdUnit
    routing: Routing
    needs_triage: bool


class Router:
    """Compiled once per city configuration; ``decide`` is then pure."""

    def __init__(self, city: CityConfig) -> None:
        self.city = city
        rules = city.routing.rules
        words = [w for r in rules for w in (*r.words, *r.also, *r.unless)]
        self.analyzer = analyzer_for(city.taxonomy, words)
        entries = []
        for r in rules:
            for kind in ("words", "also", "unless"):
                entries += [(self.analyzer.phrase(w), f"{r.id}\0{kind}", 1.0) for w in getattr(r, kind)]
        self._words = PhraseIndex(entries)
        # Place names hide the words inside them ("Kali Anyar" is a place, not a river).
        self._names = PhraseIndex([(self.analyzer.phrase(n), "name", 1.0) for n in city.taxonomy.names])
        self._rule_kota = {
            r.id: {u.code for k in r.kota if (u := city.skpd.kota_unit(k)) is not None} for r in rules
        }
        self._by_category: dict[str, list[RoutingRule]] = {}
        for r in rules:
            self._by_category.setdefault(r.category, []).append(r)

    def _without_names(self, tokens: tuple[str, ...]) -> tuple[str, ...]:
        out = list(tokens)
        for pos, phrase, _, _ in self._names.matches(tokens):
            out[pos : pos + len(phrase)] = [""] * len(phrase)
        return tuple(out)

    def rule_for(self, category: str, kota: SkpdUnit | None, found: set[str]) -> RoutingRule | None:
        return next(self.matching(category, kota, found), None)

    def matching(self, category: str, kota: SkpdUnit | None, found: set[str]) -> Iterator[RoutingRule]:
        """Every rule that matches, in file order (the first decides)."""
        for r in self._by_category.get(category, ()):
            if r.kota and (kota is None or kota.code not in self._rule_kota[r.id]):
                continue
            if r.words and f"{r.id}\0words" not in found:
                continue
            if r.also and f"{r.id}\0also" not in found:
                continue
            if f"{r.id}\0unless" in found:
                continue
            yield r

    def candidates(self, report: NormalizedReport) -> list[tuple[SkpdUnit, str]]:
        """The units the rules would give the report, best first, each with the rule that names it: the
        decision, its runner-up, then every later matching rule's target and alternative. Units named
        only because the area is unknown and the global fallback are no candidates (an operator
        decides those)."""
        d = self.decide(report)
        found = self._words.any_of(self._without_names(self.analyzer.tokens(report.text)))
        out: list[tuple[SkpdUnit, str]] = []
        if d.routing.rule != "fallback":
            out.append((d.unit, d.routing.rule))
            if d.routing.runner_up:
                out.append((self.city.skpd.get(d.routing.runner_up), d.routing.rule))
        for rule in self.matching(report.category, _kota_unit(report, self.city), found):
            for target in (rule.to, rule.alternative):
                unit = self.resolve(target, report).unit if target else None
                if unit is not None:
                    out.append((unit, rule.id))
        fallback = self.city.routing.fallback
        seen: set[str] = set()
        unique = []
        for unit, rule_id in out:
            if unit.code not in seen and unit.code != fallback:
                seen.add(unit.code)
                unique.append((unit, rule_id))
        return unique

    def resolve(self, target: str, report: NormalizedReport) -> Target:
        skpd = self.city.skpd
        if target == KELURAHAN_TARGET:
            kel = _kelurahan_unit(report, self.city)
            if kel is not None:
                return Target(kel, kel.name)
            return self._from_kecamatan(report, "kelurahan unknown: ")
        if target == KECAMATAN_TARGET:
            return self._from_kecamatan(report, "")
        if target.startswith(SUDIN_PREFIX):
            dinas = skpd.get(target.removeprefix(SUDIN_PREFIX))
            kota = _kota_unit(report, self.city)
            sudin = skpd.suku_dinas(dinas.code, kota) if kota is not None else None
            if sudin is not None:
                return Target(sudin, sudin.name)
            return Target(dinas, f"kota unknown: {dinas.name} itself")
        unit = skpd.get(target)
        return Target(unit, unit.name)

    def _from_kecamatan(self, report: NormalizedReport, prefix: str) -> Target:
        kec = _kecamatan_unit(report, self.city)
        if kec is not None:
            factor = KECAMATAN_FACTOR if prefix else 1.0
            return Target(kec, f"{prefix}{kec.name}", factor)
        kota = _kota_unit(report, self.city)
        if kota is not None:
            return Target(kota, f"{prefix}kecamatan unknown: {kota.name}", KOTA_FACTOR)
        return Target(None, f"{prefix}area unknown", UNRESOLVED_FACTOR)

    def decide(self, report: NormalizedReport) -> Decision:
        version = self.city.routing.version
        found = self._words.any_of(self._without_names(self.analyzer.tokens(report.text)))
        kota_unit = _kota_unit(report, self.city)
        rule = self.rule_for(report.category, kota_unit, found)
        if rule is None:
            unit = self.city.skpd.get(self.city.routing.fallback)
            reason = f"no rule for category {report.category}: held for triage"
            return Decision(
                unit, Routing(rule="fallback", version=version, reason=reason, confidence=0.0), True
            )

        target = self.resolve(rule.to, report)
        unit = target.unit or self.city.skpd.get(rule.otherwise or self.city.routing.fallback)
        confidence = report.category_confidence * rule.certainty * target.factor

        runner_up: SkpdUnit | None = None
        ru_cat = report.category_runner_up
        if ru_cat:
            ru_rule = self.rule_for(ru_cat, kota_unit, found)
            ru_target = self.resolve(ru_rule.to, report) if ru_rule is not None else None
            if ru_target is not None and ru_target.unit is not None and ru_rule is not None:
                if ru_target.unit.code == unit.code:
                    confidence += report.category_runner_up_confidence * ru_rule.certainty * ru_target.factor
                else:
                    runner_up = ru_target.unit
        if runner_up is None and rule.alternative:
            alt = self.resolve(rule.alternative, report).unit
            runner_up = alt if alt is not None and alt.code != unit.code else None
        confidence = round(min(confidence, 1.0), 3)

        words = " (words matched)" if rule.words else ""
        reason = f"category {report.category}{words} -> {target.how}"
        why = _triage_reason(rule, target, confidence, self.city.routing.triage_below)
        if why:
            reason += f"; held for triage: {why}"
        return Decision(
            unit,
            Routing(
                rule=rule.id,
                version=version,
                reason=reason[:MAX_SHORT],
                confidence=confidence,
                runner_up=runner_up.code if runner_up is not None else None,
            ),
            bool(why),
        )


def _triage_reason(rule: RoutingRule, target: Target, confidence: float, below: float) -> str:
    if rule.triage:
        return f"rule {rule.id} always asks an operator"
    if target.unit is None:
        return "the unit depends on an unknown area"
    if confidence < below:
        return f"confidence {confidence:.2f} below {below:.2f}"
    return ""


def _codes(report: NormalizedReport) -> tuple[str | None, str | None, str | None]:
    """(kelurahan, kecamatan, kota) Kemendagri codes known for the report. ``area`` is the kelurahan;
    ``place`` may know only the kecamatan or the kota."""
    place = report.place
    kel = report.area.kelurahan_code if report.area is not None else None
    kel = kel or (place.kelurahan_code if place is not None else None)
    kec = place.kecamatan_code if place is not None else None
    kota = place.kota_code if place is not None else None
    kec = kec or (".".join(kel.split(".")[:3]) if kel else None)
    kota = kota or (".".join(kel.split(".")[:2]) if kel else None)
    return kel or None, kec or None, kota or None


def _kelurahan_unit(report: NormalizedReport, city: CityConfig) -> SkpdUnit | None:
    kel, _, _ = _codes(report)
    return city.skpd.kelurahan_unit(kel) if kel else None


def _kecamatan_unit(report: NormalizedReport, city: CityConfig) -> SkpdUnit | None:
    _, kec, _ = _codes(report)
    unit = city.skpd.by_area.get((SkpdLevel.KECAMATAN, kec)) if kec else None
    if unit is None and report.area is not None and report.area.kota and report.area.kecamatan:
        unit = city.skpd.kecamatan_unit(report.area.kota, report.area.kecamatan)
    return unit


def _kota_unit(report: NormalizedReport, city: CityConfig) -> SkpdUnit | None:
    _, _, kota = _codes(report)
    unit = city.skpd.by_area.get((SkpdLevel.KOTA, kota)) if kota else None
    if unit is None and report.area is not None and report.area.kota:
        unit = city.skpd.kota_unit(report.area.kota)
    return unit


# The compiled router of a city configuration (compiled once per configuration object).
router_for: CompiledPer[CityConfig, Router] = CompiledPer(Router)


def pick_unit(report: NormalizedReport, city: CityConfig) -> tuple[SkpdUnit, Routing]:
    """The responsible unit, and why (see the module docstring)."""
    d = router_for(city).decide(report)
    return d.unit, d.routing


def deadlines(report: NormalizedReport, unit_code: str, city: CityConfig) -> SlaDeadlines:
    """Deadlines count from when the channel received the report (the citizen's clock), under the policy
    of the report's unit and category (``aduan_sla``: per-unit, then per-category, then default)."""
    policy = sla_policy_for(city.sla, report.category, unit_code, city.skpd)
    return sla_deadlines(policy, report.received_at)


def route(report: NormalizedReport, city: CityConfig, now: datetime) -> RoutedReport:
    """The report with its unit, routing and deadlines.

    Built from the report's own field values, not a ``model_dump``: its nested parts are validated model
    instances that pydantic takes as they are, so only the flat fields are checked again (half the cost).
    """
    d = router_for(city).decide(report)
    return RoutedReport(
        **{
            **report.__dict__,
            "skpd_code": d.unit.code,
            "skpd_name": d.unit.name,
            "routing": d.routing,
            "sla": deadlines(report, d.unit.code, city),
            "needs_triage": d.needs_triage,
            "routed_at": now,
        }
    )
