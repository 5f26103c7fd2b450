"""The local model's lock serves queued asks in arrival order."""

from __future__ import annotations

import threading

import pytest

from drux.providers._fairlock import FairLock

from waiting import PATIENCE_S, wait_until


def _queue_up(lock: FairLock, n: int, order: list[int], **kw: object) -> list[threading.Thread]:
    threads = []
    for i in range(n):
        def work(i: int = i) -> None:
            if lock.acquire(**kw):  # type: ignore[arg-type]
                order.append(i)
                lock.release()
        t = threading.Thread(target=work)
        t.start()
        threads.append(t)
        wait_until(lambda i=i: lock.waiting >= i + 1,  # queued before the next one starts
                   f"waiter {i} never queued", interval=0.001)
    return threads


@pytest.mark.parametrize("round_", range(5))
def test_waiters_get_the_lock_in_arrival_order(round_: int) -> None:
    lock, order = FairLock(), []
    assert lock.acquire()
    threads = _queue_up(lock, 8, order)
    lock.release()
    for t in threads:
        t.join(PATIENCE_S)
    assert order == list(range(8))
    assert not lock.locked() and lock.waiting == 0


def test_a_waiter_that_is_stopped_leaves_the_queue() -> None:
    lock, order = FairLock(), []
    assert lock.acquire()
    stop = threading.Event()
    quitter = threading.Thread(target=lambda: order.append(-1 if lock.acquire(stopped=stop)
                                                           else -2))
    quitter.start()
    wait_until(lambda: lock.waiting >= 1, "the quitter never queued", interval=0.001)
    later = _queue_up_after(lock, order)
    stop.set()
    quitter.join(PATIENCE_S)
    lock.release()
    later.join(PATIENCE_S)
    assert order == [-2, 1]  # the stopped one gave up; the next in line was not held up


def _queue_up_after(lock: FairLock, order: list[int]) -> threading.Thread:
    def work() -> None:
        if lock.acquire():
            order.append(1)
            lock.release()
    t = threading.Thread(target=work)
    t.start()
    wait_until(lambda: lock.waiting >= 2, "the later waiter never queued", interval=0.001)
    return t


def test_timeouts_non_blocking_and_misuse() -> None:
    lock = FairLock()
    with lock:
        assert lock.locked()
        assert lock.acquire(blocking=False) is False
        assert lock.acquire(timeout=0.05) is False
        assert lock.waiting == 0
    assert not lock.locked()
    with pytest.raises(RuntimeError):
        lock.release()
