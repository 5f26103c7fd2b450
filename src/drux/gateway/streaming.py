"""Answering one chat call: JSON, or SSE relayed chunk by chunk, plus its usage record.

A stream's HTTP status is decided by its first chunk: the route is awaited up to
the first visible chunk (failing over as needed), so a route that fails entirely
still gets a proper error status and JSON body. After that the status is sent
and later failures can only be reported inside the stream, as OpenAI does: a
``data: {"error": ...}`` event. A routed stream that restarts on a fallback
after partial output cannot be expressed in OpenAI's protocol (the client
already has the torn text), so the gateway ends it with such an error event
instead of splicing two answers together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from drux.errors import DruxError, StreamInterruptedError
from drux.gateway.access import Caller
from drux.gateway.asgi import ON_DISCONNECT, Cancellable, Receive, Scope, Send
from drux.gateway.errors import from_drux
from drux.gateway.protocol import ChatCall, ChunkEncoder, completion_body, new_id
from drux.gateway.usage import UsageLedger
from drux.types import Chunk, Completion, Provider, Usage

log = logging.getLogger("drux.gateway")

_CLIENT_GONE = "drux-gateway: client disconnected"
_SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]


@dataclass(slots=True)
class Exchange:
    """One chat call in flight: who asked what, where it went, and where it is booked."""

    ledger: UsageLedger
    redact: Callable[[str], str]  # masks upstream keys in error messages sent to the client
    caller: Caller
    call: ChatCall
    provider: Provider
    started: float
    deployment: str | None = None
    used: tuple[int, float] = (0, 0.0)  # tokens and USD, once booked (else nothing was used)
    # Settles the caller's reservation with what was used. Called when the call is booked,
    # which is before its response goes out: a client's next call must find the key charged
    # (settled after the response, a quick next call could be admitted on the old balance).
    settle: Callable[[int, float], None] | None = None
    settled: bool = False

    def route_headers(self, deployment: str, substituted_for: str | None) -> list[tuple[bytes, bytes]]:
        self.deployment = deployment
        headers = [(b"x-drux-deployment", deployment.encode())]
        if substituted_for:
            headers.append((b"x-drux-substituted-for", substituted_for.encode()))
        return headers

    def record(self, status: int, usage: Usage | None, answered_by: str | None = None) -> None:
        """Queue the usage row and keep what the call used, to settle with (no I/O here)."""
        self.used = self.ledger.book(self.caller, self.call.model, self.deployment, status, usage,
                         answered_by, self.started)
        self.settle_now()

    def settle_now(self) -> None:
        """Settle the reservation once (with nothing used if the call was never booked)."""
        if self.settle is not None and not self.settled:
            self.settled = True
            self.settle(*self.used)


async def respond_json(ex: Exchange, scope: Scope, receive: Receive, send: Send) -> None:
    # A client that hangs up must stop the answer: a local model would otherwise generate
    # up to max_tokens for nobody while every other request waits for it.
    watcher = _watch_disconnect(scope, receive)
    try:
        completion: Completion = await ex.provider.complete(ex.call.request)
    except asyncio.CancelledError as exc:
        if not _client_left(exc):
            raise
        ex.record(499, None)
        return
    finally:
        watcher.cancel()
    headers = ex.route_headers(completion.deployment, completion.substituted_for)
    body = completion_body(completion, model=completion.model or ex.call.model,
                           call_id=new_id(), created=int(time.time()))
    ex.record(200, completion.usage, completion.model)
    headers.append((b"content-type", b"application/json"))
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def respond_stream(ex: Exchange, scope: Scope, receive: Receive, send: Send) -> None:
    stream = ex.provider.stream(ex.call.request)
    # Watched from the start: a client that leaves while its call waits for a busy local
    # model must not get a turn on it.
    watcher = _watch_disconnect(scope, receive)
    try:
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            raise StreamInterruptedError("the upstream stream ended before any output",
                                         provider="route", model=ex.call.model) from None
        except asyncio.CancelledError as exc:
            if not _client_left(exc):
                raise
            ex.record(499, None)
            return
        headers = _SSE_HEADERS + ex.route_headers(first.deployment, first.substituted_for)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        encoder = ChunkEncoder(new_id(), _answered_by(ex, first), int(time.time()),
                               ex.call.include_usage)
        await _relay(ex, send, stream, first, encoder, watcher)
    finally:
        watcher.cancel()
        with contextlib.suppress(Exception):
            await stream.aclose()  # type: ignore[attr-defined]


def _watch_disconnect(scope: Scope, receive: Receive) -> Cancellable:
    """Cancel the current task if the client disconnects mid-call (stops the upstream too).

    Served by ``drux gateway``, the server calls back when the client leaves; elsewhere
    (mounted in ``drux serve``, another server) a task waits on ``receive()`` for it."""
    handler = asyncio.current_task()
    extensions = scope.get("extensions")
    on_disconnect = extensions.get(ON_DISCONNECT) if extensions else None
    if on_disconnect is not None and handler is not None:
        return on_disconnect(partial(handler.cancel, _CLIENT_GONE))  # type: ignore[no-any-return]

    async def watch() -> None:
        message = await receive()
        if message["type"] == "http.disconnect" and handler is not None:
            handler.cancel(_CLIENT_GONE)

    return asyncio.create_task(watch())


def _client_left(exc: asyncio.CancelledError) -> bool:
    """Was this cancellation the disconnect watcher's? If so, it is handled: take it back."""
    if _CLIENT_GONE not in exc.args:
        return False
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
    return True


