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
from db.audit import AuditBuffer
from db.models.base import utcnow
from db.tenancy import Tenant, TenantDirectory
from resolvers.exports.options import ExportOptions
from resolvers.mail import Mailer
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
    grace_days: int = 30
    job_sender: Callable[[str, dict[str, str]], None] | None = None
    mailer: Mailer = field(default_factory=Mailer)  # SMTP_URL, or the log in development
    exports: ExportOptions = field(default_factory=ExportOptions)
    webhooks: WebhookOptions = field(default_factory=WebhookOptions)
    # The business clock (deadlines, retention ages); tests replace it to move time.
    clock: Callable[[], datetime] = utcnow

    def now(self) -> datetime:
        return self.clock()

    def send_job(self, actor_name: str, kwargs: dict[str, str]) -> None:
        if self.job_sender is None:
            raise RuntimeError(f"no job broker configured to send {actor_name}")
        self.job_sender(actor_name, kwargs)


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
