"""`tls_args`: no TLS to a server on this machine unless the URL asks for it; every other host keeps asyncpg's
default (`prefer`)."""

from __future__ import annotations

import pytest

from db.sessions import database_url, tls_args


@pytest.mark.parametrize(
    "server",
    [
        "postgresql://app@127.0.0.1:5432/postgres",
        "postgresql://app@localhost/postgres",
        "postgresql://app@[::1]:5432/postgres",
        "postgresql:///postgres",
        "postgresql://app@/postgres?host=/var/run/postgresql",
    ],
)
def test_a_server_on_this_machine_gets_no_tls(server: str) -> None:
    assert tls_args(database_url(server, "crm_ws_a")) == {"ssl": False}


@pytest.mark.parametrize(
    "server",
    [
        "postgresql://app@db.example.com/postgres",
        "postgresql://app@10.0.0.5:5432/postgres",
        "postgresql://app@127.0.0.1/postgres?ssl=require",
        "postgresql://app@localhost/postgres?sslmode=verify-full",
        "postgresql://app@/postgres?host=127.0.0.1,db.example.com",
    ],
)
def test_any_other_host_or_a_url_that_asks_keeps_the_drivers_choice(server: str) -> None:
    assert tls_args(database_url(server, "crm_ws_a")) == {}
