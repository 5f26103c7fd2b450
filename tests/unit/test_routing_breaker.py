"""CircuitBreaker transitions and the BreakerProvider that guards a deployment."""

from __future__ import annotations

import asyncio

import pytest
from routing_fakes import Fail, FakeClock, Hang, Reply, ScriptedProvider

from drux.errors import (
    AuthenticationError,
    BadRequestError,
    CircuitOpenError,
    ContentFilteredError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    ServerError,
    StreamInterruptedError,
)
from drux.routing.breaker import (
    BreakerPolicy,
    BreakerProvider,
    BreakerState,
    CircuitBreaker,
)
from drux.routing.health import HealthRegistry
from drux.types import ChatRequest, Message, collect

from waiting import PATIENCE_S

REQ = ChatRequest([Message("user", "hi")], model="m")
POLICY = BreakerPolicy(consecutive_failures=3, failure_rate=0.5, window=10, min_calls=6,
                       cooldown=10.0, hard_cooldown=100.0, max_cooldown=1000.0)


def breaker(clock: FakeClock, policy: BreakerPolicy = POLICY) -> CircuitBreaker:
    return CircuitBreaker("v:m", policy, clock=clock)


def test_consecutive_failures_open_the_breaker() -> None:
    clock = FakeClock()
    b = breaker(clock)
    for _ in range(2):
        b.before_call()
        b.on_failure(ServerError("500"))
    assert b.state is BreakerState.CLOSED
    b.before_call()
    b.on_failure(ServerError("500"))
    assert b.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError) as info:
        b.before_call()
    assert info.value.retryable
    assert info.value.retry_after == pytest.approx(10.0)


def test_a_success_resets_the_consecutive_count() -> None:
    b = breaker(FakeClock(), BreakerPolicy(consecutive_failures=3, failure_rate=0.9))
    for _ in range(5):
        b.on_failure(ServerError("500"))
        b.on_success()
    assert b.state is BreakerState.CLOSED


def test_failure_rate_over_window_opens() -> None:
    policy = BreakerPolicy(consecutive_failures=100, failure_rate=0.5, window=10, min_calls=6)
    b = breaker(FakeClock(), policy)
    outcomes = [True, False, True, False, True, False]  # 50 % failures, never 2 in a row
    for ok in outcomes[:-1]:
        b.on_success() if ok else b.on_failure(ServerError("500"))
        assert b.state is BreakerState.CLOSED
    b.on_failure(ServerError("500"))
    assert b.state is BreakerState.OPEN


@pytest.mark.parametrize("error", [
    ModelNotFoundError("404"), PermissionDeniedError("403"), AuthenticationError("401"),
])
def test_withdrawn_model_opens_at_once_and_stays_open_longer(error: ProviderError) -> None:
    clock = FakeClock()
    b = breaker(clock)
    b.on_failure(error)
    assert b.state is BreakerState.OPEN
    clock.advance(POLICY.cooldown + 1)
    assert b.state is BreakerState.OPEN  # an ordinary cooldown is not enough
    clock.advance(POLICY.hard_cooldown)
    assert b.state is BreakerState.HALF_OPEN


@pytest.mark.parametrize("error", [BadRequestError("400"), ContentFilteredError("no")])
def test_request_errors_do_not_count_against_the_deployment(error: ProviderError) -> None:
    b = breaker(FakeClock())
    for _ in range(10):
        b.on_failure(error)
    assert b.state is BreakerState.CLOSED


def open_then_cool(clock: FakeClock, b: CircuitBreaker) -> None:
    for _ in range(3):
        b.on_failure(ServerError("500"))
    assert b.state is BreakerState.OPEN
    clock.advance(POLICY.cooldown)
    assert b.state is BreakerState.HALF_OPEN


def test_half_open_admits_exactly_one_probe_and_success_closes() -> None:
    clock = FakeClock()
    b = breaker(clock)
    open_then_cool(clock, b)
    b.before_call()  # the probe
    with pytest.raises(CircuitOpenError):
        b.before_call()  # a second caller while the probe is in flight
    b.on_success()
    assert b.state is BreakerState.CLOSED
    b.before_call()
    b.before_call()


def test_failed_probe_reopens_with_doubled_cooldown() -> None:
    clock = FakeClock()
    b = breaker(clock)
    open_then_cool(clock, b)
    b.before_call()
    b.on_failure(ServerError("500"))
    assert b.state is BreakerState.OPEN
    clock.advance(POLICY.cooldown)
    assert b.state is BreakerState.OPEN
    clock.advance(POLICY.cooldown)
    assert b.state is BreakerState.HALF_OPEN


def test_abandoned_probe_frees_the_slot() -> None:
    clock = FakeClock()
    b = breaker(clock)
    open_then_cool(clock, b)
    b.before_call()
    b.on_abandoned()
    b.before_call()  # a new probe may go
    with pytest.raises(CircuitOpenError):
        b.before_call()


def test_stale_probe_frees_the_slot_after_probe_timeout() -> None:
    clock = FakeClock()
    b = breaker(clock)
    open_then_cool(clock, b)
    b.before_call()
    clock.advance(POLICY.probe_timeout)
    b.before_call()


def guard(script: list, clock: FakeClock | None = None, **kw: object
          ) -> tuple[BreakerProvider, ScriptedProvider, HealthRegistry]:
    clock = clock or FakeClock()
    fake = ScriptedProvider("v:m", script)
    registry = HealthRegistry()
    b = registry.breaker("v:m", POLICY, clock=clock)
    return BreakerProvider(fake, b, registry=registry, clock=clock, **kw), fake, registry  # type: ignore[arg-type]


