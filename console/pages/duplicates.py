"""Duplicates and merge: groups of records that may be one person (`duplicateContacts`, with the keys they
matched on, never the values), the operator chooses the primary, sees a dry run's counts (`mergeContacts` with
dryRun), then confirms the merge. A legal hold's refusal is said in words. Linked from the contacts page."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console.pages import lookup
from console.unit import Console, Refusal, attempt, in_words, page, see_other
from resolvers.contacts import contacts
from resolvers.errors import NotFound
from resolvers.privacy import matches, merge

GROUPS = 50


async def _render(console: Console, refused: Refusal | None = None) -> Response:
    await console.require("contact", "merge")
    async with console.db() as (db, caller):
        found = await matches.duplicate_groups(db, caller, GROUPS, None)
        groups: list[dict[str, Any]] = []
        for group in found.items:
            records = await contacts.contacts_by_ids(db, caller, group.contact_ids, lookup.SELECTION)
            people = [lookup.person(r) for r in records if r is not None]
            if len(people) > 1:
                groups.append({"matched_on": group.matched_on, "people": people})
    return console.render("duplicates.html", status=refused.status if refused else 200, groups=groups,
                          error=in_words(console, refused) if refused else None)


async def _page(console: Console) -> Response:
    return await _render(console)


def _chosen(console: Console) -> tuple[uuid.UUID, list[uuid.UUID]]:
    form = console.form
    try:
        primary = uuid.UUID(console.field("primary"))
        everyone = [uuid.UUID(str(v)) for v in (form.getlist("contact") if form is not None else [])]
    except ValueError as exc:
        raise NotFound("no such contact") from exc
    return primary, [c for c in dict.fromkeys(everyone) if c != primary]


async def _merge(console: Console, dry_run: bool) -> Response:
    primary, duplicates = _chosen(console)
    result: list[merge.MergeResult] = []

    async def work() -> None:
        async with console.mutation() as (db, caller):
            result.append(await merge.merge_contacts(db, caller, primary, duplicates, dry_run=dry_run))

    refused = await attempt(work)
    if refused is not None:
        return await _render(console, refused)
    if not dry_run:
        return see_other("/admin/duplicates?done=contacts_merged")
    async with console.db() as (db, caller):
        records = await contacts.contacts_by_ids(db, caller, [primary, *duplicates], lookup.SELECTION)
    people = [lookup.person(r) for r in records if r is not None]
    done = result[0]
    counts = {"activities": done.activities, "attachments": done.attachments, "history": done.history,
              "consents": done.consents, "opt_outs": done.opt_outs, "data_requests": done.data_requests,
              "disclosures": done.disclosures}
    return console.render("duplicates_preview.html", primary=people[0] if people else None, duplicates=people[1:],
                          counts=counts, filled=done.filled_fields, suppressed=done.suppressed)


async def index(request: Request) -> Response:
    return await page(request, "duplicateContacts", _page)


async def preview(request: Request) -> Response:
    return await page(request, "mergeContacts", lambda c: _merge(c, True))


async def confirm(request: Request) -> Response:
    return await page(request, "mergeContacts", lambda c: _merge(c, False))


def routes() -> list[Route]:
    return [
        Route("/duplicates", index, methods=["GET"]),
        Route("/duplicates/preview", preview, methods=["POST"]),
        Route("/duplicates/merge", confirm, methods=["POST"]),
    ]
