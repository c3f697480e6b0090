"""Requests a minute per user or API key, counted in Redis with the `limits` library.

Every API process counts in the same Redis (a sliding window per principal), so the limit holds however
many processes serve the workspace. The caller gets the `RateLimit-*` numbers for the response headers;
over the limit the request is RATE_LIMITED with a `Retry-After`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import Redis

from authz.principal import Principal


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int
    reset_seconds: int
    allowed: bool

    def headers(self) -> dict[str, str]:
        out = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            out["Retry-After"] = str(max(self.reset_seconds, 1))
        return out


def _storage_uri(redis_url: str) -> str:
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    return "async+" + redis_url


class RequestLimits:
    """`per_minute` requests a minute for each principal, shared through `redis` (the runtime's own pool)."""

    def __init__(self, redis: Redis, redis_url: str, per_minute: int, *, namespace: str) -> None:
        # limits documents `connection_pool` but annotates `**options` as scalars only.
        pool: dict[str, Any] = {"connection_pool": redis.connection_pool}
        storage = RedisStorage(
            _storage_uri(redis_url), implementation="redispy", key_prefix=f"{namespace}:ratelimit", **pool
        )
        self.item = RateLimitItemPerMinute(per_minute)
        self.limiter = SlidingWindowCounterRateLimiter(storage)

    async def hit(self, workspace: str, principal: Principal) -> Quota:
        key = f"{workspace}:{principal.kind}:{principal.id}"
        allowed = await self.limiter.hit(self.item, key)
        stats = await self.limiter.get_window_stats(self.item, key)
        reset = max(math.ceil(stats.reset_time - time.time()), 0)
        return Quota(self.item.amount, stats.remaining, reset, allowed)
