"""Gazetteer: the kelurahan, kecamatan and kota a report's words name, at the most specific level they allow.

Compiled once from the kelurahan list (each with its kecamatan and kota, names and Kemendagri codes), then
pure and read-only.

Index. Every name is looked up in its *compact* form: casefolded words joined without the spaces,
hyphens or dots between them, so "Kebon Melati", "kebon-melati" and "kebonmelati" are one key (and
"Pal Merah" is "Palmerah", "Tj. Priok" is "tjpriok").
Each name also gets spelling variants, word by word (``WORD_VARIANTS``: kebon/kebun, pulo/pulau,
kampung/kp, pondok/pd, tanjung/tj/tg, pasar/ps, jakarta/jkt/jak, selatan/sel, ...), which gives the
spoken kota forms too ("jaksel", "jkt selatan", "jakarta timur"). A *stem* (a kelurahan name without its
compass word: "Petojo" for Petojo Utara and Petojo Selatan) names the area those kelurahan share.
Runs of three or more equal letters are squeezed first ("jaksellll").

Mentions. Text is scanned left to right for the longest key; the word before a key qualifies it:

- "kelurahan"/"kel."/"desa"/"lurah" -> only a kelurahan; "kecamatan"/"kec."/"camat" -> only a
  kecamatan; "kota"/"kodya" -> only a kota (ignored when nothing of that level has the name);
- "daerah", "wilayah", "kawasan", "sekitar", "stasiun", "pasar", ... (locative) -> any level;
- "jl."/"jalan"/"gang", or "raya" after the name -> a street named after the place: weak evidence.
- After a kelurahan/kecamatan qualifier only, one typo is forgiven (one letter missing, extra or changed)
  in names of at least ``FUZZY_MIN_CHARS`` letters, when exactly one name is that close.

Names that are everyday words ("baru", "gunung", "senen" = Monday, "Jembatan Besi", "Pasar Baru", ...)
count only when qualified (kelurahan/kecamatan/kota/locative word), or, for several words, as a street
("gang kali anyar") or written Title Case in mixed-case text.

Resolution. A mention resolves to one kelurahan when its name is unique; a kelurahan whose name is also
its kecamatan's ("Menteng", "Senen") or that several kelurahan share resolves to the kelurahan only when
another mention names its kecamatan (or, for shared names, its kota), else to the level where the
candidates meet (their common kecamatan or kota), or to nothing. Then each resolved place scores the
weights of the mentions that agree with it (itself and its named ancestors: ``WEIGHT_*``, address field
``ADDRESS_BONUS``); the best score wins, then the deeper level, the address field, the earlier mention.

Confidence (of the place at its level): kelurahan named with its qualifier or confirmed by its kecamatan
or kota ``KELURAHAN_CONFIRMED``, bare unique name ``KELURAHAN_NAMED``, street only ``STREET`` (+0.1 if
confirmed); kecamatan/kota named ``AREA_NAMED``, reached by narrowing an ambiguous name ``AREA_NARROWED``;
``FUZZY_PENALTY`` for a forgiven typo; ``CONFLICT_PENALTY`` when the same field (or the address) also
names a place elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Literal

from aduan_schemas.events import Place

Level = Literal["kelurahan", "kecamatan", "kota"]
DEPTH: dict[str, int] = {"kota": 1, "kecamatan": 2, "kelurahan": 3}

KELURAHAN_CONFIRMED = 0.8
KELURAHAN_NAMED = 0.7
AREA_NAMED = 0.7
AREA_NARROWED = 0.6
STREET = 0.4
FUZZY_PENALTY = 0.1
CONFLICT_PENALTY = 0.1
FUZZY_MIN_CHARS = 6

WEIGHT_QUALIFIED = 1.0
WEIGHT_LOCATIVE = 0.9
WEIGHT_PLAIN = 0.8
WEIGHT_STREET = 0.4
ADDRESS_BONUS = 0.2

QUALIFIERS: dict[str, Level] = {
    "kelurahan": "kelurahan",
    "kel": "kelurahan",
    "kelurhan": "kelurahan",
    "klurahan": "kelurahan",
    "kelurahn": "kelurahan",
    "desa": "kelurahan",
    "lurah": "kelurahan",
    "kecamatan": "kecamatan",
    "camat": "kecamatan",
    "kec": "kecamatan",
    "kecamtan": "kecamatan",
    "kecmatan": "kecamatan",
    "kota": "kota",
    "kotamadya": "kota",
    "kodya": "kota",
    "administrasi": "kota",
    "adm": "kota",
}
LOCATIVES = frozenset(
    {
        "daerah",
        "wilayah",
        "kawasan",
        "sekitar",
        "seputar",
        "seputaran",
        "area",
        "stasiun",
        "terminal",
        "pasar",
    }
)
STREET_BEFORE = frozenset({"jl", "jln", "jalan", "gg", "gang"})
STREET_AFTER = frozenset({"raya"})

# Interchangeable spellings of one word (Indonesian usage); every name is indexed with each of them.
WORD_VARIANTS: tuple[frozenset[str], ...] = tuple(
    frozenset(g)
    for g in (
        {"kebon", "kebun"},
        {"pulo", "pulau"},
        {"kampung", "kampong", "kp", "kpg"},
        {"pondok", "pd"},
        {"tanjung", "tj", "tg", "tanjong"},
        {"pasar", "ps", "psr"},
        {"kelapa", "klp"},
        {"kramat", "keramat"},
        {"kepulauan", "kep"},
        {"jakarta", "jkt", "jak"},
        {"selatan", "sel", "slt"},
        {"utara", "ut", "utr"},
        {"barat", "bar", "brt"},
        {"timur", "tim", "tmr"},
        {"pusat", "pus", "pst"},
    )
)
COMPASS = frozenset({"utara", "selatan", "barat", "timur"})
# Stems that are everyday words or other places ("duri" = thorn; Sukabumi is also a city elsewhere).
STEM_STOP = frozenset({"duri", "rawa", "tanjung", "kota", "sukabumi", "kebon", "pasar", "kampung"})
# Names that are everyday words: they count only when qualified (see the module docstring).
DEFAULT_COMMON_NAMES = frozenset(
    {
        "baru",
        "dukuh",
        "galur",
        "gedong",
        "gelora",
        "guntur",
        "gunung",
        "jati",
        "kamal",
        "karet",
        "kartini",
        "kenari",
        "kramat",
        "pulo",
        "rambutan",
        "setu",
        "senen",
        "selong",
        "tangki",
        "tengah",
        "bangka",
        "joglo",
        "kapuk",
        "bungur",
        "jembatan besi",
        "jembatan lima",
        "tanah tinggi",
        "kayu manis",
        "kayu putih",
        "kelapa dua",
        "kebon kelapa",
        "kebon baru",
        "sumur batu",
        "pasar baru",
        "kali anyar",
        "karang anyar",
        "batu ampar",
        "kota bambu",
        "sungai bambu",
    }
)

_SQUEEZE = re.compile(r"(\w)\1{2,}")
_WORD = re.compile(r"\w+")
_JOIN_GAP = re.compile(r"[\s.\-]*")  # "kebon-melati", "Tj. Priok"
_QUALIFIER_GAP = re.compile(r"[.:]?\s*")


def words(name: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(name.casefold()))


def compact(name: str) -> str:
    return "".join(words(name))


@dataclass(frozen=True)
class Node:
    """A kota, kecamatan or kelurahan; ``parent`` indexes ``Gazetteer.nodes`` (-1 for a kota)."""

    level: Level
    place: Place
    parent: int


@dataclass(frozen=True)
class Entry:
    node_ids: tuple[int, ...]
    stem: bool = False  # a name without its compass word: never resolves below kecamatan
    common: bool = False


@dataclass
class _Mention:
    key: str
    source: int  # 0 = address, 1 = text
    position: int
    candidates: tuple[int, ...]
    stem: bool
    qualifier: Level | Literal["locative"] | None
    street: bool
    fuzzy: bool


@dataclass(frozen=True)
class Match:
    place: Place
    level: Level
    confidence: float


@dataclass
class _Resolved:
    mention: _Mention
    node: int
    narrowed: bool  # reached by narrowing several candidates, not named as such
    confirmed: bool  # a kelurahan whose kecamatan or kota another mention names
    weight: float = field(default=0.0)


class Gazetteer:
    """The names of a city's kelurahan, kecamatan and kota, compiled for ``match`` (module docstring)."""

    def __init__(self, kelurahan: Iterable[Place], *, common_names: Iterable[str] = DEFAULT_COMMON_NAMES):
        self.nodes: list[Node] = []
        self._by_code: dict[tuple[Level, str], int] = {}
        for p in kelurahan:
            if p.kelurahan_code is None or p.kecamatan_code is None:
                raise ValueError(f"kelurahan place without codes: {p}")
            kota = self._node(
                "kota", p.kota_code, Place(level="kota", kota_code=p.kota_code, kota=p.kota), -1
            )
            kec = self._node(
                "kecamatan",
                p.kecamatan_code,
                Place(
                    level="kecamatan",
                    kota_code=p.kota_code,
                    kota=p.kota,
                    kecamatan_code=p.kecamatan_code,
                    kecamatan=p.kecamatan,
                ),
                kota,
            )
            self._node("kelurahan", p.kelurahan_code, p.model_copy(update={"level": "kelurahan"}), kec)
        self._common = frozenset(compact(n) for n in common_names)
        self._compile()

    def _node(self, level: Level, code: str, place: Place, parent: int) -> int:
        found = self._by_code.get((level, code))
        if found is None:
            found = len(self.nodes)
            self.nodes.append(Node(level, place, parent))
            self._by_code[(level, code)] = found
        return found

    def _name(self, i: int) -> str:
        p = self.nodes[i].place
        return {"kelurahan": p.kelurahan, "kecamatan": p.kecamatan, "kota": p.kota}[self.nodes[i].level] or ""

    # -- compile -----------------------------------------------------------------------------------

    def _compile(self) -> None:
        names: dict[str, set[int]] = {}
        variants: dict[str, set[int]] = {}
        for i in range(len(self.nodes)):
            ws = words(self._name(i))
            if not ws:
                continue
            names.setdefault("".join(ws), set()).add(i)
            for v in _variants(ws):
                variants.setdefault(v, set()).add(i)
        stems: dict[str, set[int]] = {}
        for i, node in enumerate(self.nodes):
            ws = words(self._name(i))
            if node.level == "kelurahan" and len(ws) > 1 and ws[-1] in COMPASS:
                for v in _variants(ws[:-1]):
                    stems.setdefault(v, set()).add(i)
        index: dict[str, Entry] = {}
        for key, ids in variants.items():
            ids = names.get(key, ids)  # a real name wins over another name's spelling variant
            common = all(compact(self._name(i)) in self._common for i in ids)
            index[key] = Entry(tuple(sorted(ids)), common=common)
        for key, ids in stems.items():
            if key not in index and key not in STEM_STOP and key not in self._common:
                index[key] = Entry(tuple(sorted(ids)), stem=True)
        self._index = index
        self._prefixes = {k[:n] for k in index for n in range(1, len(k) + 1)}
        self._lines = [frozenset(self._ancestry(i)) for i in range(len(self.nodes))]
        # One-typo lookup (after a qualifier only): every name with one letter deleted -> the names.
        deletions: dict[str, set[str]] = {}
        for key in names:
            if len(key) >= FUZZY_MIN_CHARS:
                for d in _deletions(key):
                    deletions.setdefault(d, set()).add(key)
        self._names = names
        self._deletions = deletions

    # -- match -------------------------------------------------------------------------------------

    def match(self, address_text: str | None, text: str | None) -> Match | None:
        """The most specific place the words support, or None."""
        mentions = [m for n, s in enumerate((address_text, text)) if s for m in self._mentions(s, n)]
        if not mentions:
            return None
        resolved = [r for m in mentions if (r := self._resolve(m, mentions)) is not None]
        if not resolved:
            return None
        for r in resolved:
            r.weight = _weight(r.mention)
        best = None
        for r in resolved:
            line = self._line(r.node)
            s = sum(o.weight for o in resolved if o.node in line)
            rank = (s, DEPTH[self.nodes[r.node].level], -r.mention.source, -r.mention.position)
            if best is None or rank > best[0]:
                best = (rank, r)
        assert best is not None
        chosen = best[1]
        return Match(
            self.nodes[chosen.node].place, self.nodes[chosen.node].level, self._confidence(chosen, resolved)
        )

    def _ancestry(self, i: int) -> Iterator[int]:
        while i >= 0:
            yield i
            i = self.nodes[i].parent

    def _line(self, i: int) -> frozenset[int]:
        """The node and its ancestors."""
        return self._lines[i]

    def _confidence(self, chosen: _Resolved, resolved: Sequence[_Resolved]) -> float:
        node = self.nodes[chosen.node]
        m = chosen.mention
        if node.level == "kelurahan":
            if m.street:
                c = STREET + (0.1 if chosen.confirmed else 0.0)
            elif m.qualifier == "kelurahan" or chosen.confirmed:
                c = KELURAHAN_CONFIRMED
            else:
                c = KELURAHAN_NAMED
        elif m.street:
            c = STREET
        else:
            c = AREA_NARROWED if chosen.narrowed else AREA_NAMED
        if m.fuzzy:
            c -= FUZZY_PENALTY
        line = self._line(chosen.node)
        if any(
            r.node not in line
            and chosen.node not in self._line(r.node)
            and r.mention.source in (0, chosen.mention.source)
            for r in resolved
        ):
            c -= CONFLICT_PENALTY
        return round(max(c, 0.1), 2)

    def _resolve(self, m: _Mention, mentions: Sequence[_Mention]) -> _Resolved | None:
        named: set[int] = set()
        for o in mentions:
            # The same name confirms only in the address form "Menteng, Kecamatan Menteng" (qualified,
            # after it); a repetition ("Kecamatan Makasar ... Makasar") confirms nothing.
            if o is m or o.stem:
                continue
            if o.key == m.key and not (
                o.qualifier in DEPTH and o.source == m.source and o.position > m.position
            ):
                continue
            named.update(o.candidates)
        kel = [i for i in m.candidates if self.nodes[i].level == "kelurahan"]
        areas = [i for i in m.candidates if self.nodes[i].level != "kelurahan"]

        def kec_named(i: int) -> bool:
            return self.nodes[i].parent in named

        def kota_named(i: int) -> bool:
            return bool(self._line(i) & (named - {i}))

        if kel and not m.stem:
            pool = kel
            if areas and m.qualifier != "kelurahan":
                pool = [i for i in kel if kec_named(i)]  # "Menteng" is the kecamatan unless confirmed
            if len(pool) > 1:
                confirmed = [i for i in pool if kec_named(i)] or [i for i in pool if kota_named(i)]
                if len(confirmed) == 1:
                    return _Resolved(m, confirmed[0], narrowed=False, confirmed=True)
            elif len(pool) == 1:
                return _Resolved(m, pool[0], narrowed=False, confirmed=kota_named(pool[0]))
            if areas:
                return self._narrow(m, areas, named, narrowed=False)
            return self._narrow(m, kel, named, narrowed=True)
        if m.stem:
            return self._narrow(m, kel, named, narrowed=True)
        return self._narrow(m, areas, named, narrowed=False)

    def _narrow(
        self, m: _Mention, ids: Sequence[int], named: set[int], *, narrowed: bool
    ) -> _Resolved | None:
        """The place where the candidates meet (their common kecamatan or kota), preferring candidates
        whose ancestors other mentions name."""
        if not ids:
            return None
        confirmed = [i for i in ids if self._line(i) & (named - {i})]
        pool = confirmed or list(ids)
        if len(pool) == 1 and self.nodes[pool[0]].level != "kelurahan":
            return _Resolved(m, pool[0], narrowed=narrowed, confirmed=bool(confirmed))
        lines = [self._line(i) for i in pool]
        common = frozenset.intersection(*lines) - {i for i in pool if self.nodes[i].level == "kelurahan"}
        if not common:
            return None
        deepest = max(common, key=lambda i: DEPTH[self.nodes[i].level])
        return _Resolved(m, deepest, narrowed=True, confirmed=bool(confirmed))

    def _mentions(self, s: str, source: int) -> Iterator[_Mention]:
        squeezed = _SQUEEZE.sub(r"\1", s)
        folded = squeezed.lower()
        toks = [(t.group(), t.start(), t.end()) for t in _WORD.finditer(folded)]
        mixed_case = not (squeezed.isupper() or squeezed.islower())
        i = 0
        while i < len(toks):
            found = self._longest(folded, toks, i)
            fuzzy = False
            if found is None:
                if i > 0 and toks[i - 1][0] in QUALIFIERS:  # only then is a typo worth a look
                    qualifier = self._qualifier(folded, toks, i)
                    if qualifier in ("kelurahan", "kecamatan"):
                        found = self._fuzzy(folded, toks, i)
                        fuzzy = found is not None
                if found is None:
                    i += 1
                    continue
            qualifier = self._qualifier(folded, toks, i)
            key, n = found
            entry = self._index[key]
            street = (i > 0 and toks[i - 1][0] in STREET_BEFORE) or (
                i + n < len(toks) and toks[i + n][0] in STREET_AFTER
            )
            if entry.common and qualifier is None and not (street and n > 1):
                title = len(squeezed) == len(folded) and all(
                    squeezed[a:b].istitle() for _, a, b in toks[i : i + n]
                )
                if n == 1 or not (mixed_case and title):
                    i += n
                    continue
            candidates = entry.node_ids
            if qualifier in DEPTH:
                restricted = tuple(c for c in candidates if self.nodes[c].level == qualifier)
                candidates = restricted or candidates
            yield _Mention(key, source, i, candidates, entry.stem, qualifier, street, fuzzy)
            i += n

    def _longest(self, folded: str, toks: list[tuple[str, int, int]], i: int) -> tuple[str, int] | None:
        best = None
        key = ""
        for n in range(1, len(toks) - i + 1):
            if n > 1 and not _JOIN_GAP.fullmatch(folded[toks[i + n - 2][2] : toks[i + n - 1][1]]):
                break
            key += toks[i + n - 1][0]
            if key not in self._prefixes:
                break
            if key in self._index:
                best = (key, n)
        return best

    def _fuzzy(self, folded: str, toks: list[tuple[str, int, int]], i: int) -> tuple[str, int] | None:
        """A name one typo away from the next one to three words (only after a qualifier)."""
        found: set[tuple[str, int]] = set()
        key = ""
        for n in range(1, min(3, len(toks) - i) + 1):
            if n > 1 and not _JOIN_GAP.fullmatch(folded[toks[i + n - 2][2] : toks[i + n - 1][1]]):
                break
            key += toks[i + n - 1][0]
            if len(key) < FUZZY_MIN_CHARS - 1:
                continue
            near = set(self._deletions.get(key, ()))  # a letter missing
            for d in _deletions(key):
                if d in self._names:
                    near.add(d)  # a letter extra
                near |= self._deletions.get(d, set())  # a letter changed
            near.discard(key)
            found |= {(k, n) for k in near if len(k) >= FUZZY_MIN_CHARS}
        names = {k for k, _ in found}
        if len(names) != 1:
            return None
        return max(found, key=lambda kn: kn[1])

    @staticmethod
    def _qualifier(
        folded: str, toks: list[tuple[str, int, int]], i: int
    ) -> Level | Literal["locative"] | None:
        if i == 0 or not _QUALIFIER_GAP.fullmatch(folded[toks[i - 1][2] : toks[i][1]]):
            return None
        word = toks[i - 1][0]
        if word in QUALIFIERS:
            return QUALIFIERS[word]
        if word in LOCATIVES:
            return "locative"
        return None


def _weight(m: _Mention) -> float:
    if m.street:
        w = WEIGHT_STREET
    elif m.qualifier in DEPTH:
        w = WEIGHT_QUALIFIED
    elif m.qualifier == "locative":
        w = WEIGHT_LOCATIVE
    else:
        w = WEIGHT_PLAIN
    return w + (ADDRESS_BONUS if m.source == 0 else 0.0)


def _variants(ws: Sequence[str]) -> set[str]:
    options = [next((sorted(g) for g in WORD_VARIANTS if w in g), [w]) for w in ws]
    return {"".join(p) for p in product(*options)}


def _deletions(s: str) -> set[str]:
    return {s[:k] + s[k + 1 :] for k in range(len(s))}
