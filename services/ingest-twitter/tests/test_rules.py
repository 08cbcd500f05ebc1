"""Pure parts of reading X: stream rules, back-off schedule, timeline pages, what is not a report."""

import json
from pathlib import Path

import pytest

from aduan_ingest_twitter.accounts import load_accounts
from aduan_ingest_twitter.backoff import Attempts, Backoff, Failure
from aduan_ingest_twitter.payload import ignore_reason, read_payload, timeline_payloads
from aduan_ingest_twitter.rules import Rule, mentioned_accounts, rule_changes, wanted_rules
from aduan_kit.testing.plugin import CITY_DIR


def test_rules_for_accounts_and_hashtags() -> None:
    assert wanted_rules(["DKIJakarta"], ["BanjirJakarta"]) == [
        Rule("@DKIJakarta -is:retweet -from:DKIJakarta", "aduan:mention:dkijakarta"),
        Rule("#BanjirJakarta -is:retweet -from:DKIJakarta", "aduan:hashtag:banjirjakarta"),
    ]


def test_rule_changes_touch_only_our_rules() -> None:
    """Fails if rules of other tags are deleted, or an unchanged rule is deleted and re-added."""
    wanted = wanted_rules(["DKIJakarta"], [])
    existing = [
        {"id": "1", "value": wanted[0].value, "tag": wanted[0].tag},
        {"id": "2", "value": "@old", "tag": "aduan:mention:old"},
        {"id": "3", "value": "@old", "tag": "marketing"},
    ]
    changes = rule_changes(existing, wanted)
    assert (changes.delete_ids, changes.add) == (["2"], [])
    assert rule_changes([], wanted).add == wanted


def test_mentioned_accounts_from_matching_rule_tags() -> None:
    assert mentioned_accounts(["aduan:mention:dkijakarta", "aduan:hashtag:x", "other"]) == ["dkijakarta"]


@pytest.mark.parametrize(
    ("failure", "delays"),
    [
        (Failure.NETWORK, [0.25, 0.5, 0.75, 1.0]),
        (Failure.HTTP, [5, 10, 20, 40]),
        (Failure.RATE_LIMITED, [60, 120, 240, 480]),
    ],
)
def test_backoff_follows_x_schedule(failure: Failure, delays: list[float]) -> None:
    b = Backoff()
    assert [b.delay(failure, n, now=0) for n in (1, 2, 3, 4)] == delays


def test_backoff_caps_and_rate_limit_reset() -> None:
    b = Backoff()
    assert b.delay(Failure.NETWORK, 1000, now=0) == 16
    assert b.delay(Failure.HTTP, 1000, now=0) == 320
    assert b.delay(Failure.RATE_LIMITED, 1, now=100.0, reset_at=142.0) == 42.0
    assert b.delay(Failure.RATE_LIMITED, 1, now=100.0, reset_at=90.0) == 0.0


def test_attempts_are_counted_per_kind() -> None:
    a = Attempts()
    assert [a.fail(Failure.NETWORK), a.fail(Failure.NETWORK), a.fail(Failure.HTTP)] == [1, 2, 1]
    a.reset()
    assert a.fail(Failure.HTTP) == 1


def test_timeline_page_splits_into_stream_shaped_payloads() -> None:
    page = {
        "data": [
            {"id": "2", "text": "a", "author_id": "9", "attachments": {"media_keys": ["m1"]}},
            {"id": "1", "text": "b", "author_id": "8", "geo": {"place_id": "p"}},
        ],
        "includes": {
            "users": [{"id": "9", "username": "u9"}, {"id": "8", "username": "u8"}],
            "media": [{"media_key": "m1", "type": "photo", "url": "https://x/m1.jpg"}],
            "places": [{"id": "p", "full_name": "Gambir"}],
        },
        "meta": {"newest_id": "2"},
    }
    one, two = timeline_payloads(page)
    assert one["includes"] == {
        "users": [{"id": "9", "username": "u9"}],
        "media": page["includes"]["media"],
        "places": [],
    }
    assert (
        two["includes"]["places"] == [{"id": "p", "full_name": "Gambir"}] and two["includes"]["media"] == []
    )
    assert timeline_payloads({"data": "nonsense", "includes": []}) == []


def test_retweets_and_the_citys_own_tweets_are_not_reports() -> None:
    def payload(**data: object) -> bytes:
        return json.dumps({"data": {"id": "1", "text": "x", "author_id": "5", **data}}).encode()

    own = frozenset({"100"})
    assert ignore_reason(read_payload(payload())[1], own) is None
    retweet = payload(referenced_tweets=[{"type": "retweeted", "id": "0"}])
    assert ignore_reason(read_payload(retweet)[1], own) == "retweet"
    quote = payload(referenced_tweets=[{"type": "quoted", "id": "0"}])
    assert ignore_reason(read_payload(quote)[1], own) is None
    assert ignore_reason(read_payload(payload(author_id="100"))[1], own) == "the city's own tweet"


def test_the_citys_accounts_file_loads_and_is_checked(tmp_path: Path) -> None:
    city = load_accounts(CITY_DIR)
    assert "DKIJakarta" in city.accounts
    (tmp_path / "twitter.yaml").write_text("accounts: ['@DKIJakarta']\n")
    with pytest.raises(ValueError, match=r"twitter.yaml: accounts\.0: String should match pattern"):
        load_accounts(tmp_path)
