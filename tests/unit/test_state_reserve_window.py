"""The reserve script's window on Redis: one bucket per second, counted until its last call is
60 s old (never looser than a moving window, stricter by under a second), its keys expiring by
themselves, and the packed command surviving a Redis restart and a cancelled call."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis
from redis_time_kit import early_in_a_second, redis_now_us, sync_client

from drux.state import reserve_lua
from drux.state.connection import redis_client
from drux.state.reserve import Caps, OverRequests, OverTokens, RedisReserver

pytestmark = pytest.mark.redis

MINUTE_US = 60_000_000


def plant(client: redis.Redis, subject: str, buckets: list[tuple[int, int, int]]) -> None:
    """A window holding ``buckets`` (last call's time in µs, requests, tokens), as the script
    leaves it."""
    win = reserve_lua.keys(subject)[1]
    fields: dict[str, Any] = {"lo": min(m // 1_000_000 for m, _, _ in buckets),
                              "R": sum(r for _, r, _ in buckets),
                              "T": sum(t for _, _, t in buckets)}
    for m, r, t in buckets:
        second = m // 1_000_000
        fields |= {f"r{second}": r, f"t{second}": t, f"m{second}": m}
    client.hset(win, mapping=fields)
    client.expire(win, reserve_lua.WINDOW_KEEP)


async def test_a_bucket_counts_until_its_last_call_is_a_minute_old(redis_url: str) -> None:
    client = sync_client(redis_url)
    worker = RedisReserver(redis_url)
    now = redis_now_us(client)
    # 59.5 s ago: inside a moving window, whichever second the bucket falls in.
    plant(client, "key:in", [(now - MINUTE_US + 500_000, 1, 0)])
    with pytest.raises(OverRequests) as info:
        await worker.reserve("key:in", Caps(rpm=1, tpm=10), usd=0, tokens=1)
    assert 0 < info.value.retry_after <= 0.5  # when that call is 60 s old, not later
    # Just over 60 s ago: out of a moving window, so out of ours (not a second later).
    plant(client, "key:out", [(now - MINUTE_US - 1_000, 1, 10)])
    hold = await worker.reserve("key:out", Caps(rpm=1, tpm=10), usd=0, tokens=10)
    assert hold.tokens == 10
    # The last microsecond of the second a minute ago: its bucket is the 61st second back, and
    # a window of the last 60 whole seconds would have let this call through.
    now = early_in_a_second(client, 700_000)
    plant(client, "key:edge", [((now // 1_000_000 - 59) * 1_000_000 - 1, 1, 0)])
    with pytest.raises(OverRequests) as info:
        await worker.reserve("key:edge", Caps(rpm=1), usd=0, tokens=0)
    assert 0 < info.value.retry_after <= 1
    client.close()


async def test_old_buckets_leave_and_the_sums_follow(redis_url: str) -> None:
    client = sync_client(redis_url)
    worker = RedisReserver(redis_url)
    now = redis_now_us(client)
    # A sparse key: one call 100 s ago, one 30 s ago (tokens 400 and 300).
    plant(client, "key:sparse", [(now - 100_000_000, 1, 400), (now - 30_000_000, 1, 300)])
    hold = await worker.reserve("key:sparse", Caps(tpm=1000), usd=0, tokens=1000)
    assert hold.tokens == 700  # only the 300 of 30 s ago still counts
    with pytest.raises(OverTokens) as info:
        await worker.reserve("key:sparse", Caps(tpm=1000), usd=0, tokens=1)
    assert 29 < info.value.retry_after <= 30.5  # the oldest bucket held leaves first
    window = {k.decode(): v.decode() for k, v in
              client.hgetall(reserve_lua.keys("key:sparse")[1]).items()}
    assert window["T"] == "1000" and window["R"] == "1"
    assert not any(k.endswith(str((now - 100_000_000) // 1_000_000)) for k in window)
    # Everything older than the window: started afresh.
    plant(client, "key:idle", [(now - 500_000_000, 3, 900)])
    assert (await worker.reserve("key:idle", Caps(tpm=1000, rpm=3), usd=0,
                                 tokens=1000)).tokens == 1000
    client.close()


async def test_counters_expire_by_themselves(redis_url: str) -> None:
    client = sync_client(redis_url)
    worker = RedisReserver(redis_url, settle_every=3600)
    usd, win, open_ = reserve_lua.keys("key:exp")
    await worker.reserve("key:exp", Caps(budget_usd=1.0, tpm=100, rpm=5), usd=0.1, tokens=10)
    assert 0 < client.ttl(win) <= reserve_lua.WINDOW_KEEP
    assert 0 < client.ttl(open_) <= reserve_lua.STALE + 61
    assert client.ttl(usd) == -1  # a key's budget counter is the truth: it stays
    await worker.reserve("user:exp", Caps(budget_usd=1.0, expire_seconds=3600), usd=0.1,
                         tokens=0)
    day_usd, day_win, day_open = reserve_lua.keys("user:exp")
    assert 0 < client.ttl(day_usd) <= 3600  # a user's day
    assert not client.exists(day_win)  # no window without a per-minute limit
    assert 0 < client.ttl(day_open) <= reserve_lua.STALE + 61
    client.close()


async def test_settle_corrects_the_bucket_it_was_counted_in(redis_url: str) -> None:
    client = sync_client(redis_url)
    worker = RedisReserver(redis_url)
    hold = await worker.reserve("key:set", Caps(tpm=1000), usd=0, tokens=800)
    second = hold.ticket.partition(":")[2]
    await worker.settle(hold, usd=0, tokens=50)
    win = reserve_lua.keys("key:set")[1]
    assert client.hmget(win, "T", f"t{second}") == [b"50", b"50"]
    assert client.zcard(reserve_lua.keys("key:set")[2]) == 0
    client.close()


async def test_a_restart_mid_run_reloads_the_script(redis_server: Any, redis_url: str) -> None:
    worker = RedisReserver(redis_url)
    caps = Caps(budget_usd=5.0, tpm=100, rpm=10)
    await worker.reserve("key:r", caps, usd=1.0, tokens=10)
    redis_server.stop()
    redis_server.start()  # empty: no scripts, and the kept connection is dead
    hold = await worker.reserve("key:r", caps, usd=1.0, tokens=10)
    assert hold.shared and hold.tokens == 10
    await worker.settle(hold, usd=0.5, tokens=5)  # the settle script is loaded again too
    client = sync_client(redis_url)
    usd, win, _ = reserve_lua.keys("key:r")
    assert float(client.get(usd) or 0) == pytest.approx(0.5)
    assert client.hget(win, "T") == b"5"
    client.close()


async def test_a_cancelled_reservation_does_not_hand_its_reply_to_the_next(
        redis_url: str) -> None:
    worker = RedisReserver(redis_url)
    caps = Caps(tpm=10**6)
    for yields in range(6):
        task = asyncio.create_task(worker.reserve("key:c", caps, usd=0, tokens=60))
        for _ in range(yields):
            await asyncio.sleep(0)  # let it get that far: sent, or waiting for its reply
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        hold = await worker.reserve("key:c", caps, usd=0, tokens=7)
        assert hold.tokens == 7


async def test_scripts_flushed_under_a_kept_connection_are_sent_again(redis_url: str) -> None:
    worker = RedisReserver(redis_url, settle_every=3600)
    caps = Caps(budget_usd=5.0, tpm=1000)
    first = await worker.reserve("key:f", caps, usd=1.0, tokens=100)
    client = sync_client(redis_url)
    client.script_flush()  # the connection stays up; the scripts are gone
    second = await worker.reserve("key:f", caps, usd=1.0, tokens=100)
    client.script_flush()
    worker.settle_soon(first, usd=0.25, tokens=10)
    worker.settle_soon(second, usd=0.25, tokens=10)
    await worker.drain()  # both settles in one batch, each missing its script
    usd, win, open_ = reserve_lua.keys("key:f")
    assert float(client.get(usd) or 0) == pytest.approx(0.5)
    assert client.hget(win, "T") == b"20" and client.zcard(open_) == 0
    client.close()


async def test_an_outage_does_not_pile_up_connections(redis_server: Any, redis_url: str) -> None:
    worker = RedisReserver(redis_url)
    await worker.reserve("key:o", Caps(tpm=100), usd=0, tokens=1)
    pool = redis_client(redis_url).connection_pool
    before = len(pool._in_use_connections) + len(pool._available_connections)
    redis_server.stop()
    try:
        for _ in range(5):  # tokens per minute fail open: each call tries Redis first
            assert not (await worker.reserve("key:o", Caps(tpm=100), usd=0, tokens=1)).shared
    finally:
        redis_server.start()
    assert len(pool._in_use_connections) + len(pool._available_connections) <= before + 1
    assert (await worker.reserve("key:o", Caps(tpm=100), usd=0, tokens=1)).shared


async def test_one_batch_settles_many_calls_and_skips_buckets_gone(redis_url: str) -> None:
    client = sync_client(redis_url)
    worker = RedisReserver(redis_url, settle_every=3600)
    caps = Caps(budget_usd=10.0, tpm=10_000)
    holds = [await worker.reserve(s, caps, usd=1.0, tokens=1000) for s in ("key:a", "key:b")
             for _ in range(3)]
    gone = {hold.ticket.partition(":")[2] for hold in holds[:3]}
    usd_a, win_a, open_a = reserve_lua.keys("key:a")
    # As if key:a's buckets had left the window before its settles came.
    client.hdel(win_a, *(f"{kind}{second}" for second in gone for kind in "rtm"))
    client.hset(win_a, "T", 0)
    for hold in holds:
        worker.settle_soon(hold, usd=0.5, tokens=100)
    await worker.drain()
    assert client.hget(win_a, "T") == b"0"
    assert not any(client.hexists(win_a, f"t{second}") for second in gone)
    usd_b, win_b, open_b = reserve_lua.keys("key:b")
    assert client.hget(win_b, "T") == b"300"
    for usd, open_ in ((usd_a, open_a), (usd_b, open_b)):
        assert float(client.get(usd) or 0) == pytest.approx(1.5)
        assert client.zcard(open_) == 0
    client.close()
