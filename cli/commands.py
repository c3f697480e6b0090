"""The one-shot commands: migrate, workspace create/reopen, support-login, rotate-keys, export, audit."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from cli.wiring import Wiring, run_command, with_runtime
from db import audit as audit_log
from db.audit import ChainReport
from db.units import Units
from resolvers.errors import Conflict, DomainError
from resolvers.exports import runner as export_runner
from resolvers.identity import support
from resolvers.runtime import Runtime
from resolvers.workspaces import create as workspaces
from resolvers.workspaces import keys
from resolvers.workspaces import life as workspace_life
from settings import Settings


def migrate(wiring: Wiring, settings: Settings, args: argparse.Namespace) -> int:

    async def work(runtime: Runtime) -> workspaces.MigrationSummary:
        print("catalog: up to date", flush=True)
        summary = await workspaces.migrate_all(runtime.directory, lambda line: print(line, flush=True))
        print(f"migrated {summary.migrated} workspace(s), {summary.failed} failed", flush=True)
        return summary

    with wiring.endpoints(settings) as ep:
        summary = asyncio.run(with_runtime(wiring, settings, ep, work))
    return 1 if summary.failed else 0


def workspace_create(wiring: Wiring, settings: Settings, args: argparse.Namespace) -> int:

    data = workspaces.NewWorkspace(
        args.slug, args.name, args.region or settings.default_region, args.admin_email, args.admin_password
    )

    async def work(runtime: Runtime) -> str:
        tenant = await workspaces.create_workspace(runtime.directory, data)
        return tenant.slug

    with wiring.endpoints(settings) as ep:
        try:
            print(asyncio.run(with_runtime(wiring, settings, ep, work)), flush=True)
        except DomainError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 2
    return 0


def rotate_keys(wiring: Wiring, settings: Settings, args: argparse.Namespace) -> int:
    tty = sys.stderr.isatty()

    def bar(progress: keys.Progress) -> None:
        print(("\r" if tty else "") + keys.render(progress), end="" if tty else "\n", file=sys.stderr, flush=True)

    async def work(runtime: Runtime) -> keys.Rotation:
        done = await keys.rotate(
            runtime.directory, args.workspace, batch_size=args.batch_size, pause_seconds=args.pause, progress=bar
        )
        if tty:
            print(file=sys.stderr)  # end the bar's line
        return done

    return run_command(
        wiring,
        settings,
        work,
        lambda r: f"workspace {args.workspace}: {'resumed, ' if r.resumed else ''}every value on key v{r.version} "
        f"({r.reencrypted} re-encrypted in {r.rows} rows)",
    )


def export(wiring: Wiring, settings: Settings, args: argparse.Namespace) -> int:
    """`export workspace --slug S`: the workspace export run in this process, a progress bar on stderr."""
    tty, shown = sys.stderr.isatty(), [-1]

    def bar(fraction: float) -> None:
        percent = int(fraction * 100)
        if percent != shown[0] and (tty or percent % 5 == 0):
            shown[0] = percent
            line = f"[{'#' * (percent // 4):<25}] {percent:3d}%"
            print(("\r" if tty else "") + line, end="" if tty else "\n", file=sys.stderr, flush=True)

    async def work(runtime: Runtime) -> str:
        job = await export_runner.operator_export(runtime, args.slug, bar)
        print(("\r" if tty else "") + f"[{'#' * 25}] 100%", file=sys.stderr, flush=True)
        if job is None or job.status != "SUCCEEDED":
            raise Conflict(f"the export failed: {job.error if job else 'it was taken over'}")
        return f"{export_runner.file_path(runtime, job)}\n{job.size_bytes} bytes, sha256 {job.sha256}"

    return run_command(wiring, settings, work, lambda text: text)


def audit_command(wiring: Wiring, settings: Settings, args: argparse.Namespace) -> int:
    """`audit verify --workspace S` (exit 1 when the chain is broken), `audit maintain [--workspace S]`,
    `audit seal [--workspace S]`."""

    async def verify(runtime: Runtime) -> int:
        report = await verify_workspace(runtime.units, args.workspace)
        if report is None:
            print(f"error: no workspace {args.workspace!r}", file=sys.stderr, flush=True)
            return 2
        skipped = f", {report.content_skipped} past retention (links only)" if report.content_skipped else ""
        if report.unsealed:
            skipped += f", {report.unsealed} not sealed yet (rows checked against their own digest)"
        if report.ok:
            print(f"audit chain of {args.workspace}: ok, {report.checked_batches} batch(es) verified{skipped}")
            return 0
        print(f"audit chain of {args.workspace}: BROKEN at batch {report.first_broken_seq}: {report.reason}")
        print(f"{report.checked_batches} batch(es) verified before the break{skipped}", flush=True)
        return 1

    async def maintain(runtime: Runtime) -> int:
        slugs = [args.workspace] if args.workspace else await runtime.directory.all_slugs()
        done = await maintain_workspaces(
            runtime.units, slugs, now=datetime.now(UTC), report=lambda line: print(line, flush=True)
        )
        print(f"maintained {done} workspace(s)", flush=True)
        return 0 if done == len(slugs) else 2

    async def seal(runtime: Runtime) -> int:
        slugs = [args.workspace] if args.workspace else await runtime.directory.all_slugs()
        done = await seal_workspaces(runtime.units, slugs, report=lambda line: print(line, flush=True))
        return 0 if done == len(slugs) else 2

    action = {"verify": verify, "maintain": maintain, "seal": seal}[args.action]
    with wiring.endpoints(settings) as ep:
        return int(asyncio.run(with_runtime(wiring, settings, ep, action)))


async def seal_workspaces(units: Units, slugs: Sequence[str], *, report: Callable[[str], None]) -> int:
    """Run the sealer for each workspace until nothing is left unsealed (or another sealer holds the lock);
    returns how many workspaces were found."""
    done = 0
    for slug in slugs:
        total = 0
        while True:
            async with units.workspace_of(slug) as unit:
                sealed = None if unit is None else await audit_log.seal(unit.session)
            total += sealed or 0
            if unit is None or sealed is None or sealed < audit_log.SEAL_LIMIT:
                break
        if unit is None:
            report(f"workspace {slug}: not found")
            continue
        busy = "" if sealed is not None else " (another sealer is at work on it)"
        report(f"workspace {slug}: sealed {total} batch(es){busy}")
        done += 1
    return done


async def verify_workspace(units: Units, slug: str) -> ChainReport | None:
    """The chain report of one workspace, None when there is no such workspace."""
    tenant = await units.directory.get(slug)
    if tenant is None:
        return None
    async with units.read(tenant) as session:
        return await audit_log.verify_chain(session)


async def maintain_workspaces(
    units: Units, slugs: Sequence[str], *, now: datetime, report: Callable[[str], None]
) -> int:
    """Run the partition job for each workspace (its own unit of work); returns how many were maintained."""
    done = 0
    for slug in slugs:
        async with units.workspace_of(slug) as unit:
            changes = None if unit is None else await audit_log.maintain_partitions(unit.session, now=now)
        if changes is None:
            report(f"workspace {slug}: not found")
            continue
        for action, partition in changes:
            report(f"workspace {slug}: {action} {partition}")
        if not changes:
            report(f"workspace {slug}: partitions up to date")
        done += 1
    return done


def workspace_reopen(wiring: Wiring, settings: Settings, args: argparse.Namespace) -> int:
    return run_command(
        wiring,
        settings,
        lambda runtime: workspace_life.reopen(runtime, args.slug),
        lambda ws: f"workspace {ws.slug}: reopened",
    )


def support_login(wiring: Wiring, settings: Settings, args: argparse.Namespace) -> int:
    return run_command(
        wiring, settings, lambda runtime: support.login(runtime, args.workspace, args.reason), lambda s: s.token
    )
