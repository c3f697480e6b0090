"""How webhooks are delivered: private-address switch, timeouts, backoff, automatic disable."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WebhookOptions:
    # CRM_WEBHOOK_ALLOW_PRIVATE: deliver to loopback, link-local and private addresses (development only).
    allow_private: bool = False
    timeout_seconds: float = 10.0
    retry_base_seconds: float = 30.0  # the first retry; each next one waits twice as long ...
    retry_max_seconds: float = 6 * 3600.0  # ... up to this
    retry_window_seconds: float = 24 * 3600.0  # a delivery still failing this long after its event is FAILED
    disable_after: int = 20  # consecutive failed attempts (any delivery) before the webhook is disabled
    secret_overlap_hours: int = 24  # after a rotation the old secret also signs for this long

    def backoff_seconds(self, attempts: int) -> float:
        """The wait after the `attempts`-th failed attempt (1, 2, ...)."""
        return float(min(self.retry_max_seconds, self.retry_base_seconds * 2 ** max(0, attempts - 1)))
