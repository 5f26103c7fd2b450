"""A per-client token bucket on starting asks (each ask runs every model of a panel)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many asks; try again in {retry_after:.0f} s")
        self.retry_after = retry_after


class TokenBucketLimiter:
    """``burst`` asks at once, refilled at ``per_minute`` asks a minute, per key.

    Keys are client addresses; the table is bounded (least recently seen keys
    are dropped first) so a flood of addresses cannot grow memory without end.
    """

    def __init__(self, *, per_minute: float, burst: int, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("per_minute must be > 0 and burst >= 1")
        self.rate = per_minute / 60.0
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> None:
        """Spend one token for ``key`` or raise ``RateLimited`` with the wait in seconds."""
        now = self._clock()
        bucket = self._buckets.pop(key, None) or _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        self._buckets[key] = bucket
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens < 1.0:
            raise RateLimited((1.0 - bucket.tokens) / self.rate)
        bucket.tokens -= 1.0
