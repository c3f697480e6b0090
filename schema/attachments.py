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

from db.models import Attachment
from resolvers.contacts import attachments
from schema.context import build_context
from schema.ids import to_global
from schema.routes import handle, path_id, receive_file, send_file

log = logging.getLogger("crm.attachments")


def _too_large() -> Exception:
    return attachments.TooLarge("attachments are at most 25 MB", field="file")


async def upload(request: Request) -> Response:
    ctx = build_context(request, None, request.state.runtime)

    async def work() -> Response:
        await ctx.caller()  # authenticate before reading a large body

        async def store(part: UploadFile) -> Attachment:
            async with ctx.mutation() as (session, caller):
                return await attachments.upload(session, caller, part.filename, part.content_type, part.file)

        row = await receive_file(request, attachments.MAX_BYTES, _too_large, store)
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

    async def open_file() -> attachments.Download:
        attachment_id = path_id(request, "Attachment", "no such attachment")
        async with ctx.db() as (session, caller):
            return await attachments.open_download(session, caller, attachment_id)

    def respond(item: attachments.Download) -> Response:
        return FileResponse(
            item.path,
            media_type=item.attachment.content_type,
            filename=item.attachment.filename,
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Request-Id": ctx.request_id},
        )

    return await send_file(ctx, "downloadAttachment", open_file, respond)


def routes() -> list[Route]:
    return [
        Route("/attachments", upload, methods=["POST"]),
        Route("/attachments/{id}", download, methods=["GET"]),
    ]
