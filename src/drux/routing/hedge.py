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
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

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
    task: asyncio.Task[T]
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
    """
    running: list[_Running[K, T]] = []
    exhausted = False

    def launch() -> bool:
        nonlocal exhausted
        if exhausted:
            return False
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


async def _first_done(tasks: list[asyncio.Task[T]], wait_at_most: float | None) -> set[asyncio.Task[T]]:
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


async def _settle(running: list[_Running[K, T]], done: set[asyncio.Task[T]],
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
