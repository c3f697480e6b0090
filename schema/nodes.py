"""Relay building blocks: the Node interface, connections with totalCount, and building types from records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry

from authz.errors import AccessDenied
from resolvers.pagination import Page
from resolvers.projection import DENIED, Record
from schema.ids import to_global


class FieldDenied(AccessDenied):
    """A denied non-null field: its error nulls the parent; it is audited already (no DENIED event again)."""


@strawberry.interface(description="An object with a Relay global ID.")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


NodeT = TypeVar("NodeT")


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT | None = strawberry.field(description="Null when a field it may not read was selected and is non-null.")


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo
    total_count: int | None = strawberry.field(description="Counted with the same record scope as the edges.")


def connection(page: Page[Any], wrap: Callable[[Any], Any]) -> Any:
    edges = [Edge(cursor=c, node=wrap(item)) for item, c in zip(page.items, page.cursors, strict=True)]
    info = PageInfo(
        has_next_page=page.has_next,
        has_previous_page=False,
        start_cursor=page.cursors[0] if page.cursors else None,
        end_cursor=page.end_cursor,
    )
    return Connection(edges=edges, page_info=info, total_count=page.total)


T = TypeVar("T")


def from_record(cls: type[T], record: Record, fields: dict[str, str]) -> T:
    """Build a Strawberry object from a record's decided values without running per-field code.

    `fields` maps GraphQL names to attribute names; fields not requested stay None (never resolved).
    """
    obj = cls.__new__(cls)
    values = record.values
    attrs = {attr: values.get(graphql_name) for graphql_name, attr in fields.items()}
    attrs["id"] = to_global(cls.__name__, record.id)
    attrs["record"] = record
    obj.__dict__.update(attrs)
    return obj


def guarded(record: Record, name: str, entity: str) -> Any:
    value = record.values.get(name)
    if value is DENIED:
        raise FieldDenied(f"not allowed to read {entity}.{name}", field=name)
    return value


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def plain_fields(cls: type) -> dict[str, str]:
    """GraphQL name -> attribute, for the attributes a record fills (resolved fields excluded)."""
    return {camel(name): name for name in cls.__annotations__ if name not in ("id", "record")}
