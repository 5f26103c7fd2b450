"""The gateway's lean OpenAI-wire adapter: same contract as ``providers.openai``,
without the SDK on the hot path.

``LeanOpenAIChat`` holds the same ``OpenAIWire`` as the SDK adapter, so request
building (model defaults, system prompt, extra parameters), the content-filter
check and, above all, the mapping of error bodies into the drux error tree (by
``error.code``/``error.type``, then by status) are the very same code. Only the
transport differs: ``_http1.Pool`` instead of ``AsyncOpenAI``. Transport failures
map as the SDK adapter maps the SDK's: timeouts to ``ProviderTimeoutError``,
connection failures to ``ProviderConnectionError``, bodies that are not the
documented JSON (or too large to be one) to ``MalformedResponseError``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from drux.catalog import ModelSpec, VendorSpec
from drux.errors import ConfigError, ProviderConnectionError, ProviderError, ProviderTimeoutError
from drux.gateway._http1 import (
    Pool,
    Pools,
    ProxyError,
    Response,
    ResponseTooLarge,
    UpstreamTransportError,
)
from drux.providers._boundary import boundary, ended_early, shape_error, short
from drux.providers._wire import usage_of
from drux.providers.openai import OpenAIWire
from drux.timeouts import timeout
from drux.types import ChatRequest, Chunk, Completion, Usage

OPENAI_BASE_URL = "https://api.openai.com/v1"
MAX_EVENT = 8 * 1024 * 1024  # one SSE event; a stream that never ends one is malformed


class _Malformed(Exception):
    pass


def _loads(data: bytes) -> Any:
    """orjson, else the standard parser for the one thing only orjson refuses: a "\\ud83d"
    escape without its pair, which the SDK adapter accepts (``well_formed`` replaces it)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        try:
            return json.loads(data)
        except ValueError:
            raise exc from None


def _error_body(data: bytes) -> object:
    """What the SDK hands the mapper as ``exc.body``: the ``error`` object, else the JSON."""
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        return data.decode("utf-8", "replace") or None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]
    return body


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    return usage_of(raw.get("prompt_tokens"), raw.get("completion_tokens"))


