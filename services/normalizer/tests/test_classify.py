"""Classification: channel labels, text evidence, wrong and vague labels, multi-issue reports."""

import time

import pytest

from aduan_kit.testing.plugin import CITY_DIR
from aduan_normalizer.classify import EVIDENCE_K, HINT_PRIOR, Classifier
from aduan_schemas.city import Taxonomy, load_city

# Every category name citizens pick in Jakarta's CRM (issue 6) -> our code.
CRM_NAMES = {
    "Jalan": "jalan",
    "Parkir Liar": "parkir-liar",
    "Pohon": "pohon",
    "Sampah": "sampah",
    "Keluhan Fasilitas Gedung Pemda (sekolah, kantor)": "fasilitas-gedung",
    "Kawasan Dilarang Merokok": "kdm",
    "Jaringan Listrik": "jaringan-listrik",
    "Arus Lalu Lintas": "lalu-lintas",
    "Trotoar": "trotoar",
    "Gangguan dan Kebisingan": "kebisingan",
    "PKL Liar": "pkl",
    "Pekerja Penanganan Prasarana dan Sarana Umum (PPSU)": "ppsu",
    "Reklame/Spanduk": "reklame",
    "Saluran Air, Kali/Sungai": "saluran",
    "Perizinan": "perizinan",
    "Tata Ruang dan Bangunan": "tata-ruang",
    "Penanganan Banjir": "banjir",
    "Gangguan Ketenteraman dan Ketertiban": "ketertiban",
    "Jaringan/Menara Telekomunikasi": "telekomunikasi",
    "Transportasi Publik": "transportasi-umum",
    "Keluhan Pelayanan": "pelayanan",
    "Pungutan Liar": "pungli",
    "Perlengkapan Lalu Lintas": "perlengkapan-jalan",
    "Tutup Saluran": "tutup-saluran",
    "Bantuan Sosial": "bansos",
    "Kesehatan": "kesehatan",
    "Pendidikan": "pendidikan",
    "Kependudukan": "kependudukan",
}


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_city(CITY_DIR).taxonomy


@pytest.fixture(scope="module")
def classifier(taxonomy: Taxonomy) -> Classifier:
    return Classifier(taxonomy)


@pytest.mark.parametrize(("label", "code"), sorted(CRM_NAMES.items()))
def test_every_crm_category_name_maps(taxonomy: Taxonomy, label: str, code: str) -> None:
    assert taxonomy.category_for_hint(label) == code
    # case-, space- and punctuation-insensitive
    assert taxonomy.category_for_hint(f"  {label.upper()} ") == code
    assert taxonomy.category_for_hint(label.replace("/", " / ").replace(",", "")) == code


@pytest.mark.parametrize("label", sorted(CRM_NAMES))
def test_a_label_alone_decides_with_moderate_confidence(classifier: Classifier, label: str) -> None:
    c = classifier.classify("Mohon segera ditindaklanjuti", label)
    assert (c.category, c.method) == (CRM_NAMES[label], "hint")
    assert c.confidence == pytest.approx(HINT_PRIOR / (HINT_PRIOR + EVIDENCE_K), abs=1e-3)


def test_channel_specific_labels(taxonomy: Taxonomy) -> None:
    doc = taxonomy.model_dump()
    for c in doc["categories"]:
        if c["code"] == "saluran":
            c["hints_by_channel"] = {"qlue": ["Kali Kotor"]}
    t = Taxonomy.model_validate(doc)
    assert t.category_for_hint("kali kotor", "qlue") == "saluran"
    assert t.category_for_hint("kali kotor", "twitter") is None


def test_text_agreeing_with_the_label_raises_confidence(classifier: Classifier) -> None:
    alone = classifier.classify("Mohon dibantu", "Sampah")
    agreed = classifier.classify("Sampah menumpuk di pinggir jalan", "Sampah")
    assert agreed.category == "sampah" and agreed.confidence > alone.confidence


@pytest.mark.parametrize(
    ("text", "label", "expected"),
    [
        ("Ada spanduk liar dipasang di tiang depan rumah warga", "Sampah", "reklame"),
        (
            "Lampu jalan di depan kantor walikota mati sudah seminggu, gelap",
            "Keluhan Fasilitas Gedung Pemda (sekolah, kantor)",
            "lampu-jalan",
        ),
        ("Pohon besar tumbang menutup jalan, dahan patah", "Jalan", "pohon"),
    ],
)
def test_clear_text_overrides_a_plainly_wrong_label(
    classifier: Classifier, text: str, label: str, expected: str
) -> None:
    # checked: with HINT_PRIOR raised to 10 the label wins and the banner and street-light cases go red
    c = classifier.classify(text, label)
    assert (c.category, c.method) == (expected, "text-over-hint")
    assert c.runner_up is not None


