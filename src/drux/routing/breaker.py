"""A circuit breaker per deployment, and the provider that puts one in front of an adapter.

    closed --(N consecutive failures, or failure rate over the window)--> open
    closed --(404 / 403 / 401: the model is gone for us)--> open, long cooldown
    open --(cooldown elapsed)--> half-open: exactly one probe call goes through
    half-open --probe succeeds--> closed;  --probe fails--> open, cooldown doubled

Each worker counts its own calls. Its verdicts (opened until, closed) go to a
``BreakerStates`` (drux.state.breakers): kept in the process by default, shared
through Redis with ``DRUX_REDIS_URL``, where a breaker opened by one worker is
adopted by every other and the half-open probe slot is taken for the cluster.

An open breaker fails fast with ``CircuitOpenError`` (retryable, so a fallback
chain moves on) without touching the network. Errors that say the *request* is
wrong (400, content filter, context window) prove the deployment is alive and
count as successes here.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any, Protocol

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass

from drux.errors import (
    AuthenticationError,
    BadRequestError,
    CircuitOpenError,
    DruxError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    StreamInterruptedError,
)
from drux.routing._streams import aclose_quietly
from drux.state.breakers import BreakerStates, BreakerVerdict, LocalBreakers
from drux.timeouts import timeout
from drux.types import ChatRequest, Chunk, Completion, Provider
from drux.validation import Count, CountFromZero, Fraction, Seconds

# A model withdrawn or denied for us will not come back in seconds.
HARD_FAILURES: tuple[type[ProviderError], ...] = (
    ModelNotFoundError, PermissionDeniedError, AuthenticationError,
)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class BreakerPolicy:
    """``[routing.breaker]``; checked when built, read as plain attributes on every call."""

    consecutive_failures: Count = 5
    failure_rate: Fraction = 0.5  # open when this share of the window failed...
    window: Count = 20  # ...over the last this many calls...
    min_calls: CountFromZero = 10  # ...once at least this many were seen
    cooldown: Seconds = 15.0  # seconds open before a probe
    hard_cooldown: Seconds = 300.0  # after 404 / 403 / 401
    max_cooldown: Seconds = 600.0  # cap for cooldowns doubled by failed probes
    # A probe that never reported back (consumer vanished) frees its slot after this.
    probe_timeout: Seconds = 120.0


def counts_as_failure(error: DruxError) -> bool:
    """Does this error say something about the deployment (not about the request)?"""
    if isinstance(error, CircuitOpenError):
        return False
    if isinstance(error, BadRequestError):
        return False
    return True


class CircuitBreaker:
    """The state machine. Single-threaded (one event loop); no locks needed.

    ``shared`` hears this breaker's verdicts and may hand it other workers' (``adopt``);
    ``wall`` turns deadlines into wall-clock times other processes can read.
    """

    def __init__(self, name: str, policy: BreakerPolicy | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 shared: BreakerStates | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.name = name
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._wall = wall
        self._shared: BreakerStates = shared if shared is not None else LocalBreakers()
        self._cluster = self._shared.scope == "cluster"
        # Whose half-open probe is in flight when ``_probe_started`` is set: this worker's
        # (holding the cluster's slot, if shared) or another worker's.
        self._probe_here = False
        self._state = BreakerState.CLOSED
        self._window: deque[bool] = deque(maxlen=self.policy.window)
        self._consecutive = 0
        self._open_until = 0.0
        self._reopens = 0
        self._probe_started: float | None = None
        self.opened_count = 0
        self.rejected_count = 0

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() >= self._open_until:
            self._state = BreakerState.HALF_OPEN
            self._probe_started = None
            self._probe_here = False
        return self._state

    def before_call(self) -> bool:
        """Admit a call or raise ``CircuitOpenError``. In half-open, admit one probe:
        ``True`` then, and the caller awaits ``claim_probe()`` before calling."""
        state = self.state
        if state is BreakerState.CLOSED:
            return False
        now = self._clock()
        if state is BreakerState.HALF_OPEN:
            stale = (self._probe_started is not None
                     and now - self._probe_started >= self.policy.probe_timeout)
            if self._probe_started is None or stale:
                self._probe_started = now
                self._probe_here = True
                return True
            self.rejected_count += 1
            where = "" if self._probe_here else " on another worker"
            raise CircuitOpenError(f"{self.name}: circuit half-open, a probe is in flight{where}",
                                   provider=self.name, retry_after=None)
        raise self.rejection()

    async def claim_probe(self) -> None:
        """Take the cluster's probe slot for the probe ``before_call`` admitted; raise
        ``CircuitOpenError`` if another worker holds it. Until that worker's verdict arrives
        (or its slot times out), this breaker refuses without asking again."""
        if not self._cluster:
            return
        if await self._shared.claim_probe(self.name, self.policy.probe_timeout):
            return
        self._probe_here = False
        self.rejected_count += 1
        raise CircuitOpenError(f"{self.name}: circuit half-open, a probe is in flight on "
                               "another worker", provider=self.name, retry_after=None)

    def is_open(self) -> bool:
        """Open and cooling down: a call would be refused (half-open is not open)."""
        return self.state is BreakerState.OPEN

    def rejection(self) -> CircuitOpenError:
        """The error for a call refused while open (counted as a rejection)."""
        self.rejected_count += 1
        wait = max(0.0, self._open_until - self._clock())
        return CircuitOpenError(f"{self.name}: circuit open for another {wait:.1f} s",
                                provider=self.name, retry_after=wait)

    def on_success(self) -> None:
        if self.state is BreakerState.HALF_OPEN:
            self._close()
            self._shared.closed(self.name)
            return
        self._consecutive = 0
        self._window.append(True)

    def on_failure(self, error: DruxError) -> None:
        if not counts_as_failure(error):
            self.on_success()
            return
        hard = isinstance(error, HARD_FAILURES)
        state = self.state
        if state is BreakerState.HALF_OPEN:
            self._reopens += 1
            self._open(hard)
            return
        if state is BreakerState.OPEN:
            return  # a call admitted before the breaker opened; already counted
        self._consecutive += 1
        self._window.append(False)
        if hard or self._consecutive >= self.policy.consecutive_failures or self._rate_exceeded():
            self._open(hard)

    def on_abandoned(self) -> None:
        """The call ended without a verdict (cancelled, consumer left): free the probe slot."""
        if self._state is BreakerState.HALF_OPEN and self._probe_here:
            self._probe_started = None
            self._probe_here = False
            self._shared.release_probe(self.name)

    def adopt(self, verdict: BreakerVerdict) -> None:
        """Another worker's verdict: open until its deadline (half-open after it, as if
        opened here), or closed. This worker's counts restart with a close."""
        self._probe_started = None
        self._probe_here = False
        if verdict.state == "closed":
            self._close()
            return
        self._state = BreakerState.OPEN
        self._open_until = self._clock() + (verdict.open_until - self._wall())
        self._reopens = verdict.reopens

    def describe(self) -> dict[str, Any]:
        state = self.state
        wait = max(0.0, self._open_until - self._clock()) if state is BreakerState.OPEN else 0.0
        return {
            "state": state.value,
            # The state (and cooldown) is the cluster's when shared; the counts are this
            # worker's own calls.
            "breaker_scope": self._shared.scope,
            "consecutive_failures": self._consecutive,
            "open_for_s": round(wait, 3),
            "opened_count": self.opened_count,
            "rejected_count": self.rejected_count,
        }

    def _rate_exceeded(self) -> bool:
        if len(self._window) < self.policy.min_calls:
            return False
        failures = sum(1 for ok in self._window if not ok)
        return failures / len(self._window) >= self.policy.failure_rate

    def _open(self, hard: bool) -> None:
        base = self.policy.hard_cooldown if hard else self.policy.cooldown
        cooldown = min(self.policy.max_cooldown, base * (2 ** max(0, self._reopens)))
        self._state = BreakerState.OPEN
        self._open_until = self._clock() + cooldown
        self._probe_started = None
        self._probe_here = False
        self.opened_count += 1
        self._shared.opened(self.name, BreakerVerdict(
            name=self.name, state="open", open_until=self._wall() + cooldown, cooldown=cooldown,
            reopens=self._reopens, hard=hard))

    def _close(self) -> None:
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._reopens = 0
        self._window.clear()
        self._probe_started = None
        self._probe_here = False


