"""Compile-once caches: one compile per source object, by identity, bounded."""

from __future__ import annotations

from aduan_kit.compiled import CompiledPer


def test_compiles_once_per_object_by_identity_and_stays_bounded() -> None:
    calls: list[list[int]] = []

    def compile_(source: list[int]) -> int:
        calls.append(source)
        return sum(source)

    compiled: CompiledPer[list[int], int] = CompiledPer(compile_, size=2)
    a, b = [1, 2], [1, 2]  # equal but distinct: each is its own configuration object
    assert (compiled(a), compiled(a), compiled(b)) == (3, 3, 3)
    assert [id(x) for x in calls] == [id(a), id(b)]
    compiled([5])  # past the size the cache starts over
    compiled(a)
    assert len(calls) == 4
