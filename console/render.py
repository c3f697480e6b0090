"""Templates and the console's response headers: Jinja2 with autoescape, a strict Content-Security-Policy."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import MutableHeaders
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TEMPLATES = Path(__file__).parent / "templates"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


# Hong Kong time (no daylight saving): the console's people read local times; the API stays in UTC.
HKT = timezone(timedelta(hours=8), "HKT")


def when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(HKT).strftime("%Y-%m-%d %H:%M HKT")


def _day(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(HKT).strftime("%Y-%m-%d")


def _size(value: int | None) -> str:
    """Bytes for a person: 4.3 KB, 12.0 MB."""
    if value is None:
        return ""
    size, unit = float(value), "B"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            break
        size /= 1024
    return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"


env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters["when"] = when
env.filters["day"] = _day
env.filters["size"] = _size


def html(template: str, values: dict[str, Any], status: int = 200) -> HTMLResponse:
    return HTMLResponse(env.get_template(template).render(**values), status_code=status)


class SecurityHeaders:
    """Every console response: the CSP (no inline script or style), no framing, no sniffing, no caching."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)
