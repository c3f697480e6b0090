"""How exports run and are delivered: link base URL, batch size, takeover timeout, test-only pacing."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExportOptions:
    public_url: str | None = None  # base of download links in e-mails; GraphQL uses the request's URL when unset
    batch_rows: int = 2000
    # A RUNNING job whose heartbeat is older than this is taken over by the next worker that gets its message,
    # and the reconciler re-sends jobs QUEUED (or silently RUNNING) for longer than this.
    stale_seconds: float = 60.0
    batch_delay_ms: int = 0  # a pause after each batch: CRM_EXPORT_BATCH_DELAY_MS, for tests only

    @property
    def heartbeat_seconds(self) -> float:
        return max(0.2, min(5.0, self.stale_seconds / 4))
