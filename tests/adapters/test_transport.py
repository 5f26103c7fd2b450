"""Timeouts, refused and dropped connections, malformed bodies and broken
streams, through each real SDK."""

from __future__ import annotations

import pytest
from adapter_kit import PROTOCOLS, MakeProvider, ask, drain

from drux.errors import (
    MalformedResponseError,
    OverloadedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ServerError,
    StreamInterruptedError,
)
from drux.types import Chunk

from fakes import Disconnect, Fail, FakeServer, Raw, Reply, closed_port_url


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
async def test_no_headers_in_time_is_a_timeout(
    protocol: str, streaming: bool, make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    fake_llm.default = Reply(delay=3)
    provider = make_provider(protocol)
    with pytest.raises(ProviderTimeoutError) as info:
        if streaming:
            await drain(provider.stream(ask(timeout=0.3)))
        else:
            await provider.complete(ask(timeout=0.3))
    assert info.value.retryable
    assert len(fake_llm.requests) == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_refused_connection(protocol: str, make_provider: MakeProvider) -> None:
    url = closed_port_url() + ("/v1" if protocol == "openai" else "")
    with pytest.raises(ProviderConnectionError) as info:
        await make_provider(protocol, base_url=url).complete(ask())
    assert info.value.retryable and info.value.provider == f"fake-{protocol}"


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_connection_dropped_before_an_answer(
    protocol: str, reset: bool, make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    fake_llm.default = Disconnect(reset=reset)
    provider = make_provider(protocol)
    with pytest.raises(ProviderConnectionError):
        await provider.complete(ask())
    with pytest.raises(ProviderConnectionError):
        await drain(provider.stream(ask()))
    assert len(fake_llm.requests) == 2  # no SDK retry on a dropped connection either


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "behaviour",
    [Reply(malformed_after=0), Raw(200, '{"unexpected": true}'), Raw(200, "<html>busy</html>",
                                                                      content_type="text/html")],
    ids=["truncated-json", "wrong-shape", "html"],
)
async def test_malformed_answer(protocol: str, behaviour: Reply | Raw,
                                make_provider: MakeProvider, fake_llm: FakeServer) -> None:
    fake_llm.default = behaviour
    with pytest.raises(MalformedResponseError) as info:
        await make_provider(protocol).complete(ask())
    assert info.value.retryable


async def _partial_then_error(provider_stream: object) -> tuple[list[Chunk], ProviderError]:
    received: list[Chunk] = []
    with pytest.raises(ProviderError) as info:
        async for chunk in provider_stream:  # type: ignore[attr-defined]
            received.append(chunk)
    return received, info.value


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("behaviour", "cause"),
    [
        (Reply("a b c d e", drop_after=2), ProviderConnectionError),
        (Reply("a b c d e", stall_after=2), ProviderTimeoutError),
        (Reply("a b c d e", fail_after=2, fail=Fail("server")), ServerError),
        (Reply("a b c d e", malformed_after=2), MalformedResponseError),
        (Reply("a b c d e", end_after=2), None),
    ],
    ids=["dropped", "stalled", "error-event", "malformed-sse", "ended-early"],
)
async def test_stream_broken_after_partial_output_is_interrupted(
    protocol: str, behaviour: Reply, cause: type[ProviderError] | None,
    make_provider: MakeProvider, fake_llm: FakeServer,
) -> None:
    fake_llm.default = behaviour
    provider = make_provider(protocol)
    # Only the stall needs a short read timeout; the others keep a generous one so a
    # busy machine cannot turn them into timeouts.
    timeout = 0.5 if behaviour.stall_after is not None else 10.0
    received, err = await _partial_then_error(provider.stream(ask(timeout=timeout)))
    assert "".join(c.text for c in received) == "a b "
    assert all(c.finish_reason is None for c in received)
    assert isinstance(err, StreamInterruptedError) and err.retryable
    assert err.provider == f"fake-{protocol}"
    if cause is not None:
        assert isinstance(err.__cause__, cause)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        (Reply(fail_after=0, fail=Fail("server")), ServerError),
        (Reply(malformed_after=0), MalformedResponseError),
        (Reply(end_after=0), MalformedResponseError),
        (Reply(drop_after=0), ProviderConnectionError),
    ],
    ids=["error-event", "malformed-sse", "empty", "dropped"],
)
async def test_stream_broken_before_any_output_keeps_its_own_type(
    protocol: str, behaviour: Reply, error: type[ProviderError],
    make_provider: MakeProvider, fake_llm: FakeServer,
) -> None:
    fake_llm.default = behaviour
    received, err = await _partial_then_error(make_provider(protocol).stream(ask()))
    assert not any(c.text for c in received)
    assert type(err) is error and err.retryable


@pytest.mark.parametrize("protocol", ["anthropic", "gemini"])
async def test_overloaded_error_event_in_a_stream(protocol: str, make_provider: MakeProvider,
                                                  fake_llm: FakeServer) -> None:
    # Anthropic's `event: error` with overloaded_error; Gemini's UNAVAILABLE frame. (An
    # OpenAI in-stream error has only type server_error, so it maps to ServerError.)
    fake_llm.default = Reply(fail_after=0, fail=Fail("overloaded"))
    _, err = await _partial_then_error(make_provider(protocol).stream(ask()))
    assert type(err) is OverloadedError
    assert err.status == (529 if protocol == "anthropic" else 503)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_consumer_can_stop_a_stream_early(protocol: str, make_provider: MakeProvider,
                                                fake_llm: FakeServer) -> None:
    fake_llm.default = Reply("one two three four five six", chunk_delay=0.01)
    provider = make_provider(protocol)
    stream = provider.stream(ask())
    first = await anext(stream)  # type: ignore[call-overload]
    await stream.aclose()  # type: ignore[attr-defined]
    assert first.text == "one "
    answer = await provider.complete(ask())  # the client is still usable
    assert answer.text == "one two three four five six"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_sdk_default_hosts_are_stopped_by_the_network_guard(
    protocol: str, make_provider: MakeProvider
) -> None:
    # base_url None means the SDK's public default; the suite's guard must stop it.
    provider = make_provider(protocol, base_url=None)
    # (NonLoopbackConnection lives in the root conftest, which this folder's conftest
    # shadows as a module name, so it is recognised by name.)
    with pytest.raises((ProviderError, AssertionError)) as info:
        await provider.complete(ask(timeout=2))
    chain: list[BaseException] = []
    exc: BaseException | None = info.value
    while exc is not None and len(chain) < 10:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    assert any(type(e).__name__ == "NonLoopbackConnection" for e in chain)
