"""The gateway's lean OpenAI-wire adapter: same contract as ``providers.openai``,
without the SDK on the hot path.

``LeanOpenAIChat`` subclasses ``OpenAIChat`` so request building (model
defaults, system prompt, extra parameters), the content-filter check and, above
all, the mapping of error bodies into the drux error tree (``_from_body``: by
``error.code``/``error.type``, then by status) are the very same code. Only the
transport differs: ``_http1.Pool`` instead of ``AsyncOpenAI``. Transport failures
map as the SDK adapter maps the SDK's: timeouts to ``ProviderTimeoutError``,
connection failures to ``ProviderConnectionError``, bodies that are not the
documented JSON to ``MalformedResponseError``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from drux.catalog import ModelSpec, VendorSpec
from drux.config import AppConfig
from drux.errors import ProviderConnectionError, ProviderError, ProviderTimeoutError
from drux.gateway._http1 import Pool, UpstreamTransportError, _Conn
from drux.providers._boundary import boundary, ended_early, guard_stream, shape_error, short
from drux.providers._secrets import without_secret
from drux.providers._wire import answer_text, usage_of
from drux.providers.openai import OpenAIChat
from drux.types import ChatRequest, Chunk, Completion, Usage

OPENAI_BASE_URL = "https://api.openai.com/v1"


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


class LeanOpenAIChat(OpenAIChat):
    """A model served over the OpenAI chat-completions protocol, without the SDK."""

    def __init__(self, spec: ModelSpec, vendor: VendorSpec, api_key: str, timeout: float) -> None:
        # OpenAIChat.__init__ would build an AsyncOpenAI client; none is needed here.
        self._spec = spec
        self._vendor = vendor.name
        self._timeout = timeout
        self._api_key = api_key  # masked out of error messages (by ``_from_body``)
        self._pool = Pool(vendor.base_url or OPENAI_BASE_URL)
        path = f"{self._pool.base_path}/chat/completions"
        self._head = (f"POST {path} HTTP/1.1\r\nHost: {self._pool.host_header}\r\n"
                      f"Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\n"
                      "User-Agent: drux-gateway\r\n").encode("latin-1")

    def _raw(self, request: ChatRequest, *, stream: bool) -> bytes:
        params = self._params(request)
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
        return without_secret(self._map_lean_error(exc), self._api_key)

    def _map_lean_error(self, exc: BaseException) -> ProviderError | None:
        kw: dict[str, Any] = {"provider": self._vendor, "model": self._spec.id}
        if isinstance(exc, TimeoutError):
            return ProviderTimeoutError(f"{self.name}: no answer in time", **kw)
        if isinstance(exc, UpstreamTransportError):
            return ProviderConnectionError(f"{self.name}: cannot connect: {short(exc)}", **kw)
        if isinstance(exc, _Malformed | orjson.JSONDecodeError):
            return self._malformed(f"answer is not in the documented shape: {short(exc)}")
        return shape_error(exc, name=self.name, **kw)

    def _status_error(self, status: int, data: bytes, headers: Mapping[str, str]) -> ProviderError:
        return self._from_body(status, _error_body(data), headers)

    async def complete(self, request: ChatRequest) -> Completion:
        raw = self._raw(request, stream=False)
        with boundary(self._map_lean):
            async with asyncio.timeout(request.timeout or self._timeout):
                conn = await self._pool.exchange(raw)
                try:
                    data = await conn.read()
                finally:
                    self._pool.release(conn)
            if not 200 <= conn.status < 300:
                raise self._status_error(conn.status, data, conn.headers)
            return self._completion(_loads(data))

    def _completion(self, body: Any) -> Completion:
        choices = body.get("choices") if isinstance(body, dict) else None
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            if isinstance(body, dict) and body.get("error"):
                raise self._from_body(None, body["error"], None)  # an error sent with a 200
            raise self._malformed("answer has no choices")
        choice = choices[0]
        message = choice.get("message")
        text = message.get("content") if isinstance(message, dict) else None
        if text is not None and not isinstance(text, str):
            raise _Malformed("message.content is not a string")
        finish = choice.get("finish_reason")
        self._check_finish(finish)
        return Completion(text=answer_text(text, self._api_key), model=self._spec.id,
                          deployment=self.name, finish_reason=finish,
                          usage=_usage(body.get("usage")) or Usage(), raw_id=body.get("id"))

    async def aclose(self) -> None:
        self._pool.close()

    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        return guard_stream(self._lean_chunks(request), self._map_lean, secret=self._api_key)

    async def _open(self, request: ChatRequest) -> _Conn:
        raw = self._raw(request, stream=True)
        async with asyncio.timeout(request.timeout or self._timeout):
            conn = await self._pool.exchange(raw)
            if 200 <= conn.status < 300:
                return conn
            try:
                data = await conn.read()
            finally:
                self._pool.release(conn)
        raise self._status_error(conn.status, data, conn.headers)

    async def _lean_chunks(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        conn = await self._open(request)
        finish: str | None = None
        usage: Usage | None = None
        emitted = False
        try:
            async for event in self._events(conn, request.timeout or self._timeout):
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
            self._pool.release(conn)
        if finish is None:
            raise ended_early(self.name, self._vendor, self._spec.id, emitted)
        self._check_finish(finish)
        yield Chunk(finish_reason=finish, usage=usage, deployment=self.name)

    async def _events(self, conn: _Conn, read_timeout: float) -> AsyncIterator[dict[str, Any]]:
        """Parsed ``data:`` events until ``[DONE]`` or the end of the body; ``read_timeout``
        bounds each wait for more of it, as the SDK's read timeout does."""
        parts = conn.parts()
        buffer = b""
        while True:
            async with asyncio.timeout(read_timeout):
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
                    async with asyncio.timeout(read_timeout):
                        await _drain(parts)
                    return
                event = _loads(data)
                if not isinstance(event, dict):
                    raise _Malformed("stream event is not an object")
                if event.get("error"):
                    raise self._from_body(None, event["error"], None)
                yield event


async def _drain(parts: AsyncIterator[bytes]) -> None:
    """Read what is left of the body (normally nothing) so the connection can be reused."""
    async for _ in parts:
        pass


def create(spec: ModelSpec, vendor: VendorSpec, config: AppConfig) -> LeanOpenAIChat:
    return LeanOpenAIChat(spec, vendor, config.require_key(vendor), config.settings.timeout)
