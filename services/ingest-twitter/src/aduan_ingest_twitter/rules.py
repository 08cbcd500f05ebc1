"""The filtered stream's rules, from the city's accounts and hashtags (``config/<city>/twitter.yaml``).

One rule per account (``@name -is:retweet -from:name``: mentions, not retweets, not the account itself)
and one per hashtag (``#tag -is:retweet``, also excluding every city account). Each rule is tagged
``aduan:mention:<name>`` or ``aduan:hashtag:<tag>``, so the service recognises its own rules: rules with
another tag (set by someone else on the same X app) are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

TAG_PREFIX = "aduan:"
MENTION_TAG = TAG_PREFIX + "mention:"
HASHTAG_TAG = TAG_PREFIX + "hashtag:"


@dataclass(frozen=True)
class Rule:
    value: str
    tag: str


@dataclass(frozen=True)
class RuleChanges:
    delete_ids: list[str]
    add: list[Rule]


def wanted_rules(accounts: list[str], hashtags: list[str]) -> list[Rule]:
    not_city = " ".join(f"-from:{a}" for a in accounts)
    rules = [Rule(f"@{a} -is:retweet -from:{a}", MENTION_TAG + a.lower()) for a in accounts]
    rules += [Rule(f"#{h} -is:retweet {not_city}".strip(), HASHTAG_TAG + h.lower()) for h in hashtags]
    return rules


def rule_changes(existing: list[dict[str, str]], wanted: list[Rule]) -> RuleChanges:
    """What to delete (our rules that are no longer wanted or changed) and add (wanted rules missing)."""
    have = {Rule(r.get("value", ""), r.get("tag", "")): r.get("id", "") for r in existing}
    ours = {rule: rid for rule, rid in have.items() if rule.tag.startswith(TAG_PREFIX)}
    return RuleChanges(
        delete_ids=sorted(rid for rule, rid in ours.items() if rule not in wanted),
        add=[r for r in wanted if r not in have],
    )


def mentioned_accounts(matching_tags: list[str]) -> list[str]:
    """The city accounts (lower-case) whose mention rule matched a streamed tweet."""
    return [t.removeprefix(MENTION_TAG) for t in matching_tags if t.startswith(MENTION_TAG)]
