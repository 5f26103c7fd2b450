"""Hedging: start the next deployment when the current one is slow to produce a first token."""

from __future__ import annotations

import asyncio

import pytest
from routing_fakes import Fail, Hang, Reply, ScriptedProvider

from drux.errors import ServerError
from drux.routing.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from drux.routing.fallback import Deployment, FallbackProvider
from drux.routing.health import HealthRegistry
from drux.routing.hedge import HedgePolicy, hedge_delay
from drux.types import ChatRequest, Message, collect

REQ = ChatRequest([Message("user", "hi")], model="primary")
FAST_HEDGE = HedgePolicy(enabled=True, floor=0.0, default=0.01, ceiling=1.0)


def hedged_route(*fakes: ScriptedProvider, registry: HealthRegistry | None = None,
                 breakers: dict[str, CircuitBreaker] | None = None,
                 policy: HedgePolicy = FAST_HEDGE) -> FallbackProvider:
    breakers = breakers or {}
    deployments = [Deployment(name=f.name, model=f.name.split(":")[1], family="f", provider=f,
                              breaker=breakers.get(f.name)) for f in fakes]
    return FallbackProvider("primary", deployments, registry=registry, hedge=policy)


async def test_hedge_picks_the_faster_and_cancels_the_slower() -> None:
    slow = ScriptedProvider("a:primary", [Hang()])
    fast = ScriptedProvider("b:backup", [Reply(("quick",))])
    registry = HealthRegistry()
    breaker = CircuitBreaker("a:primary", BreakerPolicy(consecutive_failures=2))
    r = hedged_route(slow, fast, registry=registry, breakers={"a:primary": breaker})
    completion = await collect(r.stream(REQ), model="primary")
    assert completion.text == "quick"
    assert completion.substituted_for == "primary"
    assert slow.cancelled == 1
    # Being overtaken counts against the slow deployment: a hung primary opens its breaker.
    row = {d["deployment"]: d for d in registry.snapshot()}["a:primary"]
    assert row["failures"] == 1 and row["last_error"]["type"] == "timeout"
    await collect(r.stream(REQ), model="primary")
    assert breaker.state is BreakerState.OPEN


async def test_primary_that_answers_first_wins_and_the_hedge_is_cancelled() -> None:
    gate = asyncio.Event()
    primary = ScriptedProvider("a:primary", [Reply(("primary",), gate=gate)])
    backup = ScriptedProvider("b:backup", [Hang()])
    r = hedged_route(primary, backup)
    task = asyncio.create_task(collect(r.stream(REQ), model="primary"))
    await backup.started.wait()  # the hedge was started...
    gate.set()  # ...then the primary produces its first token
    completion = await task
    assert completion.text == "primary"
    assert completion.substituted_for is None
    assert backup.cancelled == 1


async def test_fast_primary_never_starts_the_hedge() -> None:
    primary = ScriptedProvider("a:primary", [Reply()])
    backup = ScriptedProvider("b:backup", [Reply()])
    policy = HedgePolicy(enabled=True, floor=5.0, default=5.0)
    completion = await collect(hedged_route(primary, backup, policy=policy).stream(REQ),
                               model="primary")
    assert completion.deployment == "a:primary"
    assert backup.calls == 0


async def test_hedging_off_waits_for_the_primary() -> None:
    gate = asyncio.Event()
    primary = ScriptedProvider("a:primary", [Reply(("late",), gate=gate)])
    backup = ScriptedProvider("b:backup", [Reply()])
    r = hedged_route(primary, backup, policy=HedgePolicy(enabled=False))
    task = asyncio.create_task(collect(r.stream(REQ), model="primary"))
    await primary.started.wait()
    # Hedging off: the primary runs in the caller's task, and no other task was started
    # beside it that could call the backup.
    assert asyncio.all_tasks() == {task, asyncio.current_task()}
    assert backup.calls == 0
    gate.set()
    assert (await task).text == "late"


async def test_hedge_failure_lets_the_primary_finish() -> None:
    gate = asyncio.Event()
    primary = ScriptedProvider("a:primary", [Reply(("slow but fine",), gate=gate)])
    backup = ScriptedProvider("b:backup", [Fail(ServerError("500"))])
    third = ScriptedProvider("c:third", [Hang()])
    r = hedged_route(primary, backup, third)
    task = asyncio.create_task(r.complete(REQ))
    await third.started.wait()  # backup failed, so the third took its place
    gate.set()
    completion = await task
    assert completion.text == "slow but fine"
    assert third.cancelled == 1


async def test_complete_is_hedged_too() -> None:
    slow = ScriptedProvider("a:primary", [Hang()])
    fast = ScriptedProvider("b:backup", [Reply(("quick",))])
    completion = await hedged_route(slow, fast).complete(REQ)
    assert completion.text == "quick" and slow.cancelled == 1


def test_hedge_delay_uses_recent_p95_with_floor_and_ceiling() -> None:
    registry = HealthRegistry()
    policy = HedgePolicy(floor=0.2, ceiling=3.0, default=1.5, min_samples=5, quantile=0.95)
    assert hedge_delay(policy, registry, "d") == 1.5  # no samples yet
    for ttft in (0.5, 0.6, 0.7, 0.8):
        registry.record_ttft("d", ttft)
    assert hedge_delay(policy, registry, "d") == 1.5  # still too few
    for ttft in [0.5] * 15 + [0.9]:
        registry.record_ttft("d", ttft)
    assert hedge_delay(policy, registry, "d") == pytest.approx(0.8)
    for _ in range(40):
        registry.record_ttft("slow", 9.0)
        registry.record_ttft("fast", 0.01)
    assert hedge_delay(policy, registry, "slow") == 3.0
    assert hedge_delay(policy, registry, "fast") == 0.2
    assert hedge_delay(HedgePolicy(enabled=False), registry, "d") is None
    assert hedge_delay(HedgePolicy(max_in_flight=1), registry, "d") is None
