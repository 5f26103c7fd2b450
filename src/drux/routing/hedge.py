"""Hedged starts: launch the next deployment when the current one is slow to begin.

``race`` starts candidates in chain order. The next one starts when every
running attempt has failed, or (hedging on) when the most recently started one
has not produced its first result within its hedge delay: the deployment's
recent p95 time to first token, clamped between a floor and a ceiling, or a
default while there are too few samples. The first attempt to produce a result
wins; every other is cancelled (and a result that arrives in the same instant is
discarded). Without hedging the same loop is plain sequential fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar

import pydantic.dataclasses
from pydantic import ConfigDict

from drux.routing.health import HealthRegistry
from drux.validation import Count, CountFromZero, Flag, Fraction, Seconds

K = TypeVar("K")
T = TypeVar("T")


@pydantic.dataclasses.dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class HedgePolicy:
    """``[routing.hedge]``; checked when built, read as plain attributes on every call."""

    enabled: Flag = True
    quantile: Fraction = 0.95
    floor: Seconds = 0.25  # never hedge sooner than this (seconds)
    ceiling: Seconds = 10.0  # always hedge by this
    default: Seconds = 2.0  # used until ``min_samples`` first-token times are known
    min_samples: CountFromZero = 5
    max_in_flight: Count = 2  # attempts running at once, the first included


def hedge_delay(policy: HedgePolicy, registry: HealthRegistry | None, deployment: str, *,
                streaming: bool = True) -> float | None:
    """Seconds to wait for ``deployment``'s first result before starting the next one."""
    if not policy.enabled or policy.max_in_flight < 2:
        return None
    observed = None
    if registry is not None:
        quantile = registry.ttft_quantile if streaming else registry.latency_quantile
        observed = quantile(deployment, policy.quantile, min_samples=policy.min_samples)
    delay = policy.default if observed is None else observed
    return min(policy.ceiling, max(policy.floor, delay))


class RaceExhausted(Exception):
    """No candidate is left to start and every started attempt failed."""


@dataclass(slots=True)
class RaceResult(Generic[K, T]):
    key: K
    value: T
    # Started before the winner and still silent when it won: they were too slow.
    overtaken: list[K] = field(default_factory=list)


@dataclass(slots=True)
class _Running(Generic[K, T]):
    key: K
    task: asyncio.Future[T]  # the attempt's task, or the outcome of the one run inline
    started: float


async def race(
    next_candidate: Callable[[], tuple[K, Callable[[], Awaitable[T]]] | None],
    *,
    delay_for: Callable[[K], float | None],
    on_error: Callable[[K, BaseException], None],
    discard: Callable[[T], Awaitable[None]],
    max_in_flight: int = 2,
) -> RaceResult[K, T]:
    """Run the staggered race described in the module docstring.

    ``next_candidate`` returns the next (key, start) pair or ``None`` when the
    chain is exhausted; ``on_error`` records a failed attempt and may raise to
    abort the whole race (the error then propagates after cleanup).

    Nearly every race is won by the attempt that starts it, so that attempt runs in
    the caller's task, with a timer for its hedge delay: no task and no extra loop
    turns. Only if the timer fires does the race move to ``_race_tasks``, in a task of
    its own, with the attempt still running here as one of its entrants: this task
    reports the attempt's outcome to it, and is interrupted (cancelled, then
    uncancelled) when the race ends without it.
    """
    loop = asyncio.get_running_loop()
    me = asyncio.current_task(loop)
    while True:
        nxt = next_candidate()
        if nxt is None:
            raise RaceExhausted
        key, start = nxt
        started = time.monotonic()
        delay = delay_for(key) if max_in_flight >= 2 else None
        if delay is not None and me is None:  # not in a task: nothing to interrupt
            return await _race_tasks(next_candidate, delay_for=delay_for, on_error=on_error,
                                     discard=discard, max_in_flight=max_in_flight,
                                     first=(key, start))
        if delay is None:  # nothing starts beside it: plain sequential fallback
            try:
                value = await start()
            except Exception as exc:
                on_error(key, exc)
                continue
            return RaceResult(key, value)
        assert me is not None
        hedged: _Hedged[K, T] = _Hedged(loop, me, key, started, partial(
            _race_tasks, next_candidate, delay_for=delay_for, on_error=on_error,
            discard=discard, max_in_flight=max_in_flight, first=None))
        timer = loop.call_later(delay, hedged.hedge)
        try:
            value = await start()
        except asyncio.CancelledError:
            timer.cancel()
            if hedged.stopped_by_race():
                return await hedged.verdict(discard)
            await hedged.abandon(discard)
            raise
        except Exception as exc:
            timer.cancel()
            if hedged.rest is None:
                on_error(key, exc)
                continue
            hedged.report(exc, None)
            return await hedged.verdict(discard)
        timer.cancel()
        if hedged.rest is None:
            return RaceResult(key, value)
        if not hedged.report(None, value):
            await discard(value)  # the race ended without it in the same instant
        return await hedged.verdict(discard)


