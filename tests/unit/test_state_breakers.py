"""Breaker verdicts shared through Redis: two ``RedisBreakers`` on one server are two workers,
each with its own ``CircuitBreaker`` on a fake clock (monotonic and wall clock alike)."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
from routing_fakes import FakeClock

from drux.config import Settings, load_config
from drux.errors import CircuitOpenError, ServerError
from drux.routing.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from drux.services import Services
from drux.services.status import deployment_status
from drux.state.breakers import BreakerVerdict, LocalBreakers, shared_breakers
from drux.state.breakers.redis import PROBE, RedisBreakers, read_verdicts
from drux.state.connection import redis_client

from waiting import eventually

pytestmark = pytest.mark.redis

NAME = "v:m"
POLICY = BreakerPolicy(consecutive_failures=3, cooldown=10.0, hard_cooldown=100.0,
                       max_cooldown=1000.0, probe_timeout=120.0)


class Worker:
    """One worker's view: its shared state and its own breaker of ``NAME``."""

    def __init__(self, url: str, clock: FakeClock, label: str) -> None:
        self.states = RedisBreakers(url, worker=label, retry_every=0.05)
        self.breaker = CircuitBreaker(NAME, POLICY, clock=clock, shared=self.states, wall=clock)
        self.states.attach(self.breaker)

    def fail(self, times: int = 1) -> None:
        for _ in range(times):
            self.breaker.on_failure(ServerError("500"))

    async def probe(self) -> None:
        assert self.breaker.before_call()
        await self.breaker.claim_probe()


@pytest.fixture
async def two(redis_url: str) -> AsyncIterator[tuple[Worker, Worker, FakeClock]]:
    clock = FakeClock()
    a, b = Worker(redis_url, clock, "a"), Worker(redis_url, clock, "b")
    await a.states.start()
    await b.states.start()
    yield a, b, clock
    await a.states.aclose()
    await b.states.aclose()


async def state_is(worker: Worker, state: BreakerState) -> None:
    await eventually(lambda: worker.breaker.state is state,
                     lambda: f"worker {worker.states.worker} stayed {worker.breaker.state}")


def test_without_a_url_breakers_stay_in_the_process() -> None:
    assert isinstance(shared_breakers(None), LocalBreakers)
    assert CircuitBreaker(NAME).describe()["breaker_scope"] == "process"


async def test_a_breaker_opened_on_one_worker_is_open_on_the_other(
        two: tuple[Worker, Worker, FakeClock]) -> None:
    a, b, clock = two
    a.fail(3)
    assert a.breaker.state is BreakerState.OPEN
    await state_is(b, BreakerState.OPEN)
    with pytest.raises(CircuitOpenError) as refused:
        b.breaker.before_call()
    assert refused.value.retry_after == pytest.approx(POLICY.cooldown)
    assert b.breaker.opened_count == 0  # adopted, not opened by b's own calls
    assert b.breaker.describe()["breaker_scope"] == "cluster"
    clock.advance(POLICY.cooldown)
    assert b.breaker.state is BreakerState.HALF_OPEN  # the same deadline on both


async def test_one_probe_for_the_cluster_and_its_success_closes_every_worker(
        two: tuple[Worker, Worker, FakeClock], redis_url: str) -> None:
    a, b, clock = two
    a.fail(3)
    await state_is(b, BreakerState.OPEN)
    clock.advance(POLICY.cooldown)
    await a.probe()
    with pytest.raises(CircuitOpenError, match="another worker"):
        await b.probe()
    # b now refuses on its own, without asking Redis, until a's verdict arrives.
    with pytest.raises(CircuitOpenError, match="another worker"):
        b.breaker.before_call()
    a.breaker.on_success()
    assert a.breaker.state is BreakerState.CLOSED
    await state_is(b, BreakerState.CLOSED)
    assert not b.breaker.before_call()
    assert not await redis_client(redis_url).exists(PROBE + NAME)  # the slot went with it


async def test_a_failed_probe_reopens_every_worker_with_the_doubled_cooldown(
        two: tuple[Worker, Worker, FakeClock]) -> None:
    a, b, clock = two
    a.fail(3)
    await state_is(b, BreakerState.OPEN)
    clock.advance(POLICY.cooldown)
    await b.probe()  # this time b holds the cluster's probe
    with pytest.raises(CircuitOpenError):
        await a.probe()
    b.fail()
    await eventually(lambda: a.breaker.describe()["open_for_s"] == 2 * POLICY.cooldown,
                     "a never adopted the reopened breaker")
    clock.advance(POLICY.cooldown)
    assert a.breaker.state is BreakerState.OPEN and b.breaker.state is BreakerState.OPEN
    clock.advance(POLICY.cooldown)
    assert a.breaker.state is BreakerState.HALF_OPEN
    await a.probe()  # the reopen freed the slot for the next round


async def test_an_abandoned_probe_frees_the_cluster_slot(
        two: tuple[Worker, Worker, FakeClock], redis_url: str) -> None:
    a, b, clock = two
    a.fail(3)
    await state_is(b, BreakerState.OPEN)
    clock.advance(POLICY.cooldown)
    await a.probe()
    a.breaker.on_abandoned()
    held = redis.Redis.from_url(redis_url)
    try:
        await eventually(lambda: not held.exists(PROBE + NAME), "the probe slot stayed taken")
    finally:
        held.close()
    await b.probe()


