"""The OpenAI chat-completions wire, through the official ``openai`` SDK.

Every OpenAI-compatible vendor (Mistral, DeepSeek, xAI, Groq, Together,
OpenRouter, Ollama, vLLM, a llama.cpp server, or one defined in drux.toml) is
this adapter with another ``VendorSpec.base_url``. The SDK's retries are off:
drux owns retries. Errors are mapped here by status and by the documented
``error.code`` / ``error.type`` of the body.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from drux.catalog import ModelSpec, VendorSpec
from drux.config import AppConfig
from drux.errors import (
    AuthenticationError,
    ContentFilteredError,
    ContextWindowExceededError,
    MalformedResponseError,
    ModelNotFoundError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
    error_from_status,
)
from drux.providers._boundary import (
    boundary,
    ended_early,
    guard_stream,
    retry_after_seconds,
    shape_error,
    short,
    transport_error,
)
from drux.providers._secrets import E, without_secret
from drux.providers._wire import answer_text, drop_none, resolve, usage_of
from drux.types import ChatRequest, Chunk, Completion, Usage


class OpenAIWire:
    """What every client of the chat-completions wire shares, transport aside: the
    request body, the content-filter check and the mapping of error bodies into the
    drux error tree. ``OpenAIChat`` (the SDK) and the gateway's lean client hold one,
    so both send the same requests and raise the same errors."""

    def __init__(self, spec: ModelSpec, vendor: str, api_key: str) -> None:
        self.spec = spec
        self.vendor = vendor
        self._api_key = api_key  # masked out of error messages
        self.name = f"{vendor}:{spec.upstream}"

    def params(self, request: ChatRequest) -> dict[str, Any]:
        r = resolve(request, self.spec)
        messages = [{"role": "system", "content": r.system}] if r.system else []
        messages += [{"role": m.role, "content": m.content} for m in r.turns]
        params = drop_none(model=self.spec.upstream, messages=messages,
                           temperature=r.temperature, max_tokens=r.max_tokens, top_p=r.top_p,
                           stop=r.stop, seed=r.seed, timeout=r.timeout)
        if request.extra:
            params["extra_body"] = dict(request.extra)
        return params

    def check_finish(self, finish: str | None) -> None:
        if finish == "content_filter":
            raise ContentFilteredError(f"{self.name}: answer withheld by the content filter",
                                       provider=self.vendor, model=self.spec.id, status=200)

    def malformed(self, what: str) -> MalformedResponseError:
        return MalformedResponseError(f"{self.name}: {what}", provider=self.vendor,
                                      model=self.spec.id)

    def masked(self, error: E) -> E:
        return without_secret(error, self._api_key)

    def text(self, text: str | None) -> str:
        """An answer's text as every shell gets it: well formed, the key masked (a server
        that echoes it in an error may echo it in an answer too)."""
        return answer_text(text, self._api_key)

    def stream(self, chunks: AsyncIterator[Chunk],
               mapper: Callable[[BaseException], ProviderError | None]) -> AsyncIterator[Chunk]:
        """``chunks`` with errors mapped and the key masked, also when split across chunks."""
        return guard_stream(chunks, mapper, secret=self._api_key)

    def from_body(self, status: int | None, body: object, headers: Mapping[str, str] | None) -> ProviderError:
        # Also raised directly (an error sent with a 200), past the adapter's mapper: mask here too.
        return self.masked(self._body_error(status, body, headers))

    def _body_error(self, status: int | None, body: object, headers: Mapping[str, str] | None) -> ProviderError:
        """Map by the documented ``error.code``/``error.type``, then by status."""
        err = body if isinstance(body, Mapping) else {}
        code, kind = err.get("code"), err.get("type")
        message = f"{self.name}: {short(err.get('message') or body or f'HTTP {status}')}"
        if status is None and isinstance(code, int) and 400 <= code < 600:
            status = code  # compatible vendors (OpenRouter, vLLM) put the status in ``code``
        kw: dict[str, Any] = {"provider": self.vendor, "model": self.spec.id, "status": status,
                              "body": body}
        if code == "context_length_exceeded":
            return ContextWindowExceededError(message, **kw)
        if code == "content_filter":
            return ContentFilteredError(message, **kw)
        if code == "model_not_found":
            return ModelNotFoundError(message, **kw)
        if code == "invalid_api_key" or status == 401:
            # The body echoes part of the key: keep it out of the error.
            return AuthenticationError(f"{self.name}: API key rejected", **{**kw, "body": None})
        if code == "insufficient_quota" or kind == "insufficient_quota":
            # Out of credit: waiting does not help, so not retryable.
            return RateLimitError(message, retryable=False, **kw)
        if status is None:
            if code == "rate_limit_exceeded":
                return RateLimitError(message, **kw)
            return ServerError(message, **kw)
        return error_from_status(status, message, provider=self.vendor, model=self.spec.id,
                                 retry_after=retry_after_seconds(headers), body=body)


class OpenAIChat:
    """A model served over the OpenAI chat-completions protocol, through the SDK."""

    def __init__(self, spec: ModelSpec, vendor: VendorSpec, api_key: str, timeout: float) -> None:
        from openai import AsyncOpenAI

        self._wire = OpenAIWire(spec, vendor.name, api_key)
        self.name = self._wire.name
        self._client = AsyncOpenAI(api_key=api_key, base_url=vendor.base_url,
                                   max_retries=0, timeout=timeout)

    async def complete(self, request: ChatRequest) -> Completion:
        wire = self._wire
        with boundary(self._map_error):
            resp = await self._client.chat.completions.create(**wire.params(request))
            choices = getattr(resp, "choices", None)
            if not choices:
                # Some compatible servers and proxies send their error with a 200.
                error = getattr(resp, "error", None)
                if error:
                    raise wire.from_body(None, error, None)
                raise wire.malformed("answer has no choices")
            choice = choices[0]
            finish = choice.finish_reason
            wire.check_finish(finish)
            usage = getattr(resp, "usage", None)
            return Completion(
                text=wire.text(choice.message.content if choice.message else None),
                model=wire.spec.id,
                deployment=self.name,
                finish_reason=finish,
                usage=usage_of(getattr(usage, "prompt_tokens", 0), getattr(usage, "completion_tokens", 0)),
                raw_id=getattr(resp, "id", None),
            )

    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        return self._wire.stream(self._chunks(request), self._map_error)

    async def _chunks(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        wire = self._wire
        stream = await self._client.chat.completions.create(
            **wire.params(request), stream=True, stream_options={"include_usage": True})
        finish: str | None = None
        usage: Usage | None = None
        emitted = False
        async with stream:
            async for event in stream:
                if getattr(event, "usage", None):
                    usage = usage_of(getattr(event.usage, "prompt_tokens", 0),
                                     getattr(event.usage, "completion_tokens", 0))
                for choice in getattr(event, "choices", None) or []:
                    if choice.index != 0:
                        continue
                    text = choice.delta.content if choice.delta else None
                    if text:
                        emitted = True
                        yield Chunk(text=text, deployment=self.name)
                    finish = choice.finish_reason or finish
        if finish is None:
            raise ended_early(self.name, wire.vendor, wire.spec.id, emitted)
        wire.check_finish(finish)
        yield Chunk(finish_reason=finish, usage=usage, deployment=self.name)

    def _map_error(self, exc: BaseException) -> ProviderError | None:
        return self._wire.masked(self._map_sdk_error(exc))

    def _map_sdk_error(self, exc: BaseException) -> ProviderError | None:
        import openai

        wire = self._wire
        kw: dict[str, Any] = {"provider": wire.vendor, "model": wire.spec.id}
        if isinstance(exc, openai.APITimeoutError):
            return ProviderTimeoutError(f"{self.name}: no answer in time", **kw)
        if isinstance(exc, openai.APIConnectionError):
            return ProviderConnectionError(f"{self.name}: cannot connect: {short(exc.__cause__ or exc)}", **kw)
        if isinstance(exc, openai.APIStatusError):
            return wire.from_body(exc.status_code, exc.body, exc.response.headers)
        if isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError):
            return wire.malformed(f"answer is not in the documented shape: {short(exc)}")
        if isinstance(exc, openai.APIError):
            return wire.from_body(None, exc.body, None)  # an error sent inside the stream
        return transport_error(exc, name=self.name, **kw) or shape_error(exc, name=self.name, **kw)

    async def aclose(self) -> None:
        await self._client.close()


def create(spec: ModelSpec, vendor: VendorSpec, config: AppConfig) -> OpenAIChat:
    return OpenAIChat(spec, vendor, config.require_key(vendor), config.settings.timeout)
