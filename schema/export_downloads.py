"""`GET /exports/{token}`: streams a finished export ZIP. 404 for an unknown or tampered link, 410 once the
link or the export has expired. Every download is an EXPORT audit event, committed before any byte is sent."""

from __future__ import annotations

import logging
import uuid

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from db.audit import AuditActor
from resolvers.errors import NotFound
from resolvers.exports import jobs as exports
from schema.context import client_ip
from schema.routes import error

log = logging.getLogger("crm.exports")


async def download(request: Request) -> Response:
    rid = (request.headers.get("x-request-id") or "")[:64] or uuid.uuid4().hex
    actor = AuditActor(None, "system", rid, client_ip(request), (request.headers.get("user-agent") or "")[:300] or None)
    try:
        found = await exports.open_download(request.state.runtime, request.path_params["token"], actor)
    except NotFound as exc:
        return error("NOT_FOUND", str(exc), rid)
    except exports.LinkExpired as exc:
        return error("NOT_FOUND", str(exc), rid, status=410)
    except Exception:
        log.exception("export download failed")
        return error("INTERNAL", "internal error", rid)
    return FileResponse(
        found.path,
        media_type="application/zip",
        filename=found.filename,
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Request-Id": rid},
    )


def routes() -> list[Route]:
    return [Route("/exports/{token}", download, methods=["GET"])]
