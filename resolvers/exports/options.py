"""How exports run and are delivered: link base URL, batch size, takeover timeout, test-only pacing."""

from __future__ import annotations

from dataclasses import dataclass

DEVELOPMENT_PUBLIC_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class ExportOptions:
    # CRM_PUBLIC_URL: the base of every download link (GraphQL's `downloadUrl` and the e-mails), never the
    # request's Host header, which a client chooses. Required in production.
    public_url: str | None = None
    batch_rows: int = 2000
    # A RUNNING job whose heartbeat is older than this is taken over by the next worker that gets its message,
    # and the reconciler re-sends jobs QUEUED (or silently RUNNING) for longer than this.
    stale_seconds: float = 60.0
    batch_delay_ms: int = 0  # a pause after each batch: CRM_EXPORT_BATCH_DELAY_MS, for tests only

    @property
    def link_base(self) -> str:
        return self.public_url or DEVELOPMENT_PUBLIC_URL

    @property
    def heartbeat_seconds(self) -> float:
        return max(0.2, min(5.0, self.stale_seconds / 4))
