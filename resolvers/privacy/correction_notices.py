"""Passing a correction on (PDPO s.23(1)(c)): when a CORRECTION request is fulfilled, everyone outside the
business who received the person's data in the 12 months before (`disclosures`) is told.

* a webhook that received it gets a `contact.corrected` event (the contact's id and the field names it had
  received, never a value), sent to it whether or not it subscribed;
* a recipient whose e-mail address is known (who downloaded a contact or workspace export) gets a mail through
  the runtime's mailer after the unit of work commits (the request's reference and the record ids, no values);
* a partner API key has no address: the notice is recorded as MANUAL, for the DPO to pass on.

Every notice is recorded on the request (`correctionNotices { recipient channel sentAt }`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import DataRequest, Webhook
from resolvers.ids import global_id
from resolvers.privacy import disclosures
from resolvers.runtime import Caller
from resolvers.webhooks import events as webhook_events
from resolvers.workspaces import settings as workspace_settings

CHANNELS = ("WEBHOOK", "EMAIL", "MANUAL")
log = logging.getLogger("crm.privacy")


def _message(business: str, request: DataRequest, contact_ids: Sequence[str]) -> tuple[str, str]:
    subject = f"[{business}] Correction of personal data you received"
    body = "\n".join([
        f"{business} corrected personal data that it disclosed to you in the last 12 months, at the request of the",
        "person concerned (Personal Data (Privacy) Ordinance, s.23(1)(c)). Please update or stop using the copy",
        "you hold. The records concerned:",
        *(f"  - {c}" for c in contact_ids),
        "",
        f"Reference: data request {global_id('DataRequest', request.id)}",
        "Fetch the corrected records through the CRM (with your API access) or ask us for them.",
    ])
    return subject, body


async def send(session: AsyncSession, caller: Caller, request: DataRequest,
               contact_ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    """One notice per recipient (webhook, address, API key) of any of the contacts' data; recorded on the request."""
    now = caller.runtime.now()
    # recipient key -> (channel, label, contact global ids, fields)
    found: dict[tuple[str, str], tuple[str, set[str], set[str]]] = {}
    for contact_id in contact_ids:
        for d in await disclosures.disclosures(session, caller, contact_id):
            if d.channel == "WEBHOOK":
                key = ("WEBHOOK", d.label)
            elif d.channel in ("CONTACT_EXPORT", "WORKSPACE_EXPORT") and "@" in d.label:
                key = ("EMAIL", d.label)
            else:
                key = ("MANUAL", d.label)
            _, contacts, fields = found.setdefault(key, (d.label, set(), set()))
            contacts.add(global_id("Contact", contact_id))
            fields.update(d.fields)
    notices: list[dict[str, Any]] = []
    urls = [label for (channel, label) in found if channel == "WEBHOOK"]
    hooks: dict[str, list[uuid.UUID]] = {}
    if urls:
        for hook_id, url in (await session.execute(
            select(Webhook.id, Webhook.url).where(Webhook.url.in_(urls), Webhook.active.is_(True))
        )).all():
            hooks.setdefault(url, []).append(hook_id)
    mails: list[tuple[str, list[str]]] = []
    for (channel, label), (_, contacts, fields) in sorted(found.items()):
        sent = channel != "MANUAL"
        if channel == "WEBHOOK":
            targets = hooks.get(label, [])
            sent = bool(targets)
            for contact in sorted(contacts):
                raw = next(c for c in contact_ids if global_id("Contact", c) == contact)
                await webhook_events.emit(session, caller, "contact.corrected", raw, sorted(fields), to=targets)
        elif channel == "EMAIL":
            mails.append((label, sorted(contacts)))
        notices.append({"recipient": label, "channel": channel, "sentAt": now.isoformat() if sent else None,
                        "contactIds": sorted(contacts), "fields": sorted(fields)})
    if mails:
        business = (await workspace_settings.load(session, caller.tenant.name)).business_name
        mailer = caller.runtime.mailer

        async def deliver() -> None:
            for address, contacts in mails:  # one failed address does not stop the others
                subject, body = _message(business, request, contacts)
                try:
                    await mailer.send([address], subject, body)
                except Exception:
                    log.exception("correction notice of data request %s: a mail failed", request.id)

        caller.after_commit.append(deliver)
    request.correction_notices = [*(request.correction_notices or []), *notices]
    await session.flush()
    caller.audit.event("UPDATE", entity_type="data_request", entity_id=str(request.id),
                       details={"correctionNotices": [{"channel": n["channel"], "sent": n["sentAt"] is not None}
                                                      for n in notices]})
    return notices
