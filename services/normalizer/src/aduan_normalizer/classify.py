"""Classification: a report's channel label and words -> a category code of the city's taxonomy, with a
confidence and the runner-up category.

Compiled once per taxonomy, pure afterwards.

1. Text evidence. The text is normalised by ``aduan_text.Analyzer`` (slang, repeated letters, affixes, small
   typos; see that module). Every configured word or phrase of a category (``strong``, ``keywords``,
   ``weak`` in categories.yaml) is matched on the canonical tokens, longest phrase first and without
   overlap, so "lampu lalu lintas" counts for traffic equipment and not also for "lampu". An occurrence
   scores its list's weight (``STRONG`` 3, ``KEYWORD`` 2, ``WEAK`` 1; a phrase at least the weight of its
   category's best word inside it) plus ``PHRASE_BONUS`` per extra word, times a position factor from
   ``1 + EARLY_BONUS`` (first token) down to 1 (last token): the problem a citizen names first is usually
   the main one, the rest is context ("...padahal sudah lapor ke kelurahan"). A category's occurrences are
   summed with diminishing weights (the largest counts fully, the next ``DECAY`` times, the next
   ``DECAY``^2 times, ...), so a pile of context words does not outweigh the one problem named. Place
   names listed in ``names`` ("Pasar Minggu", "Kalideres") are matched as phrases of no category, which
   hides the keyword inside them. Words within ``EMPHASIS_SPAN`` tokens after an ``emphasis`` phrase
   ("yang paling penting") weigh ``EMPHASIS`` times more; a keyword right after a ``negations`` word
   ("bukan jalannya") does not count.
2. Channel label (``category_hint``), matched case-, space- and punctuation-insensitively against the
   taxonomy's hints (per channel first). A label of a real category adds ``HINT_PRIOR`` to that category:
   strong prior evidence, which clear text evidence for another category still overrides (a "Sampah"
   report about a banner). A label of the fallback category ("Lainnya") or an unknown label adds nothing.
3. The best total wins. Confidence = top / (top + ``RIVAL_WEIGHT`` x second + ``EVIDENCE_K``): high when
   the winner has much evidence and no strong rival; 0.75 for a label alone; about 0.5 for one weak word.
   The constants were calibrated on the project's labelled development reports (bench/eval): a
   confidence of 0.5-0.6 was right about six times in ten, 0.6-0.7 nine in ten, above 0.7 nearly
   always. The second-best category (if it scored) is
   kept as the runner-up, its confidence second / the same denominator (capped so both sum to at most 1).
4. Nothing scored: the taxonomy's fallback with confidence 0 (or the fallback label's category).
"""

from __future__ import annotations

from dataclasses import dataclass

from aduan_schemas.city import Taxonomy
from aduan_text.phrases import PhraseIndex, analyzer_for

STRONG = 3.0
KEYWORD = 2.0
WEAK = 1.0
PHRASE_BONUS = 0.5
EARLY_BONUS = 0.5
DECAY = 0.5
EMPHASIS = 1.5
EMPHASIS_SPAN = 8  # tokens after an emphasis phrase that it covers
HINT_PRIOR = 3.0
EVIDENCE_K = 1.0
RIVAL_WEIGHT = 0.5


EMPHASIS_LABEL = "\0emphasis"


@dataclass(frozen=True)
class Classification:
    category: str
    confidence: float
    method: str  # "hint" (label decided, text agreed or was silent), "text", "text-over-hint", "fallback"
    runner_up: str | None = None
    runner_up_confidence: float = 0.0


class Classifier:
    """Compiled once per taxonomy; ``classify`` is then pure and cheap."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self.fallback = taxonomy.fallback
        self.analyzer = analyzer_for(taxonomy)
        # A place name is a phrase of no category: matched like the others, it hides the keyword inside.
        entries: list[tuple[tuple[str, ...], str, float]] = [
            (self.analyzer.phrase(n), "", 0.0) for n in taxonomy.names
        ]
        for c in taxonomy.categories:
            lists = ((c.strong, STRONG), (c.keywords, KEYWORD), (c.weak, WEAK))
            phrases = [(self.analyzer.phrase(w), base) for words, base in lists for w in words]
            single = {p[0]: b for p, b in sorted(phrases, key=lambda pb: pb[1]) if len(p) == 1}
            for phrase, base in phrases:
                # a phrase never weighs less than the best word of its own category inside it
                inner = max((single.get(t, 0.0) for t in phrase), default=0.0)
                entries.append((phrase, c.code, max(base, inner) + PHRASE_BONUS * (len(phrase) - 1)))
        entries += [(self.analyzer.phrase(e), EMPHASIS_LABEL, 0.0) for e in taxonomy.language.emphasis]
        self._index = PhraseIndex(entries)
        self._negations = frozenset(t for n in taxonomy.language.negations for t in self.analyzer.phrase(n))
        self._order = {c.code: i for i, c in enumerate(taxonomy.categories)}

    def classify(
        self, text: str, category_hint: str | None = None, channel: str | None = None
    ) -> Classification:
        hinted = self.taxonomy.category_for_hint(category_hint, channel)
        scores = self.scores(text)
        if hinted is not None and hinted != self.fallback:
            scores[hinted] = scores.get(hinted, 0.0) + HINT_PRIOR
        if not scores:
            if hinted is not None:  # only a fallback label: it decides, for what it is worth
                return Classification(hinted, 0.0, "hint")
            return Classification(self.fallback, 0.0, "fallback")
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], self._order.get(kv[0], 0)))
        best, top = ranked[0]
        runner, second = ranked[1] if len(ranked) > 1 else (None, 0.0)
        total = top + RIVAL_WEIGHT * second + EVIDENCE_K
        if hinted is None or hinted == self.fallback:
            method = "text"
        else:
            method = "hint" if best == hinted else "text-over-hint"
        return Classification(
            best,
            round(top / total, 3),
            method,
            runner,
            round(min(second / total, 1.0 - top / total), 3),
        )

    def scores(self, text: str) -> dict[str, float]:
        """Text evidence per category (only categories that scored)."""
        tokens = self.analyzer.tokens(text)
        n = max(len(tokens), 1)
        found: dict[str, list[float]] = {}
        emphasis_until = -1
        for pos, phrase, code, weight in self._index.matches(tokens):
            if code == EMPHASIS_LABEL:
                emphasis_until = pos + len(phrase) + EMPHASIS_SPAN
                continue
            if not code or (pos > 0 and tokens[pos - 1] in self._negations):
                continue
            w = weight * (1.0 + EARLY_BONUS * (1.0 - pos / n))
            found.setdefault(code, []).append(w * EMPHASIS if pos < emphasis_until else w)
        out: dict[str, float] = {}
        for code, parts in found.items():
            parts.sort(reverse=True)
            out[code] = sum(p * DECAY**i for i, p in enumerate(parts))
        return out
