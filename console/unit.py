"""One console request = one unit of work, built exactly as GraphQL builds it (schema/context.py).

`page(request, operation, work)` reads the cookie session, builds the same `Context` (principal, Access,
audit buffer, tenant session) from the session's bearer token, checks the CSRF token of a form, runs
`work`, and finishes the unit of work (audit flush, commit) *before* the page leaves. Typed errors become
pages: FORBIDDEN a 403 page (audited as DENIED, as the API does), NOT_FOUND a 404 page, bad input or a
conflict a page naming the problem; anything else a 500 page with the request id.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from authz.errors import AccessDenied
from console import session as cookie
from console.i18n import Translator, language_of
from console.render import html
from console.session import ConsoleSession
from resolvers.errors import TYPED, NotFound, Unauthenticated
from resolvers.identity import accounts as identity
from resolvers.runtime import Caller, Runtime
from schema.context import Context, build_context

log = logging.getLogger("crm.console")
STATUS = {"BAD_USER_INPUT": 400, "CONFLICT": 409, "RATE_LIMITED": 429, "NOT_FOUND": 404, "FORBIDDEN": 403}

# The console's pages and the permission each needs: the nav shows a page only when authz allows it, and the
# page's handler asks authz again (so typing the URL gives the same answer).
NAV: tuple[tuple[str, str, str, str], ...] = (
    ("home", "/admin/", "", ""),
    ("requests", "/admin/requests", "data_request", "read"),
    ("contacts", "/admin/contacts", "contact", "read"),
    ("retention", "/admin/retention", "retention_policy", "read"),
    ("audit", "/admin/audit", "audit", "read"),
    ("permissions", "/admin/permissions", "policy", "read"),
    ("people", "/admin/people", "user", "read"),
    ("inventory", "/admin/inventory", "field_definition", "read"),
    ("workspace", "/admin/workspace", "workspace", "read"),
)


@dataclass
class Console:
    """What a page handler gets: the request, its words, the GraphQL-equivalent context and the form."""

    request: Request
    ctx: Context
    session: ConsoleSession
    t: Translator
    form: FormData | None = None
    caller: Caller | None = None
    cookies: list[ConsoleSession] = field(default_factory=list)

    @property
    def runtime(self) -> Runtime:
        return self.ctx.runtime

    @asynccontextmanager
    async def db(self) -> AsyncIterator[tuple[AsyncSession, Caller]]:
        async with self.ctx.db() as (db, caller):
            yield db, caller

    @asynccontextmanager
    async def mutation(self) -> AsyncIterator[tuple[AsyncSession, Caller]]:
        async with self.ctx.mutation() as (db, caller):
            yield db, caller

    async def require(self, resource: str, action: str) -> Caller:
        """The page's permission: authz decides (FORBIDDEN becomes the 403 page)."""
        caller = await self.ctx.caller()
        caller.access.require(resource, action)
        return caller

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else self.request.query_params.get(name)
        return str(value).strip() if isinstance(value, str) else default

    def values(self, **extra: Any) -> dict[str, Any]:
        caller = self.caller
        nav = [
            (key, href)
            for key, href, resource, action in NAV
            if caller is not None and (not resource or caller.access.can(resource, action))
        ]
        return {
            "t": self.t,
            "lang": self.t.language,
            "csrf": self.session.csrf(self.runtime.secret_key),
            "path": self.request.url.path,
            "query": self.request.url.query,
            "nav": nav,
            "workspace": self.session.workspace,
            "done": self.request.query_params.get("done"),
            **extra,
        }

    def render(self, template: str, status: int = 200, **extra: Any) -> Response:
        return html(template, self.values(**extra), status)


def see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = see_other(f"/admin/login?next={quote(target)}")
    cookie.clear(response)
    return response


def error_page(console: Console, code: str, message: str, status: int) -> Response:
    return console.render("error.html", status=status, code=code, message=message)


