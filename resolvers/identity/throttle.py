"""Login throttling, counted in Redis *before* any password is checked.

Every attempt increments three counters in one Lua script (atomic, so forty concurrent guesses get forty
different counts and only the first ten reach argon2): per (workspace, e-mail), per client address (password
spraying: one password, many e-mails) and per workspace (spraying from many addresses). Fixed windows: a
counter expires `window_seconds` after its first attempt. A successful login resets its account's counter
and takes its own attempt back off the address and workspace counters, so those count failures only.

A throttled attempt is audited once per window and counter (a marker key set with NX), with the number of
attempts counted so far, instead of one row per try.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from redis.asyncio import Redis

_COUNT = """
local counts = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, ARGV[1]) end
  counts[i] = n
end
return counts
"""
# Reset the account's counter; take the attempt back off the others, unless they expired meanwhile (a DECR
# would recreate them at -1 with no expiry: a lasting credit).
_SUCCEEDED = """
redis.call('DEL', KEYS[1])
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('DECR', KEYS[i]) end
end
return 0
"""

PREFIX = "crm:login"


@dataclass(frozen=True)
class LoginLimits:
    """Attempts allowed per window; the workspace-wide one is high because an attacker can spend it to lock a
    workspace's sign-in for one window."""

    per_account: int = 10
    per_address: int = 100
    per_workspace: int = 1000
    window_seconds: int = 900


@dataclass(frozen=True)
class Attempt:
    workspace: str
    keys: dict[str, str]  # counter name (account | address | workspace) -> Redis key
    counts: dict[str, int]
    throttled_by: str | None  # the first counter over its limit, or None


def _keys(workspace: str, email: str, address: str | None) -> dict[str, str]:
    # No e-mail address in Redis: a digest names the account's counter.
    account = hashlib.blake2b(f"{workspace}\x00{email}".encode(), digest_size=16).hexdigest()
    return {
        "account": f"{PREFIX}:account:{account}",
        "address": f"{PREFIX}:address:{address or 'unknown'}",
        "workspace": f"{PREFIX}:workspace:{workspace}",
    }


async def start(redis: Redis, limits: LoginLimits, workspace: str, email: str, address: str | None) -> Attempt:
    """Count the attempt on every counter at once; say which limit (if any) it is over."""
    keys = _keys(workspace, email.strip().lower(), address)
    names = list(keys)
    raw = await redis.eval(_COUNT, len(names), *keys.values(), limits.window_seconds)  # type: ignore[misc]
    counts = {name: int(n) for name, n in zip(names, raw, strict=True)}
    allowed = {"account": limits.per_account, "address": limits.per_address, "workspace": limits.per_workspace}
    over = next((name for name in names if counts[name] > allowed[name]), None)
    return Attempt(workspace, keys, counts, over)


async def first_refusal(redis: Redis, limits: LoginLimits, attempt: Attempt) -> bool:
    """True for the first throttled attempt of this window on this counter in this workspace (audit it)."""
    assert attempt.throttled_by is not None
    marker = f"{PREFIX}:audited:{attempt.workspace}:{attempt.keys[attempt.throttled_by]}"
    return bool(await redis.set(marker, 1, nx=True, ex=limits.window_seconds))


async def succeeded(redis: Redis, attempt: Attempt) -> None:
    keys = attempt.keys
    await redis.eval(_SUCCEEDED, 3, keys["account"], keys["address"], keys["workspace"])  # type: ignore[misc]