class LeanOpenAIChat:
    """A model served over the OpenAI chat-completions protocol, without the SDK."""

    def __init__(self, spec: ModelSpec, vendor: VendorSpec, api_key: str, timeout: float,
                 pools: Pools | None = None) -> None:
        """``pools``: connections shared with other adapters (then closed by their owner);
        without it the adapter has a pool of its own."""
        self._wire = OpenAIWire(spec, vendor.name, api_key)
        self.name = self._wire.name
        self._timeout = timeout
        url = vendor.base_url or OPENAI_BASE_URL
        try:
            self._pool = pools.get(url) if pools is not None else Pool(url)
        except ProxyError as exc:
            raise ConfigError(f"{self.name}: {exc}") from None
        self._owns_pool = pools is None
        path = f"{urlsplit(url).path.rstrip('/')}/chat/completions"
        self._head = self._pool.head("POST", path) + (
            f"Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\n"
            "User-Agent: drux-gateway\r\n").encode("latin-1")

    def _raw(self, request: ChatRequest, *, stream: bool) -> bytes:
        params = self._wire.params(request)
        params.pop("timeout", None)
        extra = params.pop("extra_body", None)
        if extra:
            params.update(extra)
        if stream:
            params["stream"] = True
            params["stream_options"] = {"include_usage": True}
        body = orjson.dumps(params)
        accept = b"Accept: text/event-stream\r\n" if stream else b"Accept: application/json\r\n"
        return b"%s%sContent-Length: %d\r\n\r\n%s" % (self._head, accept, len(body), body)

    def _map_lean(self, exc: BaseException) -> ProviderError | None:
        return self._wire.masked(self._map_lean_error(exc))

    def _map_lean_error(self, exc: BaseException) -> ProviderError | None:
        wire = self._wire
        kw: dict[str, Any] = {"provider": wire.vendor, "model": wire.spec.id}
        if isinstance(exc, TimeoutError):
            return ProviderTimeoutError(f"{self.name}: no answer in time", **kw)
        if isinstance(exc, ResponseTooLarge):
            return wire.malformed(f"answer too large: {short(exc)}")
        if isinstance(exc, UpstreamTransportError):
            return ProviderConnectionError(f"{self.name}: cannot connect: {short(exc)}", **kw)
        if isinstance(exc, _Malformed | orjson.JSONDecodeError):
            return wire.malformed(f"answer is not in the documented shape: {short(exc)}")
        return shape_error(exc, name=self.name, **kw)

    def _status_error(self, status: int, data: bytes, headers: Mapping[str, str]) -> ProviderError:
        return self._wire.from_body(status, _error_body(data), headers)

    async def complete(self, request: ChatRequest) -> Completion:
        raw = self._raw(request, stream=False)
        with boundary(self._map_lean):
            async with timeout(request.timeout or self._timeout):
                response = await self._pool.request(raw)
                try:
                    data = await response.read()
                finally:
                    response.release()
            if not 200 <= response.status < 300:
                raise self._status_error(response.status, data, response.headers)
            return self._completion(_loads(data))

    def _completion(self, body: Any) -> Completion:
        wire = self._wire
        choices = body.get("choices") if isinstance(body, dict) else None
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            if isinstance(body, dict) and body.get("error"):
                raise wire.from_body(None, body["error"], None)  # an error sent with a 200
            raise wire.malformed("answer has no choices")
        choice = choices[0]
        message = choice.get("message")
        text = message.get("content") if isinstance(message, dict) else None
        if text is not None and not isinstance(text, str):
            raise _Malformed("message.content is not a string")
        finish = choice.get("finish_reason")
        wire.check_finish(finish)
        return Completion(text=wire.text(text), model=wire.spec.id, deployment=self.name,
                          finish_reason=finish, usage=_usage(body.get("usage")) or Usage(),
                          raw_id=body.get("id"))

    async def aclose(self) -> None:
        if self._owns_pool:
            self._pool.close()

    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        return self._wire.stream(self._lean_chunks(request), self._map_lean)

    async def _open(self, request: ChatRequest) -> Response:
        raw = self._raw(request, stream=True)
        async with timeout(request.timeout or self._timeout):
            response = await self._pool.request(raw)
            if 200 <= response.status < 300:
                return response
            try:
                data = await response.read()
            finally:
                response.release()
        raise self._status_error(response.status, data, response.headers)

    async def _lean_chunks(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        response = await self._open(request)
        finish: str | None = None
        usage: Usage | None = None
        emitted = False
        try:
            async for event in self._events(response, request.timeout or self._timeout):
                if event.get("usage"):
                    usage = _usage(event["usage"])
                for choice in event.get("choices") or ():
                    if choice.get("index", 0) != 0:
                        continue
                    delta = choice.get("delta") or {}
                    text = delta.get("content")
                    if text:
                        emitted = True
                        yield Chunk(text=text, deployment=self.name)
                    finish = choice.get("finish_reason") or finish
        finally:
            response.release()
        wire = self._wire
        if finish is None:
            raise ended_early(self.name, wire.vendor, wire.spec.id, emitted)
        wire.check_finish(finish)
        yield Chunk(finish_reason=finish, usage=usage, deployment=self.name)

    async def _events(self, response: Response, read_timeout: float) -> AsyncIterator[dict[str, Any]]:
        """Parsed ``data:`` events until ``[DONE]`` or the end of the body; ``read_timeout``
        bounds each wait for more of it, as the SDK's read timeout does."""
        parts = response.parts()
        buffer = b""
        while True:
            async with timeout(read_timeout):
                try:
                    part = await anext(parts)
                except StopAsyncIteration:
                    return
            buffer += part.replace(b"\r\n", b"\n")
            while (end := buffer.find(b"\n\n")) != -1:
                frame, buffer = buffer[:end], buffer[end + 2:]
                data = b"\n".join(line[5:].lstrip(b" ") for line in frame.split(b"\n")
                                  if line.startswith(b"data:"))
                if not data:
                    continue
                if data == b"[DONE]":
                    async with timeout(read_timeout):
                        await _drain(parts)
                    return
                event = _loads(data)
                if not isinstance(event, dict):
                    raise _Malformed("stream event is not an object")
                if event.get("error"):
                    raise self._wire.from_body(None, event["error"], None)
                yield event
            if len(buffer) > MAX_EVENT:
                raise _Malformed(f"a stream event is longer than {MAX_EVENT} bytes")


async def _drain(parts: AsyncIterator[bytes]) -> None:
    """Read what is left of the body (normally nothing) so the connection can be reused."""
    async for _ in parts:
        pass
