"""String inputs: no NUL character (PostgreSQL text cannot hold one) and at most `MAX_STRING_CHARS` characters.

Checked before execution, for literals in the document (a validation rule) and for variable values (an
extension that answers instead of executing), so a bad string never reaches a resolver or the database.
The error is BAD_USER_INPUT naming the argument, or the input field when the string sits in an input object
(for a variable, its path is the root field that uses it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    GraphQLError,
    ListValueNode,
    ObjectFieldNode,
    ObjectValueNode,
    OperationDefinitionNode,
    StringValueNode,
    ValidationRule,
    ValueNode,
    VariableNode,
    Visitor,
    visit,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import AddValidationRules, SchemaExtension

MAX_STRING_CHARS = 65_536


def problem(value: str) -> str | None:
    """Why a string is refused, or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if len(value) > MAX_STRING_CHARS:
        return f"must be at most {MAX_STRING_CHARS} characters"
    return None


def _bad_literals(value: ValueNode, name: str) -> Iterator[tuple[str, str, ValueNode]]:
    if isinstance(value, StringValueNode):
        reason = problem(value.value)
        if reason:
            yield name, reason, value
    elif isinstance(value, ListValueNode):
        for item in value.values:
            yield from _bad_literals(item, name)
    elif isinstance(value, ObjectValueNode):
        for field in value.fields:
            yield from _bad_literals(field.value, field.name.value)


class StringLiterals(ValidationRule):
    """A string literal given to an argument (or an input field) that `problem` refuses."""

    def enter_argument(self, node: ArgumentNode, *_: Any) -> Any:
        for name, reason, literal in _bad_literals(node.value, node.name.value):
            self.report_error(
                GraphQLError(f"{name} {reason}", literal, extensions={"code": "BAD_USER_INPUT", "field": name})
            )
        return self.SKIP


class StringRules(AddValidationRules):
    """The schema extension that adds `StringLiterals` to validation."""

    def __init__(self) -> None:
        super().__init__([StringLiterals])


def bad_value(value: Any, path: tuple[str, ...]) -> tuple[tuple[str, ...], str] | None:
    if isinstance(value, str):
        reason = problem(value)
        return (path, reason) if reason else None
    if isinstance(value, dict):
        items: Any = (((*path, str(k)), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((path, v) for v in value)
    else:
        return None
    for sub_path, item in items:
        found = bad_value(item, sub_path)
        if found:
            return found
    return None


class _UsesOf(Visitor):
    """The argument (or input field) a variable is given to."""

    def __init__(self, variable: str) -> None:
        super().__init__()
        self.variable = variable
        self.found: str | None = None

    def _check(self, node: ArgumentNode | ObjectFieldNode) -> None:
        if self.found is None and isinstance(node.value, VariableNode) and node.value.name.value == self.variable:
            self.found = node.name.value

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        self._check(node)

    def enter_object_field(self, node: ObjectFieldNode, *_: Any) -> None:
        self._check(node)


def _use_of(document: DocumentNode | None, variable: str) -> tuple[str | None, list[str]]:
    """The argument a variable is given to, and the response key of the root field using it."""
    for definition in document.definitions if document else ():
        if not isinstance(definition, OperationDefinitionNode):
            continue
        for selection in definition.selection_set.selections:
            finder = _UsesOf(variable)
            visit(selection, finder)
            if finder.found and isinstance(selection, FieldNode):
                return finder.found, [(selection.alias or selection.name).value]
            if finder.found:
                return finder.found, []
    return None, []


class StringVariables(SchemaExtension):
    """Refuses the operation, before it runs, when a string in the variables is refused by `problem`."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        for variable, value in (context.variables or {}).items():
            found = bad_value(value, ())
            if found is None:
                continue
            path, reason = found
            argument, root = _use_of(context.graphql_document, variable)
            name = path[-1] if path else argument or variable
            error = GraphQLError(
                f"{name} {reason}", path=root or None, extensions={"code": "BAD_USER_INPUT", "field": name}
            )
            context.result = GraphQLExecutionResult(data=None, errors=[error])
            break
        yield