async def test_a_worker_that_starts_later_is_in_step_before_its_first_call(
        two: tuple[Worker, Worker, FakeClock], redis_url: str) -> None:
    a, _b, clock = two
    a.fail(3)
    await eventually(lambda: read_verdicts(redis_url, wall=clock), "a's verdict never stored")
    late = Worker(redis_url, clock, "late")
    try:
        await late.states.start()
        assert late.breaker.state is BreakerState.OPEN
        states = read_verdicts(redis_url, wall=clock)
        assert states is not None
        assert states[NAME]["state"] == "open" and states[NAME]["decided_by"] == "a"
    finally:
        await late.states.aclose()


async def test_older_verdicts_are_never_adopted(two: tuple[Worker, Worker, FakeClock]) -> None:
    a, b, _clock = two
    a.fail(3)
    await state_is(b, BreakerState.OPEN)
    a.breaker.adopt(BreakerVerdict(name=NAME, state="closed"))  # a's state, not the cluster's
    stale = BreakerVerdict(name=NAME, state="closed", by="a", version=1).model_dump_json()
    b.states._receive(stale)
    assert b.breaker.state is BreakerState.OPEN


async def test_redis_away_breakers_decide_alone_then_share_again(
        two: tuple[Worker, Worker, FakeClock], redis_server: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    a, b, _clock = two
    caplog.set_level(logging.WARNING, logger="drux.state.breakers")
    redis_server.stop()
    try:
        a.fail(3)  # nothing raises: the verdict waits for Redis
        assert a.breaker.state is BreakerState.OPEN
        await eventually(lambda: not a.states.describe()["reachable"], "a never noticed")
        assert b.breaker.state is BreakerState.CLOSED
        assert not b.breaker.before_call()  # b's own breaker still admits
    finally:
        redis_server.start()
    # The restarted server is empty; a's verdict is published again on reconnection.
    await state_is(b, BreakerState.OPEN)
    await eventually(lambda: a.states.describe()["reachable"], "a never saw Redis back")
    lines = [r.getMessage() for r in caplog.records if r.name == "drux.state.breakers"]
    assert sum(line.startswith("breakers of a: ") and "unreachable" in line
               for line in lines) == 1  # logged once, however many commands failed
    assert sum(line.startswith("breakers of b: ") and "unreachable" in line
               for line in lines) <= 1
    assert any(line.startswith("breakers of a: ") and "is back" in line for line in lines)


async def test_redis_away_the_local_probe_slot_decides_and_its_verdict_follows(
        two: tuple[Worker, Worker, FakeClock], redis_server: Any) -> None:
    a, b, clock = two
    a.fail(3)
    await state_is(b, BreakerState.OPEN)
    clock.advance(POLICY.cooldown)
    redis_server.stop()
    try:
        await eventually(lambda: not a.states.describe()["reachable"], "a never noticed")
        await a.probe()  # no Redis to ask: a's own slot admits one probe...
        with pytest.raises(CircuitOpenError):
            a.breaker.before_call()  # ...and only one
        a.breaker.on_success()
        assert a.breaker.state is BreakerState.CLOSED
        assert b.breaker.state is BreakerState.HALF_OPEN  # b has not heard of it yet
    finally:
        redis_server.start()
    # a's close was published once Redis came back, and b takes it although the restarted
    # (empty) Redis has forgotten every earlier verdict and the version b saw last.
    await state_is(b, BreakerState.CLOSED)


async def test_a_slot_taken_as_another_worker_closed_the_breaker_does_not_outlive_it(
        two: tuple[Worker, Worker, FakeClock], redis_url: str) -> None:
    _a, b, _clock = two
    # b takes the slot just after a's close freed it, and hears of the close only then.
    assert await b.states.claim_probe(NAME, POLICY.probe_timeout)
    late = BreakerVerdict(name=NAME, state="closed", by="a", version=2**62)
    b.states._receive(late.model_dump_json())
    held = redis.Redis.from_url(redis_url)
    try:
        await eventually(lambda: not held.exists(PROBE + NAME),
                         "b's slot outlived the close and would hold up the next probe")
    finally:
        held.close()


async def test_status_shows_the_clusters_breaker_and_does_without_redis(
        two: tuple[Worker, Worker, FakeClock], redis_url: str, drux_env: Any) -> None:
    a, _b, clock = two
    clock.now = time.time()  # status reads deadlines against the real wall clock
    a.fail(3)
    await eventually(lambda: read_verdicts(redis_url), "a's verdict never stored")
    services = Services(load_config(Settings(redis_url=redis_url)))
    try:
        rows = {r["deployment"]: r for r in deployment_status(services)}
        assert rows[NAME]["state"] == "open" and rows[NAME]["source"] == "cluster"
        assert 0 < rows[NAME]["open_for_s"] <= POLICY.cooldown
        assert rows[NAME]["breaker_scope"] == "cluster"
    finally:
        services.store.close()
    away = Services(load_config(Settings(redis_url=f"redis://127.0.0.1:{_closed_port()}/0")))
    try:
        assert read_verdicts(away.settings.redis_url or "") is None
        assert deployment_status(away) == []  # no row invented, no error
    finally:
        away.store.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
