"""Geocoding: a report's GPS point or its words -> the kelurahan it is about.

Pure: a ``Geocoder`` is built once from configuration (a boundaries GeoJSON, or only the names of the
SKPD registry) and then answers from memory.

GPS (``method="gps"``):

- inside exactly one polygon: that kelurahan, confidence ``GPS_INSIDE`` (1.0);
- inside several (neighbouring polygons were simplified one by one, so they overlap a little): the one
  whose boundary is farthest from the point (the point lies deepest in it), confidence ``GPS_OVERLAP``;
- inside none (gaps between neighbours, the shore): the nearest polygon if it is within the snap
  distance (default 250 m, measured on the sphere), confidence ``GPS_SNAPPED``;
- farther than that (outside the city): no GPS answer; the text is tried next.

Text (``method="text"``), when there is no GPS answer: a kelurahan name found in ``address_text``, else in
``text`` (case-insensitive, whole words). See ``Geocoder.match_text`` for the ranking and confidences.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import shapely
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from aduan_schemas.city import SkpdLevel, SkpdRegistry
from aduan_schemas.events import Area, Geocode, GeoPoint

DEFAULT_SNAP_M = 250.0
EARTH_RADIUS_M = 6_371_008.8

GPS_INSIDE = 1.0
GPS_OVERLAP = 0.9
GPS_SNAPPED = 0.7
TEXT_STRONG = 0.6  # "kelurahan X" / "kel. X", or the kelurahan's kecamatan is named too
TEXT_WEAK = 0.5  # a bare name
TEXT_CONFLICT_PENALTY = 0.1  # the words name more than one kelurahan

KELURAHAN_WORDS = frozenset({"kelurahan", "kel", "desa"})
KECAMATAN_WORDS = frozenset({"kecamatan", "kec"})
# Kelurahan names that are also everyday Indonesian words ("baru" = new, "gunung" = mountain, ...):
# they count only in the "kelurahan X" form.
DEFAULT_COMMON_WORDS = frozenset(
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
        "tangki",
        "tengah",
    }
)
REQUIRED_PROPERTIES = ("kode_kelurahan", "kelurahan", "kecamatan", "kota")

_WORD = re.compile(r"\w+")
_PREFIX_GAP = re.compile(r"\.?\s*")
_ADMIN_PREFIX = re.compile(
    r"^(?:kota administrasi|kabupaten administrasi|kota adm\.?|kab\. adm\.?|kota|kabupaten|kecamatan|"
    r"kelurahan|desa)\s+",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Place:
    """One kelurahan: its area and, when boundaries are loaded, its polygon (lon/lat, WGS84)."""

    area: Area
    geometry: BaseGeometry | None = None


@dataclass(frozen=True)
class GeoResult:
    area: Area | None
    method: Literal["gps", "text", "none"]
    confidence: float
    distance_m: float | None = None  # GPS only: 0 inside a polygon, else the snap distance

    @property
    def geocode(self) -> Geocode:
        return Geocode(method=self.method, confidence=self.confidence)


NO_MATCH = GeoResult(area=None, method="none", confidence=0.0)


@dataclass(frozen=True)
class _Mention:
    key: tuple[str, ...]
    source: int  # 0 = address_text, 1 = text
    position: int  # token index
    prefix: Literal["kelurahan", "kecamatan"] | None


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _name_key(name: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(name.casefold()))


class Geocoder:
    """Point-in-polygon with overlap and gap handling, plus a kelurahan-name matcher for text.

    Polygons are projected once onto a local plane in metres (equirectangular around the data's mid
    latitude) and indexed in an STRtree; the final snap distance is measured on the sphere.
    Places without geometry take part in text matching only.
    """

    def __init__(
        self,
        places: Sequence[Place],
        *,
        snap_distance_m: float = DEFAULT_SNAP_M,
        common_words: Iterable[str] = DEFAULT_COMMON_WORDS,
    ) -> None:
        if snap_distance_m < 0:
            raise ValueError("snap distance must not be negative")
        self.places = list(places)
        self.snap_distance_m = snap_distance_m
        self.common_words = frozenset(w.casefold() for w in common_words)
        self._init_polygons()
        self._init_names()

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def from_geojson(cls, path: Path, **kwargs: Any) -> Geocoder:
        """Load kelurahan boundaries (a FeatureCollection with the properties in ``REQUIRED_PROPERTIES``)."""
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
            raise ValueError(f"{path.name}: not a GeoJSON FeatureCollection")
        places = []
        for n, feature in enumerate(data.get("features") or []):
            props = feature.get("properties") or {}
            missing = [p for p in REQUIRED_PROPERTIES if not props.get(p)]
            if missing:
                raise ValueError(f"{path.name}: feature {n} lacks {', '.join(missing)}")
            geom = shape(feature["geometry"])
            if not geom.is_valid:
                geom = shapely.make_valid(geom)
            area = Area(
                kelurahan_code=str(props["kode_kelurahan"]),
                kelurahan=str(props["kelurahan"]),
                kecamatan=str(props["kecamatan"]),
                kota=str(props["kota"]),
            )
            places.append(Place(area, geom))
        if not places:
            raise ValueError(f"{path.name}: no features")
        return cls(places, **kwargs)

    @classmethod
    def from_registry(cls, registry: SkpdRegistry, **kwargs: Any) -> Geocoder:
        """Names only (no polygons): the kelurahan units of the SKPD registry and their parents."""
        places = []
        for unit in registry.units:
            if unit.level != SkpdLevel.KELURAHAN or not unit.area_code:
                continue
            kec = registry.by_code.get(unit.parent) if unit.parent else None
            kota = registry.by_code.get(kec.parent) if kec is not None and kec.parent else None
            places.append(
                Place(
                    Area(
                        kelurahan_code=unit.area_code,
                        kelurahan=_ADMIN_PREFIX.sub("", unit.name),
                        kecamatan=_ADMIN_PREFIX.sub("", kec.name) if kec is not None else "",
                        kota=_ADMIN_PREFIX.sub("", kota.name) if kota is not None else "",
                    )
                )
            )
        return cls(places, **kwargs)

    def _init_polygons(self) -> None:
        indexed = [i for i, p in enumerate(self.places) if p.geometry is not None]
        self._poly_places = indexed
        self._tree: shapely.STRtree | None = None
        if not indexed:
            return
        geoms = [self.places[i].geometry for i in indexed]
        ymin = min(g.bounds[1] for g in geoms if g is not None)
        ymax = max(g.bounds[3] for g in geoms if g is not None)
        self._lat0 = math.radians((ymin + ymax) / 2)
        self._kx = EARTH_RADIUS_M * math.cos(self._lat0) * math.pi / 180
        self._ky = EARTH_RADIUS_M * math.pi / 180
        projected = np.array([shapely.transform(g, self._project_xy) for g in geoms], dtype=object)
        shapely.prepare(projected)
        self._geoms = projected
        self._boundaries = [g.boundary for g in projected]
        self._tree = shapely.STRtree(projected)

    def _project_xy(self, coords: Any) -> Any:
        return coords * np.array([self._kx, self._ky])

    def _init_names(self) -> None:
        self._kel: dict[tuple[str, ...], list[int]] = {}
        self._kec: dict[tuple[str, ...], str] = {}
        for i, p in enumerate(self.places):
            self._kel.setdefault(_name_key(p.area.kelurahan), []).append(i)
            if p.area.kecamatan:
                self._kec.setdefault(_name_key(p.area.kecamatan), p.area.kecamatan)
        self._kel.pop((), None)
        self._kec.pop((), None)
        self._max_words = max((len(k) for k in (*self._kel, *self._kec)), default=0)

    # -- queries ------------------------------------------------------------------------------------

    @property
    def gps_enabled(self) -> bool:
        return self._tree is not None

    def geocode(self, location: GeoPoint | None, address_text: str | None, text: str | None) -> GeoResult:
        """GPS first; then the words (address, then text); else ``NO_MATCH``."""
        if location is not None:
            found = self.locate(location.lat, location.lon)
            if found is not None:
                return found
        return self.match_text(address_text, text) or NO_MATCH

    def locate(self, lat: float, lon: float) -> GeoResult | None:
        """The kelurahan at a GPS point, or None (no polygons loaded, or farther than the snap distance)."""
        if self._tree is None:
            return None
        pt = Point(lon * self._kx, lat * self._ky)
        hits = self._tree.query(pt, predicate="intersects")
        if len(hits) == 1:
            return GeoResult(self._area(int(hits[0])), "gps", GPS_INSIDE, 0.0)
        if len(hits) > 1:
            best = min(
                (int(h) for h in hits),
                key=lambda h: (-self._boundaries[h].distance(pt), self._area(h).kelurahan_code),
            )
            return GeoResult(self._area(best), "gps", GPS_OVERLAP, 0.0)
        if self.snap_distance_m <= 0:
            return None
        # The plane's scale is exact at the mid latitude; the margin covers the rest of a city's extent.
        near = self._tree.query_nearest(pt, max_distance=self.snap_distance_m * 1.05 + 1, all_matches=True)
        best_m, best_h = math.inf, -1
        for h in (int(x) for x in near):
            _, on_edge = nearest_points(pt, self._geoms[h])
            d = haversine_m(lat, lon, on_edge.y / self._ky, on_edge.x / self._kx)
            if d < best_m or (
                d == best_m and self._area(h).kelurahan_code < self._area(best_h).kelurahan_code
            ):
                best_m, best_h = d, h
        if best_h < 0 or best_m > self.snap_distance_m:
            return None
        return GeoResult(self._area(best_h), "gps", GPS_SNAPPED, round(best_m, 1))

    def _area(self, tree_index: int) -> Area:
        return self.places[self._poly_places[tree_index]].area

    def match_text(self, address_text: str | None, text: str | None) -> GeoResult | None:
        """A kelurahan named in ``address_text`` (first) or ``text``; None if none can be told apart.

        - Whole words, case-insensitive; where names overlap the longest wins ("Menteng Atas" over
          "Menteng"). A name right after "kecamatan"/"kec." is a kecamatan, not a kelurahan.
        - Names that are everyday words (``common_words``) count only as "kelurahan X"/"kel. X".
        - A name several kelurahan share counts only if the kecamatan of exactly one of them is named too.
        - Ranking: "kelurahan X" form, then kecamatan also named, then longer name, then earlier.
        - Confidence ``TEXT_STRONG`` for the prefixed or kecamatan-confirmed form, else ``TEXT_WEAK``;
          minus ``TEXT_CONFLICT_PENALTY`` when the same field names other kelurahan too.
        """
        sources = [address_text or "", text or ""]
        mentions = [m for n, s in enumerate(sources) for m in self._mentions(s, n)]
        if not mentions:
            return None
        kec_mentions = [m for m in mentions if m.key in self._kec and m.prefix != "kelurahan"]
        for source in (0, 1):
            ranked: list[tuple[tuple[bool, bool, int, int], int]] = []
            for m in mentions:
                if m.source != source or m.prefix == "kecamatan" or m.key not in self._kel:
                    continue
                if m.prefix is None and len(m.key) == 1 and m.key[0] in self.common_words:
                    continue
                named_kec = {k.key for k in kec_mentions if (k.source, k.position) != (m.source, m.position)}
                candidates = self._kel[m.key]
                confirmed = [i for i in candidates if _name_key(self.places[i].area.kecamatan) in named_kec]
                if len(candidates) > 1:
                    if len(confirmed) != 1:
                        continue  # a shared name without its kecamatan: ambiguous
                    place = confirmed[0]
                else:
                    place = candidates[0]
                rank = (m.prefix == "kelurahan", bool(confirmed), len(" ".join(m.key)), -m.position)
                ranked.append((rank, place))
            if ranked:
                rank, place = max(ranked, key=lambda r: r[0])
                confidence = TEXT_STRONG if (rank[0] or rank[1]) else TEXT_WEAK
                if len({p for _, p in ranked}) > 1:
                    confidence -= TEXT_CONFLICT_PENALTY
                return GeoResult(self.places[place].area, "text", round(confidence, 2))
        return None

    def _mentions(self, s: str, source: int) -> list[_Mention]:
        """Every known name in ``s``, longest first where names overlap, with the word before it."""
        if not s:
            return []
        folded = s.casefold()
        toks = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(folded)]
        out: list[_Mention] = []
        i = 0
        while i < len(toks):
            for n in range(min(self._max_words, len(toks) - i), 0, -1):
                key = tuple(t[0] for t in toks[i : i + n])
                if (key in self._kel or key in self._kec) and all(
                    folded[toks[k][2] : toks[k + 1][1]].isspace() for k in range(i, i + n - 1)
                ):
                    out.append(_Mention(key, source, i, self._prefix(folded, toks, i)))
                    i += n
                    break
            else:
                i += 1
        return out

    @staticmethod
    def _prefix(
        folded: str, toks: list[tuple[str, int, int]], i: int
    ) -> Literal["kelurahan", "kecamatan"] | None:
        if i == 0 or not _PREFIX_GAP.fullmatch(folded[toks[i - 1][2] : toks[i][1]]):
            return None
        word = toks[i - 1][0]
        if word in KELURAHAN_WORDS:
            return "kelurahan"
        if word in KECAMATAN_WORDS:
            return "kecamatan"
        return None
