"""The near-duplicate evaluation set (bench/eval/duplicates-*.yaml) is well formed and its runner works.

How these were checked to fail: a duplicated id, a ``same_as`` naming a later report, a negative kind
carrying a ``same_as`` and a misspelled kelurahan ("Kalibataa") were each put into a copy of the dev
file (or a temporary file) and the matching test went red; the runner's false-positive count was broken
(a wrong root counted as right) and test_runner_counts_a_wrong_root_as_a_miss went red.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench.eval import duplicates, routing

NEGATIVE_KINDS = {"same-street", "same-type-elsewhere", "same-kelurahan", "recurring", "out-of-window"}


@pytest.fixture(scope="module")
def sets() -> dict[str, list[dict[str, Any]]]:
    return duplicates.load_items(duplicates.DEFAULT_FILES)


def test_sizes(sets: dict[str, list[dict[str, Any]]]) -> None:
    dev, holdout = sets["duplicates-dev.yaml"], sets["duplicates-holdout.yaml"]
    assert len(dev) >= 150 and len(holdout) >= 100
    assert len(dev) + len(holdout) >= 300


def test_ids_are_unique_across_files(sets: dict[str, list[dict[str, Any]]]) -> None:
    ids = Counter(it["id"] for items in sets.values() for it in items)
    assert [i for i, n in ids.items() if n > 1] == []


def test_every_channel_and_kind_appears_in_both_files(sets: dict[str, list[dict[str, Any]]]) -> None:
    for name, items in sets.items():
        channels = Counter(r["channel"] for it in items for r in it["reports"])
        assert set(channels) == set(duplicates.CHANNELS), name
        kinds = Counter(it["kind"] for it in items)
        assert set(kinds) >= NEGATIVE_KINDS, name
        negatives = sum(kinds[k] for k in NEGATIVE_KINDS)
        assert negatives >= 0.2 * len(items), f"{name}: too few hard negatives"
        assert kinds["duplicate"] >= 0.5 * len(items), name


def test_duplicates_include_gps_and_text_only_pairs(sets: dict[str, list[dict[str, Any]]]) -> None:
    for name, items in sets.items():
        mixed = sum(
            1
            for it in items
            for r in it["reports"]
            if r.get("same_as") is not None
            and bool(r.get("gps")) != bool(it["reports"][r["same_as"]].get("gps"))
        )
        assert mixed >= 20, f"{name}: duplicates with GPS on one side only"


@pytest.mark.parametrize(
    ("report", "kind", "message"),
    [
        (
            "{channel: qlue, after: 1h, text: t, same_as: 1}",
            "duplicate",
            "same_as must name an earlier report",
        ),
        ("{channel: qlue, after: 1h, text: t, same_as: 0}", "same-street", "a negative"),
        ("{channel: fax, after: 1h, text: t}", "same-street", "unknown channel"),
        ("{channel: qlue, after: soon, text: t}", "same-street", "bad offset"),
    ],
)
def test_bad_items_are_refused(tmp_path: Path, report: str, kind: str, message: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        f"- id: x-1\n  kind: {kind}\n  place: {{kota: Jakarta Pusat}}\n  reports:\n"
        f"  - {{channel: sms, after: 0m, text: t}}\n  - {report}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=message):
        duplicates.load_items([bad])


def test_every_place_exists_in_the_boundaries(
    sets: dict[str, list[dict[str, Any]]], gazetteer: routing.Gazetteer
) -> None:
    problems = []
    for items in sets.values():
        for it in items:
            for place in (it["place"], *(r.get("place") for r in it["reports"])):
                try:
                    gazetteer.check_place(place)
                except ValueError as e:
                    problems.append(f"{it['id']}: {e}")
    assert problems == []


def test_gps_offsets_move_the_point(gazetteer: routing.Gazetteer) -> None:
    from aduan_normalizer.geocode import haversine_m

    place = {"kelurahan": "Kalibata", "kecamatan": "Pancoran", "kota": "Jakarta Selatan"}
    item = {
        "id": "t",
        "place": place,
        "reports": [
            {"channel": "qlue", "after": "0m", "text": "a", "gps": True},
            {"channel": "qlue", "after": "0m", "text": "b", "gps": True},
            {"channel": "qlue", "after": "0m", "text": "c", "gps": True, "offset_m": [600, 0]},
        ],
    }
    p0, p1, p2 = (duplicates.gps_of(item, i, gazetteer) for i in range(3))
    assert haversine_m(p0.lat, p0.lon, p1.lat, p1.lon) <= 2 * duplicates.JITTER_M
    assert 540 <= haversine_m(p0.lat, p0.lon, p2.lat, p2.lon) <= 660


def test_offsets_parse() -> None:
    assert duplicates.parse_after("0m").total_seconds() == 0
    assert duplicates.parse_after("1d4h30m").total_seconds() == 86400 + 4 * 3600 + 1800
    with pytest.raises(ValueError):
        duplicates.parse_after("")


def test_runner_counts_a_wrong_root_as_a_miss() -> None:
    outcomes = [
        duplicates.Outcome("a", "duplicate", 1, 0, 0, ()),  # right
        duplicates.Outcome("b", "mixed", 2, 0, 1, ()),  # wrong root: a false positive and a false negative
        duplicates.Outcome("c", "same-street", 1, None, 0, ()),  # merged a negative: a false positive
        duplicates.Outcome("d", "duplicate", 1, 0, None, ()),  # missed: a false negative
    ]
    t = duplicates.tally(outcomes)
    assert (t["tp"], t["fp"], t["fn"]) == (1, 2, 2)
    assert t["precision"] == pytest.approx(1 / 3)
    assert t["recall"] == pytest.approx(1 / 3)
