"""The Anthropic messages wire, through the official ``anthropic`` SDK.

Retries are off in the SDK (drux owns retries). Errors are mapped here by the
documented ``error.type`` of the body (``overloaded_error`` is the 529),
``error.details.error_code`` where the API gives one, then by status. A
``stop_reason`` of ``refusal`` is the content filter. Sampling parameters
(temperature, top_p) are not sent: the API version this SDK speaks rejects them.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

from drux.catalog import ModelSpec, VendorSpec
from drux.config import AppConfig
from drux.errors import (
    AuthenticationError,
    BadRequestError,
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
from drux.providers._secrets import without_secret
from drux.providers._wire import answer_text, drop_none, resolve, usage_of
from drux.types import ChatRequest, Chunk, Completion

# Documented error.type -> (drux error, the status the API uses for it).
_TYPES: dict[str, tuple[type[ProviderError], int]] = {
    "invalid_request_error": (BadRequestError, 400),
    "authentication_error": (AuthenticationError, 401),
    "billing_error": (PermissionDeniedError, 402),
    "permission_error": (PermissionDeniedError, 403),
    "not_found_error": (ModelNotFoundError, 404),
    "request_too_large": (BadRequestError, 413),
    "rate_limit_error": (RateLimitError, 429),
    "api_error": (ServerError, 500),
    "timeout_error": (ProviderTimeoutError, 504),
    "overloaded_error": (OverloadedError, 529),
}
# error.details.error_code values meaning "out of money", where waiting does not help.
_SPEND_LIMITS = {"enforced_spend_limit_reached", "contract_spend_limit_reached"}
# The documented invalid_request_error for an over-long prompt has no code of its
# own, only this message shape: "prompt is too long: 208310 tokens > 200000 maximum".
_PROMPT_TOO_LONG = re.compile(r"^prompt is too long: \d+ tokens > \d+ maximum")
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
           "model_context_window_exceeded": "length"}


class AnthropicMessages:
    """A model served over the Anthropic messages protocol."""

    def __init__(self, spec: ModelSpec, vendor: VendorSpec, api_key: str, timeout: float,
                 default_max_tokens: int) -> None:
        from anthropic import AsyncAnthropic

        self._spec = spec
        self._vendor = vendor.name
        self._default_max_tokens = default_max_tokens
        self._api_key = api_key  # masked out of error messages
        self._client = AsyncAnthropic(api_key=api_key, base_url=vendor.base_url,
                                      max_retries=0, timeout=timeout)

    @property
    def name(self) -> str:
        return f"{self._vendor}:{self._spec.upstream}"

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        r = resolve(request, self._spec)
        return drop_none(
            model=self._spec.upstream,
            messages=[{"role": m.role, "content": m.content} for m in r.turns],
            system=r.system,
            # The API requires max_tokens. It answers 400 to temperature/top_p (any
            # value) since API version 2026-10-21, which this SDK sends, so neither is sent.
            max_tokens=r.max_tokens or self._default_max_tokens,
            stop_sequences=r.stop, timeout=r.timeout,
        )

    async def complete(self, request: ChatRequest) -> Completion:
        with boundary(self._map_error):
            msg = await self._client.messages.create(**self._params(request))
            if getattr(msg, "type", None) == "error":  # the documented error body, with a 200
                raise self._from_body(None, {"error": getattr(msg, "error", None)}, None)
            content = getattr(msg, "content", None)
            if content is None or not getattr(msg, "usage", None):
                raise MalformedResponseError(f"{self.name}: answer is not a message",
                                             provider=self._vendor, model=self._spec.id)
            finish = self._finish(msg.stop_reason)
            return Completion(
                text=answer_text("".join(b.text for b in content
                                         if getattr(b, "type", "") == "text"), self._api_key),
                model=self._spec.id, deployment=self.name, finish_reason=finish,
                usage=usage_of(msg.usage.input_tokens, msg.usage.output_tokens),
                raw_id=getattr(msg, "id", None),
            )

    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        return guard_stream(self._chunks(request), self._map_error, secret=self._api_key)

    async def _chunks(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        stream = await self._client.messages.create(**self._params(request), stream=True)
        input_tokens = output_tokens = 0
        stop_reason: str | None = None
        started = finished = emitted = False
        async with stream:
            async for event in stream:
                kind = getattr(event, "type", None)
                if kind == "message_start":
                    started = True
                    # Usage is accounting: an answer that lacks it is still whole.
                    usage = getattr(event.message, "usage", None)
                    input_tokens = getattr(usage, "input_tokens", None) or 0
                    output_tokens = getattr(usage, "output_tokens", None) or 0
                elif kind == "content_block_delta" and getattr(event.delta, "type", "") == "text_delta":
                    if event.delta.text:
                        emitted = True
                        yield Chunk(text=event.delta.text, deployment=self.name)
                elif kind == "message_delta":
                    stop_reason = event.delta.stop_reason or stop_reason
                    output_tokens = getattr(getattr(event, "usage", None), "output_tokens",
                                            None) or output_tokens
                elif kind == "message_stop":
                    finished = started  # a message_stop without a message is no answer
        if not finished:
            raise ended_early(self.name, self._vendor, self._spec.id, emitted)
        finish = self._finish(stop_reason)
        yield Chunk(finish_reason=finish, usage=usage_of(input_tokens, output_tokens),
                    deployment=self.name)

    def _finish(self, stop_reason: str | None) -> str | None:
        if stop_reason == "refusal":
            raise ContentFilteredError(f"{self.name}: the model refused to answer",
                                       provider=self._vendor, model=self._spec.id, status=200)
        return _FINISH.get(stop_reason or "", stop_reason)

    def _map_error(self, exc: BaseException) -> ProviderError | None:
        return without_secret(self._map_sdk_error(exc), self._api_key)

    def _map_sdk_error(self, exc: BaseException) -> ProviderError | None:
        import anthropic

        kw: dict[str, Any] = {"provider": self._vendor, "model": self._spec.id}
        if isinstance(exc, anthropic.APITimeoutError):
            return ProviderTimeoutError(f"{self.name}: no answer in time", **kw)
        if isinstance(exc, anthropic.APIConnectionError):
            return ProviderConnectionError(f"{self.name}: cannot connect: {short(exc.__cause__ or exc)}", **kw)
        if isinstance(exc, anthropic.APIStatusError):
            # An ``error`` event inside a stream arrives with the 200 of the stream.
            status = None if 200 <= exc.status_code < 300 else exc.status_code
            return self._from_body(status, exc.body, exc.response.headers)
        if isinstance(exc, anthropic.APIResponseValidationError | json.JSONDecodeError):
            return MalformedResponseError(f"{self.name}: answer is not in the documented shape: "
                                          f"{short(exc)}", **kw)
        return transport_error(exc, name=self.name, **kw) or shape_error(exc, name=self.name, **kw)

    def _from_body(self, status: int | None, body: object, headers: Mapping[str, str] | None) -> ProviderError:
        # Also raised directly (an error sent with a 200), past ``_map_error``: mask here too.
        return without_secret(self._body_error(status, body, headers), self._api_key)

    def _body_error(self, status: int | None, body: object, headers: Mapping[str, str] | None) -> ProviderError:
        err = _mapping(_mapping(body).get("error"))
        details = _mapping(err.get("details"))
        text = str(err.get("message") or body or f"HTTP {status}")
        message = f"{self.name}: {short(text)}"
        retry_after = retry_after_seconds(headers)
        kw: dict[str, Any] = {"provider": self._vendor, "model": self._spec.id, "body": body}
        known = _TYPES.get(str(err.get("type")))
        if known is None:
            if status is None:
                return ServerError(message, **kw)
            return error_from_status(status, message, retry_after=retry_after, **kw)
        cls, documented_status = known
        kw["status"] = status or documented_status
        if cls is BadRequestError and _PROMPT_TOO_LONG.match(text):
            return ContextWindowExceededError(message, **kw)
        if cls is AuthenticationError:
            return AuthenticationError(f"{self.name}: API key rejected", **{**kw, "body": None})
        if cls is RateLimitError:
            if details.get("error_code") in _SPEND_LIMITS:
                return RateLimitError(message, retryable=False, **kw)
            return RateLimitError(message, retry_after=retry_after, **kw)
        if cls is OverloadedError:
            return OverloadedError(message, retry_after=retry_after, **kw)
        return cls(message, **kw)

    async def aclose(self) -> None:
        await self._client.close()


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def create(spec: ModelSpec, vendor: VendorSpec, config: AppConfig) -> AnthropicMessages:
    return AnthropicMessages(spec, vendor, config.require_key(vendor), config.settings.timeout,
                             config.settings.max_tokens)
