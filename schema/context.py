"""The request context: principal, workspace, one tenant session, the audit buffer, loaders, redactions.

Concurrency: GraphQL resolves sibling fields concurrently, and one AsyncSession must never run two
statements at once. So every use of the request session goes through `db()` or `mutation()`, which
hold a per-request asyncio.Lock; loaders take the lock inside their batch function, so never await a
loader while holding it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from authz.access import Access
from authz.fields import NON_NULL_FIELDS
from authz.principal import Principal
from db import units
from db.audit import AuditActor, AuditBuffer
from db.sessions import ShieldedSession, request_session_factory
from db.tenancy import Tenant
from resolvers import policies
from resolvers.errors import DomainError, RateLimited, Unauthenticated
from resolvers.identity import accounts as identity
from resolvers.runtime import Caller, Runtime
from resolvers.workspaces.create import SLUG
from schema.loaders import Loaders, build_loaders

log = logging.getLogger("crm.graphql")
# How long an abandoned request waits for its cancelled statements before it drops their connection instead.
ABANDON_WAIT_S = 5.0


@dataclass
class Redaction:
    path: list[str | int]
    field: str
    count: int
    in_list: bool


@dataclass
class Context:
    request: Request
    response: Response | None
    runtime: Runtime
    request_id: str
    audit: AuditBuffer
    bearer: identity.Bearer | None
    redactions: list[Redaction] = field(default_factory=list)
    tenant: Tenant | None = None
    session: ShieldedSession | None = None
    _caller: Caller | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _loaders: Loaders | None = None
    failed_auth: Exception | None = None
    idempotency: tuple[uuid.UUID, str] | None = None  # (API key, Idempotency-Key) claimed by schema.preflight
    # `schema.selection.node_fields` per (field nodes, path): the 600 items of a list ask the same question
    selections: dict[tuple[Any, ...], list[Any]] = field(default_factory=dict)

    async def caller(self) -> Caller:
        if self._caller is not None:
            return self._caller
        if self.failed_auth is not None:
            raise self.failed_auth
        async with self._lock:
            if self._caller is None:
                try:
                    self._caller = await self._authenticate()
                except Exception as exc:
                    self.failed_auth = exc
                    raise
        return self._caller

    @property
    def authenticated_workspace(self) -> str:
        """The slug of the workspace the caller was authenticated in, if that already happened; else ""."""
        return self._caller.tenant.slug if self._caller is not None else ""

    async def authenticated(self) -> bool:
        """Whether the request carries valid credentials (without raising)."""
        try:
            await self.caller()
        except DomainError:
            return False
        return True

    async def _authenticate(self) -> Caller:
        if self.bearer is None:
            raise Unauthenticated("sign in: send 'Authorization: Bearer <token or API key>'")
        # A made-up API key names a made-up workspace: not a possible slug, no catalog query at all.
        tenant = await self.runtime.directory.get(self.bearer.workspace) if SLUG.match(self.bearer.workspace) else None
        if tenant is None or not tenant.active:
            raise Unauthenticated("the workspace does not exist or is closed")
        session = self._open(tenant)
        principal = await identity.authenticate(session, self.runtime, tenant, self.bearer)
        policy = await policies.workspace_policy(session, self.runtime, tenant.slug)
        access = Access(principal, policy.table(principal.roles))
        self.audit.actor = replace(
            self.audit.actor, actor_id=principal.id, actor_kind=principal.kind, policy_version=policy.version
        )
        await self._count_request(tenant, principal)
        return Caller(self.runtime, tenant, principal, access, self.audit, policy)

    async def _count_request(self, tenant: Tenant, principal: Principal) -> None:
        """One request of this principal against its per-minute limit; the numbers go in the response headers."""
        if self.runtime.rate_limits is None:
            return
        quota = await self.runtime.rate_limits.hit(tenant.slug, principal)
        if self.response is not None:
            self.response.headers.update(quota.headers())
        if not quota.allowed:
            raise RateLimited(f"too many requests: at most {quota.limit} a minute; retry in {quota.reset_seconds} s")

    def _open(self, tenant: Tenant) -> ShieldedSession:
        if self.session is None:
            self.tenant = tenant
            self.session = request_session_factory(tenant.engine)()
        elif self.tenant is None or self.tenant.slug != tenant.slug:
            raise Unauthenticated("one request works in one workspace")
        return self.session

    async def open_workspace(self, slug: str) -> AsyncSession:
        """For `login`: the workspace is named by the argument, not by a token."""
        # Not a possible slug (a NUL byte would even fail the catalog query): no such workspace.
        tenant = await self.runtime.directory.get(slug) if SLUG.match(slug) else None
        if tenant is None or not tenant.active:
            raise Unauthenticated("wrong workspace, email or password")
        return self._open(tenant)

    @asynccontextmanager
    async def db(self) -> AsyncIterator[tuple[AsyncSession, Caller]]:
        caller = await self.caller()
        async with self._lock:
            assert self.session is not None
            await self.session.settle()  # a cancelled resolver's statement may still be running
            yield self.session, caller

    @asynccontextmanager
    async def mutation(self) -> AsyncIterator[tuple[AsyncSession, Caller]]:
        """A SAVEPOINT: a mutation that fails leaves nothing behind in the request transaction (nor in the audit
        buffer, but for DENIED events)."""
        caller = await self.caller()
        async with self._lock:
            assert self.session is not None
            await self.session.settle()
            mark = self.audit.savepoint()
            try:
                async with self.session.begin_nested():
                    yield self.session, caller
            except BaseException:
                self.audit.rollback_to(mark)  # its CREATE/UPDATE/... events are rolled back with it
                raise

    @asynccontextmanager
    async def locked_session(self) -> AsyncIterator[AsyncSession]:
        async with self._lock:
            assert self.session is not None
            await self.session.settle()
            yield self.session

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = build_loaders(self)
        return self._loaders

    def _release_loaders(self) -> None:
        """Once the operation has run: the loaders' batch functions hold this context, and their caches every
        record they loaded, a cycle that only a full garbage collection would free (10,000-20,000 objects per
        heavy query, most of what the API's full collections found). Emptied and let go, all of it is freed as
        soon as the response is sent."""
        loaders, self._loaders = self._loaders, None
        if loaders is not None:
            for loader in vars(loaders).values():
                loader.clear_all()

    def redact(self, path: list[str | int], field_name: str, count: int = 1, *, in_list: bool = False) -> None:
        self.redactions.append(Redaction(path, field_name, count, in_list))

    def redact_record(self, info: Any, record: Any) -> None:
        """One FORBIDDEN error per denied (nullable) field of a single object, its path pointing at it."""
        self.redact_record_at(info.path.as_list(), record)

    def redact_record_at(self, base: list[str | int], record: Any) -> None:
        for name in record.denied:
            if f"{record.entity}.{name}" not in NON_NULL_FIELDS:
                self.redact([*base, name.split(".")[0]], name)

    def redact_page(self, info: Any, page: Any) -> None:
        """One summarised FORBIDDEN error per list: each denied field path pattern and its count."""
        self.redact_page_at(info.path.as_list(), page)

    def redact_page_at(self, base: list[str | int], page: Any) -> None:
        counts: dict[str, int] = {}
        for record in page.items:
            for name in record.denied:
                if f"{record.entity}.{name}" not in NON_NULL_FIELDS:
                    counts[name] = counts.get(name, 0) + 1
        for name, count in counts.items():
            self.redact(base, name, count, in_list=True)

    async def finish(self, *, ok: bool) -> None:
        """End the unit of work (`db.units`): flush the audit buffer and commit (or roll back, then still audit);
        after a commit, the after-commit steps and the jobs, whose failures never fail the request."""
        self._release_loaders()
        session = self.session
        if session is None:
            return
        try:
            written = await units.finish(session, self.audit, ok=ok)
        finally:
            self.session = None
        if written and self.tenant is not None:
            self.runtime.audit_written(self.tenant.slug)  # the sealer links the batch into the chain soon
        caller = self._caller
        if caller is not None and ok:
            await units.after_commit(caller.after_commit, caller.jobs, self.runtime.send_job)

    async def abandon(self) -> None:
        """After a cancelled operation: roll back and close; nothing is written, no job is sent."""
        self._release_loaders()
        session, self.session = self.session, None
        if session is None:
            return
        try:
            # A cancelled resolver's statement may still be running on the connection (shielded): a rollback sent
            # beside it would leave the connection in a state the next request trips on ("cannot use
            # Connection.transaction() in a manually started transaction"). Let it end first, or drop it.
            settled = await _settled(session, ABANDON_WAIT_S)
            if not settled:
                log.warning("request %s: a cancelled statement is still running; its connection is discarded",
                            self.request_id)
                with contextlib.suppress(SQLAlchemyError):
                    await session.invalidate()
                return
            await session.rollback()
            await session.close()
        except SQLAlchemyError as exc:
            # Cancelled while the session was still checking out its connection (IllegalStateChangeError): no
            # statement ran on it, so nothing is written; drop the connection rather than answer a bare 500.
            log.warning("request %s: the cancelled session could not be closed (%s); its connection is discarded",
                        self.request_id, type(exc).__name__)
            with contextlib.suppress(SQLAlchemyError):
                await session.invalidate()


async def _settled(session: ShieldedSession, seconds: float) -> bool:
    """Whether the session's in-flight statements ended within `seconds` (they run on whatever happens)."""
    try:
        await asyncio.wait_for(session.settle(), seconds)
    except TimeoutError:
        return False
    return True


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def build_context(request: Request, response: Response | None, runtime: Runtime) -> Context:
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    actor = AuditActor(
        actor_id=None,
        actor_kind="user",
        request_id=request_id[:64],
        client_ip=client_ip(request),
        user_agent=(request.headers.get("user-agent") or "")[:300] or None,
    )
    audit = AuditBuffer(actor)
    try:
        bearer = identity.read_bearer(runtime, request.headers.get("authorization"))
        failed: Exception | None = None
    except Unauthenticated as exc:
        bearer, failed = None, exc
    return Context(
        request=request,
        response=response,
        runtime=runtime,
        request_id=request_id,
        audit=audit,
        bearer=bearer,
        failed_auth=failed,
    )
