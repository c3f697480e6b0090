"""Set-based writes: many rows in one INSERT whose parameters are one array per column (`unnest`), so a batch of
thousands of rows costs asyncpg's array encoding rather than SQLAlchemy's processing of every parameter (bulk
imports write contacts, their history and report rows this way). Values are given as the database takes them:
already encrypted, ids as UUIDs; JSONB values as Python objects (sent as text and cast). Python-side column
defaults (`default=uuid.uuid4`, `utcnow`) are not applied: give those values; server defaults apply.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def _array_type(table: Table, name: str) -> tuple[str, bool]:
    """The SQL array type a column's values are sent as, and whether they are JSON (sent as text)."""
    column_type = table.c[name].type
    if isinstance(column_type, postgresql.JSONB | postgresql.JSON):
        return "text[]", True
    return f"{column_type.compile(dialect=_DIALECT)}[]", False


async def insert_many(session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """INSERT every row (all with the same keys, the table's column names) in one statement; the row count."""
    if not rows:
        return 0
    names = list(rows[0])
    params: dict[str, list[Any]] = {}
    selected, arrays = [], []
    for i, name in enumerate(names):
        array_type, is_json = _array_type(table, name)
        arrays.append(f"CAST(:p{i} AS {array_type})")
        values = [row[name] for row in rows]
        if is_json:
            values = [None if v is None else json.dumps(v) for v in values]
            selected.append(f"CAST(c{i} AS jsonb)")
        else:
            selected.append(f"c{i}")
        params[f"p{i}"] = values
    columns = ", ".join(f'"{n}"' for n in names)
    aliases = ", ".join(f"c{i}" for i in range(len(names)))
    statement = text(f'INSERT INTO "{table.name}" ({columns}) SELECT {", ".join(selected)} '
                     f"FROM unnest({', '.join(arrays)}) AS v({aliases})")
    await session.execute(statement, params)
    return len(rows)