def _answered_by(ex: Exchange, chunk: Chunk) -> str:
    if chunk.answered_by:
        return chunk.answered_by
    deployment = chunk.deployment
    # Routing names deployments "vendor:model-id".
    return deployment.split(":", 1)[1] if ":" in deployment else ex.call.model


class _Outbox:
    """Frames made by the pump task, written by the handler in as few writes as it can:
    chunks that arrive together from the upstream leave together."""

    __slots__ = ("_ready", "done", "error", "frames", "usage")

    def __init__(self, usage: Usage | None) -> None:
        self.frames: list[bytes] = []
        self.usage = usage
        self.error: DruxError | None = None
        self.done = False
        self._ready = asyncio.Event()

    def put(self, data: bytes) -> None:
        self.frames.append(data)
        self._ready.set()

    def finish(self) -> None:
        self.done = True
        self._ready.set()

    async def take(self) -> bytes:
        await self._ready.wait()
        self._ready.clear()
        data = b"".join(self.frames)
        self.frames.clear()
        return data


async def _pump(ex: Exchange, stream: Any, encoder: ChunkEncoder, box: _Outbox) -> None:
    try:
        async for chunk in stream:
            if chunk.restart:
                raise StreamInterruptedError(
                    f"{ex.call.model}: the upstream stream broke after partial output; "
                    f"{chunk.deployment} would restart the answer, which this protocol cannot "
                    "express", provider="route", model=ex.call.model)
            box.usage = chunk.usage or box.usage
            frames = encoder.chunk(chunk)
            if frames:
                box.put(frames)
    except DruxError as err:
        box.error = err
    finally:
        box.finish()


async def _relay(ex: Exchange, send: Send, stream: Any, first: Chunk, encoder: ChunkEncoder,
                 watcher: Cancellable) -> None:
    """Everything after the response head; errors end the stream with an error event."""
    box = _Outbox(first.usage)
    pump = asyncio.create_task(_pump(ex, stream, encoder, box))
    try:
        await send({"type": "http.response.body", "body": encoder.role() + encoder.chunk(first),
                    "more_body": True})
        while True:
            data = await box.take()
            if box.done:
                break
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await pump  # re-raises anything that is not a DruxError
    except asyncio.CancelledError as exc:
        if not _client_left(exc):
            raise
        ex.record(499, box.usage, encoder.model)
        return
    finally:
        if not pump.done():
            pump.cancel()
            with contextlib.suppress(BaseException):
                await pump
    status = 200
    if box.error is not None:
        mapped = from_drux(box.error, ex.redact)
        status = mapped.status
        data += encoder.error(mapped)
    elif ex.call.include_usage:
        data += encoder.usage(box.usage or Usage())
    watcher.cancel()
    ex.record(status, box.usage, encoder.model)
    await send({"type": "http.response.body", "body": data + encoder.done(), "more_body": False})

