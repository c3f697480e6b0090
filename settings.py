"""The one Settings class: environment variables (and an optional `.env`) read once.

Only `main.py`, `workers/broker.py` and `tests/conftest.py` import this module; everything else
receives explicit values. In development every secret has a working default, generated once and
kept under `CRM_DATA_DIR`; in production a missing or default secret stops the start.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The servers' event loops (cli/event_loop.py).
EventLoop = Literal["uvloop", "asyncio"]


class InsecureSettings(RuntimeError):
    """Raised when production is started with a missing or development secret."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = None
    region_database_urls: str | None = None
    # `hk=postgresql://host:6432,...` (or one URL: the default region): a PgBouncer in transaction mode in front
    # of a region's server, which the app role's connections go through (README "PgBouncer").
    pgbouncer_urls: str | None = None
    default_region: str = Field(default="hk", alias="CRM_DEFAULT_REGION")
    redis_url: str | None = None
    crm_data_dir: Path = Path("./.data")
    crm_secret_key: SecretStr | None = None
    crm_master_key: SecretStr | None = None
    crm_env: Literal["development", "production"] = "development"
    export_dir: Path | None = None
    export_s3_url: str | None = None
    smtp_url: str | None = None
    # Prefix of every database name this deployment creates (catalog and workspaces); tests set
    # their own so that each run has its own databases.
    db_prefix: str = Field(default="crm", alias="CRM_DB_PREFIX")
    workspace_grace_days: int = Field(default=30, alias="CRM_WORKSPACE_GRACE_DAYS")
    # Workspace connections: engines kept (LRU), per-engine pool, the bound on connections to one server from one
    # process (whatever the number of workspaces), and how long an unused workspace pool stays open.
    max_engines: int = Field(default=1024, alias="CRM_MAX_ENGINES")
    pool_size: int = Field(default=5, alias="CRM_POOL_SIZE")
    pool_max_overflow: int = Field(default=0, alias="CRM_POOL_MAX_OVERFLOW")
    max_connections_per_server: int = Field(default=40, alias="CRM_MAX_CONNECTIONS_PER_SERVER")
    pool_idle_seconds: float = Field(default=60.0, alias="CRM_POOL_IDLE_SECONDS")
    # The embedded PostgreSQL's max_connections (development and tests; a real server has its own setting).
    embedded_max_connections: int = Field(default=300, ge=20, alias="CRM_EMBEDDED_MAX_CONNECTIONS")

    api_key_default_days: int = Field(default=365, alias="CRM_API_KEY_DEFAULT_DAYS", gt=0)
    # Exports and mail: the base of links in emails, the sender, rows per batch, how long a job may go without a
    # heartbeat before another worker takes it over, and a pause after each batch (tests use it to kill a worker
    # mid-export; leave it 0).
    public_url: str | None = Field(default=None, alias="CRM_PUBLIC_URL")
    mail_from: str = Field(default="CRM <no-reply@localhost>", alias="CRM_MAIL_FROM")
    export_batch_rows: int = Field(default=2000, alias="CRM_EXPORT_BATCH_ROWS")
    export_stale_seconds: float = Field(default=60, alias="CRM_EXPORT_STALE_SECONDS")
    export_batch_delay_ms: int = Field(default=0, alias="CRM_EXPORT_BATCH_DELAY_MS")
    import_batch_rows: int = Field(default=500, ge=1, le=5000, alias="CRM_IMPORT_BATCH_ROWS")
    # Limits of the HTTP surface (README "Limits"): request body, GraphQL document, static query cost, time per
    # operation and per SQL statement, requests a minute per user or API key.
    max_body_bytes: int = Field(default=1024 * 1024, alias="CRM_MAX_BODY_BYTES")
    max_document_chars: int = Field(default=20_000, alias="CRM_MAX_DOCUMENT_CHARS")
    max_query_cost: int = Field(default=20_000, alias="CRM_MAX_QUERY_COST")
    operation_timeout_s: float = Field(default=10.0, alias="CRM_OPERATION_TIMEOUT_S")
    # Operations whose cost is at least this run a few at a time per process, in order (resolvers/heavy_lane.py).
    heavy_query_cost: int = Field(default=5_000, ge=1, alias="CRM_HEAVY_QUERY_COST")
    heavy_queries_at_once: int = Field(default=1, ge=1, alias="CRM_HEAVY_QUERIES_AT_ONCE")
    # `serve` and `demo` run those operations in a process of their own, at a lower OS priority (cli/heavy_lane.py).
    heavy_lane_process: bool = Field(default=True, alias="CRM_HEAVY_LANE_PROCESS")
    # The servers' event loop (cli/event_loop.py): "uvloop" (libuv) or "asyncio" (the standard library's).
    event_loop: EventLoop = Field(default="uvloop", alias="CRM_EVENT_LOOP")
    statement_timeout_ms: int = Field(default=10_000, alias="CRM_STATEMENT_TIMEOUT_MS")
    rate_limit_per_minute: int = Field(default=1200, alias="CRM_RATE_LIMIT_PER_MINUTE")
    # Login attempts allowed per window: per (workspace, e-mail), per client address, per workspace.
    login_limit_per_account: int = Field(default=10, alias="CRM_LOGIN_LIMIT_PER_ACCOUNT")
    login_limit_per_address: int = Field(default=100, alias="CRM_LOGIN_LIMIT_PER_ADDRESS")
    login_limit_per_workspace: int = Field(default=1000, alias="CRM_LOGIN_LIMIT_PER_WORKSPACE")
    login_window_seconds: int = Field(default=900, alias="CRM_LOGIN_WINDOW_SECONDS")

    # Least privilege (README "Database roles"): the login role the API and workers use on workspace databases
    # (default `<CRM_DB_PREFIX>_app`) and its password (default derived from CRM_SECRET_KEY). The server URLs'
    # own user is the owner: it creates databases, migrates, and creates/updates this role at start-up.
    db_app_role: str | None = Field(default=None, alias="CRM_DB_APP_ROLE")
    db_app_password: SecretStr | None = Field(default=None, alias="CRM_DB_APP_PASSWORD")

    # Benchmarks only (bench/abuse.py): the API's event loop logs each tick it woke late to this file.
    loop_lag_log: Path | None = Field(default=None, alias="CRM_LOOP_LAG_LOG")

    # Webhooks: deliver to loopback/private addresses (development receivers only; refused in production).
    webhook_allow_private: bool = Field(default=False, alias="CRM_WEBHOOK_ALLOW_PRIVATE")

    @property
    def production(self) -> bool:
        return self.crm_env == "production"

    @property
    def data_dir(self) -> Path:
        return self.crm_data_dir.resolve()

    @property
    def exports_path(self) -> Path:
        return (self.export_dir or self.data_dir / "exports").resolve()

    def regions(self) -> dict[str, str]:
        """Region code -> server URL. The default region falls back to `DATABASE_URL`."""
        mapping: dict[str, str] = {}
        for part in (self.region_database_urls or "").split(","):
            if part.strip():
                code, _, url = part.strip().partition("=")
                mapping[code.strip()] = url.strip()
        if self.database_url and self.default_region not in mapping:
            mapping[self.default_region] = self.database_url
        return mapping

    def poolers(self) -> dict[str, str]:
        """Region code -> the PgBouncer URL in front of that region's server (`PGBOUNCER_URLS`); a URL without
        `code=` is the default region's."""
        mapping: dict[str, str] = {}
        for part in (self.pgbouncer_urls or "").split(","):
            part = part.strip()
            if not part:
                continue
            code, sep, url = part.partition("=")
            if not sep or "://" in code:
                code, url = self.default_region, part
            mapping[code.strip()] = url.strip()
        return mapping

    def app_role(self) -> tuple[str, str]:
        """(name, password) of the workspace databases' login role."""
        name = self.db_app_role or f"{self.db_prefix}_app"
        if self.db_app_password is not None and self.db_app_password.get_secret_value():
            return name, self.db_app_password.get_secret_value()
        derived = hmac.new(self.secret_key().encode(), f"postgres-app-role:{name}".encode(), hashlib.sha256)
        return name, derived.hexdigest()

    def secret_key(self) -> str:
        return self._secret("crm_secret_key", "secret_key")

    def master_key(self) -> str:
        return self._secret("crm_master_key", "master_key")

    def _secret(self, attr: str, filename: str) -> str:
        value: SecretStr | None = getattr(self, attr)
        if value is not None and value.get_secret_value():
            secret = value.get_secret_value()
            if self.production and secret.startswith("dev-"):
                raise InsecureSettings(f"{attr.upper()} is a development default; set a real secret")
            return secret
        if self.production:
            raise InsecureSettings(f"{attr.upper()} must be set when CRM_ENV=production")
        path = self.data_dir / f"{filename}.txt"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("dev-" + secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def check_production(self) -> None:
        """Stop the start when production runs with missing or development secrets (or unsupported settings)."""
        if self.export_s3_url:
            raise InsecureSettings("EXPORT_S3_URL is not supported yet: unset it, exports then go to EXPORT_DIR")
        if self.production and self.webhook_allow_private:
            raise InsecureSettings("CRM_WEBHOOK_ALLOW_PRIVATE is for development: unset it in production")
        if self.production:
            self.secret_key()
            self.master_key()
            if not self.database_url and not self.region_database_urls:
                raise InsecureSettings("DATABASE_URL must be set when CRM_ENV=production")
            if not self.redis_url:
                raise InsecureSettings("REDIS_URL must be set when CRM_ENV=production")
            if not self.public_url:
                raise InsecureSettings("CRM_PUBLIC_URL must be set when CRM_ENV=production (download links)")
            if not self.smtp_url:
                raise InsecureSettings("SMTP_URL must be set when CRM_ENV=production (mail never goes to the log)")
