"""Settles off the request path: queued without I/O, sent in batches (one pipelined round trip
to Redis), flushed on shutdown; until a settle is sent its reservation still counts, so the
limits are only ever stricter for that moment, never looser."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from drux.state.connection import redis_client
from drux.state.reserve import Caps, OverBudget, RedisReserver
from drux.state.settling import SettleQueue

pytestmark = pytest.mark.redis


async def test_queued_items_go_in_one_batch_after_the_interval() -> None:
    batches: list[list[int]] = []
    sent = asyncio.Event()

    async def settle_batch(items: Sequence[int]) -> None:
        batches.append(list(items))
        sent.set()

    queue = SettleQueue(settle_batch, every=0.05, batch=100)
    for i in range(5):
        queue.put(i)
    assert batches == [] and queue.pending() == 5  # put does no I/O and does not wait
    await asyncio.wait_for(sent.wait(), 30)
    assert batches == [[0, 1, 2, 3, 4]]
    await queue.drain()


async def test_a_full_batch_goes_at_once_and_drain_sends_the_rest() -> None:
    batches: list[list[int]] = []
    sent = asyncio.Event()

    async def settle_batch(items: Sequence[int]) -> None:
        batches.append(list(items))
        sent.set()

    queue = SettleQueue(settle_batch, every=3600, batch=3)  # only fullness or drain sends
    for i in range(3):
        queue.put(i)
    await asyncio.wait_for(sent.wait(), 30)
    assert batches == [[0, 1, 2]]
    queue.put(3)
    await queue.drain()
    assert batches == [[0, 1, 2], [3]]


async def test_a_failing_batch_does_not_stop_later_ones() -> None:
    batches: list[list[int]] = []
    sent = asyncio.Event()

    async def settle_batch(items: Sequence[int]) -> None:
        batches.append(list(items))
        sent.set()
        if items[0] == 0:
            raise RuntimeError("boom")

    queue = SettleQueue(settle_batch, every=3600, batch=1)
    queue.put(0)
    await asyncio.wait_for(sent.wait(), 30)
    queue.put(1)
    await queue.drain()
    assert batches == [[0], [1]]


async def test_a_queued_settle_keeps_the_reservation_until_it_is_sent(redis_url: str) -> None:
    worker = RedisReserver(redis_url, settle_every=3600)
    caps = Caps(budget_usd=1.0)
    hold = await worker.reserve("key:1", caps, usd=1.0, tokens=0)
    worker.settle_soon(hold, usd=0.25, tokens=0)
    with pytest.raises(OverBudget):  # stricter for now: the whole dollar is still reserved
        await worker.reserve("key:1", caps, usd=0.5, tokens=0)
    await worker.drain()  # what a gateway does on shutdown
    assert (await worker.reserve("key:1", caps, usd=0.5, tokens=0)).usd == pytest.approx(0.5)


async def test_a_batch_of_settles_from_many_calls_is_exact(redis_url: str) -> None:
    worker = RedisReserver(redis_url, settle_every=3600)
    caps = Caps(budget_usd=10.0, tpm=10_000)
    holds = [await worker.reserve("key:2", caps, usd=0.5, tokens=500) for _ in range(20)]
    for hold in holds:
        worker.settle_soon(hold, usd=0.1, tokens=100)
    await redis_client(redis_url).script_flush()  # the settle script must be sent again
    await worker.drain()
    # 2 USD and 2,000 tokens used: 8 USD and 8,000 tokens left.
    left = await worker.reserve("key:2", caps, usd=9.0, tokens=9000)
    assert left.usd == pytest.approx(8.0) and left.tokens == 8000
