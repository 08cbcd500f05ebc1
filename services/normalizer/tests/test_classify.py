import pytest

from aduan_kit.testing.plugin import CITY_DIR
from aduan_normalizer.classify import HINT_CONFIDENCE, KEYWORD_MAX, KEYWORD_MIN, Classifier
from aduan_schemas.city import load_city


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(load_city(CITY_DIR).taxonomy)


@pytest.mark.parametrize("hint", ["Sampah", "  sampah ", "KEBERSIHAN"])
def test_channel_hint_wins_case_insensitive_and_trimmed(classifier: Classifier, hint: str) -> None:
    c = classifier.classify("lampu jalan mati", hint)
    assert (c.category, c.confidence, c.method) == ("sampah", HINT_CONFIDENCE, "hint")


def test_unknown_hint_falls_back_to_keywords(classifier: Classifier) -> None:
    c = classifier.classify("Lampu jalan mati sejak kemarin", "Kategori Aneh")
    assert (c.category, c.method) == ("lampu-jalan", "keywords")


def test_keywords_without_competitor_get_the_top_confidence(classifier: Classifier) -> None:
    c = classifier.classify("Ada POHON TUMBANG menutup jalan")
    assert (c.category, c.confidence) == ("pohon-tumbang", KEYWORD_MAX)


def test_confidence_follows_the_margin(classifier: Classifier) -> None:
    # banjir: "banjir" + "genangan" = 2; saluran-mampet: "selokan" = 1 -> margin 1/2
    c = classifier.classify("Banjir dan genangan karena selokan")
    assert c.category == "banjir"
    assert c.confidence == pytest.approx(KEYWORD_MIN + (KEYWORD_MAX - KEYWORD_MIN) / 2)
    assert KEYWORD_MIN <= c.confidence <= KEYWORD_MAX


def test_tie_takes_taxonomy_order_with_the_lowest_confidence(classifier: Classifier) -> None:
    c = classifier.classify("sampah di selokan")
    assert (c.category, c.confidence) == ("sampah", KEYWORD_MIN)


def test_phrases_outweigh_single_words(classifier: Classifier) -> None:
    assert classifier.scores("tumpukan sampah") == {"sampah": 3}


def test_whole_words_only(classifier: Classifier) -> None:
    assert classifier.scores("gotong royong warga, jalannya berlubang-lubang") == {"jalan-rusak": 1}
    assert classifier.scores("kerja bakti gotong royong") == {}


def test_nothing_matches_gives_the_fallback_with_zero_confidence(classifier: Classifier) -> None:
    c = classifier.classify("Terima kasih atas pelayanannya")
    assert (c.category, c.confidence, c.method) == ("lainnya", 0.0, "fallback")


def test_other_label_lets_the_words_decide_first(classifier: Classifier) -> None:
    assert classifier.classify("Ada pengemis di perempatan", "Lainnya").category == "pengemis"
    c = classifier.classify("Terima kasih", "Lainnya")
    assert (c.category, c.confidence) == ("lainnya", HINT_CONFIDENCE)
