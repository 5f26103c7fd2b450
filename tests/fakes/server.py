"""A small HTTP/1.1 server on 127.0.0.1, in a background thread, that speaks
all three vendor wires. Written on asyncio streams (not a framework) so it can
misbehave on purpose: stall, drop the socket mid-body, reset, send bad bytes.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from .anthropic_wire import AnthropicWire
from .behaviours import Behaviour, Disconnect, Fail, Raw, Reply
from .gemini_wire import GeminiWire
from .openai_wire import OpenAIWire
from .wire import Request, Wire, as_text

_STALL_SECONDS = 3600.0  # "forever" for a test; cancelled when the server stops


class FakeServer:
    """Scriptable fake of the OpenAI, Anthropic and Gemini HTTP APIs."""

    def __init__(self, *, api_key: str | None = None) -> None:
        self.api_key = api_key  # when set, a request with another key gets the vendor's 401
        self.default: Behaviour = Reply()
        self.requests: list[Request] = []
        self.port = 0
        self._wires: tuple[Wire, ...] = (OpenAIWire(), AnthropicWire(), GeminiWire())
        self._scripts: dict[str, list[Behaviour]] = {}
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- scripting ---------------------------------------------------------

    def script(self, model: str, *behaviours: Behaviour) -> FakeServer:
        """Answer requests for ``model`` with these, in order; the last one repeats."""
        if not behaviours:
            raise ValueError("script() needs at least one behaviour")
        with self._lock:
            self._scripts[model] = list(behaviours)
        return self

    def enqueue(self, *behaviours: Behaviour) -> FakeServer:
        """Answer the next requests (any model) with these, once each, before scripts."""
        with self._lock:
            self._queue.extend(behaviours)
        return self

    def requests_for(self, model: str | None = None, protocol: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests
                    if (model is None or r.model == model)
                    and (protocol is None or r.protocol == protocol)]

    def _next(self, model: str) -> Behaviour:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            script = self._scripts.get(model)
            if script:
                return script.pop(0) if len(script) > 1 else script[0]
            return self.default

    # -- addresses ---------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_url(self) -> str:
        return self.url

    @property
    def gemini_url(self) -> str:
        return self.url

    def base_url(self, protocol: str) -> str:
        """The base URL to give the SDK of ``protocol`` ("openai", "anthropic", "gemini")."""
        return {"openai": self.openai_url, "anthropic": self.anthropic_url,
                "gemini": self.gemini_url}[protocol]

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> FakeServer:
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="drux-fake-llm", daemon=True)
        self._thread.start()
        if not ready.wait(5):
            raise RuntimeError("fake server did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(5)
        loop.close()
        self._loop = self._thread = None

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP --------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                req = await _read_request(reader)
                if req is None or not await self._serve(req, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # server stopping; ending quietly keeps asyncio from logging the cancel
        finally:
            self._tasks.discard(task)
            if not writer.is_closing():
                writer.close()

    async def _serve(self, req: Request, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection must not be reused."""
        wire = next((w for w in self._wires if w.match(req.method, req.path)), None)
        if wire is None:
            await _send(writer, 404, json.dumps({"error": {"message": f"no fake for {req.path}"}}))
            return True
        req.protocol, req.model, req.stream = wire.name, wire.model(req), wire.streaming(req)
        with self._lock:
            self.requests.append(req)
        if self.api_key is not None and wire.api_key(req) != self.api_key:
            return await self._fail(wire, Fail("auth"), req, writer)
        behaviour = self._next(req.model)
        if isinstance(behaviour, Disconnect):
            await asyncio.sleep(behaviour.delay)
            if behaviour.reset:
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()
            return False
        if isinstance(behaviour, Raw):
            await asyncio.sleep(behaviour.delay)
            await _send(writer, behaviour.status, behaviour.body, behaviour.content_type,
                        behaviour.headers, stall_after=behaviour.stall_after)
            return True
        if isinstance(behaviour, Fail):
            return await self._fail(wire, behaviour, req, writer)
        await asyncio.sleep(behaviour.delay)
        if req.stream:
            return await self._stream(wire, behaviour, req, writer)
        text = json.dumps(wire.body(behaviour, req))
        if behaviour.malformed_after is not None:
            text = text[: len(text) // 2]
        await _send(writer, 200, text, headers=behaviour.headers)
        return True

    async def _fail(self, wire: Wire, fail: Fail, req: Request, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(fail.delay)
        status, body = wire.error(fail, req)
        headers = dict(fail.headers)
        if fail.retry_after is not None and wire.retry_after_header:
            headers.setdefault("retry-after", str(fail.retry_after))
        await _send(writer, status, as_text(body), headers=headers)
        return True

    async def _stream(self, wire: Wire, reply: Reply, req: Request, writer: asyncio.StreamWriter) -> bool:
        opening, pieces, closing = wire.frames(reply, req)
        headers = {"content-type": "text/event-stream", "cache-control": "no-cache",
                   "transfer-encoding": "chunked", **reply.headers}
        writer.write(_head(200, headers))
        await _chunks(writer, opening)
        for i in range(len(pieces) + 1):
            if reply.stall_after == i:
                await asyncio.sleep(_STALL_SECONDS)
            if reply.drop_after == i:
                writer.close()  # FIN with the chunked body unfinished
                return False
            if reply.end_after == i:
                await _chunks(writer, [b""])
                return True
            if reply.malformed_after == i:
                await _chunks(writer, [wire.malformed_frame()])
            if reply.fail_after == i and reply.fail is not None:
                await _chunks(writer, [wire.error_frame(reply.fail, req)])
                await _chunks(writer, [b""])
                return True
            if i < len(pieces):
                await _chunks(writer, [pieces[i]])
                if reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)
        await _chunks(writer, [*closing, b""])
        return True


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    path, _, query = target.partition("?")
    return Request(method, path, query, headers, body, json=Request.parse_body(body))


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _head(status: int, headers: dict[str, str]) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Overloaded" if status == 529 else "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _send(writer: asyncio.StreamWriter, status: int, body: str | bytes,
                content_type: str = "application/json",
                headers: dict[str, str] | None = None, stall_after: int | None = None) -> None:
    data = body.encode() if isinstance(body, str) else body
    all_headers = {"content-type": content_type, "content-length": str(len(data)),
                   **(headers or {})}
    writer.write(_head(status, all_headers) + data[:stall_after])
    await writer.drain()
    if stall_after is not None:
        await asyncio.sleep(_STALL_SECONDS)


async def _chunks(writer: asyncio.StreamWriter, frames: Iterable[bytes]) -> None:
    for frame in frames:
        writer.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
    await writer.drain()


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
