"""Live policy reload across processes: versions announced on Redis pub/sub, checked against the database.

The workspace database holds the authoritative version (`workspace_meta.policy_version`). Every change
is published on the Redis channel `crm:policy` after its transaction commits; each process notes it at
once. A version a process has seen is trusted for at most `max_age` seconds, after which the request
reads the database again: so a missed message (or Redis being down) costs one lookup, and a change is
enforced everywhere within `max_age` seconds at worst (the contract allows 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

log = logging.getLogger(__name__)
CHANNEL = "crm:policy"


class PolicyVersions:
    def __init__(self, redis: Redis, *, max_age: float = 1.0) -> None:
        self.redis = redis
        self.max_age = max_age
        self._seen: dict[str, tuple[float, int]] = {}
        self._listener: asyncio.Task[None] | None = None
        self.on_change: list[Callable[[str, int], None]] = []

    async def current(self, slug: str, authoritative: Callable[[], Awaitable[int]]) -> int:
        """The workspace's policy version: local copy if fresh, else Redis, else the database."""
        seen = self._seen.get(slug)
        now = time.monotonic()
        if seen is not None and now - seen[0] < self.max_age:
            return seen[1]
        version = await authoritative()
        self._seen[slug] = (now, version)
        return version

    async def publish(self, slug: str, version: int) -> None:
        """Called after the transaction that bumped the version has committed. Never raises."""
        self._note(slug, version)
        try:
            await self.redis.publish(CHANNEL, f"{slug}:{version}")
        except Exception:  # the others fall back to the database within max_age
            log.warning("could not publish policy version of %s", slug, exc_info=True)

    def forget(self, slug: str) -> None:
        self._seen.pop(slug, None)

    def _note(self, slug: str, version: int) -> None:
        seen = self._seen.get(slug)
        if seen is not None and seen[1] > version:
            return
        self._seen[slug] = (time.monotonic(), version)
        for callback in self.on_change:
            callback(slug, version)

    def start(self) -> None:
        if self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None

    async def _listen(self) -> None:
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        data = message["data"]
                        text = data.decode() if isinstance(data, bytes) else str(data)
                        slug, _, version = text.rpartition(":")
                        if slug and version.isdigit():
                            self._note(slug, int(version))
            except asyncio.CancelledError:
                raise
            except Exception:  # connection lost: forget everything, fall back to lookups, retry
                log.warning("policy channel lost; retrying", exc_info=True)
                self._seen.clear()
                await asyncio.sleep(0.5)
