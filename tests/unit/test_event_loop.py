"""`CRM_EVENT_LOOP`: which loop the servers run on (`cli.event_loop`)."""

from __future__ import annotations

import asyncio

import pytest
import uvloop
from pydantic import ValidationError

from cli import event_loop
from settings import Settings


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


def test_the_servers_run_on_uvloop_by_default() -> None:
    choice = Settings().event_loop
    assert choice == "uvloop"
    assert event_loop.run(_loop_type(), choice) is uvloop.Loop


def test_the_standard_librarys_loop_can_be_chosen() -> None:
    choice = Settings(CRM_EVENT_LOOP="asyncio").event_loop
    assert not issubclass(event_loop.run(_loop_type(), choice), uvloop.Loop)


def test_an_unknown_loop_is_refused() -> None:
    with pytest.raises(ValidationError, match="CRM_EVENT_LOOP"):
        Settings(CRM_EVENT_LOOP="trio")
