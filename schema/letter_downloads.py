"""Reply letters as files, with the GraphQL API's Bearer auth, permissions and unit of work.

    GET /data-requests/{DataRequest ID}/letters/{letter id}.html

The page is the letter's stored HTML (autoescaped when written), sent as an attachment. The download is audited
(the requester's name READ, the letter EXPORTed) and committed before the response is sent. Errors are JSON in
the GraphQL error shape with the matching HTTP status.
"""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from resolvers.errors import NotFound
from resolvers.privacy import letters
from schema.context import build_context
from schema.ids import uuid_of
from schema.routes import handle

CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"


async def letter_html(request: Request) -> Response:
    ctx = build_context(request, None, request.state.runtime)

    async def work() -> Response:
        request_id = uuid_of(request.path_params["request_id"], "DataRequest", "id")
        try:
            letter_id = uuid.UUID(request.path_params["letter_id"])
        except ValueError as exc:
            raise NotFound("no such letter") from exc
        async with ctx.db() as (session, caller):
            letter = await letters.download(session, caller, request_id, letter_id)
        filename = f"{letter.kind.lower()}-{letter.language.lower()}-{letter.id}.html"
        return Response(letter.html, media_type="text/html; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store",
            "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"})

    return await handle(ctx, "replyLetterHtml", work)


def routes() -> list[Route]:
    return [Route("/data-requests/{request_id}/letters/{letter_id}.html", letter_html, methods=["GET"])]