class _Hedged(Generic[K, T]):
    """An attempt awaited in the caller's task ``me``, and the race it joins if its hedge
    delay passes (``rest``: ``_race_tasks`` in a task, this attempt one of its entrants)."""

    __slots__ = ("base", "entry", "key", "loop", "me", "rest", "running", "start_rest", "started",
                 "stopped")

    def __init__(self, loop: asyncio.AbstractEventLoop, me: asyncio.Task[Any], key: K,
                 started: float,
                 start_rest: Callable[..., Coroutine[Any, Any, RaceResult[K, T]]]) -> None:
        self.loop, self.me, self.key, self.started = loop, me, key, started
        self.start_rest = start_rest
        self.base = me.cancelling()
        # Made when the hedge starts: the attempt's place in the race of tasks.
        self.entry: _Running[K, T] | None = None
        self.rest: asyncio.Task[RaceResult[K, T]] | None = None
        self.running = True  # the attempt is still being awaited in ``me``
        self.stopped = False  # ``me`` was cancelled to stop it

    def hedge(self) -> None:
        """The timer: the race goes on in a task, with this attempt in it."""
        if self.running:
            self.entry = _Running(self.key, self.loop.create_future(), self.started)
            self.entry.task.add_done_callback(self._stop)
            self.rest = self.loop.create_task(self.start_rest(entrant=self.entry))

    def _stop(self, outcome: asyncio.Future[T]) -> None:
        # The race cancels its losers. This one is awaited in ``me``, so cancel that, unless
        # a cancellation is already on its way to it (a deadline, a hang-up): it stops anyway.
        if outcome.cancelled() and self.running and self.me.cancelling() == self.base:
            self.stopped = True
            self.me.cancel()

    def _ended(self) -> bool:
        """The attempt is over; was ``me`` cancelled by ``_stop``, and nobody else?"""
        self.running = False
        if not self.stopped:
            return False
        self.stopped = False
        return self.me.uncancel() <= self.base

    def stopped_by_race(self) -> bool:
        return self._ended() and self.entry is not None and self.entry.task.cancelled()

    def report(self, exc: Exception | None, value: T | None) -> bool:
        """Give the race the attempt's outcome; False if it had already ended without it."""
        self._ended()  # a cancellation from _stop the attempt swallowed is taken back
        assert self.entry is not None
        outcome = self.entry.task
        if outcome.done():
            return False
        if exc is not None:
            outcome.set_exception(exc)
        else:
            outcome.set_result(value)  # type: ignore[arg-type]
        return True

    async def verdict(self, discard: Callable[[T], Awaitable[None]]) -> RaceResult[K, T]:
        assert self.rest is not None
        try:
            return await self.rest
        except asyncio.CancelledError:
            await self.abandon(discard)
            raise

    async def abandon(self, discard: Callable[[T], Awaitable[None]]) -> None:
        """``me`` is cancelled from outside: end the race, and drop what it may have won."""
        rest, entry = self.rest, self.entry
        if rest is None or entry is None:
            return
        entry.task.cancel()
        if not rest.done():
            rest.cancel()
            with contextlib.suppress(BaseException):
                await rest
        if not rest.cancelled() and rest.exception() is None:
            await discard(rest.result().value)


