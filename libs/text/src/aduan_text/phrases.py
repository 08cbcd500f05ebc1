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
    """Phrases (tuples of canonical tokens) with a label and weight, matched longest first, no overlap."""

    def __init__(self, entries: list[tuple[tuple[str, ...], str, float]]) -> None:
        best: dict[tuple[tuple[str, ...], str], float] = {}
        for phrase, label, weight in entries:
            if phrase:
                best[(phrase, label)] = max(weight, best.get((phrase, label), 0.0))
        self._by_first: dict[str, list[tuple[tuple[str, ...], str, float]]] = {}
        for (phrase, label), weight in best.items():
            self._by_first.setdefault(phrase[0], []).append((phrase, label, weight))
        for cands in self._by_first.values():
            cands.sort(key=lambda c: -len(c[0]))

    def matches(self, tokens: tuple[str, ...]) -> list[tuple[int, tuple[str, ...], str, float]]:
        """(position, phrase, label, weight) of every match; at one position all labels of the longest
        matching phrase count."""
        out = []
        i, n = 0, len(tokens)
        while i < n:
            cands = self._by_first.get(tokens[i])
            step = 1
            if cands:
                longest = 0
                for phrase, label, weight in cands:
                    size = len(phrase)
                    if size < longest:
                        break
                    if tokens[i : i + size] == phrase:
                        longest = size
                        out.append((i, phrase, label, weight))
                step = max(longest, 1)
            i += step
        return out

    def any_of(self, tokens: tuple[str, ...], labels: set[str] | None = None) -> set[str]:
        """Labels of the phrases found anywhere in ``tokens`` (overlaps allowed)."""
        found: set[str] = set()
        for i, tok in enumerate(tokens):
            for phrase, label, _ in self._by_first.get(tok, ()):
                if (labels is None or label in labels) and tokens[i : i + len(phrase)] == phrase:
                    found.add(label)
        return found
