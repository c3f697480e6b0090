"""Before an operation runs: trusted documents and idempotency (called by `schema.http_view`).

* `{"documentId": "sha256:<hex>"}` instead of `query`: the registered document's text (cached per process).
  An unknown id is BAD_USER_INPUT (`field: documentId`, `reason: PERSISTED_DOCUMENT_NOT_FOUND`).
* An API key pinned to trusted documents runs only those (inline text whose SHA-256 is pinned counts too);
  any other document is FORBIDDEN (`reason: DOCUMENT_NOT_TRUSTED`) and audited as DENIED.
* `Idempotency-Key` on a mutation by an API key: `resolvers.idempotency` claims the key in the request
  transaction; a retry gets the first answer (header `Idempotent-Replayed: true`).

A refusal or a replay ends the request's unit of work here (the operation never runs).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, GraphQLError, OperationType, SourceLocation, get_operation_ast, parse
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from authz.documents import document_allowed
from resolvers import documents, idempotency
from resolvers.errors import TYPED, BadInput, DomainError
from schema.context import Context

IDEMPOTENCY_HEADER = "idempotency-key"


@dataclass
class PersistedRequestData(GraphQLRequestData):
    """A request that named a registered document instead of sending its text."""

    document_id: str | None = None


@functools.lru_cache(maxsize=512)
def _parsed(text: str) -> DocumentNode | None:
    try:
        return parse(text)
    except GraphQLError:
        return None


def _is_mutation(text: str, operation_name: str | None) -> bool:
    document = _parsed(text)
    operation = get_operation_ast(document, operation_name) if document is not None else None
    return operation is not None and operation.operation == OperationType.MUTATION


def _error(exc: Exception, **extra: Any) -> GraphQLError:
    extensions = exc.extensions() if isinstance(exc, DomainError) else {"code": getattr(exc, "code", "INTERNAL")}
    return GraphQLError(str(exc), extensions={**extensions, **extra})


def _stored_error(stored: dict[str, Any]) -> GraphQLError:
    """A formatted error as it was first answered (message, locations, path, extensions)."""
    error = GraphQLError(stored.get("message", ""), path=stored.get("path"), extensions=stored.get("extensions"))
    if stored.get("locations"):
        error.locations = [SourceLocation(loc["line"], loc["column"]) for loc in stored["locations"]]
    return error


async def _end(ctx: Context, result: ExecutionResult) -> ExecutionResult:
    await ctx.finish(ok=True)  # commits what the refusal audited (DENIED); nothing else was written
    return result


async def prepare(ctx: Context, data: GraphQLRequestData) -> ExecutionResult | None:
    """None: run the operation (with `data.query` filled in). Otherwise the answer, the unit of work ended."""
    doc_id = data.document_id if isinstance(data, PersistedRequestData) else None
    key_header = ctx.request.headers.get(IDEMPOTENCY_HEADER)
    if doc_id is None and ctx.bearer is None:
        return None  # anonymous (login): nothing pinned, nothing idempotent
    try:
        caller = await ctx.caller()
    except Exception as exc:
        if doc_id is None:
            return None  # the operation reports the credentials' error itself
        return await _end(ctx, ExecutionResult(data=None, errors=[_error(exc)])) if isinstance(exc, TYPED) else None
    try:
        async with ctx.locked_session() as session:
            if doc_id is not None:
                digest = documents.hex_of(doc_id)
                text = await documents.text_of(session, caller.tenant.slug, digest)
                if text is None:
                    raise BadInput("no registered document has this id", field="documentId")
                data.query = text
            assert data.query is not None
            principal = caller.principal
            if principal.kind != "api_key" or principal.id is None:
                return None
            digest = documents.document_id(data.query)[len(documents.PREFIX):]
            if not document_allowed(await documents.pins_of(session, principal.id), digest):
                ctx.audit.denied(None, None, (), {"operation": "document", "documentId": documents.PREFIX + digest})
                error = GraphQLError(
                    "this API key runs only its trusted documents",
                    extensions={"code": "FORBIDDEN", "reason": "DOCUMENT_NOT_TRUSTED"},
                )
                return await _end(ctx, ExecutionResult(data=None, errors=[error]))
            if key_header is None or not _is_mutation(data.query, data.operation_name):
                return None
            key = idempotency.check_key(key_header)
            request_hash = idempotency.request_hash(data.query, data.variables, data.operation_name)
            first = await idempotency.claim(session, principal.id, key, request_hash)
    except DomainError as exc:
        reason = {"field": "documentId", "reason": "PERSISTED_DOCUMENT_NOT_FOUND"} if (
            isinstance(exc, BadInput) and exc.field == "documentId" and doc_id is not None
            and "registered" in str(exc)) else {}
        return await _end(ctx, ExecutionResult(data=None, errors=[_error(exc, **reason)]))
    if first is None:
        ctx.idempotency = (principal.id, key)
        return None
    if ctx.response is not None:
        ctx.response.headers["Idempotent-Replayed"] = "true"
    errors = [_stored_error(e) for e in first.get("errors") or []]
    return await _end(ctx, ExecutionResult(data=first.get("data"), errors=errors or None))
