"""Quota leases on Redis (issue 11): a worker admits calls at a key far from its limits from a
slice of its headroom it holds, without a round trip per call, and the limits still hold."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
import redis
from redis_time_kit import early_in_a_second, redis_now_us, sync_client

from drux.errors import SharedStateError
from drux.state import lease, reserve_lua
from drux.state.reserve import Caps, Hold, OverBudget, OverRequests, OverTokens, RedisReserver

from waiting import eventually

pytestmark = pytest.mark.redis

BIG = Caps(budget_usd=1000.0, tpm=10**7, rpm=10**5)


def script_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))
               for name in ("evalsha", "eval"))


def state(client: redis.Redis, subject: str) -> tuple[float, dict[str, str], int]:
    usd, win, open_ = reserve_lua.keys(subject)
    window = {k.decode(): v.decode() for k, v in client.hgetall(win).items()}
    return float(client.get(usd) or 0), window, int(client.zcard(open_))


def from_lease(hold: Hold) -> bool:
    return hold.ticket.startswith("L")


@pytest.mark.parametrize("leases", [True, False])
async def test_a_key_far_from_its_limits_makes_few_script_calls(redis_url: str,
                                                                leases: bool) -> None:
    client = sync_client(redis_url)
    worker = RedisReserver(redis_url, leases=leases)
    before = script_calls(client)
    for _ in range(400):
        hold = await worker.reserve("key:big", BIG, usd=0.001, tokens=100)
        worker.settle_soon(hold, usd=0.0005, tokens=60)
    during = script_calls(client) - before
    await worker.drain()
    if leases:
        assert during <= 10  # a lease a second at most, not a call each
    else:
        assert during >= 400
    # Counted exactly as per call once the leases are back: 400 calls, their real use.
    usd, window, in_flight = state(client, "key:big")
    assert usd == pytest.approx(0.2, abs=1e-9)
    assert (window["R"], window["T"]) == ("400", "24000")
    assert in_flight == 0
    client.close()


@pytest.mark.parametrize("waves", [1, 10])
@pytest.mark.parametrize("binding", ["rpm", "tpm", "budget"])
async def test_two_workers_with_leases_never_pass_a_limit(redis_url: str, binding: str,
                                                          waves: int) -> None:
    # Sized so that leases are taken first (each covers 8 calls or more) and the per-call path
    # takes over as the limit nears: 200 calls against room for 150, all at once or in waves.
    caps = {"rpm": Caps(rpm=150, tpm=10**6),
            "tpm": Caps(tpm=15_000, rpm=10**4),
            "budget": Caps(budget_usd=1.5, tpm=10**6)}[binding]
    workers = [RedisReserver(redis_url, leases=True), RedisReserver(redis_url, leases=True)]
    rng = random.Random(11)
    served: list[Hold] = []

    async def one(i: int) -> None:
        worker = workers[i % 2]
        try:
            hold = await worker.reserve("key:2w", caps, usd=0.01, tokens=100)
        except (OverRequests, OverTokens, OverBudget):
            return
        served.append(hold)
        for _ in range(rng.randrange(20)):
            await asyncio.sleep(0)  # in flight a while, interleaved with the others
        worker.settle_soon(hold, usd=0.01, tokens=100)

    size = 200 // waves
    for wave in range(waves):
        await asyncio.gather(*(one(wave * size + i) for i in range(size)))
    assert any(from_lease(h) for h in served) and not all(from_lease(h) for h in served)
    assert len(served) <= 150
    # Refused while the other worker held unused lease: at most what two leases hold.
    assert len(served) >= 150 - 2 * (150 // lease.LEASE_FRACTION + 1)
    for worker in workers:
        await worker.drain()
    client = sync_client(redis_url)
    usd, window, in_flight = state(client, "key:2w")
    # What Redis holds is what the served calls used, nothing lent and lost on the way.
    if caps.rpm is not None:
        assert int(window["R"]) == len(served)
    assert int(window["T"]) == 100 * len(served)
    if binding == "budget":
        assert usd == pytest.approx(0.01 * len(served))
    assert in_flight == 0
    client.close()


async def test_an_expired_lease_gives_back_what_it_did_not_lend(redis_url: str) -> None:
    client = sync_client(redis_url)
    worker = RedisReserver(redis_url, leases=True)
    hold = await worker.reserve("key:exp", BIG, usd=0.01, tokens=100)
    assert from_lease(hold)
    usd, window, in_flight = state(client, "key:exp")
    assert usd == pytest.approx(1000.0 / lease.LEASE_FRACTION) and in_flight == 1
    assert int(window["T"]) == 10**7 // lease.LEASE_FRACTION
    await worker.settle(hold, usd=0.004, tokens=40)  # back into the lease: no round trip
    assert state(client, "key:exp")[0] == pytest.approx(usd)
    # Nothing renews it: it is returned on its own once it has ended.
    await eventually(lambda: state(client, "key:exp")[2] == 0, "the lease was never returned")
    usd, window, _ = state(client, "key:exp")
    assert usd == pytest.approx(0.004, abs=1e-9)
    assert (window["R"], window["T"]) == ("1", "40")
    client.close()


async def test_a_lease_is_counted_in_the_second_it_ends(redis_url: str) -> None:
    client = sync_client(redis_url)
    worker = RedisReserver(redis_url, leases=True)
    before = redis_now_us(client)
    first = await worker.reserve("key:edge", BIG, usd=0.0, tokens=10)
    after = redis_now_us(client)
    _, window, _ = state(client, "key:edge")
    (bucket,) = [int(k[1:]) for k in window if k.startswith("m")]
    ends = int(window[f"m{bucket}"])
    # Its end, a second after it was taken, is its bucket's time: the bucket leaves the window
    # 60 s after the lease's end, so every call lent to is counted until more than 60 s after.
    assert before + 1_000_000 <= ends <= after + 1_000_000
    assert bucket == ends // 1_000_000 > before // 1_000_000
    assert int(window[f"t{bucket}"]) == BIG.tpm // lease.LEASE_FRACTION  # type: ignore[operator]
    assert (await worker.reserve("key:edge", BIG, usd=0.0, tokens=10)).ticket == first.ticket
    # Nothing is lent past that end (this process's clock a lease's life later).
    leases = worker._leases
    assert leases is not None
    real = leases._clock
    leases._clock = lambda: real() + lease.LEASE_SECONDS
    later = await worker.reserve("key:edge", BIG, usd=0.0, tokens=10)
    assert from_lease(later) and later.ticket != first.ticket
    await worker.drain()
    client.close()


async def test_a_call_in_the_same_second_keeps_the_later_time_of_a_lease(
        redis_url: str) -> None:
    # A lease taken at second s - 1 ends in second s; a call made at s before that end must
    # not move the bucket's time earlier (it would leave the window too soon).
    client = sync_client(redis_url)
    now = early_in_a_second(client, 500_000)
    second = now // 1_000_000
    ends = second * 1_000_000 + 999_000
    _, win, _ = reserve_lua.keys("key:same")
    client.hset(win, mapping={"lo": second, "R": 5, "T": 50, f"r{second}": 5,
                              f"t{second}": 50, f"m{second}": ends})
    worker = RedisReserver(redis_url)  # the per-call path
    await worker.reserve("key:same", Caps(tpm=1000, rpm=100), usd=0, tokens=10)
    values = client.hmget(win, f"m{second}", f"r{second}", "R")
    assert values == [str(ends).encode(), b"6", b"6"]
    client.close()


async def test_a_lease_out_counts_as_in_flight(redis_url: str) -> None:
    leasing = RedisReserver(redis_url, leases=True, settle_every=3600)
    other = RedisReserver(redis_url)
    caps = Caps(tpm=100_000)
    hold = await leasing.reserve("key:if", caps, usd=0, tokens=100)
    assert from_lease(hold)
    leasing.settle_soon(hold, usd=0, tokens=100)  # back in the lease: nothing in flight
    # A call whose maximum does not fit waits while the lease is out (it may yet be lent).
    with pytest.raises(OverTokens) as info:
        await other.reserve("key:if", caps, usd=0, tokens=200_000)
    assert info.value.retry_after == 1.0
    # Lent again, then the lease returned while that call runs: still in flight.
    hold = await leasing.reserve("key:if", caps, usd=0, tokens=100)
    assert from_lease(hold)
    await leasing.drain()
    with pytest.raises(OverTokens):
        await other.reserve("key:if", caps, usd=0, tokens=200_000)
    await leasing.settle(hold, usd=0, tokens=100)  # the lease's last call: no longer
    taken = await other.reserve("key:if", caps, usd=0, tokens=200_000)
    assert taken.tokens == 100_000 - 200


async def test_a_redis_restart_while_a_lease_is_held(redis_server: Any, redis_url: str) -> None:
    worker = RedisReserver(redis_url, leases=True, settle_every=3600)
    caps = Caps(budget_usd=1000.0, spent_usd=0.0)
    hold = await worker.reserve("key:rs", caps, usd=1.0, tokens=0)
    assert from_lease(hold)
    redis_server.stop()
    redis_server.start()  # empty: the counter, the window and the lease are gone
    # Still served from the lease it holds: that slice was counted when it was taken.
    again = await worker.reserve("key:rs", caps, usd=1.0, tokens=0)
    assert again.ticket == hold.ticket
    other = RedisReserver(redis_url)
    seeded = await other.reserve("key:rs", caps, usd=2.0, tokens=0)  # counter from the store
    assert seeded.shared and not from_lease(seeded)
    worker.settle_soon(hold, usd=0.5, tokens=0)
    worker.settle_soon(again, usd=0.5, tokens=0)
    await worker.drain()  # the old lease's return: not onto the fresh counter
    client = sync_client(redis_url)
    usd, _, in_flight = state(client, "key:rs")
    assert usd == pytest.approx(2.0)
    assert in_flight == 1  # the other worker's call
    # And a new lease on the fresh Redis.
    fresh = await worker.reserve("key:rs", caps, usd=1.0, tokens=0)
    assert from_lease(fresh) and fresh.ticket != hold.ticket
    assert state(client, "key:rs")[0] == pytest.approx(2.0 + 998.0 / lease.LEASE_FRACTION)
    await worker.drain()
    client.close()


async def test_small_limits_never_try_a_lease(redis_url: str) -> None:
    client = sync_client(redis_url)
    worker = RedisReserver(redis_url, leases=True)
    for script in (reserve_lua.RESERVE, reserve_lua.SETTLE):
        client.script_load(script)  # an earlier test may have restarted Redis
    before = script_calls(client)
    for caps in (Caps(rpm=5), Caps(tpm=1500), Caps(budget_usd=0.02)):
        hold = await worker.reserve("key:small", caps, usd=0.01, tokens=100)
        assert not from_lease(hold)
        await worker.settle(hold, usd=0.01, tokens=100)
    assert script_calls(client) - before == 6  # three reserves and three settles
    client.close()


async def test_a_window_idle_for_a_minute_keeps_a_lease_bucket_still_in_it(
        redis_url: str) -> None:
    # The last writes, a minute ago: a call at second S - 60 (the window's oldest second then
    # S - 120) and the lease taken with it, counted in S - 59. At S the call's bucket is out,
    # the lease's is not: dropping the whole window would forget that request.
    client = sync_client(redis_url)
    now = early_in_a_second(client, 500_000)
    s = now // 1_000_000
    _, win, _ = reserve_lua.keys("key:idle")
    client.hset(win, mapping={"lo": s - 120, "R": 2, "T": 0,
                              f"r{s - 60}": 1, f"t{s - 60}": 0, f"m{s - 60}": (s - 60) * 10**6,
                              f"r{s - 59}": 1, f"t{s - 59}": 0,
                              f"m{s - 59}": (s - 59) * 10**6 + 900_000})
    worker = RedisReserver(redis_url)
    await worker.reserve("key:idle", Caps(rpm=2), usd=0, tokens=0)
    with pytest.raises(OverRequests):
        await worker.reserve("key:idle", Caps(rpm=2), usd=0, tokens=0)
    client.close()


async def test_an_outage_lends_from_the_lease_held_then_budgets_fail_closed(
        redis_server: Any, redis_url: str) -> None:
    worker = RedisReserver(redis_url, leases=True)
    hold = await worker.reserve("key:down", Caps(budget_usd=1000.0), usd=1.0, tokens=0)
    assert from_lease(hold)
    leases = worker._leases
    assert leases is not None
    redis_server.stop()
    try:
        # What the lease holds was counted when it was taken: lent without Redis.
        again = await worker.reserve("key:down", Caps(budget_usd=1000.0), usd=1.0, tokens=0)
        assert again.ticket == hold.ticket
        real = leases._clock
        leases._clock = lambda: real() + lease.LEASE_SECONDS  # the lease has ended
        with pytest.raises(SharedStateError, match="Redis"):
            await worker.reserve("key:down", Caps(budget_usd=1000.0), usd=1.0, tokens=0)
        tokens_only = await worker.reserve("key:tpm", Caps(tpm=10**6), usd=0, tokens=10)
        assert not tokens_only.shared  # fails open onto this process's window
    finally:
        redis_server.start()
    fresh = await worker.reserve("key:down", Caps(budget_usd=1000.0), usd=1.0, tokens=0)
    assert from_lease(fresh) and fresh.ticket != hold.ticket
    await worker.drain()
