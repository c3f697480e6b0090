"""Static limits on a GraphQL document, checked once per document as graphql-core validation rules.

Before anything runs, each operation's cost is estimated: every field costs 1, and a connection (a field
with a `first` argument) or a list multiplies what is under it by its `first` (a variable counts as the
largest page allowed), its default page size or `LIST_SIZE`. Aliases and fragments are counted where
they are used (a fragment's cost is computed once per document). An operation over the budget is
refused with `extensions.cost` and `extensions.maxCost`; a connection below the root (`Contact.activities`)
takes at most `first: NESTED_MAX_PAGE`; a document nested deeper than `MAX_DEPTH` or with more than
`MAX_ALIASES` aliases is refused too. Unknown fields and fragments are skipped here: the standard rules
report them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
)
from strawberry.extensions import MaxTokensLimiter, SchemaExtension
from strawberry.extensions.add_validation_rules import AddValidationRules

from resolvers.pagination import MAX_PAGE, NESTED_MAX_PAGE

DEFAULT_MAX_COST = 20_000
MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 4000
LIST_SIZE = 50  # what a plain list (no `first`) is assumed to hold
NESTED_LIST_SIZE = 5  # ... and a plain list inside another (a rule's scopes, an impact's changes)

FieldOwner = GraphQLObjectType | GraphQLInterfaceType


@dataclass
class _Walk:
    """One operation's walk: fragments by name, their computed costs, and the errors found."""

    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    roots: frozenset[str]
    fragment_costs: dict[str, tuple[int, int]]
    errors: list[GraphQLError]
    plain_lists: int = 0  # plain lists around the field being walked


def _first_of(field: FieldNode, definition: GraphQLField) -> tuple[int, FieldNode | None]:
    """The page size a connection field asks for (and the literal's node when it is a literal)."""
    for argument in field.arguments or ():
        if argument.name.value != "first":
            continue
        if isinstance(argument.value, IntValueNode):
            return max(int(argument.value.value), 0), field
        if isinstance(argument.value, VariableNode):
            return MAX_PAGE, None
        return 0, None  # null or a wrong literal: the standard rules or the resolver refuse it
    default = definition.args["first"].default_value
    return (default if isinstance(default, int) else MAX_PAGE), None


def _is_list(definition: GraphQLField) -> bool:
    kind = definition.type.of_type if isinstance(definition.type, GraphQLNonNull) else definition.type
    return isinstance(kind, GraphQLList)


def _selection_cost(walk: _Walk, owner: Any, selection_set: SelectionSetNode | None, depth: int) -> tuple[int, int]:
    """(cost, depth reached) of a selection set on `owner`."""
    if selection_set is None or not isinstance(owner, FieldOwner):
        return 0, depth
    total, deepest = 0, depth
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            cost, reached = _field_cost(walk, owner, selection, depth)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            target = walk.schema.get_type(condition.name.value) if condition else owner
            cost, reached = _selection_cost(walk, target, selection.selection_set, depth)
        elif isinstance(selection, FragmentSpreadNode):
            cost, reached = _fragment_cost(walk, selection.name.value, depth)
        else:  # pragma: no cover - graphql-core has no other selection kinds
            continue
        total += cost
        deepest = max(deepest, reached)
    return total, deepest


def _fragment_cost(walk: _Walk, name: str, depth: int) -> tuple[int, int]:
    if name in walk.fragment_costs:
        cost, relative = walk.fragment_costs[name]
        return cost, depth + relative
    fragment = walk.fragments.get(name)
    if fragment is None:
        return 0, depth
    walk.fragment_costs[name] = (0, 0)  # a cycle (reported by NoFragmentCycles) counts nothing more
    target = walk.schema.get_type(fragment.type_condition.name.value)
    cost, reached = _selection_cost(walk, target, fragment.selection_set, 0)
    walk.fragment_costs[name] = (cost, reached)
    return cost, depth + reached


