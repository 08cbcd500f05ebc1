"""Reports of one fallen tree from three channels, and the service wiring the near-duplicate service
tests share (publish a raw report, read what the normalizer published)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import SecretStr

from aduan_kit.settings import CommonSettings
from aduan_kit.testing.kafka import publish_bytes, read_topic
from aduan_kit.testing.samples import MONAS, raw_qlue
from aduan_normalizer.config import NormalizerSettings
from aduan_schemas.events import NormalizedReport, RawReport, RawSms, RawTwitter, Reporter

KEY = SecretStr("service-test-pseudonym-key-0123")


def settings(common: CommonSettings, boundaries: Path) -> NormalizerSettings:
    return NormalizerSettings(common=common, pseudonym_key=KEY, boundaries_path=boundaries)


async def publish(common: CommonSettings, raw: RawReport) -> None:
    topic = common.topics.raw(raw.channel)
    await publish_bytes(common, topic, raw.model_dump_json().encode(), key=raw.channel_message_id.encode())


def tree_qlue(at: datetime) -> RawReport:
    return raw_qlue(
        received_at=at,
        text="Pohon besar tumbang menutup jalan, kendaraan tidak bisa lewat",
        category_hint="Pohon",
        location=MONAS,
        address_text="Jl. Medan Merdeka Barat",
    )


def tree_tweet(at: datetime) -> RawReport:
    return RawTwitter(
        channel_message_id=f"tw-{at.timestamp()}",
        received_at=at,
        text="@dki pohon tumbang nutupin jl medan merdeka barat gambir, macet parah gak bisa lewat",
        reporter=Reporter(handle="@warga"),
    )


def tree_sms(at: datetime) -> RawReport:
    return RawSms(
        channel_message_id=f"sms-{at.timestamp()}",
        received_at=at,
        text="Lapor pohon tumbang di Jl Medan Merdeka Barat Gambir menutup jalan",
        reporter=Reporter(phone="+6281200000001"),
    )


async def normalized(common: CommonSettings, count: int) -> dict[str, NormalizedReport]:
    records = await read_topic(common, common.topics.normalized, count)
    reports = [NormalizedReport.model_validate_json(r.value) for r in records]
    return {r.report_id: r for r in reports}
