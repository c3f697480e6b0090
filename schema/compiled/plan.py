"""Compile a GraphQL operation into a plan for the compiled read path, or say it does not qualify.

A plan covers `contacts(first, after, filter, orderBy)` (a connection: `edges { cursor node }`, `pageInfo`,
`totalCount`, `__typename`) and `contact(id)`, as the only root field, selecting the contact's stored scalar
fields (`schema.contacts.CONTACT_FIELDS`), `id`, `stage`, `vip`, `createdAt`, `updatedAt` and `__typename`,
aliases allowed. Anything else (fragments, directives, a response key given twice, relations, another root
field, several root fields) gets no plan: Strawberry's executor answers it.

The plan is GraphQL shape only: which keys, in which order, hold which value, serialised by the field's own
GraphQL type (`serialize`, as graphql-core completes a leaf). The reads themselves, with their record scope,
field decisions and audit, are the resolvers' (`schema.contacts.contacts_page` / `read_contact`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_operation_ast,
)

from authz.fields import NON_NULL_FIELDS
from resolvers.codegen import FunctionSource
from resolvers.pagination import Page
from resolvers.projection import Record
from resolvers.projection import Selection as FieldSelection
from schema.contacts import CONTACT_FIELDS
from schema.enums import ContactStage
from schema.ids import to_global

TYPENAME = "__typename"
ENTITY = "contact"
# Fields a contact resolves from its record beyond the plain attributes, with the value they resolve to.
GUARDED: dict[str, Callable[[Any], Any]] = {
    "stage": ContactStage,
    "vip": bool,
    "createdAt": lambda value: value,
    "updatedAt": lambda value: value,
}
PAGE_INFO = {
    "hasNextPage": lambda page: page.has_next,
    "hasPreviousPage": lambda page: False,
    "startCursor": lambda page: page.cursors[0] if page.cursors else None,
    "endCursor": lambda page: page.end_cursor,
}


class NotCompiled(Exception):
    """The value cannot be produced as the plain executor would (a null in a non-null field): fall back."""


Getter = Callable[[Record], Any]


def _leaf(definition: GraphQLField, read: Getter) -> Getter:
    """A leaf's value as graphql-core completes it: null stays null (refused when non-null), else `serialize`."""
    non_null = isinstance(definition.type, GraphQLNonNull)
    leaf = get_named_type(definition.type)
    assert isinstance(leaf, GraphQLScalarType | GraphQLEnumType)
    serialize = leaf.serialize
    # Values graphql-core's built-in scalars return unchanged: skip the call (a str for String/ID, a bool for
    # Boolean, a 32-bit int for Int); anything else goes through `serialize`.
    same: type | None = {"String": str, "ID": str, "Boolean": bool, "Int": int}.get(leaf.name)

    def get(record: Record) -> Any:
        value = read(record)
        if value is None:
            if non_null:
                raise NotCompiled
            return None
        if type(value) is same and (same is not int or -(2**31) <= value < 2**31):  # type: ignore[operator]
            return value
        out = serialize(value)
        if out is None:
            raise NotCompiled
        return out

    return get


def _plain(name: str) -> Getter:
    return lambda record: record.values.get(name)


def _guarded(name: str, convert: Callable[[Any], Any]) -> Getter:
    def read(record: Record) -> Any:
        value = record.values.get(name)
        return None if value is None else convert(value)

    return read


def _contact_id(record: Record) -> str:
    return to_global("Contact", record.id)


@dataclass(frozen=True)
class Key:
    """One response key of a node: its getter, and for a String field read as stored, the field's name."""

    key: str
    get: Getter
    string_field: str | None = None
    non_null: bool = False


def _builder(keys: Sequence[Key]) -> Callable[[Record], dict[str, Any]]:
    """`{key: get(record) ...}` as one generated function (`resolvers.codegen`): a String field whose stored value
    is a str or (nullable) None is taken as it is, without its getter's call; any other value goes to the getter,
    which serialises it or refuses it exactly as before."""
    code = FunctionSource()
    code.add("values = record.values")
    for k, key in enumerate(keys):
        get = code.const(key.get)
        if key.string_field is None:
            code.add(f"v{k} = {get}(record)")
            continue
        code.add(f"v{k} = values.get({code.const(key.string_field)})")
        odd = "is None or" if key.non_null else "is not None and"
        code.add(f"if v{k} {odd} type(v{k}) is not str:", f"    v{k} = {get}(record)")
    code.add("return {" + ", ".join(f"{code.const(key.key)}: v{k}" for k, key in enumerate(keys)) + "}")
    return code.compile("build_node", "record")


@dataclass(frozen=True)
class NodePlan:
    keys: tuple[Key, ...]
    selection: FieldSelection  # the field names, as the plain resolver reads them from `info`
    non_null: tuple[str, ...]  # selected non-null fields whose decision must be a constant ALLOW
    build: Callable[[Record], dict[str, Any]] = dataclasses.field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "build", _builder(self.keys))


