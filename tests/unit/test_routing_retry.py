"""RetryingProvider: backoff with full jitter, Retry-After, deadline, no retry of request errors."""

from __future__ import annotations

import pytest
from routing_fakes import Fail, FakeClock, Reply, ScriptedProvider

from drux.errors import (
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
)
from drux.routing.retry import RetryingProvider, RetryPolicy
from drux.types import ChatRequest, Message, collect

REQ = ChatRequest([Message("user", "hi")], model="m", timeout=60.0)


def make(script: list, policy: RetryPolicy | None = None, rand: float = 0.5
         ) -> tuple[RetryingProvider, ScriptedProvider, FakeClock]:
    clock = FakeClock()
    fake = ScriptedProvider("v:m", script)
    retry = RetryingProvider(fake, policy or RetryPolicy(max_attempts=3), clock=clock,
                             sleep=clock.sleep, rand=lambda: rand)
    return retry, fake, clock


@pytest.mark.parametrize("error", [
    ServerError("500"), OverloadedError("503"), OverloadedError("529", status=529),
    ProviderTimeoutError("t"), ProviderConnectionError("refused"), MalformedResponseError("bad"),
    RateLimitError("429"),
])
async def test_retryable_errors_are_retried_then_succeed(error: ProviderError) -> None:
    retry, fake, clock = make([Fail(error), Reply()])
    completion = await retry.complete(REQ)
    assert completion.text == "hello world"
    assert fake.calls == 2
    assert len(clock.sleeps) == 1


@pytest.mark.parametrize("error", [
    BadRequestError("400"), AuthenticationError("401"), PermissionDeniedError("403"),
    ModelNotFoundError("404"), ContentFilteredError("filtered"),
    ContextWindowExceededError("too long"), CircuitOpenError("open", retry_after=3.0),
])
async def test_non_retryable_errors_fail_at_once(error: ProviderError) -> None:
    retry, fake, clock = make([Fail(error), Reply()])
    with pytest.raises(type(error)):
        await retry.complete(REQ)
    assert fake.calls == 1
    assert clock.sleeps == []


async def test_retry_after_is_honoured_as_the_wait() -> None:
    retry, fake, clock = make([Fail(RateLimitError("429", retry_after=2.5)), Reply()], rand=0.0)
    await retry.complete(REQ)
    assert clock.sleeps == [2.5]
    assert fake.calls == 2


async def test_overloaded_retry_after_is_honoured() -> None:
    retry, _, clock = make([Fail(OverloadedError("529", retry_after=1.25)), Reply()], rand=0.0)
    await retry.complete(REQ)
    assert clock.sleeps == [1.25]


async def test_long_retry_after_gives_up_for_fallback() -> None:
    policy = RetryPolicy(max_attempts=3, max_retry_after=5.0)
    retry, fake, clock = make([Fail(RateLimitError("429", retry_after=30.0)), Reply()], policy)
    with pytest.raises(RateLimitError):
        await retry.complete(REQ)
    assert fake.calls == 1 and clock.sleeps == []


async def test_full_jitter_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, multiplier=2.0, max_delay=3.0)
    retry, fake, clock = make([Fail(ServerError("500"))], policy, rand=1.0)
    with pytest.raises(ServerError):
        await retry.complete(REQ)
    assert fake.calls == 5
    assert clock.sleeps == [1.0, 2.0, 3.0, 3.0]


async def test_jitter_scales_the_wait() -> None:
    policy = RetryPolicy(max_attempts=2, base_delay=1.0)
    retry, _, clock = make([Fail(ServerError("500")), Reply()], policy, rand=0.25)
    await retry.complete(REQ)
    assert clock.sleeps == [0.25]


async def test_deadline_stops_retries() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=4.0, max_delay=4.0)
    retry, fake, clock = make([Fail(ServerError("500"))], policy, rand=1.0)
    request = ChatRequest([Message("user", "hi")], timeout=10.0)
    with pytest.raises(ServerError):
        await retry.complete(request)
    # Waits of 4 s fit twice in 10 s; a third would end past the deadline.
    assert clock.sleeps == [4.0, 4.0]
    assert fake.calls == 3


async def test_retry_after_past_deadline_gives_up() -> None:
    retry, fake, clock = make([Fail(RateLimitError("429", retry_after=8.0)), Reply()])
    request = ChatRequest([Message("user", "hi")], timeout=5.0)
    with pytest.raises(RateLimitError):
        await retry.complete(request)
    assert fake.calls == 1 and clock.sleeps == []


async def test_inner_request_carries_remaining_budget() -> None:
    retry, fake, clock = make([Fail(ServerError("500")), Reply()], rand=1.0)
    await retry.complete(ChatRequest([Message("user", "hi")], timeout=10.0))
    assert fake.requests[0].timeout == pytest.approx(10.0)
    assert fake.requests[1].timeout == pytest.approx(10.0 - clock.sleeps[0])


async def test_stream_retried_before_first_token() -> None:
    retry, fake, _ = make([Fail(OverloadedError("503")), Reply(("a", "b"))])
    completion = await collect(retry.stream(REQ), model="m")
    assert completion.text == "ab"
    assert fake.calls == 2


async def test_stream_not_retried_after_output() -> None:
    retry, fake, _ = make([Fail(ServerError("500"), pieces=("partial",)), Reply()])
    seen: list[str] = []
    with pytest.raises(ServerError):
        async for chunk in retry.stream(REQ):
            seen.append(chunk.text)
    assert seen == ["partial"]
    assert fake.calls == 1


async def test_stream_non_retryable_fails_at_once() -> None:
    retry, fake, _ = make([Fail(AuthenticationError("401")), Reply()])
    with pytest.raises(AuthenticationError):
        await collect(retry.stream(REQ), model="m")
    assert fake.calls == 1

