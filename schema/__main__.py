"""`python -m schema` writes schema/schema.graphql, the SDL checked in for client code generators."""

from pathlib import Path

from schema.root import sdl

Path(__file__).with_name("schema.graphql").write_text(sdl())
