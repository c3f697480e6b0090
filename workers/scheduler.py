"""The periodic scheduler: exactly one active instance (a Redis lease), each job at most once per period.

Every worker process runs this loop; only the holder of the lease sends messages. A job's period is
claimed with SET NX on a key naming the period, so a restart never sends a job twice.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

log = logging.getLogger(__name__)
LEASE_KEY = "crm:scheduler:lease"
LEASE_MS = 30_000


@dataclass(frozen=True)
class Periodic:
    actor_name: str
    every_seconds: int


# One job per line.
SCHEDULE: tuple[Periodic, ...] = (
    Periodic("audit.maintain_all", 24 * 3600),
    Periodic("audit.seal_all", 30),  # catches what no commit asked for (requests ask `audit.seal` themselves)
    Periodic("exports.expire", 3600),
    Periodic("exports.reconcile", 60),
    Periodic("workspaces.purge_due", 24 * 3600),
    Periodic("workspaces.remind", 24 * 3600),
    Periodic("workspaces.apply_catalog", 60),
    Periodic("retention.run_all", 24 * 3600),
    Periodic("data_requests.remind_all", 24 * 3600),
    Periodic("webhooks.sweep", 60),
)


class Scheduler:
    def __init__(self, redis_url: str, send: object, schedule: tuple[Periodic, ...] = SCHEDULE,
                 tick_seconds: float = 5.0, deployment: str = "crm") -> None:
        self.client = redis.Redis.from_url(redis_url)
        self.lease_key = LEASE_KEY.replace("crm:", f"{deployment}:", 1)  # one scheduler per deployment
        self.prefix = f"{deployment}:scheduler:"
        self.send = send
        self.schedule = schedule
        self.tick = tick_seconds
        self.me = secrets.token_hex(8)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="crm-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self.client.get(self.lease_key) == self.me.encode():
            self.client.delete(self.lease_key)

    def holds_lease(self) -> bool:
        if self.client.set(self.lease_key, self.me, nx=True, px=LEASE_MS):
            return True
        if self.client.get(self.lease_key) == self.me.encode():
            self.client.pexpire(self.lease_key, LEASE_MS)
            return True
        return False

    def run_due(self, now: datetime | None = None) -> list[str]:
        now = now or datetime.now(UTC)
        sent = []
        for job in self.schedule:
            period = int(now.timestamp()) // job.every_seconds
            if self.client.set(f"{self.prefix}{job.actor_name}:{period}", self.me, nx=True, ex=job.every_seconds * 2):
                self.send(job.actor_name, {})  # type: ignore[operator]
                sent.append(job.actor_name)
        return sent

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.holds_lease():
                    for name in self.run_due():
                        log.info("scheduled %s", name)
            except redis.RedisError:
                log.warning("scheduler cannot reach Redis", exc_info=True)
            self._stop.wait(self.tick)