async def test_open_breaker_fails_fast_without_calling_the_deployment() -> None:
    provider, fake, registry = guard([Fail(ModelNotFoundError("404"))])
    with pytest.raises(ModelNotFoundError):
        await provider.complete(REQ)
    for _ in range(3):
        with pytest.raises(CircuitOpenError):
            await provider.complete(REQ)
        with pytest.raises(CircuitOpenError):
            await collect(provider.stream(REQ), model="m")
    assert fake.calls == 1
    row = registry.snapshot()[0]
    assert row["state"] == "open"
    assert row["last_error"]["type"] == "model_not_found"
    assert row["failures"] == 1


async def test_half_open_lets_one_concurrent_probe_through() -> None:
    clock = FakeClock()
    gate = asyncio.Event()
    provider, fake, _ = guard([Fail(ServerError("500"))] * 3 + [Reply(gate=gate)], clock)
    for _ in range(3):
        with pytest.raises(ServerError):
            await provider.complete(REQ)
    clock.advance(POLICY.cooldown)
    probe = asyncio.create_task(provider.complete(REQ))
    await fake.started.wait()
    await asyncio.sleep(0)
    with pytest.raises(CircuitOpenError):
        await provider.complete(REQ)
    assert fake.calls == 4
    gate.set()
    assert (await probe).text == "hello world"
    assert provider.breaker.state is BreakerState.CLOSED


async def test_cancelled_probe_is_no_verdict() -> None:
    clock = FakeClock()
    provider, fake, _ = guard([Fail(ServerError("500"))] * 3 + [Hang(), Reply()], clock)
    for _ in range(3):
        with pytest.raises(ServerError):
            await provider.complete(REQ)
    clock.advance(POLICY.cooldown)
    fake.started.clear()
    task = asyncio.create_task(provider.complete(REQ))
    async with asyncio.timeout(PATIENCE_S):
        await fake.started.wait()  # the probe hangs in the provider: cancel it there
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fake.cancelled == 1
    assert provider.breaker.state is BreakerState.HALF_OPEN
    assert (await provider.complete(REQ)).text == "hello world"
    assert provider.breaker.state is BreakerState.CLOSED


async def test_stream_ending_without_finish_is_interrupted() -> None:
    provider, _, registry = guard([Reply(("torn",), finish=None)])
    with pytest.raises(StreamInterruptedError):
        await collect(provider.stream(REQ), model="m")
    assert registry.snapshot()[0]["last_error"]["type"] == "stream_interrupted"


async def test_stream_stall_mid_answer_is_interrupted() -> None:
    class Stalls(ScriptedProvider):
        async def stream(self, request: ChatRequest):  # type: ignore[override]
            from drux.types import Chunk

            yield Chunk(text="first")
            await asyncio.Event().wait()

    fake = Stalls("v:m")
    b = CircuitBreaker("v:m", POLICY)
    provider = BreakerProvider(fake, b, idle_timeout=0.01)
    seen: list[str] = []
    with pytest.raises(StreamInterruptedError, match="stalled"):
        async for chunk in provider.stream(REQ):
            seen.append(chunk.text)
    assert seen == ["first"]


async def test_adapter_bug_becomes_a_provider_error() -> None:
    class Buggy(ScriptedProvider):
        async def complete(self, request: ChatRequest):  # type: ignore[override]
            raise KeyError("choices")

    provider = BreakerProvider(Buggy("v:m"), CircuitBreaker("v:m", POLICY))
    with pytest.raises(ProviderError, match="KeyError") as info:
        await provider.complete(REQ)
    assert not info.value.retryable


async def test_success_records_latency_and_ttft() -> None:
    provider, _, registry = guard([Reply(("a", "b"))])
    completion = await collect(provider.stream(REQ), model="m")
    assert completion.text == "ab"
    row = registry.snapshot()[0]
    assert row["requests"] == 1 and row["failures"] == 0 and row["error_rate"] == 0.0
    assert row["ttft_p95_s"] is not None and row["latency_p95_s"] is not None


async def test_attempt_timeout_counts_a_hang_before_first_token() -> None:
    provider, fake, registry = guard([Hang()], attempt_timeout=0.01)
    with pytest.raises(ProviderTimeoutError, match="first token"):
        await collect(provider.stream(REQ), model="m")
    with pytest.raises(ProviderTimeoutError):
        await provider.complete(REQ)
    assert fake.cancelled == 2
    assert fake.requests[0].timeout == pytest.approx(0.01)
    row = registry.snapshot()[0]
    assert row["failures"] == 2 and row["last_error"]["type"] == "timeout"


async def test_route_returns_to_the_primary_after_a_successful_probe() -> None:
    from drux.routing.fallback import Deployment, FallbackProvider
    from drux.routing.hedge import HedgePolicy

    clock = FakeClock()
    registry = HealthRegistry()
    primary = ScriptedProvider("a:primary", [Fail(ModelNotFoundError("404")), Reply(("back",))])
    backup = ScriptedProvider("b:backup", [Reply(("sub",))])
    breaker = registry.breaker("a:primary", POLICY, clock=clock)
    guarded = BreakerProvider(primary, breaker, registry=registry, clock=clock)
    route = FallbackProvider("primary", [
        Deployment("a:primary", "primary", "f", guarded, breaker=breaker),
        Deployment("b:backup", "backup", "g", backup)], hedge=HedgePolicy(enabled=False))
    assert (await route.complete(REQ)).answered_by == "backup"
    clock.advance(POLICY.hard_cooldown - 1)
    assert (await route.complete(REQ)).answered_by == "backup"
    assert primary.calls == 1  # still cooling down: not asked
    clock.advance(1)
    answer = await route.complete(REQ)  # this request is the half-open probe
    assert answer.text == "back" and answer.substituted_for is None
    assert breaker.state is BreakerState.CLOSED and primary.calls == 2
