"""HTTP routes for attachment bytes, with the GraphQL API's Bearer auth, permissions and unit of work.

    POST /attachments        multipart/form-data, one part named `file` (at most 25 MB; PDF, images, text,
                             Office documents): 201 {"id", "filename", "contentType", "sizeBytes", "sha256"}
    GET  /attachments/{id}   the bytes, if the attachment's activity is visible to the caller (404 otherwise)

Errors are JSON in the GraphQL error shape (`errors[0].extensions.code`) with the matching HTTP status. The
download's EXPORT audit event is committed before any byte is sent.
"""

from __future__ import annotations

import logging

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from resolvers.contacts import attachments
from resolvers.errors import BadInput, NotFound
from schema.context import build_context
from schema.ids import from_global, to_global
from schema.routes import BodyTooLarge, error, handle, limited_receive

log = logging.getLogger("crm.attachments")
MULTIPART_OVERHEAD = 64 * 1024


async def upload(request: Request) -> Response:
    ctx = build_context(request, None, request.state.runtime)

    async def work() -> Response:
        await ctx.caller()  # authenticate before reading a large body
        length = request.headers.get("content-length")
        limit = attachments.MAX_BYTES + MULTIPART_OVERHEAD
        too_large = error("BAD_USER_INPUT", "attachments are at most 25 MB", ctx.request_id, field="file", status=413)
        if length and length.isdigit() and int(length) > limit:
            return too_large
        limited = Request(request.scope, limited_receive(request.receive, limit))
        try:
            async with limited.form(max_files=1, max_fields=5) as form:
                part = form.get("file")
                if not isinstance(part, UploadFile):
                    raise BadInput("send the file as a multipart part named `file`", field="file")
                async with ctx.mutation() as (session, caller):
                    row = await attachments.upload(session, caller, part.filename, part.content_type, part.file)
        except BodyTooLarge:
            return too_large
        return JSONResponse(
            {
                "id": to_global("Attachment", row.id),
                "filename": row.filename,
                "contentType": row.content_type,
                "sizeBytes": row.size_bytes,
                "sha256": row.sha256,
            },
            status_code=201,
        )

    return await handle(
        ctx, "uploadAttachment", work, status_of=lambda exc: 413 if isinstance(exc, attachments.TooLarge) else None
    )


async def download(request: Request) -> Response:
    ctx = build_context(request, None, request.state.runtime)
    found: list[attachments.Download] = []

    async def work() -> Response:
        try:
            _, attachment_id = from_global(request.path_params["id"], expect="Attachment")
        except BadInput as exc:
            raise NotFound("no such attachment") from exc
        async with ctx.db() as (session, caller):
            found.append(await attachments.open_download(session, caller, attachment_id))
        return Response(status_code=204)

    response = await handle(ctx, "downloadAttachment", work)
    if not found or response.status_code != 204:
        return response
    item = found[0]
    return FileResponse(
        item.path,
        media_type=item.attachment.content_type,
        filename=item.attachment.filename,
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Request-Id": ctx.request_id},
    )


def routes() -> list[Route]:
    return [
        Route("/attachments", upload, methods=["POST"]),
        Route("/attachments/{id}", download, methods=["GET"]),
    ]
