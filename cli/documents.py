"""`documents register --workspace S --file F`: register a client's trusted documents at deploy time.

The file is JSON: an object mapping each document's id (`sha256:<hex>` or the bare hex, as graphql-codegen's
`persisted-documents.json` has it) to its text, or a list of texts. Every id must be the SHA-256 of its text
and every document must validate against the schema; otherwise nothing is registered (one unit of work).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cli.wiring import Wiring, run_command
from resolvers import documents
from resolvers.errors import BadInput, NotFound
from resolvers.runtime import Runtime
from schema.root import build_schema
from settings import Settings


def read_documents(path: Path) -> list[str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInput(f"cannot read {path}: {exc}", field="file") from exc
    if isinstance(data, list) and all(isinstance(d, str) for d in data):
        return list(data)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise BadInput("the file must be a JSON object {id: document} or a list of documents", field="file")
    for given, text in data.items():
        expected = documents.document_id(text)
        if given.lower() not in (expected, expected[len(documents.PREFIX):]):
            raise BadInput(f"{given} is not the SHA-256 of its document ({expected})", field="file")
    return list(data.values())


def register(wiring: Wiring, settings: Settings, args: argparse.Namespace) -> int:
    schema = build_schema()._schema

    async def work(runtime: Runtime) -> list[str]:
        texts = read_documents(Path(args.file))
        async with runtime.units.workspace_of(args.workspace) as unit:
            if unit is None:
                raise NotFound(f"no workspace {args.workspace!r}")
            done = []
            for text in texts:
                row = await documents.register(unit.session, None, schema, text, args.name)
                done.append(documents.PREFIX + row.sha256)
                unit.audit.event("CREATE", entity_type="trusted_document", entity_id=row.sha256)
            return done

    return run_command(
        wiring, settings, work, lambda ids: "\n".join([*ids, f"registered {len(ids)} document(s) in {args.workspace}"])
    )
