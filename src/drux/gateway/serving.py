"""uvicorn's httptools protocol with the response head sent together with the first body part.

uvicorn writes a response's head (status line and headers) and its body in two
``transport.write`` calls: two ``send`` system calls, two TCP segments, and on a
client reading as data arrives two wake-ups per answer. For the gateway's answers,
which send ``http.response.start`` and at once their first ``http.response.body``,
that second write is pure overhead on every call at concurrency 1.

``OneWriteProtocol`` keeps uvicorn's protocol as it is and changes one thing: the
head a cycle writes is held back (never longer than one turn of the event loop)
and leaves in the same write as the first body part. Everything else is uvicorn's
own code: parsing, keep-alive, pipelining, flow control, HEAD, 204/304, 100-continue,
``Connection: close``, disconnects and errors. Bodies are never held: each body
message is written when it is sent, as before, so streams stay streamed.

It also offers the gateway the ``ON_DISCONNECT`` scope extension (gateway/asgi.py): a
callback when the client leaves mid-call, where the gateway otherwise keeps a task
waiting on ``receive()`` for every call. It fires where uvicorn would wake that task:
when the connection is lost while the cycle's response is unfinished.

    uvicorn.run(app, http=ONE_WRITE_HTTP, ...)   # ``drux gateway`` does this
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from drux.gateway.asgi import ON_DISCONNECT, Cancellable

ONE_WRITE_HTTP = "drux.gateway.serving:OneWriteProtocol"  # for uvicorn's ``http=``; workers import it


class _HeadHolder:
    """The transport as one response cycle sees it (it only writes, closes and asks
    whether the connection is closing). While ``holding``, a write is kept; the next
    write, a close or ``release`` sends what was kept first."""

    __slots__ = ("_held", "_transport", "holding", "on_disconnect")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None
        self.holding = False
        self.on_disconnect: _Hook | None = None  # the cycle's, see OneWriteProtocol

    def write(self, data: bytes) -> None:
        if self.holding:
            self._held = data if self._held is None else self._held + data
            return
        held = self._held
        if held is not None:
            self._held = None
            data = held + data
        if data:
            self._transport.write(data)

    def release(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():  # a client gone since: uvicorn writes nothing more
                self._transport.write(held)

    def close(self) -> None:
        self.release()  # an app that fails after the head: the client still gets the head
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()


class _Hook:
    """One ``ON_DISCONNECT`` registration: called at most once, unless cancelled first."""

    __slots__ = ("callback",)

    def __init__(self, callback: Callable[[], object]) -> None:
        self.callback: Callable[[], object] | None = callback

    def cancel(self) -> None:
        self.callback = None

    def fire(self) -> None:
        callback, self.callback = self.callback, None
        if callback is not None:
            callback()


class OneWriteProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` whose cycles write the response head with the first body part."""

    def on_headers_complete(self) -> None:
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        # A new cycle (not an upgrade); its task has not run yet, queued or pipelined.
        if cycle is not before and cycle is not None:
            _adapt_cycle(cycle, self.loop)

    def connection_lost(self, exc: Exception | None) -> None:
        cycle = self.cycle
        super().connection_lost(exc)
        # uvicorn marks only the latest cycle, and only if its response was unfinished; its
        # receive() then says http.disconnect. The same cycle's callback fires here.
        if cycle is not None and cycle.disconnected:
            holder = cycle.transport
            if isinstance(holder, _HeadHolder) and holder.on_disconnect is not None:
                holder.on_disconnect.fire()


def _adapt_cycle(cycle: RequestResponseCycle, loop: asyncio.AbstractEventLoop) -> None:
    """Give the cycle its head-holding transport and send, and the disconnect extension."""
    holder = _HeadHolder(cycle.transport)
    cycle.transport = holder  # type: ignore[assignment]
    send = cycle.send

    def on_disconnect(callback: Callable[[], object]) -> Cancellable:
        if cycle.disconnected or cycle.response_complete:
            return loop.call_soon(callback)  # receive() would say http.disconnect at once
        # As receive() does: a socket whose reading was paused (a large request body) would
        # never notice the client leaving.
        cycle.flow.resume_reading()
        hook = holder.on_disconnect = _Hook(callback)  # one at a time: the gateway's call
        return hook

    scope: dict[str, Any] = cycle.scope  # type: ignore[assignment]
    scope.setdefault("extensions", {})[ON_DISCONNECT] = on_disconnect

    async def send_one_write(message: Any) -> None:
        if message["type"] != "http.response.start" or cycle.response_started:
            try:
                await send(message)
            finally:
                holder.release()  # e.g. HEAD or a refused body: nothing else would send the head
            return
        holder.holding = True
        try:
            await send(message)
        finally:
            holder.holding = False
        # An app that sends its head and then waits before the body (a stream whose first
        # chunk is slow) still gets its head out on the next turn of the loop.
        loop.call_soon(holder.release)

    cycle.send = send_one_write  # type: ignore[method-assign]
