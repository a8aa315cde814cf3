"""Per-client message rate limits for the public entry points (plain Python, no Rasa).

A sliding-window counter per key: the count of the current minute plus the previous
minute's count weighted by how much of it still overlaps the last 60 seconds. It
smooths the burst a fixed window allows at the minute boundary, and needs only two
integers per key.

Counts live in this process by default. With a Redis URL (XY_REDIS_URL) they live in
Redis, so several web apps or Rasa servers share one limit; if Redis stops answering,
requests are let through (a limiter must never take the hotline down) and a warning
is logged. Keys are hashed: client addresses, sender ids and openids never reach
Redis or the logs in clear.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)
WINDOW = 60.0  # seconds: limits are "per minute"
REDIS_RETRY = 10  # seconds without limits after Redis failed to answer

# Atomic check-and-count in Redis: several processes share the keys, so the check
# and the increment must not interleave. Redis truncates Lua numbers in replies to
# integers, hence the decision is made here rather than in Python.
_REDIS_HIT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
if previous * tonumber(ARGV[1]) + current >= tonumber(ARGV[2]) then
  return {0, current, previous}
end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, current + 1, previous}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # whole seconds until a new request would be counted


ALLOWED = Decision(True)


def digest(key: str) -> str:
    """A short stable stand-in for a client address, sender id or openid."""
    return hashlib.blake2b(key.encode("utf-8", "replace"), digest_size=12).hexdigest()


def _retry_after(current: int, previous: int, limit: int, elapsed: float) -> int:
    """Whole seconds until previous * (1 - t / WINDOW) + current is below the limit."""
    if current >= limit:
        # Wait for the next window; there this window's count decays in turn.
        wait = WINDOW - elapsed + WINDOW * (1 - limit / current)
    else:
        wait = WINDOW * (1 - (limit - current) / previous) - elapsed
    return max(1, math.ceil(wait + 1e-6))  # at exactly `wait` it is still refused


class RateLimiter:
    """`await limiter.hit("chat", sender, 40)`: counts the request and says whether
    it may go on. A limit of 0 or less turns that limit off."""

    def __init__(
        self, redis_url: str = "", *, clock: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._counts: dict[str, list[int]] = {}  # key -> [window, current, previous]
        self._window = 0
        self._redis = None
        self._script = None
        self._redis_down_until = 0.0
        if redis_url:
            import redis.asyncio as aioredis  # only needed when configured

            self._redis = aioredis.from_url(
                redis_url, socket_connect_timeout=1, socket_timeout=1
            )
            self._script = self._redis.register_script(_REDIS_HIT)

    @property
    def shared(self) -> bool:
        return self._redis is not None

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.close()

    async def hit(self, scope: str, key: str, limit: int) -> Decision:
        if limit <= 0:
            return ALLOWED
        now = self._clock()
        window = int(now // WINDOW)
        elapsed = now - window * WINDOW
        name = f"{scope}:{digest(key)}"
        if self._redis is None:
            return self._hit_memory(name, window, elapsed, limit)
        if now < self._redis_down_until:
            return ALLOWED
        return await self._hit_redis(name, window, elapsed, limit)

    def _hit_memory(
        self, name: str, window: int, elapsed: float, limit: int
    ) -> Decision:
        if window != self._window:
            # Keys idle for two windows weigh nothing any more: drop them, so a flood
            # of made-up sender ids cannot grow this dict beyond two minutes' worth.
            self._counts = {k: v for k, v in self._counts.items() if v[0] >= window - 1}
            self._window = window
        entry = self._counts.get(name)
        if entry is None or entry[0] < window - 1:
            entry = [window, 0, 0]
        elif entry[0] == window - 1:
            entry = [window, 0, entry[1]]
        self._counts[name] = entry
        _, current, previous = entry
        if previous * (1 - elapsed / WINDOW) + current >= limit:
            return Decision(False, _retry_after(current, previous, limit, elapsed))
        entry[1] += 1
        return ALLOWED

    async def _hit_redis(
        self, name: str, window: int, elapsed: float, limit: int
    ) -> Decision:
        keys = [f"xy:rl:{name}:{window}", f"xy:rl:{name}:{window - 1}"]
        try:
            allowed, current, previous = await self._script(
                keys=keys,
                args=[repr(1 - elapsed / WINDOW), limit, int(2 * WINDOW) + 5],
            )
        except Exception as exc:  # any Redis failure: let the citizen through
            # ...and do not wait for a dead Redis on every request: try again later.
            log.warning(
                "rate limit store unavailable (%s); not limiting for %d s",
                type(exc).__name__,
                REDIS_RETRY,
            )
            self._redis_down_until = self._clock() + REDIS_RETRY
            return ALLOWED
        if allowed:
            return ALLOWED
        return Decision(False, _retry_after(current, previous, limit, elapsed))