class HealthLog(Protocol):
    """Where a guarded deployment reports how its calls went (the ``HealthRegistry``)."""

    def record_success(self, name: str, *, latency: float | None = None,
                       ttft: float | None = None) -> None: ...

    def record_ttft(self, name: str, ttft: float) -> None: ...

    def record_failure(self, name: str, error: DruxError) -> None: ...

    def note_unavailable(self, name: str, error: DruxError) -> None: ...


def _as_provider_error(exc: Exception, name: str) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    # An adapter bug must not escape as a bare exception: routing treats it as this
    # deployment failing (not retried, but the chain moves on).
    return ProviderError(f"{name}: {type(exc).__name__}: {exc}", provider=name, retryable=False)


class BreakerProvider:
    """Guards one deployment: breaker admission, health statistics, stream integrity.

    A stream that ends without ``finish_reason`` after output, or that stays silent
    longer than ``idle_timeout`` between chunks, is a ``StreamInterruptedError``:
    a torn answer never passes as a complete one. ``attempt_timeout`` caps the
    wait for a completion or a stream's first token (a deployment that hangs
    before its headers); it counts against the deployment like any timeout.
    """

    def __init__(self, inner: Provider, breaker: CircuitBreaker, *,
                 registry: HealthLog | None = None, name: str | None = None,
                 idle_timeout: float | None = None, attempt_timeout: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._inner = inner
        self.breaker = breaker
        self._registry = registry
        self._name = name or breaker.name
        self._idle_timeout = idle_timeout
        self._attempt_timeout = attempt_timeout
        self._clock = clock

    @property
    def name(self) -> str:
        return self._name

    def _capped(self, request: ChatRequest) -> ChatRequest:
        cap = self._attempt_timeout
        if cap is None or (request.timeout is not None and request.timeout <= cap):
            return request
        return request.narrowed(cap)

    async def _claim_probe(self) -> None:
        """The half-open probe ``before_call`` admitted: take the cluster's slot for it."""
        try:
            await self.breaker.claim_probe()
        except asyncio.CancelledError:
            self.breaker.on_abandoned()
            raise

    async def complete(self, request: ChatRequest) -> Completion:
        if self.breaker.before_call():  # closed (the hot path): no await, no Redis
            await self._claim_probe()
        start = self._clock()
        with self._outcome():
            if self._attempt_timeout is None:  # the default: no timer to arm and disarm
                completion = await self._inner.complete(request)
            else:
                async with timeout(self._attempt_timeout):
                    completion = await self._inner.complete(self._capped(request))
        self._succeeded(self._clock() - start, None)
        return completion

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        if self.breaker.before_call():  # closed (the hot path): no await, no Redis
            await self._claim_probe()
        start = self._clock()
        ttft: float | None = None
        finished = False
        inner = self._inner.stream(self._capped(request))
        try:
            with self._outcome():
                while True:
                    chunk = await self._next(inner, started=ttft is not None)
                    if chunk is None:
                        break
                    if ttft is None and (chunk.text or chunk.finish_reason):
                        ttft = self._clock() - start
                        if self._registry is not None:
                            self._registry.record_ttft(self._name, ttft)
                    finished = finished or chunk.finish_reason is not None
                    yield chunk
                if not finished:
                    raise StreamInterruptedError(
                        f"{self._name}: stream ended before the answer was finished",
                        provider=self._name)
        finally:
            await aclose_quietly(inner)
        self._succeeded(self._clock() - start, ttft, record_ttft=False)

    async def _next(self, inner: AsyncIterator[Chunk], *, started: bool) -> Chunk | None:
        limit = self._idle_timeout if started else self._attempt_timeout
        try:
            async with timeout(limit):
                return await anext(inner)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            if started:
                raise StreamInterruptedError(
                    f"{self._name}: stream stalled for {limit:g} s mid-answer",
                    provider=self._name) from None
            raise ProviderTimeoutError(f"{self._name}: no first token within {limit:g} s",
                                       provider=self._name) from None

    @contextmanager
    def _outcome(self) -> Iterator[None]:
        """Book a failed call with the breaker and the health stats, as a drux error; a
        call abandoned by its caller (cancelled, stream closed) is no verdict."""
        try:
            yield
        except DruxError as exc:
            if not isinstance(exc, ProviderError):
                self._unusable(exc)
                raise
            self._failed(exc)
            raise
        except Exception as exc:
            err = self._error(exc)
            self._failed(err)
            raise err from (None if err is exc else exc)
        except BaseException:
            self.breaker.on_abandoned()
            raise

    def _error(self, exc: Exception) -> ProviderError:
        if isinstance(exc, TimeoutError):  # our attempt_timeout on complete()
            return ProviderTimeoutError(
                f"{self._name}: no answer within {self._attempt_timeout:g} s", provider=self._name)
        return _as_provider_error(exc, self._name)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def _succeeded(self, latency: float, ttft: float | None, *, record_ttft: bool = True) -> None:
        self.breaker.on_success()
        if self._registry is not None:
            self._registry.record_success(self._name, latency=latency,
                                          ttft=ttft if record_ttft else None)

    def _unusable(self, err: DruxError) -> None:
        """Missing weights or config: a problem of setup, not of the deployment's health."""
        self.breaker.on_abandoned()
        if self._registry is not None:
            self._registry.note_unavailable(self._name, err)

    def _failed(self, err: ProviderError) -> None:
        self.breaker.on_failure(err)
        if self._registry is not None:
            if counts_as_failure(err):
                self._registry.record_failure(self._name, err)
            else:
                self._registry.record_success(self._name)
