"""What routing knows about each deployment's recent health.

One ``HealthRegistry`` is built at start-up and passed to every route, so a
deployment shared by several routes (the primary of one model, the fallback of
another) has one breaker and one set of statistics. Windows are bounded deques:
memory stays flat however long the gateway runs.

Breakers share their verdicts through ``shared`` (drux.state.breakers): with Redis,
a deployment's breaker state is the cluster's, while the windows here (error rate,
latency, time to first token) stay this worker's own, as each row says.

``snapshot()`` returns plain dicts (JSON-ready) for ``drux status``, the web
status page and the API. Error messages are kept as the adapters wrote them;
adapters never put keys in messages.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drux.errors import DruxError
from drux.routing.breaker import BreakerPolicy, CircuitBreaker
from drux.state.breakers import BreakerStates, LocalBreakers


def percentile(values: list[float] | deque[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1); ``None`` for no samples."""
    return _ranked(sorted(values), q)


def _ranked(ordered: list[float], q: float) -> float | None:
    """``percentile`` of values already sorted."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _push(window: deque[float], ordered: list[float], value: float) -> None:
    """Append ``value`` to a bounded window and to its sorted copy, which drops what the
    window drops: a quantile is then one lookup, not a sort of the window on every call
    (the hedge delay asks for one on every routed call)."""
    if len(window) == window.maxlen:
        del ordered[bisect_left(ordered, window[0])]
    window.append(value)
    insort(ordered, value)


@dataclass(slots=True)
class DeploymentHealth:
    """Bounded recent history of one deployment."""

    name: str
    window: int
    model: str = ""
    vendor: str = ""
    family: str = ""
    paid: bool = True
    outcomes: deque[bool] = field(init=False)
    latencies: deque[float] = field(init=False)
    ttfts: deque[float] = field(init=False)
    # The same samples sorted, kept in step by ``add_latency`` and ``add_ttft``.
    latencies_sorted: list[float] = field(init=False, repr=False)
    ttfts_sorted: list[float] = field(init=False, repr=False)
    total_requests: int = 0
    total_failures: int = 0
    last_error: dict[str, Any] | None = None
    last_error_at: float | None = None
    last_success_at: float | None = None

    def __post_init__(self) -> None:
        self.outcomes = deque(maxlen=self.window)
        self.latencies = deque(maxlen=self.window)
        self.ttfts = deque(maxlen=self.window)
        self.latencies_sorted = []
        self.ttfts_sorted = []

    def add_latency(self, seconds: float) -> None:
        _push(self.latencies, self.latencies_sorted, seconds)

    def add_ttft(self, seconds: float) -> None:
        _push(self.ttfts, self.ttfts_sorted, seconds)

    @property
    def error_rate(self) -> float | None:
        if not self.outcomes:
            return None
        return sum(1 for ok in self.outcomes if not ok) / len(self.outcomes)


class HealthRegistry:
    """Per-deployment breaker state, error rate, latency and time to first token."""

    def __init__(self, *, window: int = 200, wall_clock: Callable[[], float] = time.time,
                 shared: BreakerStates | None = None) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self._window = window
        self._wall = wall_clock
        self.shared: BreakerStates = shared if shared is not None else LocalBreakers()
        self._health: dict[str, DeploymentHealth] = {}
        self._breakers: dict[str, CircuitBreaker] = {}

    # -- registration -------------------------------------------------------------
    def register(self, name: str, *, model: str = "", vendor: str = "", family: str = "",
                 paid: bool = True) -> DeploymentHealth:
        entry = self._entry(name)
        entry.model, entry.vendor, entry.family, entry.paid = model, vendor, family, paid
        return entry

    def breaker(self, name: str, policy: BreakerPolicy,
                clock: Callable[[], float] = time.monotonic) -> CircuitBreaker:
        """The one breaker of a deployment, created on first use with ``policy``."""
        existing = self._breakers.get(name)
        if existing is None:
            existing = CircuitBreaker(name, policy, clock=clock, shared=self.shared,
                                      wall=self._wall)
            self._breakers[name] = existing
            self.shared.attach(existing)
        return existing

    def get_breaker(self, name: str) -> CircuitBreaker | None:
        return self._breakers.get(name)

    def names(self) -> list[str]:
        return sorted(set(self._health) | set(self._breakers))

    def get(self, name: str) -> DeploymentHealth | None:
        return self._health.get(name)

    # -- recording ----------------------------------------------------------------
    def record_success(self, name: str, *, latency: float | None = None,
                       ttft: float | None = None) -> None:
        entry = self._entry(name)
        entry.total_requests += 1
        entry.outcomes.append(True)
        entry.last_success_at = self._wall()
        if latency is not None:
            entry.add_latency(latency)
        if ttft is not None:
            entry.add_ttft(ttft)

    def record_ttft(self, name: str, ttft: float) -> None:
        """A first token arrived; recorded even if the stream later breaks."""
        self._entry(name).add_ttft(ttft)

    def record_failure(self, name: str, error: DruxError) -> None:
        entry = self._entry(name)
        entry.total_requests += 1
        entry.total_failures += 1
        entry.outcomes.append(False)
        entry.last_error = error.to_dict()
        entry.last_error_at = self._wall()

    def note_unavailable(self, name: str, error: DruxError) -> None:
        """A deployment that could not even be built (missing key, bad config)."""
        entry = self._entry(name)
        entry.last_error = error.to_dict()
        entry.last_error_at = self._wall()

    # -- reading ------------------------------------------------------------------
    def ttft_quantile(self, name: str, q: float, *, min_samples: int = 1) -> float | None:
        entry = self._health.get(name)
        if entry is None or len(entry.ttfts) < min_samples:
            return None
        return _ranked(entry.ttfts_sorted, q)

    def latency_quantile(self, name: str, q: float, *, min_samples: int = 1) -> float | None:
        entry = self._health.get(name)
        if entry is None or len(entry.latencies) < min_samples:
            return None
        return _ranked(entry.latencies_sorted, q)

    def snapshot(self) -> list[dict[str, Any]]:
        """One plain dict per deployment, sorted by name."""
        return [self._describe(name) for name in self.names()]

    def _describe(self, name: str) -> dict[str, Any]:
        entry = self._entry(name)
        breaker = self._breakers.get(name)
        data: dict[str, Any] = {
            "deployment": name,
            "model": entry.model,
            "vendor": entry.vendor,
            "family": entry.family,
            "state": breaker.state.value if breaker else "closed",
            "breaker_scope": self.shared.scope,
            "stats_scope": "process",  # error rate, latencies: this worker's calls only
            "requests": entry.total_requests,
            "failures": entry.total_failures,
            "window": len(entry.outcomes),
            "error_rate": entry.error_rate,
            "latency_p50_s": _ranked(entry.latencies_sorted, 0.5),
            "latency_p95_s": _ranked(entry.latencies_sorted, 0.95),
            "ttft_p50_s": _ranked(entry.ttfts_sorted, 0.5),
            "ttft_p95_s": _ranked(entry.ttfts_sorted, 0.95),
            "last_error": entry.last_error,
            "last_error_at": entry.last_error_at,
            "last_success_at": entry.last_success_at,
        }
        if breaker is not None:
            data.update(breaker.describe())
        return data

    def _entry(self, name: str) -> DeploymentHealth:
        entry = self._health.get(name)
        if entry is None:
            entry = DeploymentHealth(name, self._window)
            self._health[name] = entry
        return entry
