"""Text normalisation of complaint Indonesian: slang, repeated letters, affixes, typos, noise."""

import pytest

from aduan_kit.testing.plugin import CITY_DIR
from aduan_schemas.city import load_city
from aduan_text.analyzer import Analyzer, stem_candidates
from aduan_text.phrases import analyzer_for


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return analyzer_for(load_city(CITY_DIR).taxonomy)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gk", ("tidak",)),
        ("ga", ("tidak",)),
        ("tdk", ("tidak",)),
        ("yg", ("yang",)),
        ("dgn", ("dengan",)),
        ("jln", ("jalan",)),
        ("jl.", ("jalan",)),
        ("sdh", ("sudah",)),
        ("udh", ("sudah",)),
        ("blm", ("belum",)),
        ("tlg", ("tolong",)),
        ("bgt", ("banget",)),
        ("RS", ("rumah", "sakit")),  # one abbreviation, two words
    ],
)
def test_slang_and_abbreviations(analyzer: Analyzer, text: str, expected: tuple[str, ...]) -> None:
    assert analyzer.tokens(text) == expected


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("tergenang", "genang"),
        ("genangan", "genang"),
        ("berserakan", "serak"),
        ("dipangkas", "pangkas"),
        ("pemangkasan", "pangkas"),
        ("ditebang", "tebang"),
        ("kebanjiran", "banjir"),
        ("diangkut", "angkut"),
        ("numpuk", "tumpuk"),  # colloquial nasal prefix
        ("sampahnya", "sampah"),
        ("merokok", "rokok"),
    ],
)
def test_affixes_are_stripped_towards_the_vocabulary(analyzer: Analyzer, word: str, stem: str) -> None:
    assert analyzer.tokens(word) == (stem,)


def test_words_nobody_looks_for_are_left_alone(analyzer: Analyzer) -> None:
    # "menyanyikan" has a plausible stem, but no keyword needs it: no guessing
    assert analyzer.tokens("menyanyikan") == ("menyanyikan",)
    assert "menyanyikan" in stem_candidates("menyanyikan")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("parahhhh", ("parah",)),
        ("SAMPAHHHH", ("sampah",)),
        ("gakkk", ("tidak",)),
        ("mampettt", ("sumbat",)),
        ("tungguuuu", ("tunggu",)),  # a legitimately doubled letter survives
        ("sampahh", ("sampah",)),
    ],
)
def test_repeated_letters_fold(analyzer: Analyzer, text: str, expected: tuple[str, ...]) -> None:
    assert analyzer.tokens(text) == expected


def test_small_typos_of_keywords_are_corrected_but_common_words_are_not(analyzer: Analyzer) -> None:
    assert analyzer.tokens("smapah selokn") == ("sampah", "selokan")
    # "sampai" is one letter from "sampah" and "teman" from "taman": listed in `keep`
    assert analyzer.tokens("sampai teman") == ("sampai", "teman")


def test_noise_is_dropped_and_reduplication_folded(analyzer: Analyzer) -> None:
    got = analyzer.tokens("@DKIJakarta jalan bolong2 https://t.co/abc #banjir warga@mail.com")
    assert got == ("jalan", "lubang", "lubang", "banjir")  # "bolong2" is written "bolong-bolong"


def test_a_count_is_not_a_river(analyzer: Analyzer) -> None:
    assert "kali" not in analyzer.tokens("sudah 3 kali lapor, berkali-kali")
    assert "kali" in analyzer.tokens("kali penuh sampah")


def test_tokens_are_pure_and_repeatable(analyzer: Analyzer) -> None:
    text = "Sampahnya NUMPUK gk diangkut2 udh seminggu!!!"
    assert analyzer.tokens(text) == analyzer.tokens(text)


def test_known_accounts_read_as_their_service_other_mentions_are_noise(analyzer: Analyzer) -> None:
    assert analyzer.tokens("@LRTJakarta keretanya telat") == ("lrt", "keretanya", "telat")
    assert analyzer.tokens("@DKIJakarta @budi123 tolong") == ("tolong",)


def test_colloquial_suffix(analyzer: Analyzer) -> None:
    assert analyzer.tokens("dibersihin") == ("bersih",)


def test_vowel_dropped_spellings(analyzer: Analyzer) -> None:
    assert analyzer.tokens("smpah parkr") == ("sampah", "parkir")
    # checked: without the skeleton index these stay as typed
