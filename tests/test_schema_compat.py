"""The checked-in SDL has no breaking change against main's (at the merge-base): clients can rely on it."""

from __future__ import annotations

import re

import pytest

from schema import compat
from schema.root import sdl


def test_no_breaking_change_against_main() -> None:
    try:
        base = compat.sdl_at(compat.base_ref())
    except LookupError as exc:  # a source tarball without git history
        pytest.skip(str(exc))
    changes = compat.breaking_changes(base, (compat.ROOT / compat.SDL_PATH).read_text())
    assert changes == [], "breaking schema changes (deprecate instead, see CHANGELOG.md):\n" + "\n".join(changes)


def test_the_check_catches_a_removed_field_and_a_removed_enum_value() -> None:
    current = sdl()
    removed_field = re.sub(r'\n\n  """[^"]*"""\n  totalCount: Int\n', "\n", current, count=1)
    removed_value = current.replace("  RUNNING\n  SUCCEEDED\n", "  RUNNING\n", 1)
    assert removed_field != current and removed_value != current
    assert any("totalCount" in c and c.startswith("FIELD_REMOVED") for c in compat.breaking_changes(current,
                                                                                                    removed_field))
    assert any("SUCCEEDED" in c for c in compat.breaking_changes(current, removed_value))
    assert compat.breaking_changes(current, current + '\n"""A new type is not breaking."""\ntype Extra { a: Int }\n') \
        == []
