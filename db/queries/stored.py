"""`column`: one stored column of a result row, by name, without building the row's mapping.

A SQLAlchemy `Row` reads a column by attribute (a `RowMapping` per lookup cost about 2.5 times as much, a
tenth of a contact copy's time); a plain mapping (tests, the import checks) by key. A column named like one of
`Row`'s own attributes (`count`, `index`, `t`...) would read that attribute instead: `check_names` refuses such
a name when a module declares its columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.engine import Row


def column(row: Row[Any] | Mapping[str, Any], name: str) -> Any:
    return getattr(row, name) if isinstance(row, Row) else row[name]


def check_names(names: Iterable[str]) -> None:
    """Raise if a column name would be read as an attribute of `Row` rather than as the column."""
    shadowed = sorted(name for name in names if hasattr(Row, name))
    if shadowed:
        raise ValueError(f"columns shadowed by Row attributes: {shadowed}")
