"""Scalar overrides: a DateTime input must say which instant it means (a UTC offset such as `Z` or `+08:00`).

Strawberry's DateTime accepts naive values ("2024-05-06T09:00:00"), which are ambiguous (Hong Kong or
UTC?) and cannot be compared with the aware times the API stores, so they are refused as bad input.
The name and description are Strawberry's own: the SDL does not change.
"""

from __future__ import annotations

import datetime as dt

import dateutil.parser
from strawberry.schema.types.base_scalars import DateTimeDefinition, wrap_parser
from strawberry.types.scalar import ScalarDefinition


def _aware(value: str) -> dt.datetime:
    parsed = dateutil.parser.isoparse(value)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("it needs a UTC offset, e.g. 2024-05-06T01:00:00Z or 2024-05-06T09:00:00+08:00")
    return parsed


AWARE_DATETIME = ScalarDefinition(
    name=DateTimeDefinition.name,
    description=DateTimeDefinition.description,
    specified_by_url=DateTimeDefinition.specified_by_url,
    serialize=DateTimeDefinition.serialize,
    parse_value=wrap_parser(_aware, "DateTime"),
    parse_literal=None,
    origin=dt.datetime,
)
SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {dt.datetime: AWARE_DATETIME}
