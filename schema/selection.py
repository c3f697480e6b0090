"""What a query asked for: the field names under a path, with fragments flattened and @skip/@include honoured."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from resolvers.projection import Selection as FieldSelection


def _included(node: Any) -> bool:
    directives = getattr(node, "directives", None) or {}
    skip = directives.get("skip")
    if skip and skip.get("if"):
        return False
    include = directives.get("include")
    return not (include is not None and not include.get("if"))


def _flatten(selections: Iterable[Selection]) -> list[SelectedField]:
    out: list[SelectedField] = []
    for node in selections:
        if not _included(node):
            continue
        if isinstance(node, SelectedField):
            out.append(node)
        elif isinstance(node, FragmentSpread | InlineFragment):
            out.extend(_flatten(node.selections))
    return out


def children(fields: Sequence[SelectedField], name: str) -> list[SelectedField]:
    """The merged selections of every occurrence of `name` (aliases included) among `fields`."""
    out: list[SelectedField] = []
    for f in fields:
        if f.name == name:
            out.extend(_flatten(f.selections))
    return out


def node_fields(info: Info[Any, Any], *path: str) -> list[SelectedField]:
    """Fields selected under `path` below the current field, e.g. ("edges", "node") for a connection.

    Remembered for the request (`Context.selections`, keyed by the field's AST nodes, which live as long as the
    request's document, and `path`): a resolver of a list item (`Activity.contact` under 200 activities) asks
    the same question for every item, and Strawberry converts the whole selection anew each time
    (`info.selected_fields`: a quarter of the CPU of such a query, measured with py-spy). The variables, and so
    `@skip`/`@include`, are the request's own.
    """
    cache: dict[tuple[Any, ...], list[SelectedField]] | None = getattr(info.context, "selections", None)
    if cache is None:
        return _node_fields(info, path)
    key = (*map(id, info._raw_info.field_nodes), *path)
    found = cache.get(key)
    if found is None:
        found = cache[key] = _node_fields(info, path)
    return list(found)


def _node_fields(info: Info[Any, Any], path: tuple[str, ...]) -> list[SelectedField]:
    fields: list[SelectedField] = []
    for f in info.selected_fields:  # the nodes of the field being resolved
        fields.extend(_flatten(f.selections))
    for name in path:
        fields = children(fields, name)
    return fields


def names(fields: Iterable[SelectedField]) -> FieldSelection:
    return FieldSelection(frozenset(f.name for f in fields))


def connection_wants(info: Info[Any, Any], name: str) -> bool:
    return any(f.name == name for f in node_fields(info))
