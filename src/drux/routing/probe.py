"""Optional background health probes: a one-token question to each deployment.

Off unless started. Paid vendors are skipped unless ``allow_paid``. Each
deployment is probed at most once per ``interval``; a deployment whose breaker
is open and still cooling down is not probed (that would defeat the cooldown),
while a half-open one gets the probe, so recovery is found without waiting for
a user's request. Probes go through the deployment's ``BreakerProvider``, so the
breaker and the health statistics see them like any call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from drux.errors import ProviderError, ProviderTimeoutError
from drux.routing.breaker import BreakerProvider, BreakerState
from drux.routing.health import HealthRegistry
from drux.types import ChatRequest, Message


@dataclass(frozen=True, slots=True)
class ProbePolicy:
    interval: float = 60.0  # per deployment, at least this long between probes
    timeout: float = 10.0
    allow_paid: bool = False
    prompt: str = "Reply with the single word: ok"


class HealthProber:
    """Probes guarded deployments; ``tick()`` runs one round, ``run()`` loops until stopped."""

    def __init__(self, registry: HealthRegistry, targets: Mapping[str, BreakerProvider],
                 policy: ProbePolicy | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._registry = registry
        self._targets = dict(targets)
        self.policy = policy or ProbePolicy()
        self._clock = clock
        self._last: dict[str, float] = {}

    def eligible(self, name: str) -> bool:
        entry = self._registry.get(name)
        if entry is not None and entry.paid and not self.policy.allow_paid:
            return False
        if entry is None and not self.policy.allow_paid:
            return False  # unknown cost: treat as paid
        last = self._last.get(name)
        if last is not None and self._clock() - last < self.policy.interval:
            return False
        return self._targets[name].breaker.state is not BreakerState.OPEN

    async def probe(self, name: str) -> bool:
        """One probe; ``True`` when the deployment answered."""
        self._last[name] = self._clock()
        request = ChatRequest([Message("user", self.policy.prompt)], max_tokens=1,
                              temperature=0.0, timeout=self.policy.timeout)
        try:
            async with asyncio.timeout(self.policy.timeout):
                await self._targets[name].complete(request)
        except ProviderError:
            return False  # already recorded by the BreakerProvider
        except TimeoutError:
            # Cancelled calls are no verdict for the breaker; a probe that timed out is one.
            err = ProviderTimeoutError(f"{name}: health probe unanswered after "
                                       f"{self.policy.timeout:g} s", provider=name)
            self._targets[name].breaker.on_failure(err)
            self._registry.record_failure(name, err)
            return False
        return True

    async def tick(self) -> dict[str, bool]:
        """Probe every eligible deployment once; returns name -> answered."""
        due = [name for name in sorted(self._targets) if self.eligible(name)]
        results = await asyncio.gather(*(self.probe(name) for name in due))
        return dict(zip(due, results, strict=True))

    async def run(self, stop: asyncio.Event, *, every: float = 5.0) -> None:
        """Tick until ``stop`` is set. ``every`` is how often eligibility is checked."""
        while not stop.is_set():
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)
