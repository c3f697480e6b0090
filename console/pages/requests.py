"""Data requests (PDPO DPP6): the queue, a new request (find the person first), one request and its answer:
link the person's other records (possible matches), verify identity, produce the complete copy, watch its
progress, review the names the redactor could not be sure of and re-produce it with them redacted, download it,
record delivery, or refuse with a reason; an erasure goes through a confirmation page naming what it erases."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from console import holdings
from console.pages import lookup
from console.pages.home import request_row
from console.unit import Console, Refusal, attempt, in_words, page, see_other
from resolvers.contacts import contacts
from resolvers.errors import BadInput, NotFound
from resolvers.exports import jobs as exports
from resolvers.exports import review as copy_review
from resolvers.privacy import data_requests, fulfilment, letters, matches, refusal_grounds
from resolvers.runtime import Caller

STATUSES = ("OPEN", "FULFILLED", "REFUSED")


def uuid_in(request: Request, name: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(str(request.path_params[name]))
    except ValueError as exc:
        raise NotFound("no such record") from exc


def export_view(console: Console, caller: Caller, job: Any) -> dict[str, Any]:
    """An export job as plain values; its link only while it can be downloaded."""
    base = caller.runtime.exports.public_url or str(console.request.base_url)
    return {
        "id": str(job.id),
        "status": job.status,
        "progress": round(float(job.progress or 0.0) * 100),
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "expires_at": job.expires_at,
        "size_bytes": job.size_bytes,
        "sha256": job.sha256,
        "error": job.error,
        "download_url": exports.download_url(caller.runtime, caller.tenant.slug, job, base),
    }


async def _queue(console: Console) -> Response:
    status = console.field("status") or "OPEN"
    status = status if status in STATUSES else "OPEN"
    async with console.db() as (db, caller):
        found = await data_requests.list_requests(
            db, caller, status=status, overdue=None, first=200, after=None, want_total=True
        )
        data_requests.audit_requester(caller, found.items, ["requesterName"])  # the page shows the name
        rows = [request_row(r, caller.runtime.now()) for r in found.items]
    return console.render("requests.html", cards={"requests": {"rows": rows, "total": found.total}},
                          status_filter=status, statuses=STATUSES)


async def _new(console: Console) -> Response:
    await console.require("data_request", "write")
    by, text = console.field("by") or "name", console.field("q")
    error, people = None, []
    if console.form is not None:
        return await _create(console)
    if text:
        async with console.db() as (db, caller):
            try:
                people = await lookup.find(db, caller, by, text)
            except BadInput as exc:  # a malformed phone or HKID: say so next to the search box
                error = str(exc)
    return console.render("request_new.html", by=by, q=text, people=people, searched=bool(text), error=error,
                          kinds=data_requests.KINDS, by_options=lookup.BY)


async def _create(console: Console) -> Response:
    try:
        contact_id = uuid.UUID(console.field("contact"))
    except ValueError:
        return console.render("request_new.html", status=400, by="name", q="", people=[], searched=False,
                              error=console.t("requests.pick_person"), kinds=data_requests.KINDS, by_options=lookup.BY)
    data = data_requests.NewRequest(
        kind=console.field("kind"), contact_ids=(contact_id,), requester_name=console.field("requester"),
        language=console.field("language") or None,
    )
    created: list[Any] = []

    async def work() -> None:
        async with console.mutation() as (db, caller):
            created.append(await data_requests.create(db, caller, data))

    refused = await attempt(work)
    if refused is not None:
        async with console.db() as (db, caller):
            person = await lookup.one(db, caller, contact_id)
        return console.render("request_new.html", status=refused.status, by="name", q="",
                              people=[person] if person else [], searched=True, error=refused.message,
                              kinds=data_requests.KINDS, by_options=lookup.BY, requester=data.requester_name)
    return see_other(f"/admin/requests/{created[0].id}?done=request_created")


async def _people(db: Any, caller: Caller, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    """The records as the caller may see them (field rules applied); records out of scope are left out."""
    if not ids:
        return []
    found = await contacts.contacts_by_ids(db, caller, ids, lookup.SELECTION)
    return [lookup.person(r) for r in found if r is not None]


async def _detail(console: Console, refused: Refusal | None = None, where: str = "") -> Response:
    request_id = uuid_in(console.request)
    async with console.db() as (db, caller):
        found = await data_requests.get(db, caller, request_id)
        data_requests.audit_requester(caller, [found], ["requesterName"])
        row = request_row(found, caller.runtime.now())
        named = (await data_requests.contacts_of(db, [found.id]))[0]
        people = await _people(db, caller, named)
        possible = await _people(db, caller, await matches.possible_matches(db, caller, found.id)) \
            if found.status == "OPEN" else []
        job = await exports.get_job(db, caller, found.export_id) if found.export_id else None
        export = export_view(console, caller, job) if job is not None else None
        review = await copy_review.of_job(caller.runtime, job) if job is not None else None
        may_write = caller.access.can("data_request", "write")
    zh = console.t.language != "en"
    grounds = [(g.code, g.citations[found.kind], g.zh if zh else g.en) for g in refusal_grounds.for_kind(found.kind)]
    correction = {"text": found.correction, "notices": list(found.correction_notices or [])}
    identity = {"verified_at": found.identity_verified_at, "check": found.identity_check,
                "delivered_at": found.delivered_at, "delivery_method": found.delivery_method}
    return console.render("request.html", status=refused.status if refused else 200, r=row, people=people,
                          person=people[0] if people else None, matches=possible, identity=identity,
                          export=export, review_names=review, error=in_words(console, refused) if refused else None,
                          may_write=may_write, where=where, grounds=grounds, letters=letters.stored(found),
                          correction=correction)


async def _erase_page(console: Console, refused: Refusal | None = None) -> Response:
    """ERASURE: what will be erased (each record's name, its activities and attachments), then a confirmation."""
    request_id = uuid_in(console.request)
    async with console.db() as (db, caller):
        found = await data_requests.get(db, caller, request_id)
        if found.kind != "ERASURE":
            raise NotFound("not an erasure request")
        data_requests.audit_requester(caller, [found], ["requesterName"])
        row = request_row(found, caller.runtime.now())
        people = await _people(db, caller, (await data_requests.contacts_of(db, [found.id]))[0])
        held = await holdings.counts(db, [uuid.UUID(p["id"]) for p in people])
        may_write = caller.access.can("data_request", "write")
    for p in people:
        p["activities"], p["attachments"] = held.get(uuid.UUID(p["id"]), (0, 0))
    return console.render("request_erase.html", status=refused.status if refused else 200, r=row, people=people,
                          error=in_words(console, refused) if refused else None, may_write=may_write)


def _chosen(console: Console, name: str) -> list[str]:
    values = console.form.getlist(name) if console.form is not None else []
    return [str(v).strip() for v in values if isinstance(v, str) and str(v).strip()]


async def _act(console: Console, action: str) -> Response:
    request_id = uuid_in(console.request)
    erasure = [False]

    async def work() -> None:
        async with console.mutation() as (db, caller):
            if action == "export":
                found = await data_requests.get(db, caller, request_id)
                if found.contact_id is None:
                    raise BadInput("this request names no record: there is nothing to copy", field="contact")
                await exports.request_contact_export(db, caller, found.contact_id, found.id, found.language,
                                                     redact_names=_chosen(console, "redact") or None)
            elif action == "link":
                try:
                    ids = [uuid.UUID(c) for c in _chosen(console, "contact")]
                except ValueError as exc:
                    raise NotFound("no such contact") from exc
                if not ids:
                    raise BadInput(console.t("requests.pick_match"), field="contactIds")
                await data_requests.link_contacts(db, caller, request_id, ids)
            elif action == "verify":
                await fulfilment.verify_identity(db, caller, request_id, console.field("check") or None)
            elif action == "fulfil":
                found = await data_requests.get(db, caller, request_id)
                if found.kind == "ERASURE":
                    erasure[0] = True
                    if console.field("confirm") != "on":
                        raise BadInput(console.t("requests.erase_confirm_needed"), field="confirm")
                method = console.field("delivery_method") or None
                await fulfilment.fulfil(db, caller, request_id, delivery_method=method,
                                        correction=console.field("correction") or None)
            else:
                await fulfilment.refuse(db, caller, request_id, console.field("reason"),
                                        console.field("ground") or None)

    refused = await attempt(work)
    if refused is not None:
        if erasure[0]:
            return await _erase_page(console, refused)
        return await _detail(console, refused, {"fulfil": "deliver", "export": "copy"}.get(action, action))
    anchor = {"link": "#people", "verify": "#identity", "export": "#copy"}.get(action, "")
    return see_other(f"/admin/requests/{request_id}?done=request_{action}{anchor}")


async def _export_json(console: Console) -> Response:
    """The progress of one export, for the request page's script (the page itself refreshes without it)."""
    job_id = uuid_in(console.request)
    async with console.db() as (db, caller):
        view = export_view(console, caller, await exports.get_job(db, caller, job_id))
    return JSONResponse({"status": view["status"], "progress": view["progress"], "downloadUrl": view["download_url"],
                         "error": view["error"]})


async def queue(request: Request) -> Response:
    return await page(request, "dataRequests", _queue)


async def new(request: Request) -> Response:
    return await page(request, "createDataRequest", _new)


async def detail(request: Request) -> Response:
    return await page(request, "dataRequest", _detail)


async def export(request: Request) -> Response:
    return await page(request, "requestContactExport", lambda c: _act(c, "export"))


async def fulfil(request: Request) -> Response:
    return await page(request, "fulfilDataRequest", lambda c: _act(c, "fulfil"))


async def refuse(request: Request) -> Response:
    return await page(request, "refuseDataRequest", lambda c: _act(c, "refuse"))


async def link(request: Request) -> Response:
    return await page(request, "linkDataRequestContacts", lambda c: _act(c, "link"))


async def verify(request: Request) -> Response:
    return await page(request, "verifyDataRequestIdentity", lambda c: _act(c, "verify"))


async def erase(request: Request) -> Response:
    return await page(request, "dataRequest", _erase_page)


async def export_json(request: Request) -> Response:
    return await page(request, "exportJob", _export_json)


async def _letter(console: Console) -> Response:
    request_id = uuid_in(console.request)
    try:
        letter_id = uuid.UUID(console.request.path_params["letter"])
    except ValueError as exc:
        raise NotFound("no such letter") from exc
    async with console.db() as (db, caller):
        letter = await letters.download(db, caller, request_id, letter_id)
    name = f"{letter.kind.lower()}-{letter.language.lower()}-{letter.id}.html"
    return Response(letter.html, media_type="text/html; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


async def letter(request: Request) -> Response:
    return await page(request, "replyLetterHtml", _letter)


def routes() -> list[Route]:
    return [
        Route("/requests", queue, methods=["GET"]),
        Route("/requests/new", new, methods=["GET", "POST"]),
        Route("/requests/{id}", detail, methods=["GET"]),
        Route("/requests/{id}/export", export, methods=["POST"]),
        Route("/requests/{id}/link", link, methods=["POST"]),
        Route("/requests/{id}/verify", verify, methods=["POST"]),
        Route("/requests/{id}/erase", erase, methods=["GET"]),
        Route("/requests/{id}/fulfil", fulfil, methods=["POST"]),
        Route("/requests/{id}/refuse", refuse, methods=["POST"]),
        Route("/exports/{id}.json", export_json, methods=["GET"]),
        Route("/requests/{id}/letters/{letter}.html", letter, methods=["GET"]),
    ]
