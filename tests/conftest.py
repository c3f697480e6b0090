"""Test fixtures: each run gets its own databases (a random prefix) and, without DATABASE_URL / REDIS_URL,
its own embedded PostgreSQL and Redis under a throwaway data dir. The environment is set before the first
import of `settings`.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = secrets.token_hex(4)
DATA_DIR = ROOT / ".data" / f"test-{RUN}"
os.environ["CRM_DB_PREFIX"] = f"crmt{RUN}"
os.environ["CRM_DATA_DIR"] = str(DATA_DIR)
os.environ["CRM_SECRET_KEY"] = "test-secret-" + secrets.token_urlsafe(24)
os.environ["CRM_MASTER_KEY"] = "test-master-" + secrets.token_urlsafe(24)
os.environ.setdefault("CRM_ENV", "development")
# Tests create many workspaces: keep few engines (and so connections) open at a time.
os.environ.setdefault("CRM_MAX_ENGINES", "6")
# Every test client comes from one address (10.1.2.3): the per-address login limit would count the whole
# suite's failed logins. tests/api/test_login_throttle.py checks the limits with clients of their own.
os.environ.setdefault("CRM_LOGIN_LIMIT_PER_ADDRESS", "100000")
# Concurrent-login tests run 20-40 argon2 checks at once; on two busy cores (CI beside other work) that can pass the
# 10 s production default, which tests/api/test_query_cost.py checks with a timeout of its own.
os.environ.setdefault("CRM_OPERATION_TIMEOUT_S", "60")

import main  # noqa: E402
from db import roles, tenancy  # noqa: E402 - the environment above must be set first
from resolvers.runtime import Runtime  # noqa: E402
from settings import Settings  # noqa: E402
from tests.api.helpers import on_runtime  # noqa: E402
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory  # noqa: E402


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def endpoints(settings: Settings) -> Iterator[main.Endpoints]:
    with main.endpoints(settings) as ep:
        yield ep
        import asyncio

        asyncio.run(_drop_test_databases(ep, settings.db_prefix, settings.app_role()[0]))
    shutil.rmtree(DATA_DIR, ignore_errors=True)


async def _drop_test_databases(ep: main.Endpoints, prefix: str, app_role: str) -> None:
    for server in set(ep.regions.values()):
        await tenancy.drop_databases_with_prefix(server, prefix)
        await roles.drop_role(server, app_role)


@pytest.fixture(scope="session")
async def runtime(settings: Settings, endpoints: main.Endpoints) -> AsyncIterator[Runtime]:
    rt = await main.open_runtime(settings, endpoints)
    rt.versions.start()
    yield rt
    await main.close_runtime(rt)


@pytest.fixture(scope="session")
async def http(settings: Settings, endpoints: main.Endpoints, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = main.create_app(settings, endpoints)

    with_state = on_runtime(app, runtime)

    transport = httpx.ASGITransport(app=with_state, client=("10.1.2.3", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture(scope="session")
def gql(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http)


@pytest.fixture(scope="session")
def workspaces(runtime: Runtime, gql: GraphQLClient) -> WorkspaceFactory:
    return WorkspaceFactory(runtime, gql)
