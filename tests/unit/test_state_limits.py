"""Rate limits and reservations on Redis: shared by every worker (here, two instances standing
for two processes), atomic under concurrency, seeded from the stored spend, and what each
does while Redis is down (rate limits and tokens per minute fail open onto the process's own
window; budgets fail closed) and once it is back (shared again, no restart)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from drux.errors import SharedStateError
from drux.state.connection import ping
from drux.state.limits import MemoryRateLimits, RedisRateLimits
from drux.state.reserve import (
    Caps,
    MemoryReserver,
    OverBudget,
    OverRequests,
    OverTokens,
    RedisReserver,
)

pytestmark = pytest.mark.redis


async def test_a_moving_window_is_shared_by_two_workers(redis_url: str) -> None:
    one, two = RedisRateLimits(redis_url), RedisRateLimits(redis_url)
    assert await one.hit("rpm", "k", 3) is None
    assert await two.hit("rpm", "k", 3) is None
    assert await one.hit("rpm", "k", 3) is None
    wait = await two.hit("rpm", "k", 3)
    assert wait is not None and 55 < wait <= 60
    assert await two.hit("rpm", "other", 3) is None  # per key


async def test_memory_windows_are_per_process() -> None:
    one, two = MemoryRateLimits(), MemoryRateLimits()
    assert await one.hit("rpm", "k", 1) is None
    assert await two.hit("rpm", "k", 1) is None
    assert await one.hit("rpm", "k", 1) is not None


@pytest.mark.parametrize("shared", [False, True])
async def test_concurrent_reservations_never_pass_the_budget(redis_url: str,
                                                             shared: bool) -> None:
    workers = ([RedisReserver(redis_url), RedisReserver(redis_url)] if shared
               else [MemoryReserver()])
    caps = Caps(budget_usd=1.0, spent_usd=0.25)

    async def one(i: int) -> float:
        try:
            hold = await workers[i % len(workers)].reserve("key:1", caps, usd=0.1, tokens=0)
        except OverBudget:
            return 0.0
        return hold.usd

    held = await asyncio.gather(*(one(i) for i in range(50)))
    # 7 whole reservations; the 0.05 left goes to no one while they are in flight.
    assert sum(held) == pytest.approx(0.7)
    assert sum(1 for h in held if h) == 7


async def test_settling_refunds_and_the_counter_starts_from_the_stored_spend(
        redis_url: str) -> None:
    one, two = RedisReserver(redis_url), RedisReserver(redis_url)
    caps = Caps(budget_usd=1.0, spent_usd=0.9)
    hold = await one.reserve("key:7", caps, usd=0.5, tokens=0)
    assert hold.usd == pytest.approx(0.1)  # all that was left
    with pytest.raises(OverBudget):
        await two.reserve("key:7", caps, usd=0.01, tokens=0)
    await one.settle(hold, usd=0.04, tokens=0)  # 0.06 back
    assert (await two.reserve("key:7", caps, usd=0.5, tokens=0)).usd == pytest.approx(0.06)
    # The stored spend only seeds the counter: later (stale) readings do not reset it.
    with pytest.raises(OverBudget):
        await two.reserve("key:7", Caps(budget_usd=1.0, spent_usd=0.0), usd=0.01, tokens=0)


async def test_tokens_per_minute_across_workers(redis_url: str) -> None:
    one, two = RedisReserver(redis_url), RedisReserver(redis_url)
    caps = Caps(tpm=1500)
    first = await one.reserve("key:2", caps, usd=0, tokens=1000)
    with pytest.raises(OverTokens) as info:  # does not fit while another call is in flight
        await two.reserve("key:2", caps, usd=0, tokens=1000)
    assert info.value.retry_after == 1.0
    second = await two.reserve("key:2", caps, usd=0, tokens=500)
    assert (first.tokens, second.tokens) == (1000, 500)
    with pytest.raises(OverTokens) as info:
        await one.reserve("key:2", caps, usd=0, tokens=1)
    assert 55 < info.value.retry_after <= 60
    await one.settle(first, usd=0, tokens=100)  # 900 unused tokens back in the window
    await two.settle(second, usd=0, tokens=500)
    # Nothing in flight: a call that does not fit takes all that is left.
    assert (await two.reserve("key:2", caps, usd=0, tokens=2000)).tokens == 900


async def test_redis_outage_budgets_fail_closed_the_rest_open(redis_server: Any,
                                                             redis_url: str) -> None:
    limits, reserver = RedisRateLimits(redis_url), RedisReserver(redis_url)
    assert await limits.hit("rpm", "k", 1) is None
    redis_server.stop()
    try:
        with pytest.raises(SharedStateError, match="Redis"):
            await reserver.reserve("key:3", Caps(budget_usd=5.0), usd=1.0, tokens=0)
        hold = await reserver.reserve("key:3", Caps(tpm=100), usd=0, tokens=60)
        assert not hold.shared and hold.tokens == 60  # this process's window
        assert (await reserver.reserve("key:3", Caps(tpm=100), usd=0, tokens=40)).tokens == 40
        with pytest.raises(OverTokens):
            await reserver.reserve("key:3", Caps(tpm=100), usd=0, tokens=1)
        await reserver.settle(hold, usd=0, tokens=10)
        assert await limits.hit("rpm", "k", 1) is None  # counted in memory meanwhile
        assert await limits.hit("rpm", "k", 1) is not None
    finally:
        redis_server.start()
    # Back (empty: the test server keeps nothing on disk): shared again without a restart.
    assert await limits.hit("rpm", "back", 1) is None
    assert await RedisRateLimits(redis_url).hit("rpm", "back", 1) is not None
    assert (await reserver.reserve("key:3", Caps(budget_usd=5.0), usd=1.0, tokens=0)).shared


@pytest.mark.parametrize("shared", [False, True])
async def test_refunds_do_not_let_calls_that_do_not_fit_overrun(redis_url: str,
                                                                shared: bool) -> None:
    # Found by a staggered run: every 12 tokens refunded were taken by a new call that then
    # used 100 (1300 tokens a minute against 1000).
    worker = RedisReserver(redis_url) if shared else MemoryReserver()
    caps = Caps(tpm=1000)
    holds = [await worker.reserve("key:4", caps, usd=0, tokens=112) for _ in range(8)]
    holds.append(await worker.reserve("key:4", caps, usd=0, tokens=104))  # 1000: all taken
    await worker.settle(holds.pop(0), usd=0, tokens=100)  # 12 back, 8 calls in flight
    with pytest.raises(OverTokens) as info:
        await worker.reserve("key:4", caps, usd=0, tokens=112)
    assert info.value.retry_after == 1.0
    for hold in holds:
        await worker.settle(hold, usd=0, tokens=100)
    # 900 used, nothing in flight: a call that does not fit takes the 100 left, then no more.
    assert (await worker.reserve("key:4", caps, usd=0, tokens=112)).tokens == 100
    with pytest.raises(OverTokens):
        await worker.reserve("key:4", caps, usd=0, tokens=1)


@pytest.mark.parametrize("shared", [False, True])
async def test_requests_per_minute_counted_with_the_reservation(redis_url: str,
                                                                shared: bool) -> None:
    workers = ([RedisReserver(redis_url), RedisReserver(redis_url)] if shared
               else [MemoryReserver()])
    caps = Caps(rpm=2, tpm=1000)
    for i in range(2):
        hold = await workers[i % len(workers)].reserve("key:5", caps, usd=0, tokens=10)
        await workers[i % len(workers)].settle(hold, usd=0, tokens=5)
    with pytest.raises(OverRequests) as info:
        await workers[-1].reserve("key:5", caps, usd=0, tokens=10)
    assert 55 < info.value.retry_after <= 60
    # A refusal for requests takes no tokens: the window holds the two settled calls only.
    assert (await workers[0].reserve("key:5", Caps(tpm=1000), usd=0, tokens=990)).tokens == 990


async def test_scripts_are_loaded_again_after_a_restart(redis_server: Any, redis_url: str) -> None:
    worker = RedisReserver(redis_url)
    await worker.reserve("key:6", Caps(tpm=100), usd=0, tokens=1)
    redis_server.stop()
    redis_server.start()  # an empty server: no cached scripts
    await ping(redis_url)  # the client's old connection fails once, then it reconnects
    assert (await worker.reserve("key:6", Caps(tpm=100), usd=0, tokens=1)).shared
