"""Near-duplicate scoring: each gate and each piece of evidence, the keys, the windowed state.

How these were checked to fail (each broken on purpose once, the named test went red, then restored):
- the ``old.resolved`` guard in ``neardup.score`` removed: test_resolved_case_is_never_the_target;
- ``compatible_with`` returning True for any pair: test_incompatible_categories_are_rejected;
- the window check (``apart > window``) removed: test_outside_the_window_is_rejected;
- the GPS distance check removed: test_gps_farther_than_the_category_distance_is_rejected;
- ``_same_street`` returning True: test_same_kelurahan_different_streets_is_rejected;
- the different-kelurahan check in ``_place_without_gps`` removed: test_different_kelurahan_is_rejected;
- the ``kec-only`` key dropped from ``lookup_keys``: test_keys_find_a_report_whose_kelurahan_is_unknown;
- ``OpenReports.evict`` evicting at exactly the retention (``<=``):
  test_state_forgets_reports_older_than_the_retention.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from aduan_kit.testing.plugin import CITY_DIR
from aduan_normalizer.neardup import (
    DuplicatePolicy,
    Evidence,
    candidate_keys,
    evidence,
    load_policy,
    lookup_keys,
    score,
    streets_of,
    text_similarity,
)
from aduan_normalizer.neardup_state import OpenReports
from aduan_normalizer.pipeline import normalize
from aduan_schemas.city import load_city
from aduan_schemas.events import GeoPoint, RawQlue, RawTwitter
from aduan_text import Analyzer, analyzer_for

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
KALIBATA = "31.74.08.1002"
PANCORAN = "31.74.08"


@pytest.fixture(scope="module")
def policy() -> DuplicatePolicy:
    return load_policy(CITY_DIR)


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return analyzer_for(load_city(CITY_DIR).taxonomy)


def ev(
    analyzer: Analyzer,
    policy: DuplicatePolicy,
    rid: str,
    text: str,
    category: str = "pohon",
    after: timedelta = timedelta(0),
    lat: float | None = None,
    lon: float | None = None,
    kelurahan: str | None = KALIBATA,
    kecamatan: str | None = PANCORAN,
) -> Evidence:
    tokens = frozenset(t for t in analyzer.tokens(text) if len(t) > 2 and t not in policy.stop_words)
    return Evidence(
        report_id=rid,
        category=category,
        received_at=T0 + after,
        lat=lat,
        lon=lon,
        kelurahan_code=kelurahan,
        kecamatan_code=kecamatan,
        streets=frozenset(streets_of([text], analyzer, policy.stop_words)),
        tokens=tokens,
        strong=frozenset(t for t in tokens if t in analyzer.vocabulary),
    )


def test_policy_loads_and_retention_is_the_longest_window(policy: DuplicatePolicy) -> None:
    assert policy.limits("pohon").window == timedelta(hours=12)
    assert policy.limits("jalan").window == timedelta(days=30)
    assert policy.limits("no-such-category") == policy.default
    assert policy.retention == timedelta(days=30)


def test_policy_categories_exist_in_the_taxonomy(policy: DuplicatePolicy) -> None:
    codes = {c.code for c in load_city(CITY_DIR).taxonomy.categories}
    named = set(policy.categories) | {c for group in policy.compatible for c in group}
    assert named - codes == set()


def test_same_problem_with_gps_is_a_duplicate_with_its_reasons(
    analyzer: Analyzer, policy: DuplicatePolicy
) -> None:
    a = ev(analyzer, policy, "a", "pohon tumbang nutup jalan kalibata raya", lat=-6.2550, lon=106.8530)
    b = ev(
        analyzer,
        policy,
        "b",
        "pohon besar roboh menutup jalan",
        after=timedelta(minutes=30),
        lat=-6.2552,
        lon=106.8531,
    )
    d = score(b, a, policy)
    assert d.duplicate and d.target == "a"
    assert d.reasons[0] == "category pohon"
    assert any(r.startswith("gps ") and "<= 150 m" in r for r in d.reasons)
    assert any(r.startswith("text ") for r in d.reasons)
    assert d.score >= policy.threshold


def test_resolved_case_is_never_the_target(analyzer: Analyzer, policy: DuplicatePolicy) -> None:
    a = ev(analyzer, policy, "a", "lampu jalan mati", "lampu-jalan", lat=-6.2550, lon=106.8530)
    b = ev(
        analyzer, policy, "b", "lampu jalan mati lagi", "lampu-jalan", timedelta(days=3), -6.2550, 106.8530
    )
    assert score(b, a, policy).duplicate
    d = score(b, replace(a, resolved=True), policy)
    assert not d.duplicate
    assert "resolved" in d.reasons[-1]


def test_incompatible_categories_are_rejected(analyzer: Analyzer, policy: DuplicatePolicy) -> None:
    a = ev(analyzer, policy, "a", "sampah numpuk di pinggir jalan", "sampah", lat=-6.2550, lon=106.8530)
    b = ev(analyzer, policy, "b", "lampu jalan mati", "lampu-jalan", timedelta(hours=1), -6.2550, 106.8530)
    d = score(b, a, policy)
    assert not d.duplicate and "not compatible" in d.reasons[-1]


def test_compatible_categories_pass_with_a_factor(analyzer: Analyzer, policy: DuplicatePolicy) -> None:
    a = ev(analyzer, policy, "a", "got mampet air meluap ke jalan", "saluran", lat=-6.2550, lon=106.8530)
    b = ev(
        analyzer,
        policy,
        "b",
        "banjir air got meluap ke jalan",
        "banjir",
        timedelta(hours=1),
        -6.2551,
        106.8530,
    )
    d = score(b, a, policy)
    assert d.reasons[0] == "category banjir~saluran"
    assert any("compatible categories" in r for r in d.reasons)


def test_outside_the_window_is_rejected(analyzer: Analyzer, policy: DuplicatePolicy) -> None:
    a = ev(analyzer, policy, "a", "pohon tumbang", lat=-6.2550, lon=106.8530)
    b = ev(analyzer, policy, "b", "pohon tumbang", after=timedelta(hours=13), lat=-6.2550, lon=106.8530)
    d = score(b, a, policy)
    assert not d.duplicate and "> window 12.0h" in d.reasons[-1]
    # The window is the category's: a broken road stays one case for weeks.
    ra = replace(a, category="jalan")
    rb = replace(b, category="jalan", received_at=T0 + timedelta(days=20))
    assert score(rb, ra, policy).duplicate


def test_gps_farther_than_the_category_distance_is_rejected(
    analyzer: Analyzer, policy: DuplicatePolicy
) -> None:
    a = ev(analyzer, policy, "a", "pohon tumbang", lat=-6.2550, lon=106.8530)
    b = ev(
        analyzer, policy, "b", "pohon tumbang", after=timedelta(minutes=5), lat=-6.2570, lon=106.8530
    )  # ~220 m
    d = score(b, a, policy)
    assert not d.duplicate and d.reasons[-1].startswith("gps ") and "> 150 m" in d.reasons[-1]


def test_without_gps_the_same_kelurahan_and_street_count(analyzer: Analyzer, policy: DuplicatePolicy) -> None:
    a = ev(analyzer, policy, "a", "pohon tumbang di jl kalibata raya nutup jalan")
    b = ev(analyzer, policy, "b", "Pohon roboh di Jalan Kalibata Raya", after=timedelta(minutes=20))
    d = score(b, a, policy)
    assert d.duplicate
    assert f"same kelurahan {KALIBATA} and street" in d.reasons


def test_same_kelurahan_different_streets_is_rejected(analyzer: Analyzer, policy: DuplicatePolicy) -> None:
    a = ev(analyzer, policy, "a", "pohon tumbang di jl kalibata raya")
    b = ev(analyzer, policy, "b", "pohon tumbang di jl rawajati timur", after=timedelta(minutes=20))
    d = score(b, a, policy)
    assert not d.duplicate and d.reasons[-1] == "different streets"


def test_different_kelurahan_is_rejected(analyzer: Analyzer, policy: DuplicatePolicy) -> None:
    a = ev(analyzer, policy, "a", "pohon tumbang nutup jalan")
    b = ev(
        analyzer,
        policy,
        "b",
        "pohon tumbang nutup jalan",
        after=timedelta(minutes=20),
        kelurahan="31.74.08.1001",
    )
    d = score(b, a, policy)
    assert not d.duplicate and d.reasons[-1] == "no GPS pair and different kelurahan"


def test_unknown_place_is_rejected(analyzer: Analyzer, policy: DuplicatePolicy) -> None:
    a = ev(analyzer, policy, "a", "pohon tumbang nutup jalan")
    b = ev(
        analyzer,
        policy,
        "b",
        "pohon tumbang nutup jalan",
        timedelta(minutes=5),
        kelurahan=None,
        kecamatan=None,
    )
    assert not score(b, a, policy).duplicate


def test_text_similarity_weighs_problem_words(analyzer: Analyzer, policy: DuplicatePolicy) -> None:
    a = ev(analyzer, policy, "a", "sampah numpuk bau banget di pinggir jalan")
    same = ev(analyzer, policy, "b", "tumpukan sampah menggunung dan berbau")
    other = ev(analyzer, policy, "c", "lampu jalan mati gelap banget")
    assert text_similarity(a, same) > text_similarity(a, other)
    assert text_similarity(a, a) == pytest.approx(1.0)


def test_streets_are_read_from_abbreviations_not_from_broken_roads(
    analyzer: Analyzer, policy: DuplicatePolicy
) -> None:
    assert streets_of(["di jl. Kemang Raya no 5"], analyzer, policy.stop_words) == {("kemang",)}
    assert streets_of(["Jl. Raya Bogor km 20"], analyzer, policy.stop_words) == {("bogor", "km")}
    assert streets_of(["jalan rusak parah"], analyzer, policy.stop_words) == set()


def test_keys_find_a_report_whose_kelurahan_is_unknown(analyzer: Analyzer, policy: DuplicatePolicy) -> None:
    vague = ev(analyzer, policy, "a", "pohon tumbang di jl kalibata raya", kelurahan=None)
    exact = ev(analyzer, policy, "b", "pohon tumbang di jl kalibata raya", timedelta(minutes=5))
    assert set(candidate_keys(vague)) & set(lookup_keys(exact))
    assert set(candidate_keys(exact)) & set(lookup_keys(vague))
    gps_a = ev(analyzer, policy, "c", "x", lat=-6.2550, lon=106.8599)
    gps_b = ev(
        analyzer, policy, "d", "x", lat=-6.2550, lon=106.8601, kelurahan=None, kecamatan=None
    )  # next cell
    assert set(candidate_keys(gps_a)) & set(lookup_keys(gps_b))


def test_state_links_to_the_root_and_forgets_resolved_targets(
    analyzer: Analyzer, policy: DuplicatePolicy
) -> None:
    state = OpenReports(policy)
    a = ev(analyzer, policy, "a", "lampu jalan mati gelap", "lampu-jalan", lat=-6.2550, lon=106.8530)
    b = ev(
        analyzer, policy, "b", "lampu jalan padam gelap", "lampu-jalan", timedelta(hours=2), -6.2550, 106.8531
    )
    assert state.decide(a) is None
    d = state.decide(b)
    assert d is not None and d.target == "a"
    assert len(state) == 1  # a duplicate is not a root
    state.resolve("a")
    c = ev(
        analyzer, policy, "c", "lampu jalan mati lagi", "lampu-jalan", timedelta(days=4), -6.2550, 106.8530
    )
    assert state.decide(c) is None


def test_state_forgets_reports_older_than_the_retention(analyzer: Analyzer, policy: DuplicatePolicy) -> None:
    state = OpenReports(policy)
    state.decide(ev(analyzer, policy, "a", "jalan berlubang", "jalan", lat=-6.2550, lon=106.8530))
    assert state.evict(T0 + policy.retention) == 0
    assert state.evict(T0 + policy.retention + timedelta(seconds=1)) == 1
    assert len(state) == 0


def test_state_keeps_a_report_for_its_windows(analyzer: Analyzer, policy: DuplicatePolicy) -> None:
    """Bounded by the windows, not by the longest one: a water outage (3 days, no compatible category)
    is forgotten long before a broken road (30 days). Fails if eviction uses the global retention."""
    assert policy.keep_for("air-bersih") == timedelta(days=3)
    assert policy.keep_for("pohon") == max(policy.limits("pohon").window, policy.limits("taman").window)
    state = OpenReports(policy)
    state.decide(ev(analyzer, policy, "w", "air pam mati", "air-bersih", lat=-6.2550, lon=106.8530))
    state.decide(ev(analyzer, policy, "r", "jalan berlubang", "jalan", lat=-6.2650, lon=106.8630))
    assert state.evict(T0 + timedelta(days=3, seconds=1)) == 1
    assert len(state) == 1


def test_evidence_of_normalized_reports_across_channels(analyzer: Analyzer, policy: DuplicatePolicy) -> None:
    """Through the real normalizer (names-only geocoder): a tweet and a Qlue report of one fallen tree."""
    from aduan_normalizer.pipeline import load_geocoder

    city = load_city(CITY_DIR)
    geocoder = load_geocoder(None, registry=city.skpd)
    tweet = RawTwitter(
        channel_message_id="t1",
        received_at=T0,
        text="@DKIJakarta pohon gede tumbang di jl kalibata raya kel kalibata, macet total",
    )
    qlue = RawQlue(
        channel_message_id="q1",
        received_at=T0 + timedelta(minutes=25),
        text="pohon roboh nutup jalan, motor ga bisa lewat, kelurahan kalibata",
        address_text="Jl. Kalibata Raya",
        location=GeoPoint(lat=-6.2550, lon=106.8530),
    )
    a, b = (
        evidence(
            normalize(r, geocoder=geocoder, taxonomy=city.taxonomy, pseudonym_key="k", now=T0),
            analyzer,
            policy,
        )
        for r in (tweet, qlue)
    )
    assert a.category == b.category == "pohon"
    assert a.streets and b.streets
    d = score(b, a, policy)
    assert d.duplicate, d.reasons
