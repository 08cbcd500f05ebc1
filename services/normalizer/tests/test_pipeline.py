import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aduan_kit.testing.plugin import CITY_DIR
from aduan_kit.testing.samples import GAMBIR, MONAS, raw_qlue
from aduan_normalizer.geocode import Geocoder
from aduan_normalizer.pipeline import classifier_for, clean_text, load_geocoder, normalize, normalize_lines
from aduan_schemas.city import CityConfig, load_city
from aduan_schemas.events import NormalizedReport, Reporter
from aduan_schemas.ids import report_id

KEY = "test-pseudonym-key-0123456789"
NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
PII = ("Budi Santoso", "+6281234567890", "6281234567890", "budi@example.id", "budisan")


@pytest.fixture(scope="module")
def city() -> CityConfig:
    return load_city(CITY_DIR)


@pytest.fixture(scope="module")
def geocoder(boundaries_path: Path) -> Geocoder:
    return Geocoder.from_geojson(boundaries_path)


def _raw_with_pii() -> dict[str, object]:
    raw = raw_qlue(
        reporter=Reporter(
            name="Budi Santoso", phone="+6281234567890", email="budi@example.id", handle="@budisan"
        ),
        raw={"user": {"name": "Budi Santoso", "phone": "+6281234567890", "email": "budi@example.id"}},
    )
    return json.loads(raw.model_dump_json())


def test_qlue_report_is_normalized(city: CityConfig, geocoder: Geocoder) -> None:
    raw = raw_qlue(text="  Tumpukan\tsampah\x00 di\n\n pinggir jalan \u200b ", location=MONAS)
    out = normalize(raw, geocoder=geocoder, taxonomy=city.taxonomy, pseudonym_key=KEY, now=NOW)
    assert out.report_id == report_id(raw)
    assert out.text == "Tumpukan sampah di pinggir jalan"
    assert out.category == "sampah" and 0.6 < out.category_confidence < 1  # label and words agree
    c = classifier_for(city.taxonomy).classify(out.text, raw.category_hint, raw.channel)
    assert (out.category_runner_up, out.category_runner_up_confidence) == (
        c.runner_up,
        c.runner_up_confidence,
    )
    assert out.area == GAMBIR and out.geocode.method == "gps" and out.geocode.confidence == 1.0
    assert out.duplicate_of is None and out.raw is None and out.normalized_at == NOW
    assert (out.channel, out.channel_message_id, out.received_at) == (
        raw.channel,
        raw.channel_message_id,
        raw.received_at,
    )


def test_no_pii_anywhere_in_the_normalized_json(city: CityConfig, geocoder: Geocoder) -> None:
    lines = list(
        normalize_lines(
            [json.dumps(_raw_with_pii())],
            geocoder=geocoder,
            taxonomy=city.taxonomy,
            pseudonym_key=KEY,
            now_fn=lambda: NOW,
        )
    )
    [(out, err)] = lines
    assert err is None and out is not None
    for secret in PII:
        assert secret.lower() not in out.lower()
    doc = json.loads(out)
    assert doc["raw"] is None
    assert set(k for k, v in doc["reporter"].items() if v is not None) == {"pseudonym"}


def test_contacts_typed_into_the_text_are_masked(city: CityConfig) -> None:
    """Checked to fail: with the masking in ``normalize`` removed, the number and address came through."""
    from aduan_schemas.events import RawEmail

    typed = RawEmail(
        channel_message_id="mail-typed",
        received_at=NOW,
        text="Jalan berlubang. Hubungi 0812-3456-7890 atau budi@example.id, atau DM @budisan ya, "
        "air mati cc @PAMJaya",
        address_text="Jl. Kenari, WA +62 (0)812 3456 7890",
        subject_line="Aduan dari budi@example.id",
        category_hint="jalan rusak, tel 021-5551234",
    )
    out = normalize(typed, geocoder=None, taxonomy=city.taxonomy, pseudonym_key=KEY, now=NOW)
    dumped = out.model_dump_json()
    for secret in ("3456", "budi@", "budisan", "5551234"):
        assert secret not in dumped, secret
    assert "[TELEPON]" in out.text and "[EMAIL]" in out.text and "[AKUN]" in out.text
    assert "@PAMJaya" in out.text  # the city's own account names an office and stays
    assert out.address_text == "Jl. Kenari, WA [TELEPON]"
    assert out.category == "air-bersih"  # classified on the text as written (@PAMJaya reads "pam")


def test_clean_text() -> None:
    assert clean_text("a\x07b\r\nc\u00a0\u00a0d\ufeff") == "a b c d"
    assert clean_text(None) == ""
    assert clean_text("🙏🏽 👨\u200d👩\u200d👧") == "🙏🏽 👨\u200d👩\u200d👧"  # emoji joiners stay


def test_without_geocoder_the_area_is_unknown(city: CityConfig) -> None:
    out = normalize(raw_qlue(), geocoder=None, taxonomy=city.taxonomy, pseudonym_key=KEY, now=NOW)
    assert out.area is None and out.geocode.model_dump() == {"method": "none", "confidence": 0.0}


def test_normalize_lines_reports_each_line(city: CityConfig, geocoder: Geocoder) -> None:
    first = raw_qlue(channel_message_id="qlue-line-1").model_dump_json()
    other = raw_qlue(channel_message_id="qlue-line-2", text="lampu jalan mati", category_hint=None)
    lines = [first + "\n", "{not json\n", '{"channel": "qlue"}\n', "\n", first, other.model_dump_json()]
    results = list(
        normalize_lines(
            lines, geocoder=geocoder, taxonomy=city.taxonomy, pseudonym_key=KEY, now_fn=lambda: NOW
        )
    )
    assert len(results) == len(lines)
    out0, err0 = results[0]
    assert err0 is None and out0 is not None
    rid = NormalizedReport.model_validate_json(out0).report_id
    assert results[1][0] is None and (results[1][1] or "").startswith("invalid raw event:")
    assert results[2][0] is None and "channel_message_id" in (results[2][1] or "")
    assert results[3] == (None, None)
    assert results[4] == (None, f"duplicate of {rid}")
    out5 = NormalizedReport.model_validate_json(results[5][0] or "")
    assert out5.category == "lampu-jalan" and 0.5 < out5.category_confidence < 1


def test_load_geocoder(boundaries_path: Path, tmp_path: Path, city: CityConfig) -> None:
    assert load_geocoder(None) is None
    assert load_geocoder(tmp_path / "missing.geojson") is None
    full = load_geocoder(boundaries_path, snap_distance_m=100)
    assert full is not None and full.gps_enabled and full.snap_distance_m == 100
    names_only = load_geocoder(tmp_path / "missing.geojson", registry=city.skpd)
    assert names_only is not None and not names_only.gps_enabled
