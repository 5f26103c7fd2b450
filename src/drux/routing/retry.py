"""Retries with exponential backoff and full jitter, inside an overall deadline.

Only ``retryable`` errors are retried; a 400, a rejected key or a content filter
fails at once. ``Retry-After`` (``RateLimitError`` / ``OverloadedError``) is
honoured as a floor on the wait; one longer than ``max_retry_after`` or past the
deadline ends the retries so a fallback can take over instead of waiting.
An open circuit is never retried here: that is the fallback's job.

A stream is retried only until its first visible chunk; after that the caller
has seen output and a failure belongs to the fallback layer (restart).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass

from drux.errors import CircuitOpenError, ProviderError, ProviderTimeoutError
from drux.routing._streams import aclose_quietly, read_until_visible
from drux.timeouts import timeout
from drux.types import ChatRequest, Chunk, Completion, Provider
from drux.validation import Count, Seconds

T = TypeVar("T")


@dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class RetryPolicy:
    """``[routing.retry]``; checked when built, read as plain attributes on every call."""

    max_attempts: Count = 2  # total tries per deployment, first included
    base_delay: Seconds = 0.2
    multiplier: Seconds = 2.0
    max_delay: Seconds = 5.0
    # A Retry-After longer than this is not waited for: better to fail over.
    max_retry_after: Seconds = 10.0
    # Used when the request carries no ``timeout``; ``None`` means no deadline.
    deadline: Seconds | None = 120.0

    def backoff_cap(self, attempt: int) -> float:
        """Upper bound of the wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.max_delay, self.base_delay * self.multiplier ** (attempt - 1))


class RetryingProvider:
    """Retries one deployment. Clock, sleep and random source are injectable for tests."""

    def __init__(self, inner: Provider, policy: RetryPolicy | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                 rand: Callable[[], float] = random.random) -> None:
        self._inner = inner
        self.policy = policy or RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        self._rand = rand

    @property
    def name(self) -> str:
        return self._inner.name

    async def aclose(self) -> None:
        await self._inner.aclose()

    def delay_after(self, error: ProviderError, attempt: int, deadline_at: float | None) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to give up now."""
        if not error.retryable or isinstance(error, CircuitOpenError):
            return None
        if attempt >= self.policy.max_attempts:
            return None
        delay = self._rand() * self.policy.backoff_cap(attempt)  # full jitter
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            if retry_after > self.policy.max_retry_after:
                return None
            delay = max(delay, float(retry_after))
        if deadline_at is not None and self._clock() + delay >= deadline_at:
            return None
        return delay

    def _deadline_at(self, request: ChatRequest) -> float | None:
        budget = request.timeout if request.timeout is not None else self.policy.deadline
        return None if budget is None else self._clock() + budget

    def _budget(self, deadline_at: float | None) -> float | None:
        return None if deadline_at is None else max(0.0, deadline_at - self._clock())

    def _bounded_request(self, request: ChatRequest, deadline_at: float | None) -> ChatRequest:
        budget = self._budget(deadline_at)
        return request if budget is None else request.narrowed(budget)

    async def _within(self, awaitable: Awaitable[T], deadline_at: float | None) -> T:
        budget = self._budget(deadline_at)
        if budget is None:
            return await awaitable
        try:
            async with timeout(budget):
                return await awaitable
        except TimeoutError:
            raise ProviderTimeoutError(f"{self.name}: no answer within {budget:.3g} s",
                                       provider=self.name) from None

    async def complete(self, request: ChatRequest) -> Completion:
        deadline_at = self._deadline_at(request)
        attempt = 0
        while True:
            attempt += 1
            try:
                sub = self._bounded_request(request, deadline_at)
                return await self._within(self._inner.complete(sub), deadline_at)
            except ProviderError as err:
                delay = self.delay_after(err, attempt, deadline_at)
                if delay is None:
                    raise
            await self._sleep(delay)

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        deadline_at = self._deadline_at(request)
        attempt = 0
        while True:
            attempt += 1
            inner = self._inner.stream(self._bounded_request(request, deadline_at))
            try:
                head = await self._within(read_until_visible(inner), deadline_at)
            except ProviderError as err:
                await aclose_quietly(inner)
                delay = self.delay_after(err, attempt, deadline_at)
                if delay is None:
                    raise
                await self._sleep(delay)
                continue
            except BaseException:
                await aclose_quietly(inner)
                raise
            break
        try:
            for chunk in head:
                yield chunk
            async for chunk in inner:
                yield chunk
        finally:
            await aclose_quietly(inner)
