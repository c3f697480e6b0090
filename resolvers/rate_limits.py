"""Requests a minute per user or API key, counted in Redis as a sliding window counter, in one round trip.

Every API process counts in the same Redis (a sliding window per principal), so the limit holds however
many processes serve the workspace. The caller gets the `RateLimit-*` numbers for the response headers;
over the limit the request is RATE_LIMITED with a `Retry-After`.

The count is the `limits` library's sliding window counter (same keys, same arithmetic: `limits`'
`acquire_sliding_window.lua` and `SlidingWindowCounterRateLimiter.get_window_stats`), but one Lua script
both takes the request and returns the window, so a request costs one EVALSHA instead of two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from redis.asyncio import Redis

from authz.principal import Principal

# KEYS: the previous and the current window; ARGV: limit, expiry (s), amount. Returns
# {allowed (1/0), previous count, previous TTL (ms), current count, current TTL (ms)} after the attempt.
HIT_SCRIPT = """
local limit = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2]) * 1000
local amount = tonumber(ARGV[3])

local current_ttl = tonumber(redis.call('pttl', KEYS[2]))
if current_ttl > 0 and current_ttl < expiry then
    -- the current window has ended: it becomes the previous one
    redis.call('rename', KEYS[2], KEYS[1])
    redis.call('set', KEYS[2], 0, 'PX', current_ttl + expiry)
end

local previous_count = tonumber(redis.call('get', KEYS[1])) or 0
local previous_ttl = math.max(tonumber(redis.call('pttl', KEYS[1])) or 0, 0)
local current_count = tonumber(redis.call('get', KEYS[2])) or 0
current_ttl = math.max(tonumber(redis.call('pttl', KEYS[2])) or 0, 0)
if previous_count == 0 then previous_ttl = 0 end

local allowed = 0
if amount <= limit and math.floor(previous_count * previous_ttl / expiry) + current_count + amount <= limit then
    allowed = 1
    if redis.call('exists', KEYS[2]) == 1 then
        current_count = redis.call('incrby', KEYS[2], amount)
    else
        redis.call('set', KEYS[2], amount, 'PX', expiry * 2)
        current_count = amount
    end
    current_ttl = math.max(tonumber(redis.call('pttl', KEYS[2])) or 0, 0)
end
return {allowed, previous_count, previous_ttl, current_count, current_ttl}
"""


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


def window_quota(
    limit: int, expiry: int, allowed: bool, previous: tuple[int, float], current: tuple[int, float]
) -> Quota:
    """The `RateLimit-*` numbers from the two windows' (count, seconds to expiry), as `limits` computes them (but
    for a window that has just begun: see `_left_of_period`)."""
    (previous_count, previous_ttl), (current_count, current_ttl) = previous, current
    remaining = max(0, limit - math.floor(previous_count * previous_ttl / expiry + current_count))
    if not (previous_count or current_count):
        return Quota(limit, remaining, 0, allowed)
    previous_reset = _left_of_period(previous_ttl, expiry / previous_count) if previous_count else math.inf
    current_reset = _left_of_period(current_ttl, expiry) if current_count else math.inf
    return Quota(limit, remaining, max(math.ceil(min(previous_reset, current_reset)), 0), allowed)


def _left_of_period(ttl: float, period: float) -> float:
    """`ttl % period` as `limits` takes it, but in (0, period]: a window that has just begun (its key's TTL an exact
    multiple of the period) has the whole period left, not 0 s."""
    left = ttl % period
    return period if left == 0 and ttl > 0 else left


class RequestLimits:
    """`per_minute` requests a minute for each principal, shared through `redis` (the runtime's own pool).

    `redis_url` is no longer needed (the script runs on `redis`) but kept so that callers need not change.
    """

    def __init__(self, redis: Redis, redis_url: str, per_minute: int, *, namespace: str) -> None:
        self.item = RateLimitItemPerMinute(per_minute)
        self.prefix = f"{namespace}:ratelimit"
        self.script = redis.register_script(HIT_SCRIPT)

    def keys(self, workspace: str, principal: Principal) -> list[str]:
        """The previous and the current window of the principal (the key names `limits` uses)."""
        current = f"{self.prefix}:{{{self.item.key_for(f'{workspace}:{principal.kind}:{principal.id}')}}}"
        return [f"{current}/-1", current]

    async def hit(self, workspace: str, principal: Principal) -> Quota:
        expiry = self.item.get_expiry()
        allowed, previous_count, previous_ms, current_count, current_ms = await self.script(
            keys=self.keys(workspace, principal), args=[self.item.amount, expiry, 1]
        )
        return window_quota(
            self.item.amount,
            expiry,
            bool(allowed),
            (int(previous_count), int(previous_ms) / 1000),
            (int(current_count), int(current_ms) / 1000),
        )
