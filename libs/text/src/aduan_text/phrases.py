"""Phrase matching over canonical tokens, and the analyzer of a taxonomy's language.

Shared by the normalizer's classifier (category evidence) and the router's rules (routing words), so a
routing word reads exactly like a category keyword.
"""

from __future__ import annotations

from aduan_schemas.city import Taxonomy
from aduan_text.analyzer import Analyzer


def taxonomy_vocabulary(taxonomy: Taxonomy) -> list[str]:
    lang = taxonomy.language
    words = (p for c in taxonomy.categories for p in (*c.strong, *c.keywords, *c.weak))
    return [*taxonomy.names, *lang.emphasis, *lang.negations, *lang.accounts.values(), *words]


def analyzer_for(taxonomy: Taxonomy, extra_vocabulary: list[str] | None = None) -> Analyzer:
    """The text analyzer of a taxonomy's language, knowing its keywords (and ``extra_vocabulary``)."""
    lang = taxonomy.language
    return Analyzer(
        [*taxonomy_vocabulary(taxonomy), *(extra_vocabulary or [])],
        lang.slang,
        lang.keep,
        lang.counters,
        lang.numbers,
        lang.money_units,
        lang.money_word,
        lang.accounts,
    )


class PhraseIndex:
    """Phrases (tuples of canonical tokens) with a label and weight, matched longest first, no overlap.

    Indexed by first token, then by length (longest first), then by the whole phrase: at a position one
    dictionary look-up per length replaces a scan over every phrase that starts with the token.
    """

    def __init__(self, entries: list[tuple[tuple[str, ...], str, float]]) -> None:
        best: dict[tuple[tuple[str, ...], str], float] = {}
        for phrase, label, weight in entries:
            if phrase:
                best[(phrase, label)] = max(weight, best.get((phrase, label), 0.0))
        by_size: dict[str, dict[int, dict[tuple[str, ...], list[tuple[str, float]]]]] = {}
        for (phrase, label), weight in best.items():
            sizes = by_size.setdefault(phrase[0], {})
            sizes.setdefault(len(phrase), {}).setdefault(phrase, []).append((label, weight))
        self._by_first: dict[str, list[tuple[int, dict[tuple[str, ...], list[tuple[str, float]]]]]] = {
            first: sorted(sizes.items(), key=lambda kv: -kv[0]) for first, sizes in by_size.items()
        }

    def matches(self, tokens: tuple[str, ...]) -> list[tuple[int, tuple[str, ...], str, float]]:
        """(position, phrase, label, weight) of every match; at one position all labels of the longest
        matching phrase count."""
        out: list[tuple[int, tuple[str, ...], str, float]] = []
        i, n = 0, len(tokens)
        by_first = self._by_first
        while i < n:
            step = 1
            for size, phrases in by_first.get(tokens[i], ()):
                if i + size > n:
                    continue
                phrase = tokens[i : i + size]
                labels = phrases.get(phrase)
                if labels is not None:
                    out.extend((i, phrase, label, weight) for label, weight in labels)
                    step = size
                    break
            i += step
        return out

    def any_of(self, tokens: tuple[str, ...], labels: set[str] | None = None) -> set[str]:
        """Labels of the phrases found anywhere in ``tokens`` (overlaps allowed)."""
        found: set[str] = set()
        n = len(tokens)
        for i, tok in enumerate(tokens):
            for size, phrases in self._by_first.get(tok, ()):
                if i + size > n:
                    continue
                for label, _ in phrases.get(tokens[i : i + size], ()):
                    if labels is None or label in labels:
                        found.add(label)
        return found
