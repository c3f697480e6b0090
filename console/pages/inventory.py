"""Data inventory: every field with its PII category and purpose, how many records hold each PII field, and the
privacy notice as the public will read it, in English and Traditional Chinese."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console.unit import Console, page
from resolvers import fields
from resolvers.privacy import notice


async def _page(console: Console) -> Response:
    async with console.db() as (db, caller):
        definitions = await fields.definitions(db, caller, None)
        counts = {(r.entity, r.field): r for r in await fields.inventory(db, caller)}
        notices = {lang: await notice.notice(db, caller, lang) for lang in notice.LANGUAGES}
    rows = []
    for d in definitions:
        count = counts.get((d.entity, d.name))
        rows.append({"entity": d.entity, "name": d.name, "type": d.type, "custom": d.custom,
                     "pii": d.pii_category, "purpose": d.purpose,
                     "records": count.records_with_value if count else None,
                     "encrypted": bool(count and count.encrypted)})
    rows.sort(key=lambda r: (r["pii"] is None, r["pii"] or "", r["entity"], r["name"]))
    views = {lang: {"title": n.title, "sections": [{"heading": s.heading, "body": s.body} for s in n.sections]}
             for lang, n in notices.items()}
    return console.render("inventory.html", rows=rows, notices=views)


async def index(request: Request) -> Response:
    return await page(request, "dataInventory", _page)


def routes() -> list[Route]:
    return [Route("/inventory", index, methods=["GET"])]
