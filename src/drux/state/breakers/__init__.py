"""Circuit-breaker state shared by every worker: one Protocol, an in-process implementation
(the default) and a Redis one (``DRUX_REDIS_URL``).

Each worker keeps its own ``CircuitBreaker`` (routing/breaker.py) and counts its own calls;
what is shared is the breaker's *verdict*. A worker whose breaker opens publishes the open
state with its wall-clock deadline (``open_until``), cooldown and reopen count; every other
worker adopts it into its own breaker, so a breaker opened anywhere is open everywhere. When
the cooldown ends, the half-open probe slot is taken in Redis (``SET NX PX``), so one worker
probes for the cluster; its success closes the breaker for all, its failure reopens it for
all with the doubled cooldown.

The hot path never waits on Redis: verdicts reach the other workers' breakers through a
pub/sub listener that keeps them in step, so admitting a call stays a local check. The only
round trip on a request's path is the probe claim, once per half-open period per worker.

Without Redis (``LocalBreakers``) nothing leaves the process: every method is a no-op and the
local probe slot is the only one, which is how breakers behaved before they were shared.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BreakerStates",
    "BreakerVerdict",
    "LocalBreakers",
    "SharedBreaker",
    "shared_breakers",
]


class BreakerVerdict(BaseModel):
    """One deployment's breaker as every worker sees it (stored and published as JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str  # the deployment, "vendor:model-id"
    state: Literal["open", "closed"]
    open_until: float = 0.0  # wall clock (seconds since the epoch) the cooldown ends at
    cooldown: float = Field(default=0.0, ge=0)
    reopens: int = Field(default=0, ge=0)  # failed probes since it last closed
    hard: bool = False  # opened by a 404 / 403 / 401 (the long cooldown)
    by: str = ""  # the worker that decided
    version: int = Field(default=0, ge=0)  # orders verdicts: a worker never adopts an older one


class SharedBreaker(Protocol):
    """What a shared state calls back: a worker's breaker adopting another worker's verdict."""

    @property
    def name(self) -> str: ...

    def adopt(self, verdict: BreakerVerdict) -> None: ...


class BreakerStates(Protocol):
    """Where breakers tell each other their verdicts. ``opened``, ``closed`` and
    ``release_probe`` are called from the breaker's synchronous transitions and must not
    block: an implementation that talks to a server sends in the background."""

    @property
    def scope(self) -> str:
        """"cluster" when verdicts reach every worker, "process" when they stay here."""
        ...

    def attach(self, breaker: SharedBreaker) -> None: ...

    def opened(self, name: str, verdict: BreakerVerdict) -> None: ...

    def closed(self, name: str) -> None: ...

    async def claim_probe(self, name: str, ttl: float) -> bool:
        """Take the cluster's half-open probe slot for ``ttl`` seconds; ``False`` when another
        worker holds it."""
        ...

    def release_probe(self, name: str) -> None: ...

    async def start(self) -> None:
        """Begin following other workers' verdicts (idempotent; returns once in step)."""
        ...

    async def aclose(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...


class LocalBreakers:
    """Breakers of one process: nothing is shared, the local probe slot is the only one."""

    scope = "process"

    def attach(self, breaker: SharedBreaker) -> None:
        return None

    def opened(self, name: str, verdict: BreakerVerdict) -> None:
        return None

    def closed(self, name: str) -> None:
        return None

    async def claim_probe(self, name: str, ttl: float) -> bool:
        return True

    def release_probe(self, name: str) -> None:
        return None

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"scope": self.scope}


def shared_breakers(redis_url: str | None) -> BreakerStates:
    """Redis-shared breaker state when a URL is set, else this process's own."""
    if not redis_url:
        return LocalBreakers()
    # Imported here: redis-py costs start-up time the embedded default never needs.
    from drux.state.breakers.redis import RedisBreakers

    return RedisBreakers(redis_url)
