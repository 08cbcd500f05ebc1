"""Realistic load: Qlue reports as a citizen sends them, built once and serialised before any clock runs.

Texts: a few dozen complaint templates in Bahasa Indonesia over the categories Jakarta sees most, each
with the Qlue category label the citizen picked (sometimes none), filled with a street name and a
detail. Places: the centroid of a kelurahan from the boundaries file (every kelurahan in turn, jittered
by up to ~200 m), or a short list of known points when no boundaries file is given. One report in ten
has no GPS fix (address only), as phones without a fix send.

Message ids carry the run tag and a sequence number (``<tag>-<seq>``), so a reader can tell which
report it sees and, with the sender's schedule, when it was due to be sent.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aduan_kit import cloudevents
from aduan_kit.signing import sign
from aduan_schemas.events import Attachment, GeoPoint, RawQlue, Reporter

SOURCE = "aduan.bench"
FALLBACK_POINTS = [  # (lat, lon) in Jakarta when no boundaries file is given
    (-6.1754, 106.8272),
    (-6.2443, 106.8000),
    (-6.1352, 106.8133),
    (-6.2297, 106.8295),
    (-6.2250, 106.9004),
    (-6.1683, 106.7588),
    (-6.3020, 106.8950),
    (-6.1214, 106.9006),
]
STREETS = [
    "Jl. Kramat Raya",
    "Jl. Daan Mogot",
    "Jl. Pramuka",
    "Jl. Fatmawati",
    "Jl. Gunung Sahari",
    "Jl. Pemuda",
    "Jl. Kyai Tapa",
    "Jl. Raya Bogor",
    "Jl. Panjang",
    "Jl. Jatinegara Barat",
    "Jl. Tanjung Priok",
    "Jl. Ciledug Raya",
    "Gg. Masjid RT 05/RW 02",
    "Jl. Kemang Raya",
    "Jl. Pluit Karang",
    "Jl. Salemba Raya",
]
# (Qlue category label or None, text with {street} and {detail})
TEMPLATES = [
    ("Sampah", "Tumpukan sampah di {street} sudah {detail} tidak diangkut, bau sekali"),
    ("Sampah", "Warga buang sampah sembarangan di pinggir {street}, mohon ditindak"),
    ("Kebersihan", "TPS liar di dekat {street}, sampah meluber ke jalan {detail}"),
    ("Parkir Liar", "Parkir liar di trotoar {street} menutup jalan pejalan kaki"),
    ("Parkir", "Jukir liar minta uang parkir di {street} {detail}"),
    (None, "Mobil parkir sembarangan di bahu {street} bikin macet"),
    ("PKL", "PKL berjualan di trotoar {street}, pejalan kaki harus turun ke jalan"),
    ("Pedagang Kaki Lima", "Lapak pedagang liar memenuhi {street} sejak {detail}"),
    ("Jalan Rusak", "Jalan berlubang besar di {street}, bahaya untuk motor terutama malam hari"),
    ("Kondisi Jalan", "Aspal {street} retak dan amblas {detail}, sudah ada yang jatuh"),
    (None, "Lubang di tengah {street} makin besar setelah hujan"),
    ("Banjir", "Banjir setinggi lutut di {street} {detail}, air belum surut"),
    ("Genangan", "Genangan air di {street} tidak surut sejak {detail}"),
    ("Saluran Air", "Selokan mampet di {street}, air meluap ke jalan setiap hujan"),
    ("Selokan Mampet", "Got tersumbat sampah di {street}, nyamuk banyak sekali"),
    ("Drainase", "Saluran air di {street} tersumbat lumpur {detail}"),
    ("Kemacetan", "Macet parah di {street} {detail}, lampu lalu lintas mati"),
    ("Lampu Jalan", "Lampu jalan di {street} mati {detail}, gelap dan rawan"),
    ("PJU", "PJU padam sepanjang {street}, mohon segera diperbaiki"),
    (None, "Penerangan jalan di {street} mati total sejak {detail}"),
    ("Pungli", "Ada pungutan liar oleh oknum di {street} {detail}"),
    ("Pengemis", "Banyak pengemis dan pengamen di perempatan {street}"),
    ("Gelandangan", "Gelandangan tidur di halte {street} {detail}"),
    ("Pohon Tumbang", "Pohon tumbang menutup {street} {detail}, kendaraan tidak bisa lewat"),
    ("Pohon", "Dahan pohon besar di {street} rawan patah, mohon dipangkas"),
    ("Transjakarta", "Halte Transjakarta di {street} rusak, atap bocor {detail}"),
    ("Transportasi Umum", "Angkot ngetem sembarangan di {street} menyebabkan macet"),
    ("Kesehatan", "Rumah sakit dekat {street} menolak pasien, katanya tempat tidur penuh"),
    (None, "Bangunan liar berdiri di atas saluran {street}, mohon dicek izinnya"),
    (None, "Spanduk dan baliho liar dipasang di pohon sepanjang {street}"),
    ("Lainnya", "Suara bising dari tempat usaha di {street} setiap malam {detail}"),
    (None, "Trotoar {street} rusak dan banyak paving yang lepas"),
]
DETAILS = [
    "tiga hari",
    "seminggu",
    "sejak kemarin",
    "dua minggu",
    "pagi ini",
    "sejak Senin",
    "berbulan-bulan",
]


@dataclass(frozen=True)
class Place:
    lat: float
    lon: float
    kelurahan: str | None


def load_places(boundaries: Path | None) -> list[Place]:
    if boundaries is None or not boundaries.is_file():
        return [Place(lat, lon, None) for lat, lon in FALLBACK_POINTS]
    features = json.loads(boundaries.read_text(encoding="utf-8"))["features"]
    places = []
    for f in features:
        p = f["properties"]
        if "centroid_lat" in p and "centroid_lon" in p:
            places.append(Place(p["centroid_lat"], p["centroid_lon"], p.get("kelurahan")))
    return places or [Place(lat, lon, None) for lat, lon in FALLBACK_POINTS]


class Corpus:
    """Builds raw events and webhook bodies deterministically from a seed."""

    def __init__(self, boundaries: Path | None, seed: int = 7) -> None:
        self.places = load_places(boundaries)
        self.rng = random.Random(seed)

    def _fields(self, seq: int) -> dict[str, object]:
        rng = self.rng
        hint, template = TEMPLATES[seq % len(TEMPLATES)]
        place = self.places[(seq * 7919) % len(self.places)]
        street = rng.choice(STREETS)
        text = template.format(street=street, detail=rng.choice(DETAILS))
        gps = rng.random() >= 0.1
        lat = round(place.lat + rng.uniform(-0.002, 0.002), 6) if gps else None
        lon = round(place.lon + rng.uniform(-0.002, 0.002), 6) if gps else None
        address = f"{street}, {place.kelurahan}" if place.kelurahan else street
        return {"hint": hint, "text": text, "lat": lat, "lon": lon, "address": address}

    def webhook_body(self, msg_id: str, seq: int, now: datetime | None = None) -> bytes:
        """The JSON a Qlue relay POSTs to ingest-qlue (see services/ingest-qlue/README.md)."""
        f = self._fields(seq)
        body: dict[str, object] = {
            "id": msg_id,
            "created_at": (now or datetime.now(UTC)).isoformat(),
            "description": f["text"],
            "address": f["address"],
            "user": {"id": f"u{seq % 50_000}", "phone": f"+62812{seq % 10_000_000:07d}"},
            "photos": [f"https://qlue.example/p/{msg_id}.jpg"],
        }
        if f["hint"]:
            body["category"] = f["hint"]
        if f["lat"] is not None:
            body["lat"], body["lng"] = f["lat"], f["lon"]
        return json.dumps(body, separators=(",", ":")).encode()

    def raw_event(self, msg_id: str, seq: int, now: datetime | None = None) -> RawQlue:
        """The raw event ingest-qlue would publish for the same report."""
        body = json.loads(self.webhook_body(msg_id, seq, now))
        lat, lon = body.get("lat"), body.get("lng")
        return RawQlue(
            channel_message_id=msg_id,
            received_at=datetime.fromisoformat(body["created_at"]),
            text=body["description"],
            category_hint=body.get("category"),
            location=GeoPoint(lat=lat, lon=lon) if lat is not None else None,
            address_text=body["address"],
            reporter=Reporter(handle=body["user"]["id"], phone=body["user"]["phone"]),
            attachments=[Attachment(url=u, media_type="image") for u in body["photos"]],
            raw=body,
        )


Record = tuple[bytes, bytes, list[tuple[str, bytes]]]  # key, value, headers


def raw_records(corpus: Corpus, tag: str, n: int, start: int = 0) -> list[Record]:
    """``n`` raw Qlue events as ready-to-send Kafka records (CloudEvents binary mode)."""
    now = datetime.now(UTC)
    out: list[Record] = []
    for seq in range(start, start + n):
        msg_id = message_id(tag, seq)
        value, headers = cloudevents.encode(corpus.raw_event(msg_id, seq, now), SOURCE)
        out.append((msg_id.encode(), value, headers))
    return out


def signed_requests(corpus: Corpus, tag: str, n: int, secret: str, host: str) -> Iterator[bytes]:
    """Complete HTTP/1.1 POST requests to ``/v1/reports``, signed now (valid for the signature window)."""
    now = datetime.now(UTC)
    for seq in range(n):
        body = corpus.webhook_body(message_id(tag, seq), seq, now)
        head = [
            "POST /v1/reports HTTP/1.1",
            f"Host: {host}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in sign(secret, body).items()),
        ]
        yield ("\r\n".join(head) + "\r\n\r\n").encode() + body


def message_id(tag: str, seq: int) -> str:
    return f"{tag}-{seq}"


def seq_of(msg_id: str, tag: str) -> int | None:
    """The sequence number of a message id of run ``tag``; None for anything else."""
    prefix = tag + "-"
    if not msg_id.startswith(prefix):
        return None
    rest = msg_id[len(prefix) :]
    return int(rest) if rest.isdigit() else None
