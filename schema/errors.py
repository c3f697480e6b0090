"""The one place where errors become contract errors, and where the request's unit of work ends.

After the operation: typed errors keep their code (and `field`); anything unexpected is masked as
INTERNAL with the request id; refused operations and denied fields are audited; the audit buffer is
flushed and the transaction committed *before* the response leaves. If that fails, the response
carries no data (fail closed).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from graphql import GraphQLError
from graphql.language import ArgumentNode, DocumentNode, Node, ObjectFieldNode, Visitor, visit
from strawberry.extensions import SchemaExtension

from authz.errors import AccessDenied
from resolvers import idempotency
from resolvers.errors import TYPED, extensions_of
from schema.context import Context
from schema.nodes import FieldDenied

log = logging.getLogger("crm.graphql")


class UnitOfWork(SchemaExtension):
    production: bool = False

    async def on_operation(self) -> AsyncIterator[None]:  # type: ignore[override]
        yield
        ctx: Context = self.execution_context.context
        result = self.execution_context.result
        errors: list[GraphQLError] = list(getattr(result, "errors", None) or [])
        try:
            formatted, unexpected = self._format(ctx, errors)
            formatted.extend(redaction_errors(ctx))
            if self.production and _request_errors_only(formatted) and not await ctx.authenticated():
                # an anonymous caller must not rebuild the schema from messages, locations or counts
                formatted = [GraphQLError("invalid request", extensions={"code": "BAD_USER_INPUT"})]
        except Exception:  # never let the error handler itself leak a message or the session
            log.exception("request %s: formatting errors failed", ctx.request_id)
            if result is not None:
                result.data = None
            formatted, unexpected = [internal_error(ctx, "internal error")], True
        if result is not None and result.data is None:
            ctx.audit.discard({"READ"})  # a failed non-null root field nulled everything: no value left
        try:
            if ctx.idempotency is not None and not unexpected and result is not None:
                await _remember(ctx, result.data, formatted)
            await ctx.finish(ok=not unexpected)
        except Exception:
            log.exception("request %s: audit flush or commit failed; no data returned", ctx.request_id)
            if result is not None:
                result.data = None
            formatted = [internal_error(ctx, "internal error: the request could not be recorded")]
        if result is not None and (formatted or errors):
            result.errors = formatted

    def _format(self, ctx: Context, errors: list[GraphQLError]) -> tuple[list[GraphQLError], bool]:
        formatted: list[GraphQLError] = []
        unexpected = False
        for error in errors:
            original = error.original_error
            if isinstance(original, TYPED):
                if isinstance(original, AccessDenied) and not isinstance(original, FieldDenied):
                    operation = str(error.path[0]) if error.path else "operation"
                    ctx.audit.denied(
                        None,
                        None,
                        [original.field] if original.field else [],
                        details={"operation": operation, "reason": str(original)},
                    )
                formatted.append(
                    GraphQLError(
                        str(original),
                        error.nodes,
                        error.source,
                        error.positions,
                        error.path,
                        extensions=extensions_of(original),
                    )
                )
            elif original is None or (isinstance(original, GraphQLError) and not error.path):
                # parse, validation and limiter errors; bad variable values (graphql-core wraps the cause)
                message = "invalid request" if self.production else error.message
                extensions: dict[str, Any] = {**(error.extensions or {}), "code": "BAD_USER_INPUT"}
                field = extensions.get("field") or _input_field(error, self.execution_context.graphql_document)
                if field:
                    extensions["field"] = field
                formatted.append(
                    GraphQLError(
                        message,
                        error.nodes,
                        error.source,
                        error.positions,
                        error.path,
                        extensions=extensions,
                    )
                )
            else:
                unexpected = True
                log.error("request %s failed", ctx.request_id, exc_info=original)
                formatted.append(
                    GraphQLError(
                        "internal error",
                        error.nodes,
                        error.source,
                        error.positions,
                        error.path,
                        extensions={"code": "INTERNAL", "requestId": ctx.request_id},
                    )
                )
        return formatted, unexpected


def _request_errors_only(errors: list[GraphQLError]) -> bool:
    """Errors raised before execution (parse, validation, limits, variables): none has a path."""
    return bool(errors) and all(not e.path and (e.extensions or {}).get("code") == "BAD_USER_INPUT" for e in errors)


def internal_error(ctx: Context, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "INTERNAL", "requestId": ctx.request_id})


_BAD_VARIABLE = re.compile(r"^Variable '\$(\w+)' has invalid value(?: at (\S+))?:")


class _InputFieldOf(Visitor):
    """Finds the input field (or argument) whose value is a given literal node."""

    def __init__(self, target: Node) -> None:
        super().__init__()
        self.target = target
        self.found: str | None = None

    def enter_object_field(self, node: ObjectFieldNode, *_: Any) -> None:
        if node.value is self.target:
            self.found = node.name.value

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        if node.value is self.target and self.found is None:
            self.found = node.name.value


def _input_field(error: GraphQLError, document: DocumentNode | None) -> str | None:
    """The input field a bad value was given for: from a variable's path, or the literal's place in the query."""
    match = _BAD_VARIABLE.match(error.message)
    if match is not None:
        names = re.findall(r"\.(\w+)", match.group(2) or "")
        return names[-1] if names else match.group(1)
    if document is None or len(error.nodes or ()) != 1:
        return None
    finder = _InputFieldOf(error.nodes[0])  # type: ignore[index]
    visit(document, finder)
    return finder.found


def redaction_errors(ctx: Context) -> list[GraphQLError]:
    """In the order of the response (by path, a record's own fields as they were recorded): the executor completes
    a list's objects in turns of the event loop (`schema.execution`), so records may be redacted out of order."""
    out: list[GraphQLError] = []
    lists: dict[tuple[str | int, ...], list[dict[str, Any]]] = {}
    for r in _in_response_order(ctx.redactions):
        if r.in_list:
            lists.setdefault(tuple(r.path), []).append({"path": _pattern(r.path, r.field), "count": r.count})
        else:
            out.append(
                GraphQLError(
                    f"not allowed to read {r.field}", path=r.path, extensions={"code": "FORBIDDEN", "field": r.field}
                )
            )
    for path, items in lists.items():
        out.append(
            GraphQLError(
                "some fields were withheld: " + ", ".join(f"{i['path']} ({i['count']})" for i in items),
                path=list(path),
                extensions={"code": "FORBIDDEN", "redactions": items},
            )
        )
    return out


def _in_response_order(redactions: list[Any]) -> list[Any]:
    """Sorted by list index along their paths; field names keep the order in which they were first recorded, and a
    record's fields (the last part of its path) the order in which they were recorded (a stable sort)."""
    first_seen: dict[tuple[str | int, ...], int] = {}

    def key(path: list[str | int]) -> list[int]:
        return [part if isinstance(part, int) else first_seen.setdefault(tuple(path[: i + 1]), len(first_seen))
                for i, part in enumerate(path)]

    keys = [key(r.path if r.in_list else r.path[:-1]) for r in redactions]  # ranks given in the recorded order
    return [r for _, r in sorted(zip(keys, redactions, strict=True), key=lambda pair: pair[0])]


def _pattern(path: list[str | int], field: str) -> str:
    parts = [p if isinstance(p, str) else "*" for p in path]
    return ".".join([*parts, "edges", "*", "node", field])


async def _remember(ctx: Context, data: Any, errors: list[GraphQLError]) -> None:
    """The first answer to an idempotent mutation, written in the unit of work that commits its changes."""
    assert ctx.idempotency is not None
    api_key_id, key = ctx.idempotency
    async with ctx.locked_session() as session:
        await idempotency.store(session, api_key_id, key, {"data": data, "errors": [e.formatted for e in errors]})
