"""Sign in, sign out and the language switch.

Sign-in calls the same `login` resolver as the GraphQL mutation, in a unit of work of its own (so the
LOGIN / LOGIN_FAILED audit rows are committed either way), and keeps the session token in the cookie; sign-out
calls the same `logout`, so the token stops working and not only the cookie.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console import session as cookie
from console.i18n import LANGUAGES, Translator, language_of
from console.render import html
from console.session import ConsoleSession
from console.unit import Console, page, see_other
from resolvers.errors import DomainError
from resolvers.identity import accounts as identity
from resolvers.identity import sessions
from resolvers.runtime import Runtime
from schema.context import build_context

log = logging.getLogger("crm.console")
# The identity branch adds `otp` to the login resolver; until then the field is accepted and not needed.
ERRORS = {"UNAUTHENTICATED": "login.error.wrong", "RATE_LIMITED": "login.error.throttled"}


def safe_next(value: str | None) -> str:
    """Only a console path: never an open redirect."""
    if value and value.startswith("/admin") and not value.startswith("//") and "\\" not in value:
        return value
    return "/admin/"


def _form(request: Request, current: ConsoleSession, runtime: Runtime, status: int = 200, **values: object) -> Response:
    t = Translator(language_of(request))
    response = html(
        "login.html",
        {
            "t": t,
            "lang": t.language,
            "csrf": current.csrf(runtime.secret_key),
            "path": request.url.path,
            "query": request.url.query,
            "nav": [],
            "next": safe_next(request.query_params.get("next")),
            **values,
        },
        status,
    )
    cookie.write(response, request, current, runtime.secret_key)
    return response


async def login_page(request: Request) -> Response:
    runtime: Runtime = request.state.runtime
    current = cookie.read(request, runtime.secret_key) or ConsoleSession.fresh()
    if request.method == "GET":
        return _form(request, current, runtime, workspace_value=current.workspace or "")
    form = await request.form()
    t = Translator(language_of(request))
    workspace, email = str(form.get("workspace", "")).strip(), str(form.get("email", "")).strip()
    password, otp = str(form.get("password", "")), str(form.get("otp", "")).strip()
    values = {"workspace_value": workspace, "email_value": email}
    if not current.csrf_ok(runtime.secret_key, form.get("csrf")):  # type: ignore[arg-type]
        return _form(request, ConsoleSession.fresh(), runtime, 403, error=t("error.csrf"), **values)
    if not workspace or not email or not password:
        return _form(request, current, runtime, 400, error=t("login.error.missing"), **values)
    ctx = build_context(request, None, runtime)
    error: str | None = None
    try:
        db = await ctx.open_workspace(workspace)
        assert ctx.tenant is not None
        async with ctx.locked_session():
            result = await identity.login(
                db, runtime, ctx.tenant, ctx.audit, email, password, ctx.audit.actor.client_ip, otp or None
            )
    except DomainError as exc:
        detail = exc.extensions().get("reason") or exc.detail
        error = t("login.error.mfa") if detail == "MFA_REQUIRED" else t(ERRORS.get(exc.code, "login.error.wrong"))
    try:
        await ctx.finish(ok=True)
    except Exception:
        log.exception("request %s: console sign-in could not be recorded", ctx.request_id)
        return _form(request, current, runtime, 500, error=t("error.internal", id=ctx.request_id), **values)
    if error is not None:
        return _form(request, current, runtime, 401, error=error, **values)
    response = see_other(safe_next(str(form.get("next") or "")))
    cookie.write(response, request, ConsoleSession.fresh(result.token, workspace), runtime.secret_key)
    return response


async def _end_session(console: Console) -> Response:
    """The same `logout` as GraphQL: the session's token (and its refresh token) stop working, then the cookie
    forgets it (keeping the workspace for the next sign-in)."""
    async with console.mutation() as (db, caller):
        await sessions.end(db, caller)
    response = see_other("/admin/login")
    cookie.write(response, console.request, ConsoleSession.fresh(None, console.session.workspace),
                 console.runtime.secret_key)
    return response


async def logout(request: Request) -> Response:
    runtime: Runtime = request.state.runtime
    current = cookie.read(request, runtime.secret_key)
    if current is None or current.token is None:
        return see_other("/admin/login")
    return await page(request, "logout", _end_session)


async def language(request: Request) -> Response:
    """`/admin/lang?to=zh-Hant&next=/admin/...`: a link, so it works from every page without a form."""
    chosen = request.query_params.get("to")
    response = see_other(safe_next(request.query_params.get("next")))
    if chosen in LANGUAGES:
        response.set_cookie(cookie.LANG_COOKIE, chosen, max_age=365 * 86400, path=cookie.PATH, samesite="lax",
                            secure=request.url.scheme == "https")
    return response


def routes() -> list[Route]:
    return [
        Route("/login", login_page, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/lang", language, methods=["GET"]),
    ]
