"""The unit of work of the non-GraphQL routes (CSV downloads, attachment and import uploads, downloads).

The same contract as GraphQL: typed errors become `{"errors": [{message, extensions: {code, field}}]}` with
the matching HTTP status, refusals are audited as DENIED, anything else is INTERNAL with a request id, and
the audit buffer is flushed and committed before the response goes out (if that fails, no data leaves).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive

from authz.errors import AccessDenied
from resolvers.errors import TYPED, BadInput, NotFound
from schema.context import Context
from schema.ids import from_global

T = TypeVar("T")
log = logging.getLogger("crm.routes")
MULTIPART_OVERHEAD = 64 * 1024
STATUS = {
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "BAD_USER_INPUT": 400,
    "CONFLICT": 409,
    "RATE_LIMITED": 429,
    "INTERNAL": 500,
}


class BodyTooLarge(Exception):
    """The request body went past the route's limit while it was read."""


def limited_receive(receive: Receive, limit: int) -> Receive:
    """`receive` that raises BodyTooLarge once more than `limit` body bytes have arrived (uploads stream)."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise BodyTooLarge
        return message

    return wrapped


async def receive_file(
    request: Request, max_bytes: int, too_large: Callable[[], Exception], store: Callable[[UploadFile], Awaitable[T]]
) -> T:
    """Stream a multipart body with one part named `file` (spooled to disk by Starlette) and hand the part to
    `store` while it is open. Raises `too_large()` as soon as the declared or the received length passes
    `max_bytes` (plus room for the multipart framing), before the rest of the body is read."""
    limit = max_bytes + MULTIPART_OVERHEAD
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise too_large()
    limited = Request(request.scope, limited_receive(request.receive, limit))
    try:
        async with limited.form(max_files=1, max_fields=5) as form:
            part = form.get("file")
            if not isinstance(part, UploadFile):
                raise BadInput("send the file as a multipart part named `file`", field="file")
            return await store(part)
    except BodyTooLarge as exc:
        raise too_large() from exc


def path_id(request: Request, kind: str, missing: str) -> uuid.UUID:
    """The path's `{id}` as a `kind` id; a malformed one is NOT_FOUND (`missing`), like an unknown one."""
    try:
        return from_global(request.path_params["id"], expect=kind)[1]
    except BadInput as exc:
        raise NotFound(missing) from exc


async def send_file(
    ctx: Context, operation: str, open_file: Callable[[], Awaitable[T]], respond: Callable[[T], Response]
) -> Response:
    """`open_file` in the request's unit of work, committed (its audit event included) before `respond` builds
    the response from what it returned; a typed error is the usual JSON error and no byte is sent."""
    opened: list[T] = []

    async def work() -> Response:
        opened.append(await open_file())
        return Response(status_code=204)

    response = await handle(ctx, operation, work)
    if not opened or response.status_code != 204:
        return response
    return respond(opened[0])


def error(code: str, message: str, request_id: str, *, field: str | None = None, status: int | None = None) -> Response:
    extensions: dict[str, Any] = {"code": code}
    if field:
        extensions["field"] = field
    if code == "INTERNAL":
        extensions["requestId"] = request_id
    return JSONResponse(
        {"errors": [{"message": message, "extensions": extensions}]},
        status_code=status or STATUS.get(code, 500),
        headers={"X-Request-Id": request_id, "Cache-Control": "no-store"},
    )


async def handle(
    ctx: Context,
    operation: str,
    work: Callable[[], Awaitable[Response]],
    status_of: Callable[[Exception], int | None] = lambda exc: None,
) -> Response:
    """Run `work` in the request's unit of work; `status_of` may pick the HTTP status of a typed error."""
    response: Response
    unexpected = False
    try:
        response = await work()
    except TYPED as exc:
        if isinstance(exc, AccessDenied):
            ctx.audit.denied(
                None,
                None,
                [exc.field] if exc.field else [],
                details={"operation": operation, "reason": str(exc)},
            )
        response = error(exc.code, str(exc), ctx.request_id, field=getattr(exc, "field", None), status=status_of(exc))
    except Exception:
        unexpected = True
        log.exception("request %s: %s failed", ctx.request_id, operation)
        response = error("INTERNAL", "internal error", ctx.request_id)
    try:
        await ctx.finish(ok=not unexpected)
    except Exception:
        log.exception("request %s: audit flush or commit failed; no data returned", ctx.request_id)
        return error("INTERNAL", "internal error: the request could not be recorded", ctx.request_id)
    response.headers.setdefault("X-Request-Id", ctx.request_id)
    return response
