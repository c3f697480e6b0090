"""Process-wide services (created once in the app's or the worker's lifespan) and the per-call `Caller`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from redis.asyncio import Redis

from authz.access import Access
from authz.principal import Principal
from authz.reload import PolicyVersions
from authz.store import PolicyStore, WorkspacePolicy
from db.audit import AuditBuffer, SealNudge
from db.models.base import utcnow
from db.tenancy import Tenant, TenantDirectory
from db.units import Units
from resolvers import offload
from resolvers.exports.options import ExportOptions
from resolvers.identity.throttle import LoginLimits
from resolvers.mail import Mailer
from resolvers.rate_limits import RequestLimits
from resolvers.webhooks.options import WebhookOptions


@dataclass
class Runtime:
    directory: TenantDirectory
    policies: PolicyStore
    versions: PolicyVersions
    redis: Redis
    secret_key: str
    master_key: str
    production: bool = False
    export_dir: Path = Path("./.data/exports")
    token_ttl_seconds: int = 8 * 3600
    refresh_ttl_seconds: int = 30 * 86400  # a session (refresh-token family) lasts at most this long
    api_key_default_days: int = 365  # CRM_API_KEY_DEFAULT_DAYS: expiry of an API key created without one
    grace_days: int = 30
    job_sender: Callable[[str, dict[str, str]], None] | None = None
    mailer: Mailer = field(default_factory=Mailer)  # SMTP_URL, or the log in development
    exports: ExportOptions = field(default_factory=ExportOptions)
    rate_limits: RequestLimits | None = None  # requests a minute per user or API key (the API; workers: None)
    login_limits: LoginLimits = field(default_factory=LoginLimits)
    webhooks: WebhookOptions = field(default_factory=WebhookOptions)
    import_batch_rows: int = 500  # CRM_IMPORT_BATCH_ROWS: file rows per import batch (one transaction each)
    # The business clock (deadlines, retention ages); tests replace it to move time.
    clock: Callable[[], datetime] = utcnow
    _seal_nudge: SealNudge | None = field(default=None, init=False, repr=False)

    def now(self) -> datetime:
        return self.clock()

    @property
    def units(self) -> Units:
        """Units of work on the catalog and the workspaces, for the work that needs several transactions."""
        return Units(self.directory, self.send_job, self.audit_written)

    def audit_written(self, slug: str) -> None:
        """A unit of work on `slug` committed audit rows: ask for a sealer run soon (throttled per workspace)."""
        if self.job_sender is None:
            return  # no broker (a bench or a test running jobs in-process): `audit seal` or the caller seals
        if self._seal_nudge is None:
            self._seal_nudge = SealNudge(self.send_job)
        self._seal_nudge.written(slug)

    async def send_job(self, actor_name: str, kwargs: dict[str, str]) -> None:
        """Enqueue a Dramatiq message; the broker's Redis client blocks, so it runs in the blocking pool."""
        if self.job_sender is None:
            raise RuntimeError(f"no job broker configured to send {actor_name}")
        await offload.blocking(self.job_sender, actor_name, kwargs)


@dataclass
class Caller:
    """Who is calling, in which workspace, with which decisions; and what to do after commit."""

    runtime: Runtime
    tenant: Tenant
    principal: Principal
    access: Access
    audit: AuditBuffer
    policy: WorkspacePolicy
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    jobs: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def roles_of(self, user_id: object) -> list[str]:
        return sorted(self.policy.roles_of(f"user:{user_id}"))

    def enqueue(self, actor_name: str, **kwargs: str) -> None:
        """Send a Dramatiq message by actor name once the unit of work commits (dropped on rollback)."""
        self.jobs.append((actor_name, kwargs))