@dataclass(frozen=True)
class Plan:
    operation: OperationDefinitionNode
    field_node: FieldNode
    field_def: GraphQLField
    key: str
    single: bool  # contact(id); else the contacts connection
    node: NodePlan
    connection: tuple[tuple[str, str, Any], ...] = ()  # (key, what, sub-keys) in selection order
    want_total: bool = False
    cursors: str = "none"  # which cursors the response shows: "all" (edges), "ends" (pageInfo) or "none"

    def build_page(self, page: Page[Record]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, what, sub in self.connection:
            if what == TYPENAME:
                out[key] = sub
            elif what == "totalCount":
                out[key] = page.total
            elif what == "pageInfo":
                out[key] = {k: (v if isinstance(v, str) else v(page)) for k, v in sub}
            else:  # edges
                out[key] = [self._edge(sub, record, cursor) for record, cursor in zip(page.items, page.cursors,
                                                                                      strict=True)]
        return out

    def _edge(self, sub: Sequence[tuple[str, str]], record: Record, cursor: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, what in sub:
            if what == "node":
                out[key] = self.node.build(record)
            elif what == "cursor":
                out[key] = cursor
            else:
                out[key] = what  # __typename: the type's name
        return out


def _fields(selection_set: SelectionSetNode | None) -> list[FieldNode] | None:
    """The plain fields of a selection set; None when it holds a fragment, a directive or a repeated key."""
    if selection_set is None:
        return None
    out: list[FieldNode] = []
    keys: set[str] = set()
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.directives:
            return None
        key = (selection.alias or selection.name).value
        if key in keys:
            return None
        keys.add(key)
        out.append(selection)
    return out


def _key(node: FieldNode) -> str:
    return (node.alias or node.name).value


def _node_plan(contact: GraphQLObjectType, selection_set: SelectionSetNode | None) -> NodePlan | None:
    fields = _fields(selection_set)
    if fields is None:
        return None
    keys: list[Key] = []
    non_null: list[str] = []
    for node in fields:
        name = node.name.value
        if node.arguments or node.selection_set is not None:
            return None
        if name == TYPENAME:
            keys.append(Key(_key(node), lambda record: "Contact"))
            continue
        definition = contact.fields.get(name)
        if definition is None:
            return None
        if name == "id":
            keys.append(Key(_key(node), _leaf(definition, _contact_id)))
        elif name in GUARDED:
            keys.append(Key(_key(node), _leaf(definition, _guarded(name, GUARDED[name]))))
        elif name in CONTACT_FIELDS:
            string = get_named_type(definition.type).name == "String"
            keys.append(Key(_key(node), _leaf(definition, _plain(name)), name if string else None,
                            isinstance(definition.type, GraphQLNonNull)))
        else:
            return None
        if f"{ENTITY}.{name}" in NON_NULL_FIELDS:
            non_null.append(name)
    names = FieldSelection(frozenset(node.name.value for node in fields))
    return NodePlan(tuple(keys), names, tuple(dict.fromkeys(non_null)))


def _connection_plan(operation: OperationDefinitionNode, root: FieldNode, definition: GraphQLField) -> Plan | None:
    connection = get_named_type(definition.type)
    fields = _fields(root.selection_set)
    if fields is None or not isinstance(connection, GraphQLObjectType):
        return None
    out: list[tuple[str, str, Any]] = []
    node: NodePlan | None = None
    seen: set[str] = set()
    for field in fields:
        name = field.name.value
        if field.arguments or (name in seen and name != TYPENAME):
            return None
        seen.add(name)
        if name == TYPENAME:
            out.append((_key(field), TYPENAME, connection.name))
        elif name == "totalCount":
            out.append((_key(field), name, None))
        elif name == "pageInfo":
            sub = _fields(field.selection_set)
            if sub is None or any(s.arguments for s in sub):
                return None
            items: list[tuple[str, Any]] = []
            for s in sub:
                if s.name.value == TYPENAME:
                    items.append((_key(s), get_named_type(connection.fields["pageInfo"].type).name))
                elif s.name.value in PAGE_INFO:
                    items.append((_key(s), PAGE_INFO[s.name.value]))
                else:
                    return None
            out.append((_key(field), name, tuple(items)))
        elif name == "edges":
            edge = get_named_type(connection.fields["edges"].type)
            sub = _fields(field.selection_set)
            if sub is None or not isinstance(edge, GraphQLObjectType):
                return None
            edge_items: list[tuple[str, str]] = []
            for s in sub:
                if s.arguments:
                    return None
                if s.name.value == TYPENAME:
                    edge_items.append((_key(s), edge.name))
                elif s.name.value == "cursor":
                    edge_items.append((_key(s), "cursor"))
                elif s.name.value == "node" and node is None:
                    contact = get_named_type(edge.fields["node"].type)
                    if not isinstance(contact, GraphQLObjectType):
                        return None
                    node = _node_plan(contact, s.selection_set)
                    if node is None:
                        return None
                    edge_items.append((_key(s), "node"))
                else:
                    return None
            out.append((_key(field), name, tuple(edge_items)))
        else:
            return None
    if node is None:
        node = NodePlan((), FieldSelection(frozenset()), ())
    cursors = "none"
    for _, what, sub in out:
        if what == "edges" and any(w == "cursor" for _, w in sub):
            cursors = "all"
        elif what == "pageInfo" and cursors == "none" and any(v in (PAGE_INFO["startCursor"], PAGE_INFO["endCursor"])
                                                              for _, v in sub):
            cursors = "ends"
    return Plan(operation, root, definition, _key(root), False, node, tuple(out), "totalCount" in seen, cursors)


def compile_plan(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None) -> Plan | None:
    """The plan of the operation `operation_name` names in a validated document, or None."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.QUERY or operation.directives:
        return None
    if any(v.directives for v in operation.variable_definitions or ()):
        return None
    roots = _fields(operation.selection_set)
    query = schema.query_type
    if roots is None or len(roots) != 1 or query is None:
        return None
    root = roots[0]
    definition = query.fields.get(root.name.value)
    if definition is None:
        return None
    if root.name.value == "contacts":
        return _connection_plan(operation, root, definition)
    if root.name.value == "contact":
        contact = get_named_type(definition.type)
        node = _node_plan(contact, root.selection_set) if isinstance(contact, GraphQLObjectType) else None
        return None if node is None else Plan(operation, root, definition, _key(root), True, node)
    return None
