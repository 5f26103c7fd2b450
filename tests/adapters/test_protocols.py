"""Each adapter, through its real SDK, against the wire-level fake: answers,
streams, usage, and the request parameters that reach the wire."""

from __future__ import annotations

from typing import Any

import pytest
from adapter_kit import KEY, PROTOCOLS, MakeProvider, ask, drain

from drux.errors import AuthenticationError
from drux.types import ChatRequest, Message, collect

from fakes import FakeServer, Reply


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_complete_returns_text_usage_and_deployment(
    protocol: str, make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    fake_llm.script("gpt-fake", Reply("The sky is blue.", input_tokens=17, output_tokens=5))
    provider = make_provider(protocol, upstream="gpt-fake")
    answer = await provider.complete(ask("What colour is the sky?"))
    assert answer.text == "The sky is blue."
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (17, 5)
    assert answer.finish_reason == "stop"
    assert answer.model == f"drux-{protocol}"
    assert answer.deployment == provider.name == f"fake-{protocol}:gpt-fake"
    [seen] = fake_llm.requests
    assert (seen.protocol, seen.model, seen.stream) == (protocol, "gpt-fake", False)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_stream_yields_pieces_then_a_final_chunk_with_finish_and_usage(
    protocol: str, make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    fake_llm.default = Reply(chunks=["Par", "is is ", "the capital."], input_tokens=9,
                             output_tokens=4)
    provider = make_provider(protocol)
    chunks = await drain(provider.stream(ask()))
    texts = [c.text for c in chunks if c.text]
    assert texts == ["Par", "is is ", "the capital."]
    *body, last = chunks
    assert all(c.finish_reason is None and c.usage is None for c in body)
    assert last.text == "" and last.finish_reason == "stop"
    assert last.usage is not None
    assert (last.usage.input_tokens, last.usage.output_tokens) == (9, 4)
    assert {c.deployment for c in chunks} == {provider.name}
    assert fake_llm.requests[0].stream is True


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_collect_of_a_stream_matches_complete(
    protocol: str, make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    fake_llm.default = Reply("one two three four", finish="length")
    provider = make_provider(protocol)
    whole = await provider.complete(ask())
    folded = await collect(provider.stream(ask()), model=whole.model)
    assert (folded.text, folded.finish_reason) == (whole.text, whole.finish_reason)
    assert whole.finish_reason == "length"
    assert folded.usage == whole.usage


def _wire_params(protocol: str, body: dict[str, Any]) -> dict[str, Any]:
    """System prompt, temperature, max tokens and stop as each vendor's JSON names them."""
    if protocol == "openai":
        system = [m["content"] for m in body["messages"] if m["role"] == "system"]
        return {"system": system[0] if system else None, "temperature": body.get("temperature"),
                "max_tokens": body.get("max_tokens"), "stop": body.get("stop"),
                "turns": [m["content"] for m in body["messages"] if m["role"] != "system"]}
    if protocol == "anthropic":
        return {"system": body.get("system"), "temperature": body.get("temperature"),
                "max_tokens": body.get("max_tokens"), "stop": body.get("stop_sequences"),
                "turns": [m["content"] for m in body["messages"]]}
    config = body.get("generationConfig", {})
    system = body.get("systemInstruction")
    return {"system": system["parts"][0]["text"] if system else None,
            "temperature": config.get("temperature"), "max_tokens": config.get("maxOutputTokens"),
            "stop": config.get("stopSequences"),
            "turns": [c["parts"][0]["text"] for c in body["contents"]]}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("streaming", [False, True])
async def test_request_parameters_reach_the_wire(
    protocol: str, streaming: bool, make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    provider = make_provider(protocol)
    request = ChatRequest(
        messages=[Message("system", "Answer in one word."), Message("user", "Capital of France?"),
                  Message("assistant", "Paris."), Message("user", "And Italy?")],
        temperature=0.3, max_tokens=42, stop=["\n\n"])
    if streaming:
        await drain(provider.stream(request))
    else:
        await provider.complete(request)
    body = fake_llm.requests[0].json
    params = _wire_params(protocol, body)
    assert params == {"system": "Answer in one word.", "temperature": _sent_temperature(protocol, 0.3),
                      "max_tokens": 42, "stop": ["\n\n"],
                      "turns": ["Capital of France?", "Paris.", "And Italy?"]}
    if protocol == "anthropic":
        assert "temperature" not in body and "top_p" not in body


def _sent_temperature(protocol: str, wanted: float) -> float | None:
    # Anthropic's API version 2026-10-21 (what its SDK sends) answers 400 to any
    # temperature, so the adapter leaves it out.
    return None if protocol == "anthropic" else wanted


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_model_defaults_apply_when_the_request_sets_none(
    protocol: str, make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    provider = make_provider(protocol, system="Be terse.", temperature=0.7, max_tokens=64)
    await provider.complete(ask("hi"))
    await provider.complete(ChatRequest([Message("system", "Be verbose."), Message("user", "hi")],
                                        temperature=0.0, max_tokens=8))
    first, second = (_wire_params(protocol, r.json) for r in fake_llm.requests)
    assert (first["system"], first["max_tokens"]) == ("Be terse.", 64)
    assert (second["system"], second["max_tokens"]) == ("Be verbose.", 8)
    assert first["temperature"] == _sent_temperature(protocol, 0.7)
    assert second["temperature"] == _sent_temperature(protocol, 0.0)


async def test_anthropic_always_sends_max_tokens(make_provider: MakeProvider,
                                                 fake_llm: FakeServer) -> None:
    provider = make_provider("anthropic", settings={"max_tokens": 123})
    await provider.complete(ask())
    assert fake_llm.requests[0].json["max_tokens"] == 123


async def test_openai_stream_asks_for_usage(make_provider: MakeProvider,
                                            fake_llm: FakeServer) -> None:
    await drain(make_provider("openai").stream(ask()))
    assert fake_llm.requests[0].json["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_configured_key_is_what_the_vendor_receives(
    protocol: str, make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    fake_llm.api_key = KEY
    answer = await make_provider(protocol).complete(ask())
    assert answer.text
    fake_llm.api_key = "another-key"
    with pytest.raises(AuthenticationError) as info:
        await make_provider(protocol).complete(ask())
    assert KEY not in str(info.value)


async def test_openai_extra_parameters_pass_through(make_provider: MakeProvider,
                                                    fake_llm: FakeServer) -> None:
    await make_provider("openai").complete(ask(extra={"presence_penalty": 0.5}, seed=7))
    body = fake_llm.requests[0].json
    assert (body["presence_penalty"], body["seed"]) == (0.5, 7)
