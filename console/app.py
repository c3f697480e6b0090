"""The console as one Starlette mount: `Mount("/admin", ...)` in main.py's app factory."""

from __future__ import annotations

from pathlib import Path

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from console.pages import (
    audit,
    auth,
    contacts,
    duplicates,
    home,
    inventory,
    people,
    permissions,
    requests,
    retention,
    roles,
    workspace,
)
from console.render import SecurityHeaders

STATIC = Path(__file__).parent / "static"
PAGES = (auth, home, requests, contacts, retention, audit, workspace, permissions, people, inventory,
         roles, duplicates)


def mount() -> Mount:
    routes: list[BaseRoute] = [Mount("/static", StaticFiles(directory=STATIC), name="console-static")]
    for module in PAGES:
        routes += module.routes()
    return Mount("/admin", routes=routes, middleware=[Middleware(SecurityHeaders)])