async def _race_tasks(
    next_candidate: Callable[[], tuple[K, Callable[[], Awaitable[T]]] | None],
    *,
    delay_for: Callable[[K], float | None],
    on_error: Callable[[K, BaseException], None],
    discard: Callable[[T], Awaitable[None]],
    max_in_flight: int,
    first: tuple[K, Callable[[], Awaitable[T]]] | None,
    entrant: _Running[K, T] | None = None,
) -> RaceResult[K, T]:
    """The race with every attempt in a task of its own (``entrant``: one already running
    elsewhere, whose outcome arrives through its future; cancelling that future stops it)."""
    running: list[_Running[K, T]] = [] if entrant is None else [entrant]
    exhausted = False

    def launch() -> bool:
        nonlocal exhausted, first
        if exhausted:
            return False
        nxt: tuple[K, Callable[[], Awaitable[T]]] | None
        if first is not None:
            nxt, first = first, None
        else:
            nxt = next_candidate()
        if nxt is None:
            exhausted = True
            return False
        key, start = nxt
        task: asyncio.Task[T] = asyncio.ensure_future(start())
        running.append(_Running(key, task, time.monotonic()))
        return True

    try:
        if not launch():
            if not running:
                raise RaceExhausted
        while True:
            timeout = _hedge_timeout(running, delay_for, max_in_flight, exhausted)
            done = await _first_done([r.task for r in running], timeout)
            if not done:
                launch()
                continue
            winner = await _settle(running, done, on_error, discard)
            if winner is not None:
                return winner
            if not running and not launch():
                raise RaceExhausted
    finally:
        await _cancel_all(running, discard)


async def _first_done(tasks: list[asyncio.Future[T]], wait_at_most: float | None) -> set[asyncio.Future[T]]:
    """``asyncio.wait(tasks, timeout=wait_at_most, return_when=FIRST_COMPLETED)``'s done
    set, without its sets, checks and inner coroutine: this runs on every routed call."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    timer = None if wait_at_most is None else loop.call_later(wait_at_most, wake)
    for task in tasks:
        task.add_done_callback(wake)
    try:
        await waiter
    finally:
        if timer is not None:
            timer.cancel()
        for task in tasks:
            task.remove_done_callback(wake)
    return {task for task in tasks if task.done()}


def _hedge_timeout(running: list[_Running[K, T]], delay_for: Callable[[K], float | None],
                   max_in_flight: int, exhausted: bool) -> float | None:
    if exhausted or len(running) >= max_in_flight:
        return None
    latest = running[-1]
    delay = delay_for(latest.key)
    if delay is None:
        return None
    return max(0.0, latest.started + delay - time.monotonic())


async def _settle(running: list[_Running[K, T]], done: set[asyncio.Future[T]],
                  on_error: Callable[[K, BaseException], None],
                  discard: Callable[[T], Awaitable[None]]) -> RaceResult[K, T] | None:
    """Handle finished attempts in launch order; return the winner if any succeeded."""
    winner: RaceResult[K, T] | None = None
    for entry in [r for r in running if r.task in done]:
        running.remove(entry)
        exc = entry.task.exception()
        if exc is not None:
            on_error(entry.key, exc)
        elif winner is None:
            overtaken = [r.key for r in running
                         if r.started < entry.started and r.task not in done]
            winner = RaceResult(entry.key, entry.task.result(), overtaken)
        else:
            await discard(entry.task.result())
    return winner


async def _cancel_all(running: list[_Running[K, T]],
                      discard: Callable[[T], Awaitable[None]]) -> None:
    for entry in running:
        entry.task.cancel()
    if running:
        await asyncio.gather(*(r.task for r in running), return_exceptions=True)
    for entry in running:
        if not entry.task.cancelled() and entry.task.exception() is None:
            await discard(entry.task.result())  # finished in the same instant as an abort
    running.clear()
