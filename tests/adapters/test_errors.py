"""Each vendor's documented failures, through its real SDK, land on the right
drux error with provider, model, status and retryable set."""

from __future__ import annotations

import pytest
from adapter_kit import KEY, PROTOCOLS, MakeProvider, ask, drain

from drux.errors import (
    AuthenticationError,
    BadRequestError,
    ContentFilteredError,
    ContextWindowExceededError,
    ModelNotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from drux.providers._boundary import retry_after_seconds

from fakes import Fail, FakeServer, Reply

# (protocol, kind, status on the wire, drux error, retryable)
CASES = [
    ("openai", "auth", 401, AuthenticationError, False),
    ("anthropic", "auth", 401, AuthenticationError, False),
    ("gemini", "auth", 400, AuthenticationError, False),  # 400 + ErrorInfo API_KEY_INVALID
    ("openai", "permission", 403, PermissionDeniedError, False),
    ("anthropic", "permission", 403, PermissionDeniedError, False),
    ("gemini", "permission", 403, PermissionDeniedError, False),
    ("openai", "not_found", 404, ModelNotFoundError, False),
    ("anthropic", "not_found", 404, ModelNotFoundError, False),
    ("gemini", "not_found", 404, ModelNotFoundError, False),
    ("openai", "bad_request", 400, BadRequestError, False),
    ("anthropic", "bad_request", 400, BadRequestError, False),
    ("gemini", "bad_request", 400, BadRequestError, False),
    ("openai", "context_window", 400, ContextWindowExceededError, False),
    ("anthropic", "context_window", 400, ContextWindowExceededError, False),
    ("gemini", "context_window", 400, ContextWindowExceededError, False),
    ("openai", "content_filter", 400, ContentFilteredError, False),  # Azure-style code
    ("openai", "rate_limit", 429, RateLimitError, True),
    ("anthropic", "rate_limit", 429, RateLimitError, True),
    ("gemini", "rate_limit", 429, RateLimitError, True),
    ("openai", "quota", 429, RateLimitError, False),  # insufficient_quota: waiting won't help
    ("anthropic", "quota", 429, RateLimitError, False),  # enforced_spend_limit_reached
    ("openai", "overloaded", 503, OverloadedError, True),
    ("anthropic", "overloaded", 529, OverloadedError, True),
    ("gemini", "overloaded", 503, OverloadedError, True),
    ("openai", "server", 500, ServerError, True),
    ("anthropic", "server", 500, ServerError, True),
    ("gemini", "server", 500, ServerError, True),
]


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize(("protocol", "kind", "status", "error", "retryable"), CASES)
async def test_vendor_error_maps_to_drux_error(
    protocol: str, kind: str, status: int, error: type[ProviderError], retryable: bool,
    streaming: bool, make_provider: MakeProvider, fake_llm: FakeServer,
) -> None:
    fake_llm.default = Fail(kind)  # type: ignore[arg-type]
    provider = make_provider(protocol)
    with pytest.raises(ProviderError) as info:
        if streaming:
            await drain(provider.stream(ask()))
        else:
            await provider.complete(ask())
    err = info.value
    assert type(err) is error
    assert (err.status, err.retryable) == (status, retryable)
    assert (err.provider, err.model) == (f"fake-{protocol}", f"drux-{protocol}")
    assert "\n" not in str(err)
    assert len(fake_llm.requests) == 1
    if error is AuthenticationError:
        assert err.body is None  # vendors echo part of the key in their message


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("kind", ["server", "bad_request", "rate_limit"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_key_echoed_by_the_server_is_masked(
    protocol: str, kind: str, streaming: bool, make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    # Messages of non-401 errors quoted the server's text, key included, into the stored
    # answer and the terminal.
    fake_llm.default = Fail(kind, message=f"request with key {KEY} refused")  # type: ignore[arg-type]
    provider = make_provider(protocol)
    with pytest.raises(ProviderError) as info:
        if streaming:
            await drain(provider.stream(ask()))
        else:
            await provider.complete(ask())
    assert KEY not in str(info.value) and "refused" in str(info.value)
    assert KEY not in repr(info.value.body)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_rate_limit_carries_retry_after(protocol: str, make_provider: MakeProvider,
                                             fake_llm: FakeServer) -> None:
    # OpenAI and Anthropic send a Retry-After header; Gemini a RetryInfo detail.
    fake_llm.default = Fail("rate_limit", retry_after=7)
    with pytest.raises(RateLimitError) as info:
        await make_provider(protocol).complete(ask())
    assert info.value.retry_after == 7.0


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
async def test_retry_after_as_an_http_date(protocol: str, make_provider: MakeProvider,
                                           fake_llm: FakeServer) -> None:
    fake_llm.default = Fail("rate_limit", retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    with pytest.raises(RateLimitError) as info:
        await make_provider(protocol).complete(ask())
    assert info.value.retry_after == 0.0  # a date in the past: retry now


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
async def test_overloaded_carries_retry_after(protocol: str, make_provider: MakeProvider,
                                              fake_llm: FakeServer) -> None:
    fake_llm.default = Fail("overloaded", retry_after=2)
    with pytest.raises(OverloadedError) as info:
        await make_provider(protocol).complete(ask())
    assert info.value.retry_after == 2.0


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("status", [502, 504])
async def test_other_5xx_are_retryable_server_errors(
    protocol: str, status: int, make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    fake_llm.default = Fail("server", status=status)
    with pytest.raises(ProviderError) as info:
        await make_provider(protocol).complete(ask())
    assert info.value.status == status and info.value.retryable


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
async def test_filtered_answer_is_content_filtered(
    protocol: str, streaming: bool, make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    # OpenAI finish_reason content_filter, Anthropic stop_reason refusal, Gemini SAFETY.
    fake_llm.default = Reply("I won't", finish="content_filter")
    provider = make_provider(protocol)
    with pytest.raises(ContentFilteredError) as info:
        if streaming:
            await drain(provider.stream(ask()))
        else:
            await provider.complete(ask())
    assert not info.value.retryable


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
async def test_gemini_blocked_prompt_is_content_filtered(
    streaming: bool, make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    fake_llm.default = Reply(finish="prompt_blocked")
    provider = make_provider("gemini")
    with pytest.raises(ContentFilteredError, match="prompt blocked"):
        if streaming:
            await drain(provider.stream(ask()))
        else:
            await provider.complete(ask())


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_sdk_retries_are_off(protocol: str, make_provider: MakeProvider,
                                   fake_llm: FakeServer) -> None:
    # Every SDK retries 500/429 by default; the fake must see exactly one request each.
    provider = make_provider(protocol)
    for fail in (Fail("server"), Fail("rate_limit", retry_after=0), Fail("overloaded")):
        fake_llm.default = fail
        with pytest.raises(ProviderError):
            await provider.complete(ask())
        with pytest.raises(ProviderError):
            await drain(provider.stream(ask()))
    assert len(fake_llm.requests) == 6


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        # vLLM / Mistral style: no "error" wrapper, the status in "code".
        (400, {"object": "error", "message": "This model's maximum context length is 4096 tokens.",
               "type": "BadRequestError", "param": None, "code": 400}, BadRequestError),
        (404, {"object": "error", "message": "The model `x` does not exist.",
               "type": "NotFoundError", "param": None, "code": 404}, ModelNotFoundError),
        # Groq documents the OpenAI code for an over-long prompt.
        (400, {"error": {"message": "Please reduce the length of the messages or completion.",
                         "type": "invalid_request_error", "param": "messages",
                         "code": "context_length_exceeded"}}, ContextWindowExceededError),
        (502, "<html><body>Bad gateway</body></html>", ServerError),
    ],
    ids=["vllm-400", "vllm-404", "groq-context", "html-502"],
)
async def test_openai_compatible_vendor_error_shapes(
    status: int, body: object, error: type[ProviderError], make_provider: MakeProvider,
    fake_llm: FakeServer,
) -> None:
    fake_llm.default = Fail("bad_request", status=status, body=body)
    with pytest.raises(ProviderError) as info:
        await make_provider("openai").complete(ask())
    assert type(info.value) is error and info.value.status == status


async def test_openai_compatible_in_stream_error_with_a_numeric_code(
    make_provider: MakeProvider, fake_llm: FakeServer
) -> None:
    # OpenRouter sends `data: {"error": {"code": 429, ...}}` after the 200 of a stream.
    fake_llm.default = Reply(fail_after=0, fail=Fail("rate_limit", body={
        "error": {"code": 429, "message": "Rate limit exceeded upstream"}}))
    with pytest.raises(RateLimitError) as info:
        await drain(make_provider("openai").stream(ask()))
    assert info.value.status == 429 and info.value.retryable


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [({"retry-after": "12"}, 12.0), ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
     ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0), ({"retry-after": "soon"}, None),
     ({}, None)],
)
def test_retry_after_header_forms(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_seconds(headers) == seconds
