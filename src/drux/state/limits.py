"""Moving-window rate limits (requests per minute and the like) on the ``limits`` library.

One process: ``MemoryStorage``. Several workers (``DRUX_REDIS_URL``): ``RedisStorage`` on
redis-py, so a limit of N a minute is N a minute for the whole cluster. Callers see one
Protocol, ``RateLimits``; ``hit`` either counts the hit or says how long to wait.

Outage policy: rate limits fail OPEN. When Redis cannot be reached the hit is counted in the
process's own memory window instead (a warning is logged once per outage), so each worker
enforces the limit on its own until Redis answers again; the next hit after that goes to Redis
with no restart. Budgets, where money is at stake, fail closed (see ``reserve``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from typing import Protocol

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from drux.errors import SharedStateError
from drux.state.connection import CONNECT_TIMEOUT, SOCKET_TIMEOUT, describe, guarded

log = logging.getLogger("drux.state")

_PREFIX = "drux-limits"


class RateLimits(Protocol):
    async def hit(self, name: str, key: str, limit: int, *, per_seconds: int = 60,
                  cost: int = 1) -> float | None:
        """Count ``cost`` against ``limit`` per ``per_seconds`` for ``key`` in the limit
        family ``name``. Returns None when admitted, else the seconds until it would be."""
        ...


def _item(name: str, limit: int, per_seconds: int) -> RateLimitItem:
    return RateLimitItemPerSecond(limit, per_seconds, namespace=name)


class _Windows:
    """A moving-window limiter over one ``limits`` storage per event loop (storages start
    tasks and hold connections that belong to the loop they were made on)."""

    def __init__(self, make: Callable[[], Storage]) -> None:
        self._make = make
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                                  MovingWindowRateLimiter] = (
            weakref.WeakKeyDictionary())

    def _limiter(self) -> MovingWindowRateLimiter:
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = MovingWindowRateLimiter(self._make())
        return limiter

    async def hit(self, name: str, key: str, limit: int, *, per_seconds: int = 60,
                  cost: int = 1) -> float | None:
        item = _item(name, limit, per_seconds)
        limiter = self._limiter()
        if await limiter.hit(item, key, cost=cost):
            return None
        stats = await limiter.get_window_stats(item, key)
        return max(0.0, stats.reset_time - time.time())


class MemoryRateLimits(_Windows):
    """In this process only (the embedded default, and the fallback during a Redis outage).
    Entries leave memory once out of their window, so a flood of keys is forgotten."""

    def __init__(self) -> None:
        super().__init__(MemoryStorage)


class RedisRateLimits:
    """Shared by every worker through Redis; falls back to memory while Redis is away."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._fallback = MemoryRateLimits()
        self._shared = _Windows(lambda: RedisStorage(
            url, implementation="redispy", key_prefix=_PREFIX, socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=CONNECT_TIMEOUT))
        self._failing = False

    async def hit(self, name: str, key: str, limit: int, *, per_seconds: int = 60,
                  cost: int = 1) -> float | None:
        try:
            async with guarded(self._url):
                wait = await self._shared.hit(name, key, limit, per_seconds=per_seconds,
                                              cost=cost)
        except SharedStateError as err:
            if not self._failing:
                self._failing = True
                log.warning("rate limits counted per process until Redis is back: %s", err)
            return await self._fallback.hit(name, key, limit, per_seconds=per_seconds,
                                            cost=cost)
        if self._failing:
            self._failing = False
            log.warning("Redis at %s is back: rate limits are shared again",
                        describe(self._url))
        return wait


def rate_limits(redis_url: str | None) -> RateLimits:
    """Memory windows, or Redis-backed ones when ``DRUX_REDIS_URL`` is set."""
    return RedisRateLimits(redis_url) if redis_url else MemoryRateLimits()

