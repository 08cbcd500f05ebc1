"""Wiring: consume every aduan.raw.<channel>, produce aduan.reports.normalized (key = report_id).

One batch at a time: one dedupe lookup in the database, pure normalization of each record, the
published ids recorded with one insert after the broker acknowledged them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI

from aduan_kit.kafka import BatchResult, Emit, PermanentError, Received, Subscription, parser_for
from aduan_kit.logs import get_logger
from aduan_kit.mongo import ProcessedKeys
from aduan_kit.runner import serve
from aduan_kit.service import Runtime, Wiring, build_service
from aduan_kit.settings import load_settings
from aduan_normalizer import metrics
from aduan_normalizer.classify import Classifier
from aduan_normalizer.config import NormalizerSettings
from aduan_normalizer.dedupe import RedeliveryFilter
from aduan_normalizer.geocode import Geocoder
from aduan_normalizer.neardup import load_policy
from aduan_normalizer.neardup_store import OpenRootStore
from aduan_normalizer.neardup_stream import StreamLinker
from aduan_normalizer.pipeline import load_geocoder, normalize
from aduan_schemas.events import NormalizedReport, RawReport, StatusUpdate, raw_report_adapter
from aduan_schemas.ids import report_id
from aduan_text import analyzer_for

NAME = "normalizer"

log = get_logger(component=NAME)


@dataclass
class _State:
    geocoder: Geocoder | None = None
    dedupe: RedeliveryFilter | None = None
    linker: StreamLinker | None = None


def geocoding_status(settings: NormalizerSettings, geocoder: Geocoder | None) -> dict[str, Any]:
    path = settings.boundaries_path
    return {
        "gps": bool(geocoder and geocoder.gps_enabled),
        "text": geocoder is not None,
        "boundaries": path.name if geocoder is not None and geocoder.gps_enabled and path else None,
        "kelurahan": len(geocoder.places) if geocoder is not None else 0,
        "snap_distance_m": settings.snap_distance_m,
    }


def build(settings: NormalizerSettings) -> FastAPI:
    common = settings.common
    city = common.load_city()
    topics = common.topics
    classifier = Classifier(city.taxonomy)
    key = settings.pseudonym_key.get_secret_value()
    state = _State()

    def start_geocoder() -> None:
        state.geocoder = load_geocoder(
            settings.boundaries_path, snap_distance_m=settings.snap_distance_m, registry=city.skpd
        )
        gps = bool(state.geocoder and state.geocoder.gps_enabled)
        metrics.GEOCODING_GPS_ENABLED.set(1 if gps else 0)
        if gps:
            log.info("geocoding with kelurahan boundaries", **geocoding_status(settings, state.geocoder))
        else:
            log.warning(
                "GPS geocoding is OFF: no kelurahan boundaries file; reports are geocoded from their address "
                "and text only (set ADUAN_NORMALIZER_BOUNDARIES_PATH to a boundaries GeoJSON)",
                boundaries_path=str(settings.boundaries_path) if settings.boundaries_path else None,
            )

    async def handle_batch(batch: list[tuple[RawReport, Received]]) -> BatchResult:
        """Dedupe the batch with one store lookup, locate its GPS points with one index query, then
        normalize each first delivery (pure)."""
        assert state.dedupe is not None
        keyed = [(report_id(raw), (rec.topic, rec.partition, rec.offset)) for raw, rec in batch]
        firsts = await state.dedupe.first_deliveries(keyed)
        now = datetime.now(UTC)
        points = [(raw.location.lat, raw.location.lon) for raw, _ in batch if raw.location is not None]
        located = state.geocoder.locate_many(points) if state.geocoder is not None else None
        out: BatchResult = []
        normalized: list[tuple[int, NormalizedReport]] = []
        for (raw, rec), (rid, position), first in zip(batch, keyed, firsts, strict=True):
            if not first:
                metrics.DUPLICATES_DROPPED.labels(raw.channel).inc()
                log.info(
                    "duplicate dropped",
                    report_id=rid,
                    channel=raw.channel,
                    topic=rec.topic,
                    offset=rec.offset,
                )
                out.append([])
                continue
            try:
                report = normalize(
                    raw,
                    geocoder=state.geocoder,
                    taxonomy=classifier,
                    pseudonym_key=key,
                    now=now,
                    located=located,
                )
            except ValueError as e:  # a raw event the models accept but normalizing cannot: this one alone
                out.append(PermanentError(f"cannot normalize: {e}"))
                continue
            state.dedupe.claim(rid, position, (report.category, report.geocode.method))
            normalized.append((len(out), report))
            out.append([])
        await emit_linked(normalized, out, now)
        return out

    async def emit_linked(
        normalized: list[tuple[int, NormalizedReport]], out: BatchResult, now: datetime
    ) -> None:
        """Near-duplicates linked in one store read and one write, before the batch's offsets commit."""
        reports = [r for _, r in normalized]
        linked = await state.linker.link(reports, now) if state.linker is not None else []
        for n, (i, report) in enumerate(normalized):
            if linked:
                report = linked[n].report
                decision = linked[n].decision
                if decision is not None:
                    log.info(
                        "near-duplicate linked",
                        report_id=report.report_id,
                        duplicate_of=decision.target,
                        score=decision.score,
                        reasons=list(decision.reasons),
                    )
            out[i] = [Emit(topics.normalized, report)]

    async def on_status(batch: list[tuple[StatusUpdate, Received]]) -> BatchResult:
        """Resolved/rejected cases stop being near-duplicate targets; reopened ones are targets again."""
        if state.linker is not None:
            await state.linker.apply_statuses(u for u, _ in batch)
        return [[] for _ in batch]

    async def after_delivery(events: list[Any]) -> None:
        assert state.dedupe is not None
        for category, method in await state.dedupe.delivered(report_id(e) for e in events):
            metrics.REPORTS_NORMALIZED.labels(category, method).inc()

    async def setup(rt: Runtime) -> Wiring:
        start_geocoder()
        seen = ProcessedKeys(rt.db[settings.seen_collection])
        await seen.ensure_retention(round(settings.seen_retention_days * 86_400) or None)
        state.dedupe = RedeliveryFilter(seen, settings.dedupe_memory)
        subscriptions = [
            Subscription(
                t, parser_for(raw_report_adapter), after_delivery=after_delivery, handle_batch=handle_batch
            )
            for t in topics.raw_all
        ]
        if settings.near_duplicates:
            roots = OpenRootStore(rt.db[settings.neardup_collection], load_policy(common.city_dir))
            await roots.ensure_indexes()
            state.linker = StreamLinker(roots, roots.policy, analyzer_for(city.taxonomy))
            subscriptions.append(
                Subscription(topics.status, parser_for(StatusUpdate), handle_batch=on_status)
            )
        return Wiring(
            subscriptions=subscriptions,
            stage="normalize",
        )

    ops = APIRouter(tags=["ops"])

    @ops.get("/geocoding")
    async def geocoding() -> dict[str, Any]:
        """Whether GPS geocoding is on (boundaries loaded) or only text matching."""
        return geocoding_status(settings, state.geocoder)

    return build_service(NAME, common, setup, uses_mongo=True, routers=[ops])


def main() -> None:
    settings = load_settings(NormalizerSettings)
    serve(NAME, build(settings), settings)
