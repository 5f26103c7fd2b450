"""The Gemini generateContent wire, through the official ``google-genai`` SDK.

Retries are off in the SDK (one attempt; drux owns retries). Errors are mapped
here by the documented google.rpc ``status`` of the body (``RESOURCE_EXHAUSTED``,
``UNAVAILABLE``, ...), its structured ``details`` (``ErrorInfo`` reason
``API_KEY_INVALID``, ``RetryInfo`` retryDelay), then by HTTP code. A blocked
prompt (``promptFeedback.blockReason``) or a safety ``finishReason`` is the
content filter.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
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
    wait_seconds,
)
from drux.providers._secrets import without_secret
from drux.providers._wire import answer_text, drop_none, resolve
from drux.types import ChatRequest, Chunk, Completion, Usage

# Documented google.rpc status -> drux error.
_STATUSES: dict[str, type[ProviderError]] = {
    "INVALID_ARGUMENT": BadRequestError,
    "FAILED_PRECONDITION": PermissionDeniedError,  # e.g. free tier not offered in the region
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "NOT_FOUND": ModelNotFoundError,
    "RESOURCE_EXHAUSTED": RateLimitError,
    "INTERNAL": ServerError,
    "UNAVAILABLE": OverloadedError,
    "DEADLINE_EXCEEDED": ProviderTimeoutError,
}
_FILTERED = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY"}
_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}
# INVALID_ARGUMENT carries no code of its own for an over-long prompt, only
# this documented message: "The input token count (N) exceeds the maximum number
# of tokens allowed (M)."
_TOKEN_LIMIT = re.compile(r"input token count \(?\d+\)? exceeds the maximum number of tokens")


def _enum(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


class GeminiModel:
    """A model served over the Gemini generateContent protocol."""

    def __init__(self, spec: ModelSpec, vendor: VendorSpec, api_key: str, timeout: float) -> None:
        from google import genai
        from google.genai import types

        self._spec = spec
        self._vendor = vendor.name
        options = types.HttpOptions(
            base_url=vendor.base_url, timeout=int(timeout * 1000),
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        self._api_key = api_key  # masked out of error messages
        self._client = genai.Client(api_key=api_key, http_options=options).aio

    @property
    def name(self) -> str:
        return f"{self._vendor}:{self._spec.upstream}"

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        from google.genai import types

        r = resolve(request, self._spec)
        contents = [{"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]}
                    for m in r.turns]
        config = drop_none(system_instruction=r.system, temperature=r.temperature,
                           max_output_tokens=r.max_tokens, top_p=r.top_p, stop_sequences=r.stop,
                           seed=r.seed)
        if r.timeout:
            config["http_options"] = types.HttpOptions(timeout=int(r.timeout * 1000))
        return {"model": self._spec.upstream, "contents": contents,
                "config": types.GenerateContentConfig(**config)}

    async def complete(self, request: ChatRequest) -> Completion:
        with boundary(self._map_error):
            resp = await self._client.models.generate_content(**self._params(request))
            self._check_prompt(resp)
            text, finish = self._candidate(resp)
            if finish is None:
                raise MalformedResponseError(f"{self.name}: answer has no finished candidate",
                                             provider=self._vendor, model=self._spec.id)
            return Completion(text=answer_text(text, self._api_key), model=self._spec.id,
                              deployment=self.name, finish_reason=finish,
                              usage=self._usage(resp) or Usage(),
                              raw_id=getattr(resp, "response_id", None))

    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        return guard_stream(self._chunks(request), self._map_error, secret=self._api_key)

    async def _chunks(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        stream = await self._client.models.generate_content_stream(**self._params(request))
        finish: str | None = None
        usage: Usage | None = None
        emitted = False
        async with aclosing(stream):  # type: ignore[type-var]
            async for resp in stream:
                self._check_prompt(resp)
                text, done = self._candidate(resp)
                usage = self._usage(resp) or usage
                finish = done or finish
                if text:
                    emitted = True
                    yield Chunk(text=text, deployment=self.name)
        if finish is None:
            raise ended_early(self.name, self._vendor, self._spec.id, emitted)
        yield Chunk(finish_reason=finish, usage=usage, deployment=self.name)

    def _filtered(self, why: str) -> ContentFilteredError:
        return ContentFilteredError(f"{self.name}: {why}", provider=self._vendor,
                                    model=self._spec.id, status=200)

    def _check_prompt(self, resp: Any) -> None:
        feedback = getattr(resp, "prompt_feedback", None)
        reason = _enum(getattr(feedback, "block_reason", None))
        if reason:
            raise self._filtered(f"prompt blocked by the safety filter ({reason})")

    def _candidate(self, resp: Any) -> tuple[str, str | None]:
        """Text of the first candidate and its normalised finish reason (None: unfinished)."""
        candidates = getattr(resp, "candidates", None) or []
        if not candidates:
            return "", None
        cand = candidates[0]
        parts = getattr(getattr(cand, "content", None), "parts", None) or []
        text = "".join(p.text for p in parts if getattr(p, "text", None) and not getattr(p, "thought", None))
        reason = _enum(getattr(cand, "finish_reason", None))
        if reason in _FILTERED:
            raise self._filtered(f"answer withheld by the safety filter ({reason})")
        if reason is None:
            return text, None
        return text, _FINISH.get(reason, reason.lower())

    @staticmethod
    def _usage(resp: Any) -> Usage | None:
        meta = getattr(resp, "usage_metadata", None)
        if meta is None:
            return None
        output = (meta.candidates_token_count or 0) + (getattr(meta, "thoughts_token_count", 0) or 0)
        return Usage(meta.prompt_token_count or 0, output)

    def _map_error(self, exc: BaseException) -> ProviderError | None:
        return without_secret(self._map_sdk_error(exc), self._api_key)

    def _map_sdk_error(self, exc: BaseException) -> ProviderError | None:
        from google.genai import errors

        kw: dict[str, Any] = {"provider": self._vendor, "model": self._spec.id}
        if isinstance(exc, errors.APIError):
            headers = getattr(getattr(exc, "response", None), "headers", None)
            return self._from_body(exc.code, exc.status, exc.message, exc.details, headers)
        if isinstance(exc, errors.UnknownApiResponseError | json.JSONDecodeError):
            return MalformedResponseError(f"{self.name}: answer is not in the documented shape: "
                                          f"{short(exc)}", **kw)
        return transport_error(exc, name=self.name, **kw) or shape_error(exc, name=self.name, **kw)

    def _from_body(self, code: int | None, status: str | None, text: str | None, body: Any,
                   headers: Mapping[str, str] | None) -> ProviderError:
        error = body.get("error", body) if isinstance(body, Mapping) else {}
        details = [d for d in error.get("details") or [] if isinstance(d, Mapping)]
        message = f"{self.name}: {short(text or body or f'HTTP {code}')}"
        kw: dict[str, Any] = {"provider": self._vendor, "model": self._spec.id, "status": code,
                              "body": body}
        if any(d.get("reason") == "API_KEY_INVALID" for d in details):
            return AuthenticationError(f"{self.name}: API key rejected", **{**kw, "body": None})
        cls = _STATUSES.get(status or "")
        if cls is None:
            return error_from_status(code or 500, message, retry_after=retry_after_seconds(headers),
                                     **{k: v for k, v in kw.items() if k != "status"})
        if cls is BadRequestError and _TOKEN_LIMIT.search(text or ""):
            return ContextWindowExceededError(message, **kw)
        if cls is AuthenticationError:
            return AuthenticationError(f"{self.name}: API key rejected", **{**kw, "body": None})
        if cls is RateLimitError or cls is OverloadedError:
            delay = retry_after_seconds(headers)
            return cls(message, retry_after=delay if delay is not None else _retry_delay(details), **kw)
        return cls(message, **kw)

    async def aclose(self) -> None:
        await self._client.aclose()


def _retry_delay(details: list[Mapping[str, Any]]) -> float | None:
    """Seconds from a google.rpc.RetryInfo detail ("7s", "0.5s")."""
    for d in details:
        if str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
            m = re.fullmatch(r"(\d+(?:\.\d+)?)s", str(d.get("retryDelay", "")))
            if m:
                return wait_seconds(float(m.group(1)))
    return None


def create(spec: ModelSpec, vendor: VendorSpec, config: AppConfig) -> GeminiModel:
    return GeminiModel(spec, vendor, config.require_key(vendor), config.settings.timeout)
