"""Routing rules: every rule of routing.yaml, area fallbacks, confidence, runner-up and triage."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aduan_kit.testing.plugin import CITY_DIR
from aduan_kit.testing.samples import normalized
from aduan_router.rules import route
from aduan_schemas.city import CityConfig, RoutingRule, load_city
from aduan_schemas.events import Area, Place

NOW = datetime.now(UTC)
KEL, KEC, SUDIN = "kel-3171011001", "kec-317101", "3171"  # Gambir, Kec. Gambir, Jakarta Pusat


@pytest.fixture(scope="module")
def city() -> CityConfig:
    return load_city(CITY_DIR)


# rule id -> (category, text, expected unit) for a report in Kelurahan Gambir
CASES = {
    "sampah-angkut-dlh": (
        "sampah",
        "Sampah sudah seminggu gak diangkut, truk sampah tidak datang",
        f"dlh-{SUDIN}",
    ),
    "sampah-kelurahan": ("sampah", "Sampah berserakan di lahan kosong samping gang", KEL),
    "saluran-besar-dsda": ("saluran", "Kali di belakang rumah dangkal penuh lumpur", f"dsda-{SUDIN}"),
    "saluran-kelurahan": ("saluran", "Selokan depan rumah mampet", KEL),
    "kebisingan-kelurahan": ("kebisingan", "Tetangga karaoke sampai jam 2 malam", KEL),
    "ppsu-kelurahan": ("ppsu", "Mohon petugas PPSU membersihkan gang", KEL),
    "gedung-sekolah-disdik": ("fasilitas-gedung", "Atap ruang kelas SDN 01 bocor", "disdik"),
    "gedung-puskesmas-dinkes": ("fasilitas-gedung", "Toilet puskesmas rusak dan bau", f"dinkes-{SUDIN}"),
    "gedung-kecamatan": ("fasilitas-gedung", "AC ruang tunggu kantor kecamatan mati", KEC),
    "gedung-kelurahan": ("fasilitas-gedung", "Atap kantor kelurahan bocor", KEL),
    "pkl-satpolpp": ("pkl", "PKL jualan di trotoar", f"satpolpp-{SUDIN}"),
    "reklame-satpolpp": ("reklame", "Spanduk liar di tiang", f"satpolpp-{SUDIN}"),
    "kdm-satpolpp": ("kdm", "Orang merokok di ruang tunggu", f"satpolpp-{SUDIN}"),
    "ketertiban-satpolpp": ("ketertiban", "Tawuran remaja tiap malam minggu", f"satpolpp-{SUDIN}"),
    "perizinan-tanpa-izin-satpolpp": ("perizinan", "Bengkel beroperasi tanpa izin", f"satpolpp-{SUDIN}"),
    "perizinan-dpmptsp": ("perizinan", "Pengurusan izin usaha sudah 2 bulan belum selesai", "dpmptsp"),
    "parkir-dishub": ("parkir-liar", "Parkir liar di bahu jalan", f"dishub-{SUDIN}"),
    "lalu-lintas-dishub": ("lalu-lintas", "Macet parah tiap sore", f"dishub-{SUDIN}"),
    "perlengkapan-jalan-dishub": ("perlengkapan-jalan", "Rambu dilarang parkir roboh", f"dishub-{SUDIN}"),
    "transportasi-halte-dishub": ("transportasi-umum", "Atap halte bocor, busnya telat", f"dishub-{SUDIN}"),
    "transportasi-angkot-dishub": ("transportasi-umum", "Angkot ngetem sembarangan", f"dishub-{SUDIN}"),
    "transportasi-halte-lain-dishub": ("transportasi-umum", "Halte sepi", f"dishub-{SUDIN}"),
    "transportasi-operator-bpbumd": ("transportasi-umum", "Bus Transjakarta koridor 1 telat", "bpbumd"),
    "transportasi-dishub": ("transportasi-umum", "Kendaraan umum kurang", f"dishub-{SUDIN}"),
    "jalan-gang-kelurahan": ("jalan", "Paving di gang rusak, minta PPSU", KEL),
    "jalan-dbm": ("jalan", "Jalan berlubang", f"dbm-{SUDIN}"),
    "trotoar-dbm": ("trotoar", "Trotoar rusak", f"dbm-{SUDIN}"),
    "pju-dbm": ("lampu-jalan", "Lampu jalan mati", f"dbm-{SUDIN}"),
    "pohon-distamhut": ("pohon", "Pohon tumbang", f"distamhut-{SUDIN}"),
    "taman-distamhut": ("taman", "Taman kota tidak terawat", f"distamhut-{SUDIN}"),
    "banjir-dsda": ("banjir", "Banjir setinggi lutut", f"dsda-{SUDIN}"),
    "tutup-saluran-dsda": ("tutup-saluran", "Tutup got hilang", f"dsda-{SUDIN}"),
    "tata-ruang-citata": ("tata-ruang", "Bangunan tanpa PBG", f"citata-{SUDIN}"),
    "polusi-dlh": ("polusi", "Asap pabrik hitam", f"dlh-{SUDIN}"),
    "pmks-dinsos": ("pmks", "Ada pengemis", f"dinsos-{SUDIN}"),
    "bansos-dinsos": ("bansos", "BLT belum cair", f"dinsos-{SUDIN}"),
    "kesehatan-dinkes": ("kesehatan", "IGD penuh", f"dinkes-{SUDIN}"),
    "pendidikan-disdik": ("pendidikan", "KJP belum cair", "disdik"),
    "kependudukan-dukcapil": ("kependudukan", "KTP belum jadi", f"dukcapil-{SUDIN}"),
    "telekomunikasi-diskominfotik": ("telekomunikasi", "Kabel fiber menjuntai", "diskominfotik"),
    "listrik-dpe": ("jaringan-listrik", "Tiang listrik miring", "dpe"),
    "air-bersih-bpbumd": ("air-bersih", "Air PAM mati", "bpbumd"),
    "pasar-bpbumd": ("pasar", "Atap pasar bocor", "bpbumd"),
    "pungli-inspektorat": ("pungli", "Ada pungli", "inspektorat"),
    "pelayanan-dukcapil": ("pelayanan", "Petugas dukcapil judes", f"dukcapil-{SUDIN}"),
    "pelayanan-puskesmas-dinkes": ("pelayanan", "Pelayanan puskesmas lambat", f"dinkes-{SUDIN}"),
    "pelayanan-kecamatan": ("pelayanan", "Pelayanan di kantor kecamatan lambat", KEC),
    "pelayanan-kelurahan": ("pelayanan", "Petugas kelurahan tidak ramah", KEL),
    "pelayanan-inspektorat": ("pelayanan", "Pegawai dinas tidak responsif", "inspektorat"),
    "lainnya-triage": ("lainnya", "Halo admin", KEL),
}


def test_every_rule_has_a_case(city: CityConfig) -> None:
    assert {r.id for r in city.routing.rules} == set(CASES)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule(city: CityConfig, rule_id: str) -> None:
    category, text, unit = CASES[rule_id]
    r = route(normalized(category=category, text=text), city, NOW)
    assert (r.routing.rule, r.skpd_code) == (rule_id, unit)
    assert r.skpd_name == city.skpd.get(unit).name
    assert r.routing.version == city.routing.version and r.routing.reason
    assert r.needs_triage == (rule_id == "lainnya-triage")


def test_suku_dinas_without_a_kota_goes_to_the_dinas(city: CityConfig) -> None:
    r = route(normalized(category="jalan", text="Jalan berlubang", area=None), city, NOW)
    assert (r.skpd_code, r.needs_triage) == ("dbm", False)
    assert "kota unknown" in r.routing.reason


def test_kelurahan_target_falls_back_to_kecamatan_then_kota(city: CityConfig) -> None:
    # An area whose kelurahan is not in the registry still names its kecamatan and kota.
    kec_only = Area(kelurahan_code="", kelurahan="", kecamatan="Tanah Abang", kota="Jakarta Pusat")
    r = route(normalized(category="saluran", text="Got mampet", area=kec_only), city, NOW)
    assert r.skpd_code == "kec-317107" and "kelurahan unknown" in r.routing.reason
    kota_only = Area(kelurahan_code="", kelurahan="", kecamatan="", kota="Jakarta Timur")
    r2 = route(normalized(category="saluran", text="Got mampet", area=kota_only), city, NOW)
    assert r2.skpd_code == "kota-3175"
    assert r2.routing.confidence < r.routing.confidence  # less precise area, less sure


def test_unknown_area_for_a_kelurahan_rule_goes_to_triage_naming_a_candidate(city: CityConfig) -> None:
    r = route(normalized(category="saluran", text="Got mampet", area=None), city, NOW)
    assert r.needs_triage and r.skpd_code == "dsda"  # the rule's `otherwise`
    known = route(normalized(category="saluran", text="Got mampet"), city, NOW)
    assert r.routing.confidence < known.routing.confidence  # a guess, and it says so
    assert "triage" in r.routing.reason


def test_low_confidence_goes_to_triage_with_the_best_candidate(city: CityConfig) -> None:
    below = city.routing.triage_below
    r = route(normalized(category="pkl", text="jualan", category_confidence=below - 0.1), city, NOW)
    assert r.needs_triage and r.skpd_code == f"satpolpp-{SUDIN}"
    ok = route(normalized(category="pkl", text="jualan", category_confidence=below + 0.1), city, NOW)
    assert not ok.needs_triage


def test_runner_up_category_names_its_unit(city: CityConfig) -> None:
    r = route(
        normalized(
            category="pkl",
            text="PKL dan parkir liar",
            category_confidence=0.6,
            category_runner_up="parkir-liar",
            category_runner_up_confidence=0.3,
        ),
        city,
        NOW,
    )
    assert (r.skpd_code, r.routing.runner_up) == (f"satpolpp-{SUDIN}", f"dishub-{SUDIN}")
    assert r.routing.confidence == pytest.approx(0.6)


def test_runner_up_reaching_the_same_unit_adds_to_the_confidence(city: CityConfig) -> None:
    r = route(
        normalized(
            category="jalan",
            text="Jalan dan trotoar rusak",
            category_confidence=0.4,
            category_runner_up="trotoar",
            category_runner_up_confidence=0.3,
        ),
        city,
        NOW,
    )
    assert r.skpd_code == f"dbm-{SUDIN}" and r.routing.confidence == pytest.approx(0.7)
    assert not r.needs_triage


def test_rule_alternative_is_the_runner_up_when_there_is_no_runner_up_category(city: CityConfig) -> None:
    r = route(normalized(category="saluran", text="Selokan mampet"), city, NOW)
    assert (r.skpd_code, r.routing.runner_up) == (KEL, f"dsda-{SUDIN}")


def test_words_match_through_slang_and_affixes(city: CityConfig) -> None:
    r = route(normalized(category="sampah", text="sampah udh 5 hari gak diangkut2"), city, NOW)
    assert r.routing.rule == "sampah-angkut-dlh"


def test_unless_words_stop_a_rule(city: CityConfig) -> None:
    r = route(normalized(category="pelayanan", text="Camat dan lurah tidak ramah"), city, NOW)
    assert r.routing.rule == "pelayanan-kelurahan"


def test_also_words_are_required_with_words(city: CityConfig) -> None:
    r = route(normalized(category="transportasi-umum", text="Bus Transjakarta telat di halte"), city, NOW)
    assert r.routing.rule == "transportasi-operator-bpbumd"  # a halte, but nothing wrong with it


def test_place_names_hide_rule_words(city: CityConfig) -> None:
    r = route(normalized(category="saluran", text="Got di gang Kali Anyar mampet"), city, NOW)
    assert r.routing.rule == "saluran-kelurahan"  # "Kali Anyar" is a place, not a river
    r2 = route(normalized(category="saluran", text="Got di pinggir kali mampet"), city, NOW)
    assert r2.routing.rule == "saluran-besar-dsda"


def test_unknown_category_goes_to_the_fallback_for_triage(city: CityConfig) -> None:
    r = route(normalized(category="tidak-dikenal"), city, NOW)
    assert (r.skpd_code, r.routing.rule, r.needs_triage) == (city.routing.fallback, "fallback", True)


def test_deadlines_count_from_receipt(city: CityConfig) -> None:
    received = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    r = route(normalized(received_at=received), city, received + timedelta(hours=1))
    assert r.sla.policy == "standard"
    assert r.sla.respond_by == received + timedelta(hours=6)
    assert r.sla.resolve_by == received + timedelta(days=7)


def test_street_lights_get_the_long_clock_of_sla_yaml(city: CityConfig) -> None:
    """The router stamps the deadlines of the shared policy module (fails if it used the default)."""
    received = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    r = route(normalized(category="lampu-jalan", received_at=received), city, received)
    assert r.sla.policy == "pekerjaan-fisik"
    assert (r.sla.respond_by, r.sla.resolve_by) == (
        received + timedelta(hours=6),
        received + timedelta(days=14),
    )


def test_route_is_pure(city: CityConfig) -> None:
    report = normalized(category="saluran", text="kali meluap")
    assert route(report, city, NOW) == route(report, city, NOW)


def test_city_dir_is_configuration() -> None:
    assert Path(CITY_DIR, "routing.yaml").is_file()


def test_kota_condition(city: CityConfig) -> None:
    island = RoutingRule(id="sampah-pulau", category="sampah", kota=["Kepulauan Seribu"], to="dlh")
    routing = city.routing.model_copy(update={"rules": [island, *city.routing.rules]})
    islands = CityConfig(skpd=city.skpd, taxonomy=city.taxonomy, routing=routing, sla=city.sla)
    on_island = Area(kelurahan_code="", kelurahan="", kecamatan="", kota="Kepulauan Seribu")
    r = route(normalized(category="sampah", text="Sampah di pantai", area=on_island), islands, NOW)
    assert (r.routing.rule, r.skpd_code) == ("sampah-pulau", "dlh")
    r2 = route(normalized(category="sampah", text="Sampah di gang"), islands, NOW)  # Gambir
    assert r2.routing.rule == "sampah-kelurahan"


def test_a_place_known_only_at_kecamatan_or_kota_level_is_used(city: CityConfig) -> None:
    tanah_abang = Place(
        level="kecamatan",
        kota_code="31.71",
        kota="Jakarta Pusat",
        kecamatan_code="31.71.07",
        kecamatan="Tanah Abang",
    )
    kec = normalized(category="saluran", text="Got mampet", area=None, place=tanah_abang)
    assert route(kec, city, NOW).skpd_code == "kec-317107"
    jaksel = Place(level="kota", kota_code="31.74", kota="Jakarta Selatan")
    kota = normalized(category="jalan", text="Jalan berlubang", area=None, place=jaksel)
    assert route(kota, city, NOW).skpd_code == "dbm-3174"
