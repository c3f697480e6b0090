"""Record scopes: a finite set of named row sets, compiled to SQLAlchemy predicates for the WHERE clause.

`all`, `own`, `team`, `consented:<purpose>` (or `consented:any`) for contacts; activities add
`non_private` and `non_vip`. A scope the principal cannot satisfy (an API key has no `own`) is false.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from authz.principal import Principal
from db.models import Activity, Consent, Contact, DataRequest, DataRequestContact, LogBookEntry

# Direct-marketing channels, and s.35J: providing the data to another person for their direct marketing.
CHANNELS = ("email", "sms", "whatsapp", "call")
CONSENT_PURPOSES = (*CHANNELS, "provide_to_others")
_COMPILERS_FOR = ("contact", "activity")  # entities whose rows carry consents
ENTITY_SCOPES: dict[str, frozenset[str]] = {
    "contact": frozenset({"all", "own", "team"}),
    "activity": frozenset({"all", "own", "team", "non_private", "non_vip"}),
    # `named`: only requests naming at least one contact (each of them visible); `all` adds requests naming nobody
    "data_request": frozenset({"all", "named"}),
}


def is_valid(entity: str, scope: str) -> bool:
    if scope.startswith("consented:"):
        return entity in _COMPILERS_FOR and scope.removeprefix("consented:") in (*CONSENT_PURPOSES, "any")
    return scope in ENTITY_SCOPES.get(entity, frozenset({"all"}))


def consent_active(contact_id: ColumnElement[Any] | InstrumentedAttribute[Any], purpose: str) -> ColumnElement[bool]:
    conditions = [
        Consent.contact_id == contact_id,
        Consent.granted.is_(True),
        Consent.withdrawn_at.is_(None),
        or_(Consent.expires_at.is_(None), Consent.expires_at > func.now()),
    ]
    # `any`: any of the business's own channels; consent to provide the data to others (s.35J) is not one
    conditions.append(Consent.purpose.in_(CHANNELS) if purpose == "any" else Consent.purpose == purpose)
    return exists(select(Consent.id).where(*conditions))


def _contact(scope: str, p: Principal) -> ColumnElement[bool]:
    if scope == "all":
        return true()
    if scope == "own":
        return Contact.owner_id == p.user_id if p.user_id else false()
    if scope == "team":
        return Contact.team_id == p.team_id if p.team_id else false()
    if scope.startswith("consented:"):
        return consent_active(Contact.id, scope.removeprefix("consented:"))
    return false()


def _activity(scope: str, p: Principal) -> ColumnElement[bool]:
    if scope == "all":
        return true()
    if scope == "own":
        return Activity.author_id == p.user_id if p.user_id else false()
    if scope == "team":
        if not p.team_id:
            return false()
        return Activity.contact_id.in_(select(Contact.id).where(Contact.team_id == p.team_id))
    if scope == "non_private":
        return Activity.private.is_(False)
    if scope == "non_vip":
        return Activity.contact_id.in_(select(Contact.id).where(Contact.vip.is_(False)))
    if scope.startswith("consented:"):
        return consent_active(Activity.contact_id, scope.removeprefix("consented:"))
    return false()


_COMPILERS: dict[str, Callable[[str, Principal], ColumnElement[bool]]] = {
    "contact": _contact,
    "activity": _activity,
}


def predicate(entity: str, scope: str, principal: Principal) -> ColumnElement[bool]:
    """The SQL predicate of one scope; unknown entity or scope is false (fail closed)."""
    compiler = _COMPILERS.get(entity)
    if compiler is None or not is_valid(entity, scope):
        return false()
    return compiler(scope, principal)


def combine(entity: str, allow: tuple[str, ...], deny: tuple[str, ...], principal: Principal) -> ColumnElement[bool]:
    """Rows in any allowed scope and in no denied scope; no allowed scope at all is `false`."""
    if not allow:
        return false()
    allowed = true() if "all" in allow else or_(*(predicate(entity, s, principal) for s in allow))
    if not deny:
        return allowed
    if "all" in deny:
        return false()
    # IS NOT TRUE, not NOT: a scope is NULL on rows lacking the attribute (no owner, no team), and NOT NULL
    # would drop those rows although no denied scope covers them.
    return and_(allowed, or_(*(predicate(entity, s, principal) for s in deny)).is_not(True))


def data_requests(contacts_visible: ColumnElement[bool], unnamed: bool) -> ColumnElement[bool]:
    """Requests whose every named contact is in `contacts_visible`; those naming nobody only when `unnamed`."""
    link = DataRequestContact.data_request_id == DataRequest.id
    hidden = exists(select(DataRequestContact.contact_id).where(
        link, DataRequestContact.contact_id.not_in(select(Contact.id).where(contacts_visible))))
    visible = ~hidden
    return visible if unnamed else and_(visible, exists(select(DataRequestContact.contact_id).where(link)))


def log_book(contacts_visible: ColumnElement[bool], unnamed: bool) -> ColumnElement[bool]:
    """Log book entries about a contact in `contacts_visible`; those naming nobody only when `unnamed`."""
    named = LogBookEntry.contact_id.in_(select(Contact.id).where(contacts_visible))
    return or_(named, LogBookEntry.contact_id.is_(None)) if unnamed else named
