"""Sample events for tests and examples (places in Jakarta with known kelurahan)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aduan_schemas.events import Area, Geocode, GeoPoint, NormalizedReport, RawQlue, Reporter

MONAS = GeoPoint(lat=-6.1754, lon=106.8272)  # Gambir, Kec. Gambir, Jakarta Pusat
GAMBIR = Area(kelurahan_code="31.71.01.1001", kelurahan="Gambir", kecamatan="Gambir", kota="Jakarta Pusat")
# Where the sample report (rubbish not collected, at Monas) is routed: the Suku Dinas LH of Jakarta Pusat.
SAMPLE_UNIT = "dlh-3171"


def raw_qlue(**overrides: Any) -> RawQlue:
    fields: dict[str, Any] = {
        "channel_message_id": f"qlue-{uuid.uuid4().hex[:12]}",
        "received_at": datetime.now(UTC),
        "text": "Tumpukan sampah di pinggir jalan sudah tiga hari tidak diangkut",
        "category_hint": "Sampah",
        "location": MONAS,
        "address_text": "Jl. Medan Merdeka Barat",
        "reporter": Reporter(name="Warga", phone="+6281200000000"),
    }
    fields.update(overrides)
    return RawQlue(**fields)


def normalized(**overrides: Any) -> NormalizedReport:
    raw = raw_qlue()
    fields: dict[str, Any] = {
        **raw.model_dump(exclude={"reporter", "raw"}),
        "reporter": Reporter(pseudonym="psn_test"),
        "report_id": f"rpt-{uuid.uuid4().hex[:12]}",
        "category": "sampah",
        "category_confidence": 0.9,
        "area": GAMBIR,
        "geocode": Geocode(method="gps", confidence=1.0),
        "normalized_at": datetime.now(UTC),
    }
    fields.update(overrides)
    return NormalizedReport(**fields)
