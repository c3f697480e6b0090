"""`Kept`: a bounded, least-recently-used store of what the compiled read path builds once per decision table.

Entries are keyed by the identity of the objects they were built from (a decision table, a workspace cipher:
one per role set and policy version, one per workspace key set) plus a plain key. An entry holds those objects,
so their ids cannot be taken by new objects while it stands, and a lookup checks it found the same objects.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Kept(Generic[V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[Hashable, ...], tuple[tuple[object, ...], V]] = OrderedDict()

    def get(self, owners: tuple[object, ...], key: tuple[Hashable, ...], build: Callable[[], V]) -> V:
        """The value kept for (`owners` by identity, `key`), built by `build()` and kept when there is none."""
        full = (*map(id, owners), *key)
        found = self._entries.get(full)
        if found is not None and all(a is b for a, b in zip(found[0], owners, strict=True)):
            self._entries.move_to_end(full)
            return found[1]
        value = build()
        self._entries[full] = (owners, value)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)