def _field_cost(walk: _Walk, owner: FieldOwner, field: FieldNode, depth: int) -> tuple[int, int]:
    definition = owner.fields.get(field.name.value)
    if definition is None:  # __typename, or unknown (FieldsOnCorrectType reports it)
        return (0 if field.name.value.startswith("__") else 1), depth
    multiplier = 1
    if "first" in definition.args:
        multiplier, literal = _first_of(field, definition)
        if owner.name not in walk.roots and literal is not None and multiplier > NESTED_MAX_PAGE:
            walk.errors.append(
                GraphQLError(
                    f"first on {owner.name}.{field.name.value} must be at most {NESTED_MAX_PAGE}",
                    literal,
                    extensions={"code": "BAD_USER_INPUT", "field": "first"},
                )
            )
    elif _is_list(definition) and not owner.name.endswith("Connection"):
        multiplier = LIST_SIZE if walk.plain_lists == 0 else NESTED_LIST_SIZE
        if field.selection_set is not None:
            walk.plain_lists += 1
            try:
                cost, reached = _selection_cost(walk, get_named_type(definition.type), field.selection_set, depth + 1)
            finally:
                walk.plain_lists -= 1
            return 1 + multiplier * cost, reached
    if field.selection_set is None:
        return 1, depth
    cost, reached = _selection_cost(walk, get_named_type(definition.type), field.selection_set, depth + 1)
    return 1 + multiplier * cost, reached


def _aliases(walk: _Walk, selection_set: SelectionSetNode | None, seen: frozenset[str]) -> int:
    if selection_set is None:
        return 0
    count = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            count += (1 if selection.alias else 0) + _aliases(walk, selection.selection_set, seen)
        elif isinstance(selection, InlineFragmentNode):
            count += _aliases(walk, selection.selection_set, seen)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            fragment = walk.fragments.get(selection.name.value)
            if fragment is not None:
                count += _aliases(walk, fragment.selection_set, seen | {selection.name.value})
    return count


def operation_costs(schema: GraphQLSchema, document: DocumentNode) -> Iterator[tuple[OperationDefinitionNode, int]]:
    """Each operation of the document and its estimated cost (for benchmarks and tools)."""
    walk = _new_walk(schema, document)
    for operation in _operations(document):
        root = schema.get_root_type(operation.operation)
        yield operation, _selection_cost(walk, root, operation.selection_set, 0)[0]


def _operations(document: DocumentNode) -> list[OperationDefinitionNode]:
    return [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def _new_walk(schema: GraphQLSchema, document: DocumentNode) -> _Walk:
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    roots = frozenset(t.name for t in (schema.query_type, schema.mutation_type, schema.subscription_type) if t)
    return _Walk(schema, fragments, roots, {}, [])


class QueryLimits(ValidationRule):
    """Cost, depth, aliases and nested page sizes of the whole document, reported before execution."""

    max_cost: ClassVar[int] = DEFAULT_MAX_COST

    def enter_document(self, node: DocumentNode, *_: Any) -> Any:
        context: ValidationContext = self.context
        walk = _new_walk(context.schema, node)
        aliases = 0
        for operation in _operations(node):
            root = context.schema.get_root_type(operation.operation)
            cost, depth = _selection_cost(walk, root, operation.selection_set, 0)
            aliases += _aliases(walk, operation.selection_set, frozenset())
            if depth > MAX_DEPTH:
                walk.errors.append(
                    GraphQLError(f"the query exceeds the maximum depth of {MAX_DEPTH}", operation,
                                 extensions={"code": "BAD_USER_INPUT"})
                )
            if cost > self.max_cost:
                walk.errors.append(
                    GraphQLError(
                        f"the query is too expensive: estimated cost {cost}, at most {self.max_cost}",
                        operation,
                        extensions={"code": "BAD_USER_INPUT", "cost": cost, "maxCost": self.max_cost},
                    )
                )
        if aliases > MAX_ALIASES:
            walk.errors.append(
                GraphQLError(f"{aliases} aliases found, at most {MAX_ALIASES}", extensions={"code": "BAD_USER_INPUT"})
            )
        for error in walk.errors:
            context.report_error(error)
        return self.SKIP


class _Tokens(MaxTokensLimiter):
    def __init__(self) -> None:
        super().__init__(max_token_count=MAX_TOKENS)


def limit_extensions(max_cost: int = DEFAULT_MAX_COST) -> list[type[SchemaExtension]]:
    """The schema extensions that apply these limits: classes built once, their rules fixed at build time."""
    rule = type("QueryLimits", (QueryLimits,), {"max_cost": max_cost})

    class Limits(AddValidationRules):
        def __init__(self) -> None:
            super().__init__([rule])

    return [Limits, _Tokens]
