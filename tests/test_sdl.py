"""The checked-in SDL is the running schema (regenerate with `python -m schema`)."""

from pathlib import Path

from schema.root import sdl


def test_checked_in_sdl_matches_the_running_schema() -> None:
    checked_in = (Path(__file__).resolve().parent.parent / "schema" / "schema.graphql").read_text()
    assert checked_in == sdl(), "schema/schema.graphql is stale: run `python -m schema`"
