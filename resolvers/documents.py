"""Trusted documents: register GraphQL documents by their SHA-256, pin API keys to them, look them up.

A document's id is `sha256:<hex of the UTF-8 text>`; registering the same text twice is the same document.
Documents are immutable, so a looked-up text is cached per (workspace, hash) for the life of the process. A text
this process has registered or looked up is also known by its hash alone (`known_text`): a hash names one text
whichever workspace holds it, so the heavy-operation relay can estimate a `documentId` request's cost before it
knows the caller (whether the caller's workspace has registered the document is still checked where it runs).
"""

from __future__ import annotations

import hashlib
import uuid
from collections import OrderedDict
from collections.abc import Hashable
from typing import TypeVar

from graphql import GraphQLSchema, parse, validate
from graphql.error import GraphQLError
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from authz.permissions import Action, Resource
from db.models import ApiKey, ApiKeyDocument, TrustedDocument
from resolvers.errors import BadInput, NotFound
from resolvers.runtime import Caller

K = TypeVar("K", bound=Hashable)
PREFIX = "sha256:"
_CACHE_SIZE = 2048
_texts: OrderedDict[tuple[str, str], str] = OrderedDict()
_by_digest: OrderedDict[str, str] = OrderedDict()  # hex digest -> text, of any workspace


def document_id(text: str) -> str:
    return PREFIX + hashlib.sha256(text.encode()).hexdigest()


def hex_of(doc_id: str, field: str = "documentId") -> str:
    """The hex digest of `sha256:<64 hex>`; BAD_USER_INPUT naming `field` otherwise."""
    digest = doc_id[len(PREFIX):].lower() if doc_id.startswith(PREFIX) else ""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise BadInput("a document id is 'sha256:' and 64 hex digits", field=field)
    return digest


def check_document(schema: GraphQLSchema, text: str, field: str = "document") -> None:
    """The document must parse and validate against the running schema."""
    try:
        errors = validate(schema, parse(text))
    except GraphQLError as exc:
        raise BadInput(f"the document does not parse: {exc.message}", field=field) from exc
    if errors:
        raise BadInput(f"the document is not valid: {errors[0].message}", field=field)


async def register(
    session: AsyncSession, caller: Caller | None, schema: GraphQLSchema, text: str, name: str | None
) -> TrustedDocument:
    """Register (or find) the document; `caller=None` is the command line. Needs `api_key write`."""
    if caller is not None:
        caller.access.require(Resource.API_KEY, Action.WRITE)
    if name is not None and len(name) > 200:
        raise BadInput("a document name is at most 200 characters", field="name")
    check_document(schema, text)
    digest = document_id(text)[len(PREFIX):]
    created_by = caller.principal.id if caller is not None else None
    inserted = await session.scalar(
        insert(TrustedDocument)
        .values(sha256=digest, body=text, name=name, created_by=created_by)
        .on_conflict_do_nothing()
        .returning(TrustedDocument.sha256)
    )
    if inserted is not None and caller is not None:
        caller.audit.event("CREATE", entity_type="trusted_document", entity_id=digest)
    row = await session.get(TrustedDocument, digest)
    assert row is not None
    _remember(_by_digest, digest, text)
    return row


async def listed(session: AsyncSession, caller: Caller) -> list[TrustedDocument]:
    caller.access.require(Resource.API_KEY, Action.READ)
    return list((await session.scalars(select(TrustedDocument).order_by(TrustedDocument.created_at))).all())


async def pin(session: AsyncSession, caller: Caller, key_id: uuid.UUID, doc_ids: list[str]) -> list[str]:
    """Replace the API key's allow-list (an empty list: any document again). Needs `api_key write`."""
    caller.access.require(Resource.API_KEY, Action.WRITE)
    if await session.get(ApiKey, key_id) is None:
        raise NotFound("no such API key")
    digests = sorted({hex_of(d, "documentIds") for d in doc_ids})
    found = await session.scalars(select(TrustedDocument.sha256).where(TrustedDocument.sha256.in_(digests)))
    known = set(found.all())
    missing = [d for d in digests if d not in known]
    if missing:
        raise BadInput(f"not a registered document: {PREFIX}{missing[0]}", field="documentIds")
    await session.execute(delete(ApiKeyDocument).where(ApiKeyDocument.api_key_id == key_id))
    if digests:
        await session.execute(insert(ApiKeyDocument).values([{"api_key_id": key_id, "sha256": d} for d in digests]))
    caller.audit.event("UPDATE", entity_type="api_key", entity_id=str(key_id),
                       details={"trustedDocuments": [PREFIX + d for d in digests]})
    return [PREFIX + d for d in digests]


async def pins_of(session: AsyncSession, key_id: uuid.UUID) -> set[str]:
    """The hex digests an API key is pinned to (empty: not pinned)."""
    rows = await session.scalars(select(ApiKeyDocument.sha256).where(ApiKeyDocument.api_key_id == key_id))
    return set(rows.all())


async def text_of(session: AsyncSession, workspace: str, digest: str) -> str | None:
    """The registered text of a document (cached: a hash names one text forever)."""
    cached = _texts.get((workspace, digest))
    if cached is not None:
        _texts.move_to_end((workspace, digest))
        _remember(_by_digest, digest, cached)  # in use: kept by hash too, however the two caches evict
        return cached
    text = await session.scalar(select(TrustedDocument.body).where(TrustedDocument.sha256 == digest))
    if text is not None:
        _remember(_texts, (workspace, digest), text)
        _remember(_by_digest, digest, text)
    return text


def known_text(doc_id: str) -> str | None:
    """The text of `sha256:<hex>` if this process has registered or looked it up in any workspace, else None
    (also for a malformed id)."""
    try:
        digest = hex_of(doc_id)
    except BadInput:
        return None
    text = _by_digest.get(digest)
    if text is not None:
        _by_digest.move_to_end(digest)
    return text


def _remember(cache: OrderedDict[K, str], key: K, text: str) -> None:
    cache[key] = text
    cache.move_to_end(key)
    if len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)
