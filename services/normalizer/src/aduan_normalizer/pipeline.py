"""One raw report -> one normalized report: the code the service and ``aduan normalize`` share.

Pure: no Kafka, database or network. The service adds dedupe across restarts (a database of published
report ids); ``normalize_lines`` dedupes in memory for offline runs.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from aduan_kit.compiled import CompiledPer
from aduan_normalizer.classify import Classifier
from aduan_normalizer.geocode import DEFAULT_SNAP_M, NO_MATCH, Geocoder, Located
from aduan_normalizer.neardup_state import NearDuplicateLinker
from aduan_normalizer.pseudonym import pseudonymise
from aduan_schemas.city import SkpdRegistry, Taxonomy
from aduan_schemas.events import NormalizedReport, RawReport, raw_report_adapter
from aduan_schemas.ids import report_id
from aduan_text.pii import mask_contacts

# Control characters become spaces (then collapse); invisible format marks that only confuse matching
# (zero-width space, BOM, direction marks) are dropped. Zero-width joiners stay: emoji need them.
_CONTROL = {c: " " for c in (*range(0x00, 0x20), *range(0x7F, 0xA0))}
_INVISIBLE = {c: None for c in (0x200B, 0x200E, 0x200F, 0x2060, 0xFEFF)}
_CLEAN_TABLE: dict[int, str | None] = {**_CONTROL, **_INVISIBLE}

_classifiers: CompiledPer[Taxonomy, Classifier] = CompiledPer(Classifier)
_REPLACED = frozenset({"reporter", "raw", "text", "address_text"})  # normalize sets these itself
_MASKED = ("category_hint",)  # other free text a citizen writes, kept with contacts masked


def clean_text(s: str | None) -> str:
    """Unicode NFC, control characters removed, all whitespace runs collapsed to one space, trimmed."""
    if not s:
        return ""
    return " ".join(unicodedata.normalize("NFC", s).translate(_CLEAN_TABLE).split())


def classifier_for(taxonomy: Taxonomy | Classifier) -> Classifier:
    """The compiled classifier of a taxonomy (compiled once per taxonomy object)."""
    if isinstance(taxonomy, Classifier):
        return taxonomy
    return _classifiers(taxonomy)


def normalize(
    raw: RawReport,
    *,
    geocoder: Geocoder | None,
    taxonomy: Taxonomy | Classifier,
    pseudonym_key: str,
    now: datetime,
    located: Located | None = None,
) -> NormalizedReport:
    """Clean, classify, geocode and pseudonymise one raw report (``located``: GPS answers the caller got
    for a whole batch with ``Geocoder.locate_many``).

    ``reporter`` keeps only a pseudonym and ``raw`` (the channel's original payload, which carries PII)
    is dropped: the original stays on the raw topic. Contacts typed into the free text (text, address,
    the channel's category label) are masked (``[TELEPON]``, ``[EMAIL]``, ``[AKUN]``,
    ``[NIK]``; the city's official accounts stay) after classification and geocoding, which read the
    text as written. ``duplicate_of`` is always null here: exact
    re-deliveries are dropped before this point, near-duplicates are not detected yet.
    """
    text = clean_text(raw.text)
    address = clean_text(raw.address_text) or None
    subject = clean_text(getattr(raw, "subject_line", None))
    words = f"{subject} {text}".strip()
    classifier = classifier_for(taxonomy)
    category = classifier.classify(words, raw.category_hint, raw.channel)
    place = NO_MATCH
    if geocoder is not None:
        place = geocoder.geocode(raw.location, address, words, located=located)
    # The raw report's values as they are (not a model_dump): nested parts stay validated instances,
    # which pydantic takes without checking them again.
    fields = {k: v for k, v in raw.__dict__.items() if k not in _REPLACED}
    keep = classifier.taxonomy.language.accounts
    for name in _MASKED:
        if isinstance(value := fields.get(name), str):
            fields[name] = mask_contacts(value, keep)
    return NormalizedReport(
        **fields,
        text=mask_contacts(text, keep),
        address_text=mask_contacts(address, keep) if address else None,
        reporter=pseudonymise(raw.reporter, raw.channel, pseudonym_key),
        raw=None,
        report_id=report_id(raw),
        category=category.category,
        category_confidence=category.confidence,
        category_runner_up=category.runner_up,
        category_runner_up_confidence=category.runner_up_confidence,
        area=place.area,
        place=place.place,
        geocode=place.geocode,
        duplicate_of=None,
        normalized_at=now,
    )


def describe_error(error: ValidationError, limit: int = 3) -> str:
    """A one-line reason without the offending input (which may carry PII)."""
    parts = []
    for err in error.errors()[:limit]:
        loc = ".".join(str(x) for x in err.get("loc", ())) or "value"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    more = error.error_count() - limit
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def normalize_lines(
    lines: Iterable[str],
    *,
    geocoder: Geocoder | None,
    taxonomy: Taxonomy | Classifier,
    pseudonym_key: str,
    now_fn: Callable[[], datetime],
    near_duplicates: NearDuplicateLinker | None = None,
) -> Iterator[tuple[str | None, str | None]]:
    """JSONL raw events -> one ``(json_line, error)`` pair per input line, in order.

    ``json_line`` is the normalized report exactly as the service publishes it (no trailing newline).
    ``error`` explains a line that produced nothing: "invalid raw event: ..." or "duplicate of <report_id>"
    (the same channel message seen earlier in this run). A blank line yields ``(None, None)``.
    With ``near_duplicates``, a report about the same problem as an open one carries ``duplicate_of``.
    """
    classifier = classifier_for(taxonomy)
    seen: set[str] = set()
    for line in lines:
        if not line.strip():
            yield None, None
            continue
        try:
            raw = raw_report_adapter.validate_json(line)
        except ValidationError as e:
            yield None, f"invalid raw event: {describe_error(e)}"
            continue
        rid = report_id(raw)
        if rid in seen:
            yield None, f"duplicate of {rid}"
            continue
        try:
            report = normalize(
                raw, geocoder=geocoder, taxonomy=classifier, pseudonym_key=pseudonym_key, now=now_fn()
            )
        except ValidationError as e:
            yield None, f"cannot normalize: {describe_error(e)}"
            continue
        seen.add(rid)
        # Near-duplicate hook (neardup.py): links the report to the open report of the same problem.
        if near_duplicates is not None:
            report = near_duplicates.link(report)
        yield report.model_dump_json(), None


def load_geocoder(
    path: Path | None,
    *,
    snap_distance_m: float = DEFAULT_SNAP_M,
    registry: SkpdRegistry | None = None,
) -> Geocoder | None:
    """The geocoder for a boundaries GeoJSON.

    When ``path`` is None or not a file: a names-only geocoder (text matching, no GPS) from the SKPD
    registry if one is given, else None (no geocoding). Callers decide how to tell the operator. A file
    that exists but cannot be read as boundaries raises (broken configuration fails at start-up).
    """
    if path is not None and path.is_file():
        return Geocoder.from_geojson(path, snap_distance_m=snap_distance_m)
    if registry is not None:
        return Geocoder.from_registry(registry, snap_distance_m=snap_distance_m)
    return None
