"""Compile-once caches for pure domain code: one compiled object (a classifier, a router) per
configuration object.

Configuration models are frozen but hold lists, so they are not hashable: entries are keyed by the
object's identity and keep the object alive, so an id is never reused while its entry exists. A few
configurations at a time are expected (a reload makes a new one); past ``size`` the cache starts over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

S = TypeVar("S")
C = TypeVar("C")


class CompiledPer(Generic[S, C]):
    """``compiled(source)`` is ``compile(source)``, computed once per source object."""

    def __init__(self, compile: Callable[[S], C], size: int = 16) -> None:
        self._compile = compile
        self._size = size
        self._cache: dict[int, tuple[S, C]] = {}

    def __call__(self, source: S) -> C:
        cached = self._cache.get(id(source))
        if cached is None or cached[0] is not source:
            if len(self._cache) >= self._size:
                self._cache.clear()
            cached = (source, self._compile(source))
            self._cache[id(source)] = cached
        return cached[1]
