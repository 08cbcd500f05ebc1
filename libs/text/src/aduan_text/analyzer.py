"""Text normalisation for complaint Indonesian: a report's words -> a tuple of canonical tokens.

Built once per vocabulary (the words the caller looks for: category keywords, routing words), pure and
memoised afterwards. For each report:

1. Casefold; drop URLs, e-mail addresses and @mentions (noise), except the city's known ``accounts``,
   which read as what they stand for ("@LRTJakarta" -> "lrt"); a hashtag keeps its word; a digit 2 glued
   to a word is Indonesian reduplication, written out like its hyphen form ("gorong2" -> "gorong gorong",
   as "gorong-gorong"); hyphens split words; an amount of money ("300rb", "Rp 50.000", "1 juta") becomes
   the ``money_word`` ("uang"), so "diminta 300rb" reads "minta uang".
2. Tokens are runs of letters and digits. Each token then:
   a. letters repeated three or more times are folded to two and to one ("parahhhh", "gakkk"); the first
      variant that is a known word (vocabulary, slang or ``keep``) wins, else the one-letter fold. A word
      with doubled letters that is unknown is tried with them single ("sampahh" -> "sampah").
   b. slang and abbreviations are expanded from the city's ``slang`` table ("gk" -> "tidak",
      "rs" -> "rumah sakit"): one token may become several.
   c. a token of the vocabulary stays as it is. Otherwise the light stemmer proposes stems, least
      stripped first: suffixes -nya, -kan, -an, -in (colloquial), -i and prefixes di-, ter-, ber-, ke-,
      se-, per-, and me-/pe- with their nasal forms (mem-/pem- restore p, men-/pen- restore t,
      meng-/peng- restore k, meny-/peny- restore s; every reading is tried), and colloquial nasal
      prefixes ("numpuk" -> "tumpuk", "ngangkut" -> "angkut"), up to two prefixes. A word one of whose
      stems is a ``keep`` word outside the vocabulary is left alone ("memohon" is mohon, not pohon);
      otherwise the first stem in the vocabulary wins ("tergenang" -> "genang", "berserakan" -> "serak",
      "dipangkas" -> "pangkas"). A vocabulary word whose own stem is in the vocabulary stands for that
      stem ("kebanjiran" -> "banjir").
   d. still unknown and run together from two vocabulary words (a hashtag such as "#jalanrusak"): the
      two words. Written without some vowels ("smpah", "parkr"): the one vocabulary word with the same
      first letter and consonants, if no other known word shares them. Else, at least ``TYPO_MIN_LEN``
      letters and not a ``keep`` word: a vocabulary word at edit distance one (one letter added,
      dropped, changed, or two swapped) with the same first letter, when exactly one exists ("smapah" ->
      "sampah"). Common words that are one letter from a keyword are listed in ``keep`` ("sampai" is
      not "sampah").
   e. otherwise the token stays as it is: words nobody looks for need no stem.
3. A ``counters`` word right after a number is a count and is dropped ("sudah 3 kali lapor": "kali" is
   not a river there).

Only words of the vocabulary are ever stemmed or corrected, so the stemmer needs no dictionary of its
own and cannot over-stem a word into something the caller does not look for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

TYPO_MIN_LEN = 6
SKELETON_MIN = 4  # letters of a skeleton (first letter + consonants) worth matching
MEMO_LIMIT = 50_000  # distinct tokens remembered before the memo is cleared

_NOISE = re.compile(r"https?://\S+|www\.\S+|\S+@\S+\.\w+")
_MENTION = re.compile(r"@(\w+)")
_REDUP = re.compile(r"\b([^\W\d_]{2,})2(?!\w)")
_TOKEN = re.compile(r"[^\W_]+")
_RUN3 = re.compile(r"([^\W\d_])\1{2,}")
_RUN2 = re.compile(r"([^\W\d_])\1")
_DIGIT = re.compile(r"\d")  # what every money pattern needs

_SUFFIXES = ("nya", "kan", "an", "in", "i")  # "-in" is Jakarta's colloquial "-kan" ("bersihin")
_PLAIN_PREFIXES = ("di", "ter", "ber", "ke", "se", "per")
# (prefix, letters restored at the start of the stem), longest first; "" restores nothing.
_NASAL_PREFIXES = (
    ("meny", ("s",)),
    ("peny", ("s",)),
    ("meng", ("", "k")),
    ("peng", ("", "k")),
    ("mem", ("p", "")),
    ("pem", ("p", "")),
    ("men", ("t", "")),
    ("pen", ("t", "")),
    ("me", ("",)),
    ("pe", ("",)),
    # colloquial (Jakarta) verb prefixes: "nyapu", "ngangkut", "ngecor", "numpuk"
    ("nge", ("",)),
    ("ny", ("s", "c")),
    ("ng", ("", "k")),
    ("n", ("t",)),
)
_MIN_STEM = 3
_VOWELS = re.compile(r"[aeiou]")


def _suffix_variants(word: str) -> list[str]:
    out = [word]
    if word.endswith("nya") and len(word) - 3 >= _MIN_STEM:
        out.append(word[:-3])
    for w in list(out):
        for suf in _SUFFIXES[1:]:  # "-kan" and "-an" both tried: "berserakan" is ber-serak-an
            if w.endswith(suf) and len(w) - len(suf) >= _MIN_STEM:
                out.append(w[: -len(suf)])
    return out


# The prefixes by first letter, each in the order above: most words start with none of them.
_PLAIN_BY_FIRST = {c: tuple(p for p in _PLAIN_PREFIXES if p[0] == c) for c in {p[0] for p in _PLAIN_PREFIXES}}
_NASAL_BY_FIRST = {
    c: tuple(p for p in _NASAL_PREFIXES if p[0][0] == c) for c in {p[0][0] for p in _NASAL_PREFIXES}
}


def _prefix_variants(word: str) -> list[str]:
    out = []
    first = word[:1]
    for pre in _PLAIN_BY_FIRST.get(first, ()):
        if word.startswith(pre) and len(word) - len(pre) >= _MIN_STEM:
            out.append(word[len(pre) :])
    for pre, restores in _NASAL_BY_FIRST.get(first, ()):  # every reading: "memohon" is me-mohon
        if word.startswith(pre) and len(word) - len(pre) >= _MIN_STEM - 1:
            rest = word[len(pre) :]
            out.extend(r + rest for r in restores if len(r + rest) >= _MIN_STEM)
    return out


def stem_candidates(word: str) -> list[str]:
    """Possible stems of ``word``, least stripped first (the word itself first)."""
    seen: dict[str, None] = {}
    suffixed = _suffix_variants(word)
    for s in suffixed:
        seen.setdefault(s, None)
    for s in suffixed:
        for p in _prefix_variants(s):
            seen.setdefault(p, None)
            for p2 in _prefix_variants(p):
                seen.setdefault(p2, None)
                for s2 in _suffix_variants(p2)[1:]:
                    seen.setdefault(s2, None)
            for s2 in _suffix_variants(p)[1:]:
                seen.setdefault(s2, None)
    return list(seen)


def _skeleton(word: str) -> str:
    return word[:1] + _VOWELS.sub("", word[1:])


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


class Analyzer:
    """Slang, repeated letters, affixes and small typos folded towards a vocabulary."""

    def __init__(
        self,
        vocabulary: Iterable[str],
        slang: Mapping[str, str] | None = None,
        keep: Iterable[str] = (),
        counters: Iterable[str] = (),
        numbers: Iterable[str] = (),
        money_units: Iterable[str] = (),
        money_word: str = "uang",
        accounts: Mapping[str, str] | None = None,
    ) -> None:
        self.accounts = {k.casefold().lstrip("@"): f" {v.casefold()} " for k, v in (accounts or {}).items()}
        units = sorted((re.escape(u.casefold()) for u in money_units), key=len, reverse=True)
        self._money = (
            re.compile(
                rf"(?<!\w)(?:(?:{'|'.join(units)})\.?\s*\d[\d.,]*(?!\w)|\d[\d.,]*\s*(?:{'|'.join(units)})(?!\w))"
            )
            if units
            else None
        )
        self.money_word = money_word.casefold()
        self.counters = frozenset(w.casefold() for w in counters)
        self.numbers = frozenset(w.casefold() for w in numbers)
        self.slang: dict[str, tuple[str, ...]] = {
            k.casefold(): tuple(_TOKEN.findall(v.casefold())) for k, v in (slang or {}).items()
        }
        self.keep = frozenset(w.casefold() for w in keep)
        vocab: set[str] = set()
        for phrase in vocabulary:
            for tok in _TOKEN.findall(phrase.casefold()):
                vocab.update(self.slang.get(tok, (tok,)))
        self.vocabulary = frozenset(vocab)
        # A vocabulary word whose stem is also in the vocabulary stands for that stem ("kebanjiran" ->
        # "banjir"), so every inflected form of a configured word meets the same token.
        self._root: dict[str, str] = {}
        for w in vocab:
            if w in self.keep:
                continue
            stems = [c for c in stem_candidates(w)[1:] if c in vocab]
            if stems:
                self._root[w] = min(stems, key=len)
        self._known = self.vocabulary | self.keep | frozenset(self.slang)
        self._typos: dict[str, set[str]] = {}
        for w in self.vocabulary:
            if len(w) >= TYPO_MIN_LEN and not w.isdigit():
                for key in (w, *_deletes(w)):
                    self._typos.setdefault(key, set()).add(w)
        # Vowel-dropped spellings ("smpah", "parkr"): first letter + the consonants, when only one
        # known word (vocabulary or ``keep``) has that skeleton.
        skeletons: dict[str, set[str]] = {}
        for w in self.vocabulary | self.keep:
            if w.isalpha() and len(_skeleton(w)) >= SKELETON_MIN:
                skeletons.setdefault(_skeleton(w), set()).add(w)
        self._skeletons = {k: next(iter(v)) for k, v in skeletons.items() if len(v) == 1}
        self._memo: dict[str, tuple[str, ...]] = {}

    def tokens(self, text: str) -> tuple[str, ...]:
        """The canonical tokens of a text (see the module docstring)."""
        # Each substitution runs only when its pattern can match (a cheap test first): most reports
        # have no URL, mention, "2" or digit, and the regex scans cost more than the rest of the text.
        s = text.casefold()
        if "@" in s:
            s = _MENTION.sub(lambda m: self.accounts.get(m.group(1), " "), _NOISE.sub(" ", s))
        elif "://" in s or "www." in s:
            s = _NOISE.sub(" ", s)
        if "#" in s:
            s = s.replace("#", " ")
        if "2" in s:
            s = _REDUP.sub(r"\1 \1", s)
        if self._money is not None and _DIGIT.search(s):
            s = self._money.sub(f" {self.money_word} ", s)
        out: list[str] = []
        memo = self._memo
        for raw in _TOKEN.findall(s):
            got = memo.get(raw)
            if got is None:
                if len(memo) >= MEMO_LIMIT:
                    memo.clear()
                got = memo[raw] = self._token(raw)
            if got and got[0] in self.counters and out and (out[-1].isdigit() or out[-1] in self.numbers):
                continue  # "3 kali", "beberapa kali": a count, not the noun
            out.extend(got)
        return tuple(out)

    def phrase(self, phrase: str) -> tuple[str, ...]:
        """A configured word or phrase in the same canonical form as report text."""
        return self.tokens(phrase)

    def _token(self, raw: str) -> tuple[str, ...]:
        word = self._unrepeat(raw)
        expanded = self.slang.get(word, (word,))
        return tuple(t for w in expanded for t in self._canonical(w).split())

    def _unrepeat(self, word: str) -> str:
        if word in self._known:
            return word
        if _RUN3.search(word):
            two, one = _RUN3.sub(r"\1\1", word), _RUN3.sub(r"\1", word)
            for v in (two, one, _RUN2.sub(r"\1", two)):
                if v in self._known or self._stem(v) is not None:
                    return v
            return one
        if _RUN2.search(word):
            single = _RUN2.sub(r"\1", word)
            if single in self._known:
                return single
        return word

    def _stem(self, word: str) -> str | None:
        cands = stem_candidates(word)
        if any(c in self.keep and c not in self.vocabulary for c in cands):
            return None  # a form of a common word ("memohon" is mohon, however close to "pohon")
        for cand in cands:
            if cand in self.vocabulary:
                return self._root.get(cand, cand)
        return None

    def _canonical(self, word: str) -> str:
        if word in self.keep or word.isdigit():
            return word
        if word in self.vocabulary:
            return self._root.get(word, word)
        stem = self._stem(word)
        if stem is not None:
            return stem
        if len(word) >= 2 * _MIN_STEM + 2:  # hashtags and run-together words: "#jalanrusak"
            for i in range(_MIN_STEM, len(word) - _MIN_STEM + 1):
                head, tail = word[:i], word[i:]
                if head in self.vocabulary and tail in self.vocabulary:
                    return f"{self._root.get(head, head)} {self._root.get(tail, tail)}"
        target = self._skeletons.get(_skeleton(word)) if word.isalpha() else None
        if target is not None and target in self.vocabulary and len(word) < len(target):
            return self._root.get(target, target)
        if len(word) >= TYPO_MIN_LEN:
            found: set[str] = set(self._typos.get(word, ()))
            for d in _deletes(word):
                found.update(self._typos.get(d, ()))
            found = {w for w in found if w[0] == word[0]}
            if len(found) == 1:
                return found.pop()
        return word
