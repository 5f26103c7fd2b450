"""Upstream vendors that misbehave (odd waits, wrong shapes, errors sent with a 200),
through each real SDK and the gateway's lean client: each ends as a typed drux
error or a correct answer, never a raw exception."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from adapter_kit import KEY, PROTOCOLS, MakeProvider, ask, drain

from drux.catalog import ModelSpec, VendorSpec
from drux.errors import (
    BadRequestError,
    ContextWindowExceededError,
    MalformedResponseError,
    ModelNotFoundError,
    OverloadedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
)
from drux.gateway.errors import from_drux
from drux.gateway.upstream import LeanOpenAIChat
from drux.types import Chunk, Provider, collect

from fakes import Fail, FakeServer, Raw

# "1e400" and a 400-digit number are read by float() as infinity.
ENDLESS_WAITS = ["inf", "nan", "1e400", "9" * 400]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("wait", ENDLESS_WAITS, ids=["inf", "nan", "1e400", "400-digits"])
async def test_a_retry_after_that_is_not_a_finite_number_is_no_wait(
    protocol: str, wait: str, make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    # It was kept as inf/nan: the gateway's Retry-After header (int(inf)) then failed
    # with a 500, and a NaN wait compared false with every limit.
    if protocol == "gemini" and not wait.isdigit():
        pytest.skip("Gemini's RetryInfo delay is digits only")
    fake_llm.default = Fail("rate_limit", retry_after=wait)
    with pytest.raises(RateLimitError) as info:
        await make_provider(protocol).complete(ask())
    assert info.value.retry_after is None and info.value.retryable
    assert from_drux(info.value).status == 429


def _sse(*events: tuple[str | None, object]) -> str:
    return "".join((f"event: {name}\n" if name else "") + f"data: {json.dumps(data)}\n\n"
                   for name, data in events)


def _oa_chunk(delta: object = None, **extra: object) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta or {}, "finish_reason": None}], **extra}


def _oa_answer(choice: object = None, **extra: object) -> str:
    choice = choice or {"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "hi"}}
    return json.dumps({"id": "x", "object": "chat.completion", "created": 1, "model": "m",
                       "choices": [choice], **extra})


_AN_START = ("message_start", {"type": "message_start", "message": {
    "id": "m1", "type": "message", "role": "assistant", "model": "m", "content": [],
    "stop_reason": None, "usage": {"input_tokens": 3, "output_tokens": 1}}})
_AN_HI = ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                  "delta": {"type": "text_delta", "text": "hi"}})
_AN_MESSAGE = {"id": "m1", "type": "message", "role": "assistant", "model": "m",
               "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}}
_GM_HI = {"candidates": [{"index": 0, "content": {"role": "model", "parts": [{"text": "hi"}]}}]}

# (protocol, stream, body): answers with a field of the wrong type or missing.
WRONG_SHAPES: list[tuple[str, bool, str]] = [
    ("openai", False, _oa_answer({"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": 5}})),
    ("openai", False, _oa_answer("not a choice")),
    ("openai", True, _sse((None, _oa_chunk({"content": 5})))),
    ("lean", True, _sse((None, {**_oa_chunk(), "choices": ["not a choice"]}))),
    ("anthropic", False, json.dumps({**_AN_MESSAGE, "content": [{"type": "text", "text": None}]})),
    ("anthropic", True, _sse(("message_start", {"type": "message_start", "message": {"id": "m1"}}))),
    ("anthropic", True, _sse(_AN_START, ("content_block_delta", {
        "type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": 5}}))),
    ("gemini", False, json.dumps({"candidates": [{"content": {"parts": "hi"},
                                                  "finishReason": "STOP"}]})),
    ("gemini", True, _sse((None, {"candidates": [{"content": {"parts": "hi"}}]}))),
]


def _lean(fake: FakeServer, timeout: float = 5.0) -> LeanOpenAIChat:
    vendor = VendorSpec("fake-openai", "openai", "fake", fake.openai_url)
    spec = ModelSpec(id="drux-openai", vendor=vendor.name, upstream="fake-model", family="fake")
    return LeanOpenAIChat(spec, vendor, KEY, timeout)


async def _outcome(provider: Provider, stream: bool) -> tuple[list[Chunk], BaseException | None]:
    chunks: list[Chunk] = []
    try:
        if stream:
            async for chunk in provider.stream(ask()):
                chunks.append(chunk)
        else:
            await provider.complete(ask())
    except Exception as exc:  # the test is that only typed errors come out
        return chunks, exc
    finally:
        await provider.aclose()
    return chunks, None


def _case_ids(cases: list[tuple[str, bool, str]]) -> list[str]:
    return [f"{p}-{'sse' if s else 'json'}-{i}" for i, (p, s, _) in enumerate(cases)]


@pytest.mark.parametrize(("protocol", "stream", "body"), WRONG_SHAPES,
                         ids=_case_ids(WRONG_SHAPES))
async def test_an_answer_with_fields_of_the_wrong_type_is_malformed(
    protocol: str, stream: bool, body: str, make_provider: MakeProvider, fake_llm: FakeServer,
    drux_env: Any,
) -> None:
    # They escaped as raw AttributeError/TypeError/ValueError/pydantic ValidationError.
    kind = "text/event-stream" if stream else "application/json"
    fake_llm.default = Raw(200, body, kind)
    provider = _lean(fake_llm) if protocol == "lean" else make_provider(protocol)
    chunks, err = await _outcome(provider, stream)
    assert isinstance(err, MalformedResponseError), repr(err)
    assert err.retryable and err.model.startswith("drux-") and err.provider.startswith("fake-")
    assert "\n" not in str(err)
    assert not any(c.finish_reason for c in chunks)


async def test_a_wrong_type_after_text_is_an_interrupted_stream(
    make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    fake_llm.default = Raw(200, _sse(_AN_START, _AN_HI, ("content_block_delta", {
        "type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": 5}})),
        "text/event-stream")
    chunks, err = await _outcome(make_provider("anthropic"), True)
    assert [c.text for c in chunks] == ["hi"]
    assert isinstance(err, StreamInterruptedError)
    assert isinstance(err.__cause__, MalformedResponseError)


# (protocol, body sent with a 200, drux error, retryable)
ERRORS_WITH_200: list[tuple[str, dict[str, Any], type[ProviderError], bool]] = [
    ("openai", {"error": {"message": "too long", "type": "invalid_request_error",
                          "code": "context_length_exceeded"}}, ContextWindowExceededError, False),
    ("openai", {"error": {"message": "Rate limited upstream", "code": 429}}, RateLimitError, True),
    ("lean", {"error": {"message": "no such model", "type": "invalid_request_error",
                        "code": "model_not_found"}}, ModelNotFoundError, False),
    ("lean", {"error": {"message": "boom", "type": "server_error"}}, ServerError, True),
    ("anthropic", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
     OverloadedError, True),
    ("anthropic", {"type": "error", "error": {"type": "invalid_request_error",
                                              "message": "max_tokens: Field required"}},
     BadRequestError, False),
]


@pytest.mark.parametrize(("protocol", "body", "error", "retryable"), ERRORS_WITH_200,
                         ids=[f"{p}-{e.__name__}" for p, _, e, _ in ERRORS_WITH_200])
async def test_an_error_body_sent_with_a_200_is_that_error(
    protocol: str, body: dict[str, Any], error: type[ProviderError], retryable: bool,
    make_provider: MakeProvider, fake_llm: FakeServer, drux_env: Any,
) -> None:
    # It was a retryable MalformedResponseError ("answer has no choices"), so a request
    # the vendor had refused for good (context too long, model gone) was retried.
    fake_llm.default = Raw(200, json.dumps(body))
    provider = _lean(fake_llm) if protocol == "lean" else make_provider(protocol)
    _, err = await _outcome(provider, False)
    assert type(err) is error, repr(err)
    assert err.retryable is retryable and err.model.startswith("drux-")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_redirect_without_a_location_is_not_a_retryable_server_error(
    protocol: str, make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    # Anthropic's was a retryable ServerError saying "HTTP None": statuses under 400 were
    # read as an in-stream error event.
    fake_llm.default = Raw(302, "{}")
    _, err = await _outcome(make_provider(protocol), False)
    assert isinstance(err, ProviderError)
    assert (err.status, err.retryable) == (302, False) and "None" not in str(err)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("sent", [0, 20], ids=["head-only", "part-of-body"])
@pytest.mark.parametrize("protocol", [*PROTOCOLS, "lean"])
async def test_an_answer_that_stalls_after_its_head_times_out_with_the_request(
    protocol: str, sent: int, stream: bool, make_provider: MakeProvider, fake_llm: FakeServer,
    drux_env: Any,
) -> None:
    # The lean client's stream waited the adapter's own timeout (here a minute) for each
    # piece, not the request's: a route's per-deployment deadline was not kept.
    body = _sse((None, _oa_chunk({"content": "hi"}))) if stream else _oa_answer()
    fake_llm.default = Raw(200, body, "text/event-stream" if stream else "application/json",
                           stall_after=sent)
    if protocol == "lean":
        provider: Provider = _lean(fake_llm, timeout=60.0)
    else:
        provider = make_provider(protocol, settings={"timeout": 60.0})
    request = ask(timeout=0.5)
    with pytest.raises(ProviderTimeoutError):
        async with asyncio.timeout(10):
            if stream:
                await drain(provider.stream(request))
            else:
                await provider.complete(request)
    await provider.aclose()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("protocol", [*PROTOCOLS, "lean"])
async def test_a_body_that_claims_gzip_but_is_not_is_a_typed_error(
    protocol: str, stream: bool, make_provider: MakeProvider, fake_llm: FakeServer, drux_env: Any,
) -> None:
    # httpx's DecodingError escaped the Anthropic stream and both Gemini calls raw.
    fake_llm.default = Raw(200, b"not gzip at all", "text/event-stream" if stream else
                           "application/json", headers={"content-encoding": "gzip"})
    provider = _lean(fake_llm) if protocol == "lean" else make_provider(protocol)
    chunks, err = await _outcome(provider, stream)
    assert isinstance(err, ProviderError) and err.retryable, repr(err)
    assert not any(c.finish_reason for c in chunks)


_PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages",
          "gemini": "/v1beta/models/fake-model:generateContent"}


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_redirect_loop_is_a_connection_error(
    protocol: str, make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    # Gemini's httpx TooManyRedirects escaped raw; the other SDKs wrap it themselves.
    fake_llm.default = Raw(307, "", headers={"location": fake_llm.url + _PATHS[protocol]})
    _, err = await _outcome(make_provider(protocol), False)
    assert isinstance(err, ProviderConnectionError), repr(err)


_AN_END = [("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}),
           ("message_stop", {"type": "message_stop"})]


async def test_an_anthropic_stream_without_usage_is_still_a_whole_answer(
    make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    # A message_delta without usage (some compatible servers) failed the whole answer.
    start = ("message_start", {"type": "message_start", "message": {"id": "m1", "content": []}})
    fake_llm.default = Raw(200, _sse(start, _AN_HI, *_AN_END), "text/event-stream")
    chunks, err = await _outcome(make_provider("anthropic"), True)
    assert err is None
    assert "".join(c.text for c in chunks) == "hi" and chunks[-1].finish_reason == "stop"


async def test_an_anthropic_stream_of_message_stop_alone_is_not_an_answer(
    make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    # It ended as a finished, empty answer.
    fake_llm.default = Raw(200, _sse(_AN_END[1]), "text/event-stream")
    chunks, err = await _outcome(make_provider("anthropic"), True)
    assert isinstance(err, MalformedResponseError) and not chunks


_BAD_COUNTS = {"prompt_tokens": "many", "completion_tokens": -4}
# (protocol, stream, body) whose token counts are not counts.
BAD_USAGE: list[tuple[str, bool, str]] = [
    ("openai", False, _oa_answer(usage=_BAD_COUNTS)),
    ("openai", False, _oa_answer(usage=[1, 2])),
    ("lean", False, _oa_answer(usage=_BAD_COUNTS)),
    ("openai", True, _sse((None, _oa_chunk({"content": "hi"})),
                          (None, {**_oa_chunk(), "choices": [{"index": 0, "delta": {},
                                                              "finish_reason": "stop"}]}),
                          (None, {**_oa_chunk(), "choices": [], "usage": _BAD_COUNTS}))),
    ("anthropic", False, json.dumps({**_AN_MESSAGE, "content": [{"type": "text", "text": "hi"}],
                                     "usage": {"input_tokens": "many", "output_tokens": 1.5e400}})),
    ("anthropic", True, _sse(("message_start", {"type": "message_start", "message": {
        "id": "m1", "usage": {"input_tokens": "many", "output_tokens": None}}}), _AN_HI, *_AN_END)),
]


@pytest.mark.parametrize(("protocol", "stream", "body"), BAD_USAGE,
                         ids=_case_ids(BAD_USAGE))
async def test_token_counts_that_are_not_counts_are_zero_and_the_answer_is_kept(
    protocol: str, stream: bool, body: str, make_provider: MakeProvider, fake_llm: FakeServer,
    drux_env: Any,
) -> None:
    # A string count was passed on as is (Usage("many", 1)): adding it up later, where no
    # adapter maps errors, failed with a raw TypeError; the lean client failed the answer.
    fake_llm.default = Raw(200, body, "text/event-stream" if stream else "application/json")
    provider = _lean(fake_llm) if protocol == "lean" else make_provider(protocol)
    if stream:
        answer = await collect(provider.stream(ask()), model="m")
    else:
        answer = await provider.complete(ask())
    await provider.aclose()
    assert answer.text == "hi"
    assert all(type(n) is int and n >= 0 for n in (answer.usage.input_tokens,
                                                   answer.usage.output_tokens))
    assert answer.usage.total_tokens == answer.usage.input_tokens + answer.usage.output_tokens