def test_a_vague_label_defers_to_the_text(classifier: Classifier) -> None:
    assert classifier.classify("Ada pengemis di perempatan", "Lainnya").category == "pmks"
    c = classifier.classify("Halo admin", "Lainnya")
    assert (c.category, c.confidence) == ("lainnya", 0.0)


def test_unknown_label_lets_the_text_decide(classifier: Classifier) -> None:
    c = classifier.classify("Lampu jalan mati sejak kemarin", "Kategori Aneh")
    assert (c.category, c.method) == ("lampu-jalan", "text")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tlg dong jln depan rmh sy bolong2 gede bgt udh 2 bln gk dibenerin", "jalan"),
        ("sampahnya numpuk gak diangkut2 udah seminggu, bau bgt", "sampah"),
        ("mohon ditertibkan pkl yg jualan di trotoar", "pkl"),
        ("AIR TERGENANG SETINGGI LUTUT GARA2 HUJAN SEMALAM!!!", "banjir"),
        ("selokan depan gang mampettt, airnya item", "saluran"),
        ("tutup got di depan sekolah hilang, bahaya buat anak2", "tutup-saluran"),
        ("lampu lalu lintas di perempatan mati", "perlengkapan-jalan"),
        ("lampu PJU mati total, jalan gelap gulita", "lampu-jalan"),
        ("petugas kelurahan judes, pelayanan lambat", "pelayanan"),
        ("dimintai uang 200 ribu utk bikin KTP", "pungli"),
        ("anak jalanan dan manusia silver di lampu merah", "pmks"),
        ("orang merokok di halte transjakarta padahal kawasan dilarang merokok", "kdm"),
        ("kabel fiber optik menjuntai rendah di gang", "telekomunikasi"),
        ("air PAM mati sudah 3 hari", "air-bersih"),
        ("kali ciliwung dangkal dan penuh eceng gondok", "saluran"),
        ("bangunan liar berdiri di atas saluran tanpa IMB", "tata-ruang"),
        ("min itu sampah di pojokan gang udah kayak bukit, lalat dmn2", "sampah"),
        ("truk sampah ga lewat2 udh 4 hari di rw 03", "sampah"),
        ("mobil2 pada parkir di bahu jalan depan ruko, jalan jd sempit", "parkir-liar"),
        ("jukir liar narik 5rb padahal parkir di pinggir jalan umum", "parkir-liar"),
        ("pedagang kaki lima menutupi trotoar di depan stasiun", "pkl"),
        ("jalanan aspalnya ngelupas parah, banyak lobang dalem", "jalan"),
        ("trotoarnya ancur, ubin pada pecah, susah buat jalan kaki", "trotoar"),
        ("ada pohon gede condong ke rumah warga, takut tumbang kalau angin", "pohon"),
        ("dahan pohon patah nimpa mobil", "pohon"),
        ("taman di rw kami rumputnya tinggi dan ayunannya rusak", "taman"),
        ("makam keluarga kami di tpu tanah kusir tergenang dan tidak terawat", "taman"),
        ("toilet di kantor kelurahan rusak dan bau", "fasilitas-gedung"),
        ("pengunjung mall merokok di area dilarang merokok", "kdm"),
        ("kabel listrik menjuntai rendah dan tiang pln miring", "jaringan-listrik"),
        ("macet total di simpang tiap jam pulang kantor", "lalu-lintas"),
        ("banyak motor lawan arah di jalur busway", "lalu-lintas"),
        ("marka jalan sudah pudar, rambu juga hilang", "perlengkapan-jalan"),
        ("PJU sepanjang jalan mati semua, gelap banget rawan begal", "lampu-jalan"),
        ("tetangga buka karaoke sampai jam 3 pagi berisiknya minta ampun", "kebisingan"),
        ("tolong kirim petugas ppsu buat angkat lumpur", "ppsu"),
        ("spanduk2 caleg dipaku di pohon sepanjang jalan", "reklame"),
        ("baliho besar roboh menutupi jalan", "reklame"),
        ("selokan depan rumah mampet bau busuk", "saluran"),
        ("kali dekat rumah penuh sampah dan mendangkal", "saluran"),
        ("tutup got di depan warung hilang, bahaya buat motor", "tutup-saluran"),
        ("banjir sepinggang di perumahan, pompa tidak jalan", "banjir"),
        ("ngurus izin usaha di ptsp udah sebulan belum keluar", "perizinan"),
        ("ada bangunan tanpa PBG berdiri di atas saluran", "tata-ruang"),
        ("tiap malam ada tawuran antar kampung pakai sajam", "ketertiban"),
        ("tower BTS dibangun di atas rumah warga tanpa sosialisasi", "telekomunikasi"),
        ("angkot ngetem di mulut gang bikin macet", "transportasi-umum"),
        ("bus transjakarta datangnya lama banget, halte penuh sesak", "transportasi-umum"),
        ("rambu dilarang stop tertutup pohon", "perlengkapan-jalan"),
        ("pegawai kelurahan lambat dan tidak ramah melayani warga", "pelayanan"),
        ("ngurus ktp dimintain 100rb sama oknum", "pungli"),
        ("bansos sembako tidak sampai ke warga yang berhak", "bansos"),
        ("ada gelandangan tidur di halte tiap malam", "pmks"),
        ("pasien bpjs ditolak rumah sakit katanya kamar penuh", "kesehatan"),
        ("kjp anak saya belum cair padahal sudah terdaftar", "pendidikan"),
        ("akta kelahiran anak saya belum jadi sudah 2 bulan", "kependudukan"),
        ("air pam ga ngalir dari subuh", "air-bersih"),
        ("atap pasar bocor pedagang kebasahan", "pasar"),
        ("asap dari pabrik bikin sesak napas warga", "polusi"),
        ("limbah pabrik dibuang ke kali, airnya jadi hitam dan bau", "polusi"),
        ("fogging dong pak, banyak warga kena DBD", "kesehatan"),
    ],
)
def test_text_only(classifier: Classifier, text: str, expected: str) -> None:
    assert classifier.classify(text).category == expected


