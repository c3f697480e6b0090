"""`cli.server.with_public_url`: outside production, links name the address the server listens on."""

from __future__ import annotations

import os

import pytest

from cli.server import with_public_url
from settings import Settings


@pytest.fixture(autouse=True)
def no_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    # set, then removed: monkeypatch restores the variable's first state (absent or not) after the test, which also
    # takes back what `with_public_url` itself writes to the environment
    monkeypatch.setenv("CRM_PUBLIC_URL", "")
    monkeypatch.delenv("CRM_PUBLIC_URL")


@pytest.mark.parametrize(("scheme", "host", "port", "url"), [
    ("http", "127.0.0.1", 8765, "http://127.0.0.1:8765"),
    ("https", "crm.local", 8443, "https://crm.local:8443"),
    ("http", "0.0.0.0", 8000, "http://127.0.0.1:8000"),
    ("http", "::1", 9000, "http://[::1]:9000"),
])
def test_an_unset_public_url_becomes_the_served_address_here_and_for_child_processes(
    scheme: str, host: str, port: int, url: str
) -> None:
    settings = with_public_url(Settings(), scheme, host, port)
    assert settings.public_url == url
    assert os.environ["CRM_PUBLIC_URL"] == url  # the heavy lane and `--workers` processes read it
    assert Settings().public_url == url


def test_a_public_url_that_is_set_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_PUBLIC_URL", "https://crm.example.hk")
    assert with_public_url(Settings(), "http", "127.0.0.1", 8765).public_url == "https://crm.example.hk"


def test_production_is_never_given_a_made_up_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(CRM_ENV="production")
    assert with_public_url(settings, "http", "127.0.0.1", 8765).public_url is None
    assert "CRM_PUBLIC_URL" not in os.environ
