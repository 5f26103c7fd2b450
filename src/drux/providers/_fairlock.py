"""A lock granted in arrival order.

``threading.Lock`` wakes its waiters in no particular order, so with several asks
queued on one local model the first to queue could wait out its deadline while later
ones were served. ``FairLock`` hands the lock to the longest waiter; a waiter that
gives up (timeout, or its ``stopped`` event) leaves the queue without holding it up.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from types import TracebackType

_POLL_S = 0.05  # how often a waiter looks at its ``stopped`` event


class FairLock:
    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[object] = deque()
        self._held = False

    def acquire(self, blocking: bool = True, timeout: float = -1, *,
                stopped: threading.Event | None = None) -> bool:
        """Like ``threading.Lock.acquire``; also gives up once ``stopped`` is set."""
        deadline = None if timeout < 0 else time.monotonic() + timeout
        me = object()
        with self._cond:
            self._queue.append(me)
            try:
                while self._held or self._queue[0] is not me:
                    if not blocking or (stopped is not None and stopped.is_set()):
                        return False
                    wait = _POLL_S if stopped is not None else None
                    if deadline is not None:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            return False
                        wait = left if wait is None else min(wait, left)
                    self._cond.wait(wait)
                self._held = True
                return True
            finally:
                self._queue.remove(me)
                self._cond.notify_all()  # the next in line may now be at the head

    def release(self) -> None:
        with self._cond:
            if not self._held:
                raise RuntimeError("release of an unlocked FairLock")
            self._held = False
            self._cond.notify_all()

    def locked(self) -> bool:
        return self._held

    @property
    def waiting(self) -> int:
        """How many threads are queued for the lock."""
        with self._cond:
            return len(self._queue)

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
