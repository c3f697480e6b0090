"""`db.queries.stored`: a result row's column by name, and the refusal of names a `Row` attribute would shadow."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from db.queries import activities, contacts, stored


def test_a_column_is_read_from_a_row_by_attribute_and_from_a_mapping_by_key() -> None:
    with create_engine("sqlite://").connect() as connection:
        row = connection.execute(text("select 7 as id, 'Chan' as last_name, null as body")).one()
    assert [stored.column(row, name) for name in ("id", "last_name", "body")] == [7, "Chan", None]
    assert stored.column({"id": 7, "last_name": "Chan"}, "last_name") == "Chan"
    with pytest.raises(AttributeError):
        stored.column(row, "first_name")


def test_names_a_row_attribute_would_shadow_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\['count', 'index'\]"):
        stored.check_names(["subject", "index", "count"])
    stored.check_names(["subject", "amount_cents"])


def test_the_declared_columns_are_read_as_columns() -> None:
    stored.check_names(activities.PLAIN_COLUMNS.values())
    stored.check_names(contacts.PLAIN_COLUMNS.values())
