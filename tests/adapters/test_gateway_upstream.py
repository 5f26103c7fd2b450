"""The gateway's lean OpenAI-wire client against the SDK adapter, on the same fakes:
the same answers, and every failure mapped onto the same drux error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from adapter_kit import app_config, ask, drain

from drux.catalog import ModelSpec, VendorSpec
from drux.errors import ProviderConnectionError, ProviderError
from drux.gateway.upstream import LeanOpenAIChat
from drux.providers.openai import OpenAIChat
from drux.types import Provider

from fakes import Behaviour, Disconnect, Fail, FakeServer, Raw, Reply, closed_port_url

Pair = tuple[Provider, Provider]


def build_pair(url: str, timeout: float = 5.0) -> Pair:
    vendor = VendorSpec("fake-openai", "openai", "fake", url)
    spec = ModelSpec(id="drux-openai", vendor=vendor.name, upstream="fake-model", family="fake",
                     system="You are terse.", max_tokens=50)
    config = app_config(vendor, spec, timeout=timeout)
    key = config.require_key(vendor)
    return OpenAIChat(spec, vendor, key, timeout), LeanOpenAIChat(spec, vendor, key, timeout)


@pytest.fixture
async def pair(fake_llm: FakeServer, drux_env: Any) -> AsyncIterator[Pair]:
    sdk, lean = build_pair(fake_llm.openai_url)
    yield sdk, lean
    await sdk.aclose()
    await lean.aclose()


def describe(err: ProviderError) -> tuple[Any, ...]:
    return (type(err), err.status, err.retryable, err.provider, err.model,
            getattr(err, "retry_after", None))


async def outcome(provider: Provider, stream: bool, **request: Any) -> Any:
    try:
        if stream:
            chunks = await drain(provider.stream(ask(**request)))
            return ("ok", "".join(c.text for c in chunks), chunks[-1].finish_reason,
                    chunks[-1].usage)
        done = await provider.complete(ask(**request))
        return ("ok", done.text, done.finish_reason, done.usage, done.model, done.deployment)
    except ProviderError as err:
        return describe(err)


async def both(fake: FakeServer, pair: Pair, behaviour: Behaviour, stream: bool) -> list[Any]:
    results = []
    for provider in pair:
        fake.enqueue(behaviour)
        results.append(await outcome(provider, stream))
    return results


FAILURES = ["auth", "permission", "not_found", "bad_request", "context_window", "content_filter",
            "rate_limit", "quota", "overloaded", "server"]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("kind", FAILURES)
async def test_error_bodies_map_to_the_same_drux_error(fake_llm: FakeServer, pair: Pair,
                                                       kind: str, stream: bool) -> None:
    sdk, lean = await both(fake_llm, pair, Fail(kind, retry_after=3), stream)  # type: ignore[arg-type]
    assert lean == sdk
    assert issubclass(lean[0], ProviderError)


TROUBLE: list[tuple[str, Behaviour]] = [
    ("disconnect", Disconnect()),
    ("reset", Disconnect(reset=True)),
    ("html_502", Raw(status=502, body="<html>bad gateway</html>", content_type="text/html")),
    ("truncated_json", Reply(malformed_after=0)),
    ("no_choices", Raw(body='{"id": "x", "choices": []}')),
    ("drop_mid_stream", Reply(chunks=["a ", "b ", "c"], drop_after=2)),
    ("error_mid_stream", Reply(chunks=["a ", "b ", "c"], fail_after=1, fail=Fail("overloaded"))),
    ("bad_frame_mid_stream", Reply(chunks=["a ", "b ", "c"], malformed_after=1)),
    ("filtered_answer", Reply(finish="content_filter")),
]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(("name", "behaviour"), TROUBLE, ids=[t[0] for t in TROUBLE])
async def test_transport_trouble_maps_to_the_same_drux_error(
        fake_llm: FakeServer, pair: Pair, name: str, behaviour: Behaviour, stream: bool) -> None:
    sdk, lean = await both(fake_llm, pair, behaviour, stream)
    if name.endswith("mid_stream") and not stream:
        assert sdk[0] == lean[0] == "ok" or lean == sdk
        return
    assert lean == sdk, name
    assert lean[0] != "ok"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_answers_are_the_same(fake_llm: FakeServer, pair: Pair, stream: bool) -> None:
    reply = Reply(chunks=["Hello", " there", "!"], input_tokens=9, finish="length")
    sdk, lean = await both(fake_llm, pair, reply, stream)
    assert lean == sdk
    assert lean[1] == "Hello there!" and lean[2] == "length"
    sent = [r.json for r in fake_llm.requests]
    assert sent[0]["messages"] == sent[1]["messages"]
    assert sent[1]["messages"][0] == {"role": "system", "content": "You are terse."}
    assert sent[1]["max_tokens"] == 50 == sent[0]["max_tokens"]
    assert fake_llm.requests[1].headers["authorization"] == fake_llm.requests[0].headers["authorization"]


async def test_refused_connection_and_timeout(fake_llm: FakeServer, drux_env: Any) -> None:
    for url in (closed_port_url() + "/v1",):
        sdk, lean = build_pair(url)
        assert await outcome(lean, False) == await outcome(sdk, False)
        assert await outcome(lean, True) == await outcome(sdk, True)
        await sdk.aclose()
        await lean.aclose()
    sdk, lean = build_pair(fake_llm.openai_url, timeout=0.3)
    fake_llm.enqueue(Reply(delay=1.0), Reply(delay=1.0))
    assert await outcome(lean, False) == await outcome(sdk, False)
    await sdk.aclose()
    await lean.aclose()


async def test_keep_alive_connections_are_reused_and_recover(fake_llm: FakeServer,
                                                             pair: Pair) -> None:
    _, lean = pair
    for _ in range(3):
        assert (await outcome(lean, False))[0] == "ok"
        assert (await outcome(lean, True))[0] == "ok"
    assert len(lean._pool._idle) == 1  # type: ignore[attr-defined]  # one connection for all six
    # A reused connection closed before any answer byte: sent again once on a fresh one
    # (the upstream may have dropped it while idle), so the caller sees an answer.
    before = len(fake_llm.requests)
    fake_llm.enqueue(Disconnect())
    assert (await outcome(lean, False))[0] == "ok"
    assert len(fake_llm.requests) == before + 2
    # Failing again on the fresh connection: the caller's error, no further resend.
    fake_llm.enqueue(Disconnect(), Disconnect())
    assert (await outcome(lean, False))[0] is ProviderConnectionError
    assert len(fake_llm.requests) == before + 4
