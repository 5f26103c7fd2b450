"""Per-client limits on starting asks (each ask runs every model of a panel) and on signing in.

A moving window (``drux.state.limits``: in the process, or in Redis with ``DRUX_REDIS_URL`` so
every web worker counts the same asks): ``burst`` hits at once, and over time no more than
``per_minute`` a minute, since ``burst`` hits are allowed per ``burst / per_minute`` minutes.
Entries leave memory once out of their window, so a flood of client addresses is forgotten.
"""

from __future__ import annotations

import math

from drux.state.limits import RateLimits


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many asks; try again in {retry_after:.0f} s")
        self.retry_after = retry_after


class WindowLimiter:
    """``burst`` hits per key within a window of ``burst / per_minute`` minutes."""

    def __init__(self, limits: RateLimits, name: str, *, per_minute: float,
                 burst: int) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("per_minute must be > 0 and burst >= 1")
        self._limits = limits
        self.name = name
        self.burst = burst
        self.window_seconds = max(1, math.ceil(60.0 * burst / per_minute))

    async def take(self, key: str) -> None:
        """Count one hit for ``key`` or raise ``RateLimited`` with the wait in seconds."""
        wait = await self._limits.hit(self.name, key, self.burst,
                                      per_seconds=self.window_seconds)
        if wait is not None:
            raise RateLimited(max(wait, 1.0))
