"""A schema clients can rely on: the breaking changes between a base SDL (main's, at the merge-base) and ours.

`python -m schema.compat [REF]` prints them and exits 1 when there is one (REF defaults to `CRM_SCHEMA_BASE`,
else the merge-base of HEAD and `main`). Breaking = graphql-core's `find_breaking_changes` (removed types,
fields, arguments or enum values, changed types, new required arguments or input fields). Deprecate with
`@deprecated(reason: ...)` and a CHANGELOG entry instead; removal waits for the contract's deprecation window.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from graphql import build_schema, find_breaking_changes

ROOT = Path(__file__).resolve().parent.parent
SDL_PATH = "schema/schema.graphql"


def base_ref() -> str:
    explicit = os.environ.get("CRM_SCHEMA_BASE")
    if explicit:
        return explicit
    for branch in ("main", "origin/main"):
        found = subprocess.run(["git", "merge-base", "HEAD", branch], cwd=ROOT, capture_output=True, text=True)
        if found.returncode == 0:
            return found.stdout.strip()
    raise LookupError("no `main` branch to compare with: set CRM_SCHEMA_BASE to a commit")


def sdl_at(ref: str) -> str:
    shown = subprocess.run(["git", "show", f"{ref}:{SDL_PATH}"], cwd=ROOT, capture_output=True, text=True)
    if shown.returncode != 0:
        raise LookupError(f"{SDL_PATH} is not in {ref}: {shown.stderr.strip()}")
    return shown.stdout


def breaking_changes(old_sdl: str, new_sdl: str) -> list[str]:
    changes = find_breaking_changes(build_schema(old_sdl), build_schema(new_sdl))
    return [f"{change.type.name}: {change.description}" for change in changes]


def main(argv: list[str]) -> int:
    ref = argv[0] if argv else base_ref()
    changes = breaking_changes(sdl_at(ref), (ROOT / SDL_PATH).read_text())
    for line in changes:
        print(line)
    print(f"{len(changes)} breaking change(s) against {ref[:12]}", file=sys.stderr)
    return 1 if changes else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
