"""Classification: a report's channel label and words -> one category code of the city's taxonomy.

1. The channel's own label (``category_hint``, e.g. the category a citizen picked in Qlue) matched,
   case-insensitively and with whitespace trimmed, against the taxonomy's ``hints``: confidence
   ``HINT_CONFIDENCE``. A label that maps to the fallback category ("Lainnya") says little, so the words
   are tried first and the label only decides when they find nothing.
2. Keyword scoring over the text: every whole-word or whole-phrase occurrence of a category's keyword
   scores the keyword's word count (a phrase such as "tumpukan sampah" says more than "got"). The best
   score wins; confidence grows with the margin over the runner-up, from ``KEYWORD_MIN`` (a tie, broken
   by taxonomy order) to ``KEYWORD_MAX`` (no competitor).
3. Otherwise the taxonomy's fallback category with confidence 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aduan_schemas.city import Taxonomy

HINT_CONFIDENCE = 0.95
KEYWORD_MIN = 0.5
KEYWORD_MAX = 0.8


@dataclass(frozen=True)
class Classification:
    category: str
    confidence: float
    method: str  # "hint", "keywords" or "fallback"


def _fold(s: str) -> str:
    return " ".join(s.casefold().split())


class Classifier:
    """Compiled once per taxonomy; ``classify`` is then pure and cheap."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self.fallback = taxonomy.fallback
        self._hints: dict[str, str] = {}
        for c in taxonomy.categories:
            for h in c.hints:
                self._hints.setdefault(_fold(h), c.code)
        self._keywords: list[tuple[str, list[tuple[re.Pattern[str], int]]]] = []
        for c in taxonomy.categories:
            patterns = []
            for kw in dict.fromkeys(_fold(k) for k in c.keywords if k.strip()):
                body = r"\s+".join(re.escape(w) for w in kw.split())
                patterns.append((re.compile(rf"(?<!\w){body}(?!\w)"), len(kw.split())))
            if patterns:
                self._keywords.append((c.code, patterns))

    def classify(self, text: str, category_hint: str | None = None) -> Classification:
        hinted = self._hints.get(_fold(category_hint)) if category_hint else None
        if hinted is not None and hinted != self.fallback:
            return Classification(hinted, HINT_CONFIDENCE, "hint")
        scored = self.scores(text)
        if scored:
            ranked = sorted(scored.items(), key=lambda kv: -kv[1])  # stable: ties keep taxonomy order
            best, top = ranked[0]
            runner_up = ranked[1][1] if len(ranked) > 1 else 0
            margin = (top - runner_up) / top
            return Classification(
                best, round(KEYWORD_MIN + (KEYWORD_MAX - KEYWORD_MIN) * margin, 3), "keywords"
            )
        if hinted is not None:
            return Classification(hinted, HINT_CONFIDENCE, "hint")
        return Classification(self.fallback, 0.0, "fallback")

    def scores(self, text: str) -> dict[str, int]:
        """Keyword score per category (only categories that scored), in taxonomy order."""
        folded = text.casefold()
        out: dict[str, int] = {}
        for code, patterns in self._keywords:
            score = sum(weight * len(p.findall(folded)) for p, weight in patterns)
            if score:
                out[code] = score
        return out
