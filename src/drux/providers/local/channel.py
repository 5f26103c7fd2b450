"""Text from the generating worker thread to the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass

from drux.types import Usage


@dataclass(slots=True)
class End:
    """How a generation ended: the last thing a channel carries (or an exception instead)."""

    finish_reason: str
    usage: Usage


class TokenChannel:
    """Worker thread -> event loop, waking the loop at most every ``interval`` seconds.

    Every wake-up runs the event loop's thread while llama.cpp computes the next
    token on all cores; on a busy machine that can preempt a compute thread while
    the others wait for it at their barriers (bench/local.py compares waking per
    token with this). 20 updates a second still reads as live streaming. The
    first text and the end are handed over at once.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = 0.05) -> None:
        self._loop = loop
        self._interval = interval
        self._last_wake = float("-inf")
        self._lock = threading.Lock()
        self._texts: list[str] = []
        self._end: End | BaseException | None = None
        self._wake = asyncio.Event()
        self._wake_pending = False
        self.stopped = threading.Event()

    def _put(self, text: str | None, end: End | BaseException | None) -> None:
        with self._lock:
            if text:
                self._texts.append(text)
            if end is not None:
                self._end = end
            now = time.monotonic()
            if self._wake_pending or (end is None and now - self._last_wake < self._interval):
                return
            self._wake_pending = True
            self._last_wake = now
        try:
            self._loop.call_soon_threadsafe(self._wake.set)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self.stopped.set()

    def put_text(self, text: str) -> None:
        self._put(text, None)

    def put_end(self, end: End | BaseException) -> None:
        self._put(None, end)

    async def get(self) -> tuple[str, End | BaseException | None]:
        await self._wake.wait()
        with self._lock:
            self._wake.clear()
            self._wake_pending = False
            texts, self._texts = self._texts, []
            return "".join(texts), self._end
