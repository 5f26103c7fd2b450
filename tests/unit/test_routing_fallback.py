"""FallbackProvider: moving along the chain, labels, context windows, mid-stream restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from routing_fakes import Fail, Hang, Reply, ScriptedProvider

from drux.errors import (
    AllDeploymentsFailedError,
    AuthenticationError,
    BadRequestError,
    CircuitOpenError,
    ContentFilteredError,
    ContextWindowExceededError,
    MalformedResponseError,
    ModelNotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
    WeightsError,
)
from drux.routing.breaker import BreakerProvider, CircuitBreaker
from drux.routing.fallback import Deployment, FallbackProvider
from drux.routing.hedge import HedgePolicy
from drux.types import ChatRequest, Chunk, Message, collect

from waiting import PATIENCE_S

REQ = ChatRequest([Message("user", "hi")], model="primary")
NO_HEDGE = HedgePolicy(enabled=False)


def route(*fakes: ScriptedProvider, contexts: tuple[int, ...] = (), **kw: object
          ) -> FallbackProvider:
    deployments = [
        Deployment(name=f.name, model=f.name.split(":")[1], family=f"fam-{i}", provider=f,
                   context=contexts[i] if contexts else 8192)
        for i, f in enumerate(fakes)
    ]
    kw.setdefault("hedge", NO_HEDGE)
    return FallbackProvider("primary", deployments, **kw)  # type: ignore[arg-type]


FAILOVER_ERRORS = [
    ModelNotFoundError("404"), PermissionDeniedError("403"), AuthenticationError("401"),
    RateLimitError("429", retry_after=1.0), ServerError("500"), OverloadedError("503"),
    OverloadedError("529", status=529), ProviderTimeoutError("timeout"),
    ProviderConnectionError("refused"), MalformedResponseError("bad json"),
    CircuitOpenError("open", retry_after=5.0),
]


@pytest.mark.parametrize("error", FAILOVER_ERRORS, ids=lambda e: e.code + str(e.status))
async def test_complete_fails_over_and_labels_the_substitute(error: ProviderError) -> None:
    first = ScriptedProvider("a:primary", [Fail(error)])
    second = ScriptedProvider("b:backup", [Reply(("from backup",))])
    completion = await route(first, second).complete(REQ)
    assert completion.text == "from backup"
    assert completion.deployment == "b:backup"
    assert completion.substituted_for == "primary"
    assert completion.answered_by == "backup"
    assert second.requests[0].model == "backup"


@pytest.mark.parametrize("error", FAILOVER_ERRORS, ids=lambda e: e.code + str(e.status))
async def test_stream_fails_over_before_output(error: ProviderError) -> None:
    first = ScriptedProvider("a:primary", [Fail(error)])
    second = ScriptedProvider("b:backup", [Reply(("x", "y"))])
    chunks = [c async for c in route(first, second).stream(REQ)]
    assert "".join(c.text for c in chunks) == "xy"
    assert all(c.substituted_for == "primary" and c.deployment == "b:backup"
               and c.answered_by == "backup" for c in chunks)
    assert (await collect(_replay(chunks), model="primary")).answered_by == "backup"
    assert not any(c.restart for c in chunks)


async def test_primary_answer_is_not_labelled_as_substitute() -> None:
    first = ScriptedProvider("a:primary", [Reply()])
    second = ScriptedProvider("b:backup", [Reply()])
    completion = await collect(route(first, second).stream(REQ), model="primary")
    assert completion.substituted_for is None and completion.answered_by is None
    assert completion.deployment == "a:primary"
    assert second.calls == 0


@pytest.mark.parametrize("error", [BadRequestError("400"), ContentFilteredError("refused")])
async def test_request_errors_end_the_route(error: ProviderError) -> None:
    first = ScriptedProvider("a:primary", [Fail(error)])
    second = ScriptedProvider("b:backup", [Reply()])
    with pytest.raises(type(error)):
        await route(first, second).complete(REQ)
    assert second.calls == 0


async def test_bad_request_fallback_can_be_enabled() -> None:
    first = ScriptedProvider("a:primary", [Fail(BadRequestError("400"))])
    second = ScriptedProvider("b:backup", [Reply()])
    completion = await route(first, second, fallback_on_bad_request=True).complete(REQ)
    assert completion.deployment == "b:backup"


async def test_context_window_falls_back_only_to_a_larger_window() -> None:
    first = ScriptedProvider("a:primary", [Fail(ContextWindowExceededError("too long"))])
    small = ScriptedProvider("b:small", [Reply(("small",))])
    large = ScriptedProvider("c:large", [Reply(("large",))])
    r = route(first, small, large, contexts=(32_000, 16_000, 200_000))
    completion = await r.complete(REQ)
    assert completion.text == "large"
    assert small.calls == 0


async def test_context_window_without_larger_model_raises_it() -> None:
    first = ScriptedProvider("a:primary", [Fail(ContextWindowExceededError("too long"))])
    small = ScriptedProvider("b:small", [Reply()])
    with pytest.raises(ContextWindowExceededError):
        await route(first, small, contexts=(32_000, 32_000)).complete(REQ)
    assert small.calls == 0


async def test_context_window_fallback_can_be_disabled() -> None:
    first = ScriptedProvider("a:primary", [Fail(ContextWindowExceededError("too long"))])
    large = ScriptedProvider("c:large", [Reply()])
    with pytest.raises(ContextWindowExceededError):
        await route(first, large, contexts=(1000, 9000), context_fallback=False).complete(REQ)
    assert large.calls == 0


async def test_all_failing_lists_every_attempt_in_order() -> None:
    fakes = [ScriptedProvider("a:primary", [Fail(ModelNotFoundError("404", provider="a:primary"))]),
             ScriptedProvider("b:two", [Fail(OverloadedError("503", provider="b:two"))]),
             ScriptedProvider("c:three", [Fail(ProviderConnectionError("refused",
                                                                       provider="c:three"))])]
    with pytest.raises(AllDeploymentsFailedError) as info:
        await collect(route(*fakes).stream(REQ), model="primary")
    err = info.value
    assert [type(a) for a in err.attempts] == [ModelNotFoundError, OverloadedError,
                                               ProviderConnectionError]
    assert err.retryable  # 503 and connection errors may pass
    assert [a["type"] for a in err.to_dict()["attempts"]] == [
        "model_not_found", "overloaded", "connection_error"]


async def test_single_deployment_route_raises_its_own_error() -> None:
    only = ScriptedProvider("a:primary", [Fail(ModelNotFoundError("404"))])
    with pytest.raises(ModelNotFoundError):
        await route(only).complete(REQ)


async def test_mid_stream_failure_restarts_on_the_fallback() -> None:
    first = ScriptedProvider("a:primary", [Fail(StreamInterruptedError("reset"),
                                                pieces=("The answer", " is"))])
    second = ScriptedProvider("b:backup", [Reply(("Fresh", " answer"))])
    chunks: list[Chunk] = [c async for c in route(first, second).stream(REQ)]
    texts = [c.text for c in chunks]
    assert texts[:2] == ["The answer", " is"]
    restart = chunks[2]
    assert restart.restart and restart.text == "" and restart.substituted_for == "primary"
    assert texts[3:] == ["Fresh", " answer"]

    completion = await collect(route(
        ScriptedProvider("a:primary", [Fail(ServerError("500"), pieces=("torn",))]),
        ScriptedProvider("b:backup", [Reply(("whole",))])).stream(REQ), model="primary")
    assert completion.text == "whole"
    assert completion.recovered
    assert completion.substituted_for == "primary"
    assert completion.finish_reason == "stop"


async def test_mid_stream_failure_with_nothing_left_is_an_error_not_an_answer() -> None:
    first = ScriptedProvider("a:primary", [Fail(ServerError("500"), pieces=("torn",))])
    second = ScriptedProvider("b:backup", [Fail(OverloadedError("503"))])
    seen: list[str] = []
    with pytest.raises(AllDeploymentsFailedError) as info:
        async for chunk in route(first, second).stream(REQ):
            seen.append(chunk.text)
    assert seen == ["torn"]
    assert [type(a) for a in info.value.attempts] == [ServerError, OverloadedError]


async def test_mid_stream_failure_does_not_go_back_to_a_deployment_that_failed() -> None:
    first = ScriptedProvider("a:primary", [Fail(OverloadedError("503"))])
    second = ScriptedProvider("b:two", [Fail(ServerError("500"), pieces=("half",))])
    third = ScriptedProvider("c:three", [Reply(("full",))])
    completion = await collect(route(first, second, third).stream(REQ), model="primary")
    assert completion.text == "full" and completion.recovered
    assert (first.calls, second.calls, third.calls) == (1, 1, 1)


async def test_deadline_ends_a_hung_route() -> None:
    first = ScriptedProvider("a:primary", [Hang()])
    second = ScriptedProvider("b:backup", [Reply()])
    with pytest.raises(AllDeploymentsFailedError) as info:
        await route(first, second, deadline=0.05).complete(REQ)
    assert isinstance(info.value.attempts[-1], ProviderTimeoutError)
    assert first.cancelled == 1
    assert second.calls == 0  # without hedging nothing else was started


async def test_answered_by_exposes_model_and_family() -> None:
    first = ScriptedProvider("a:primary", [Fail(ServerError("500"))])
    second = ScriptedProvider("b:backup", [Reply()])
    r = route(first, second)
    completion = await r.complete(REQ)
    dep = r.answered_by(completion.deployment)
    assert dep is not None and dep.model == "backup" and dep.family == "fam-1"
    assert r.answered_by("nope:nope") is None


async def test_route_closes_every_deployment() -> None:
    fakes = [ScriptedProvider("a:primary"), ScriptedProvider("b:backup")]
    await route(*fakes).aclose()
    assert all(f.closed for f in fakes)


async def test_content_filter_mid_stream_ends_the_route() -> None:
    first = ScriptedProvider("a:primary", [Fail(ContentFilteredError("withheld"),
                                                pieces=("Some", " text"))])
    second = ScriptedProvider("b:backup", [Reply()])
    with pytest.raises(ContentFilteredError):
        await collect(route(first, second).stream(REQ), model="primary")
    assert second.calls == 0


async def test_cancelled_hedge_is_still_a_candidate_after_a_mid_stream_break() -> None:
    import asyncio

    primary_gate = asyncio.Event()
    first = ScriptedProvider("a:primary", [Fail(ServerError("500"), pieces=("torn",),
                                                gate=primary_gate)])
    second = ScriptedProvider("b:two", [Reply(("late",), gate=asyncio.Event()), Reply(("two",))])
    third = ScriptedProvider("c:three", [Hang()])
    hedge = HedgePolicy(enabled=True, floor=0.0, default=0.0)
    task = asyncio.create_task(collect(route(first, second, third, hedge=hedge).stream(REQ),
                                       model="primary"))
    await second.started.wait()  # b:two started as a hedge...
    primary_gate.set()  # ...then a:primary speaks first, so b:two is cancelled
    completion = await asyncio.wait_for(task, PATIENCE_S)
    # After a:primary broke, b:two (next in the chain) was asked again and answered.
    assert completion.text == "two" and completion.recovered
    assert second.cancelled == 1 and second.calls == 2


async def _replay(chunks: list[Chunk]) -> AsyncIterator[Chunk]:
    for chunk in chunks:
        yield chunk


class _NoWeights(ScriptedProvider):
    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        raise WeightsError("weights missing; run `make models`")
        yield Chunk()  # pragma: no cover - makes this an async generator


async def test_setup_error_of_a_lone_deployment_is_raised_unchanged() -> None:
    breaker = CircuitBreaker("a:primary")
    guarded = BreakerProvider(_NoWeights("a:primary"), breaker)
    lone = FallbackProvider("primary", [Deployment("a:primary", "primary", "f", guarded)])
    with pytest.raises(WeightsError, match="make models"):
        await collect(lone.stream(REQ), model="primary")
    assert breaker.state.value == "closed"  # a setup problem is not an outage


async def test_setup_error_moves_on_to_the_fallback() -> None:
    guarded = BreakerProvider(_NoWeights("a:primary"), CircuitBreaker("a:primary"))
    backup = ScriptedProvider("b:backup", [Reply(("ok",))])
    r = FallbackProvider("primary", [Deployment("a:primary", "primary", "f", guarded),
                                     Deployment("b:backup", "backup", "g", backup)],
                         hedge=NO_HEDGE)
    completion = await collect(r.stream(REQ), model="primary")
    assert completion.text == "ok" and completion.answered_by == "backup"


async def test_open_breaker_is_skipped_before_any_call() -> None:
    breaker = CircuitBreaker("a:primary")
    breaker.on_failure(ModelNotFoundError("404"))
    dead = ScriptedProvider("a:primary", [Reply(("must not be asked",))])
    backup = ScriptedProvider("b:backup", [Reply(("ok",))])
    r = FallbackProvider("primary", [Deployment("a:primary", "primary", "f", dead, breaker=breaker),
                                     Deployment("b:backup", "backup", "g", backup)],
                         hedge=NO_HEDGE)
    assert (await r.complete(REQ)).text == "ok"
    assert dead.calls == 0 and breaker.rejected_count == 1
    backup.script = [Fail(ServerError("500"))]
    with pytest.raises(AllDeploymentsFailedError) as info:
        await r.complete(REQ)
    assert [a.code for a in info.value.attempts] == ["circuit_open", "server_error"]