async def page(request: Request, operation: str, work: Callable[[Console], Awaitable[Response]]) -> Response:
    runtime: Runtime = request.state.runtime
    current = cookie.read(request, runtime.secret_key)
    if current is None or current.token is None:
        return to_login(request)
    ctx = build_context(request, None, runtime)
    try:
        ctx.bearer = identity.read_bearer(runtime, f"Bearer {current.token}")
    except Unauthenticated:
        return to_login(request)
    console = Console(request, ctx, current, Translator(language_of(request)))
    if request.method == "POST":
        console.form = await request.form()
        if not current.csrf_ok(runtime.secret_key, console.form.get("csrf")):  # type: ignore[arg-type]
            return error_page(console, "FORBIDDEN", console.t("error.csrf"), 403)
    unexpected = False
    try:
        console.caller = await ctx.caller()
        response = await work(console)
    except Unauthenticated:
        await _finish(ctx, ok=True)
        return to_login(request)
    except TYPED as exc:
        if isinstance(exc, AccessDenied):
            ctx.audit.denied(None, None, [exc.field] if exc.field else [],
                             details={"operation": f"console.{operation}", "reason": str(exc)})
            response = error_page(console, "FORBIDDEN", console.t("error.forbidden"), 403)
        elif isinstance(exc, NotFound):
            response = error_page(console, "NOT_FOUND", console.t("error.not_found"), 404)
        else:
            response = error_page(console, exc.code, str(exc), STATUS.get(exc.code, 400))
    except Exception:
        unexpected = True
        log.exception("request %s: console %s failed", ctx.request_id, operation)
        response = error_page(console, "INTERNAL", console.t("error.internal", id=ctx.request_id), 500)
    if not await _finish(ctx, ok=not unexpected):
        return error_page(console, "INTERNAL", console.t("error.internal", id=ctx.request_id), 500)
    response.headers.setdefault("X-Request-Id", ctx.request_id)
    return response


async def _finish(ctx: Context, *, ok: bool) -> bool:
    try:
        await ctx.finish(ok=ok)
    except Exception:
        log.exception("request %s: audit flush or commit failed; no page returned", ctx.request_id)
        return False
    return True


@dataclass(frozen=True)
class Refusal:
    """A typed refusal of a form's mutation, shown inline next to the form."""

    code: str
    message: str
    detail: str | None = None  # its detail (LEGAL_HOLD, MINIMUM_RETENTION...): the page says it in words

    @property
    def status(self) -> int:
        return STATUS.get(self.code, 400)


async def attempt(work: Callable[[], Awaitable[Any]], *, denied_inline: tuple[Console, str, str] | None = None
                  ) -> Refusal | None:
    """Run a form's mutation; a typed refusal (bad input, conflict, the lockout guard) becomes the message shown
    inline. Its savepoint is rolled back, so nothing changed. FORBIDDEN still becomes the 403 page, unless
    `denied_inline` = (console, operation, message key): then it is audited as DENIED (as the API does) and shown
    inline, for forms a person may see but not use (binding a role without `policy write`)."""
    try:
        await work()
    except AccessDenied as exc:
        if denied_inline is None:
            raise
        console, operation, message = denied_inline
        console.ctx.audit.denied(None, None, [exc.field] if exc.field else [],
                                 details={"operation": f"console.{operation}", "reason": str(exc)})
        return Refusal("FORBIDDEN", console.t(message))
    except TYPED as exc:
        return Refusal(exc.code, str(exc), getattr(exc, "detail", None))
    return None


def in_words(console: Console, refused: Refusal) -> str:
    """A refusal for a person: the catalogue's sentence for its detail (LEGAL_HOLD, ROLE_IN_USE...) in the page's
    language, followed by the resolver's own explanation; the resolver's message alone when there is none."""
    key = f"refusal.{refused.detail}"
    sentence = console.t(key) if refused.detail else key
    return refused.message if sentence == key else f"{sentence} ({refused.message})"
