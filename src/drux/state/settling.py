"""Settles that happen after the answer is sent, several in one round trip to Redis.

A call's settle only gives back part of its reservation (or confirms it): until it runs, the
subject's counters still hold the call's maximum. Putting it off can therefore only make the
limits stricter for a moment (a call may be refused that would have fitted), never looser. So
the gateway does not wait for it: ``SettleQueue.put`` is synchronous and does no I/O, and a
background task per process and event loop hands what has queued to ``settle_batch`` every
``every`` seconds (at once when ``batch`` items wait). ``drain`` settles what is left (on
shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger("drux.state")

T = TypeVar("T")

SETTLE_EVERY = 0.05  # seconds a settle may wait for others to share its round trip
SETTLE_BATCH = 256  # this many waiting go at once


@dataclass(slots=True)
class _Flusher(Generic[T]):
    """The queue of one event loop (a Redis client and its events belong to one loop)."""

    loop: asyncio.AbstractEventLoop
    items: list[T] = field(default_factory=list)
    waiting: asyncio.Event = field(default_factory=asyncio.Event)
    full: asyncio.Event = field(default_factory=asyncio.Event)
    closing: bool = False
    task: asyncio.Task[None] | None = None


class SettleQueue(Generic[T]):
    def __init__(self, settle_batch: Callable[[Sequence[T]], Awaitable[None]], *,
                 every: float = SETTLE_EVERY, batch: int = SETTLE_BATCH) -> None:
        # ``settle_batch`` must not raise: a settle that cannot be made leaves the reservation
        # counted, which errs on the side of refusing.
        self._settle_batch = settle_batch
        self._every = every
        self._batch = batch
        self._flusher: _Flusher[T] | None = None

    def put(self, item: T) -> None:
        """Queue ``item`` for the next batch (call from the event loop; returns at once)."""
        flusher = self._flusher
        if flusher is None or flusher.closing or flusher.loop is not asyncio.get_running_loop():
            flusher = self._start()
        flusher.items.append(item)
        flusher.waiting.set()
        if len(flusher.items) >= self._batch:
            flusher.full.set()

    def pending(self) -> int:
        return len(self._flusher.items) if self._flusher is not None else 0

    def _start(self) -> _Flusher[T]:
        old = self._flusher
        loop = asyncio.get_running_loop()
        flusher: _Flusher[T] = _Flusher(loop)
        if old is not None and not old.closing and old.items:
            flusher.items, old.items = old.items, []  # left on a loop that is gone
        flusher.task = loop.create_task(self._run(flusher), name="drux-settle")
        self._flusher = flusher
        return flusher

    async def _run(self, flusher: _Flusher[T]) -> None:
        while True:
            await flusher.waiting.wait()
            if not flusher.closing and len(flusher.items) < self._batch:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._every):
                        await flusher.full.wait()
            items, flusher.items = flusher.items, []
            flusher.waiting.clear()
            flusher.full.clear()
            if items:
                try:
                    await self._settle_batch(items)
                except Exception:  # keep settling later batches whatever happened
                    log.exception("settling %d reservations failed", len(items))
            if flusher.closing and not flusher.items:
                return

    async def drain(self) -> None:
        """Settle everything queued and stop the background task (a later ``put`` starts a
        new one)."""
        flusher, self._flusher = self._flusher, None
        if flusher is None:
            return
        flusher.closing = True
        flusher.waiting.set()
        flusher.full.set()
        if flusher.task is not None and flusher.loop is asyncio.get_running_loop():
            await asyncio.shield(flusher.task)
        elif flusher.items:  # its loop is gone: settle here
            items, flusher.items = flusher.items, []
            await self._settle_batch(items)
