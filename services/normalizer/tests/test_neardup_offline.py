"""Offline runs (``normalize_lines``, as ``aduan normalize``) link near-duplicates when given a linker.

Checked to fail: with the hook in ``pipeline.normalize_lines`` removed, test_offline_run_links_the_copy
went red; with ``NearDuplicateLinker.link`` evicting at the report's own time plus the retention (so
nothing is ever kept), the same test went red.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from aduan_kit.testing.plugin import CITY_DIR
from aduan_normalizer.neardup import load_policy
from aduan_normalizer.neardup_state import NearDuplicateLinker
from aduan_normalizer.pipeline import load_geocoder, normalize_lines
from aduan_schemas.city import CityConfig, load_city
from aduan_schemas.events import GeoPoint, RawEmail, RawQlue, RawReport, RawTwitter
from aduan_text import analyzer_for

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def city() -> CityConfig:
    return load_city(CITY_DIR)


def raws() -> list[RawReport]:
    return [
        RawTwitter(
            channel_message_id="t1",
            received_at=T0,
            text="@DKIJakarta pohon gede tumbang di jl kalibata raya kel kalibata, macet total min",
        ),
        RawQlue(
            channel_message_id="q1",
            received_at=T0 + timedelta(minutes=20),
            text="pohon roboh nutup jalan, motor ga bisa lewat, kelurahan kalibata",
            address_text="Jl. Kalibata Raya",
            location=GeoPoint(lat=-6.2550, lon=106.8530),
        ),
        RawEmail(
            channel_message_id="e1",
            received_at=T0 + timedelta(hours=1),
            subject_line="Lampu jalan padam",
            text="Dengan hormat, lampu penerangan jalan di Jalan Kalibata Raya, Kelurahan Kalibata padam.",
        ),
    ]


def run(city: CityConfig, linker: NearDuplicateLinker | None) -> list[dict[str, object]]:
    out = []
    for line, error in normalize_lines(
        [r.model_dump_json() for r in raws()],
        geocoder=load_geocoder(None, registry=city.skpd),
        taxonomy=city.taxonomy,
        pseudonym_key="offline-test-key",
        now_fn=lambda: T0,
        near_duplicates=linker,
    ):
        assert line is not None, error
        out.append(json.loads(line))
    return out


def test_offline_run_links_the_copy(city: CityConfig) -> None:
    linker = NearDuplicateLinker(load_policy(CITY_DIR), analyzer_for(city.taxonomy))
    tweet, qlue, email = run(city, linker)
    assert tweet["duplicate_of"] is None
    assert qlue["duplicate_of"] == tweet["report_id"]
    assert email["duplicate_of"] is None  # the same street, another problem
    assert linker.last is None


def test_without_a_linker_nothing_is_linked(city: CityConfig) -> None:
    assert [r["duplicate_of"] for r in run(city, None)] == [None, None, None]
