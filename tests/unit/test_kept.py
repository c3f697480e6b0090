"""resolvers.reads.kept.Kept: built once per (owners by identity, key), least recently used dropped first."""

from __future__ import annotations

from collections.abc import Callable

from resolvers.reads.kept import Kept


class Owner:
    pass


def test_kept_values_are_built_once_per_owner_and_key_and_bounded() -> None:
    kept: Kept[str] = Kept(2)
    built: list[str] = []

    def make(value: str) -> Callable[[], str]:
        def build() -> str:
            built.append(value)
            return value

        return build

    a, b = Owner(), Owner()
    assert kept.get((a,), ("x",), make("ax")) == "ax"
    assert kept.get((a,), ("x",), make("again")) == "ax"  # kept
    assert kept.get((b,), ("x",), make("bx")) == "bx"  # another owner, same key
    assert kept.get((a,), ("x",), make("again")) == "ax"  # touched: b's entry is now the oldest
    assert kept.get((a,), ("y",), make("ay")) == "ay"  # over the bound: b's entry goes
    assert len(kept) == 2
    assert kept.get((b,), ("x",), make("bx2")) == "bx2"
    assert built == ["ax", "bx", "ay", "bx2"]


def test_an_entry_is_not_handed_to_a_new_owner_with_the_old_ones_id() -> None:
    kept: Kept[str] = Kept(4)
    first = Owner()
    kept.get((first,), (), lambda: "first")
    impostor = Owner()
    # Simulate an id reused by a new object: the entry's owner is compared by identity, not by id alone.
    full = next(iter(kept._entries))
    kept._entries[(id(impostor),)] = kept._entries.pop(full)
    assert kept.get((impostor,), (), lambda: "new") == "new"