def test_the_main_problem_wins_in_a_multi_issue_report(classifier: Classifier) -> None:
    c = classifier.classify(
        "Pohon di depan rumah sudah miring mau tumbang, tolong dipangkas. Oh ya, sampah juga numpuk"
    )
    assert (c.category, c.runner_up) == ("pohon", "sampah")


def test_a_phrase_beats_the_words_inside_it(classifier: Classifier) -> None:
    assert classifier.scores("lampu lalu lintas").keys() == {"perlengkapan-jalan"}


def test_nothing_recognisable_gives_the_fallback_with_zero_confidence(classifier: Classifier) -> None:
    c = classifier.classify("Halo admin, apa kabar")
    assert (c.category, c.confidence, c.method, c.runner_up) == ("lainnya", 0.0, "fallback", None)


def test_confidence_is_a_share_of_the_evidence(classifier: Classifier) -> None:
    c = classifier.classify("sampah di selokan")
    assert 0 < c.runner_up_confidence < c.confidence < 1
    assert c.confidence + c.runner_up_confidence <= 1


def test_fast_enough(classifier: Classifier) -> None:
    # Not a timed assertion on one call: 200 distinct long reports must average well under a millisecond
    # on a shared machine; this guards against an accidental quadratic matcher.
    texts = [
        f"Laporan {i}: jalan rusak parahhh, selokan mampet, sampah numpuk gk diangkut2 " * 5
        for i in range(200)
    ]
    start = time.process_time()
    for t in texts:
        classifier.classify(t, "Jalan")
    assert (time.process_time() - start) / len(texts) < 0.005


def test_emphasis_names_the_main_problem(classifier: Classifier) -> None:
    text = "sampah numpuk di gang, tapi yang paling penting lampu jalan mati"
    assert classifier.classify(text).category == "lampu-jalan"
    # checked: without the emphasis phrase the earlier rubbish wins
    assert classifier.classify("sampah numpuk di gang, lampu jalan mati").category == "sampah"


def test_a_negated_keyword_does_not_count(classifier: Classifier) -> None:
    assert classifier.scores("bukan jalan rusak") == {}
    assert "trotoar" in classifier.scores("trotoar berlubang, bukan jalannya")


def test_a_phrase_weighs_at_least_its_best_word(classifier: Classifier) -> None:
    # "parkir motor" is a keyword phrase, "parkir" alone a strong word of the same category
    assert classifier.scores("parkir motor")["parkir-liar"] > classifier.scores("parkir")["parkir-liar"]
