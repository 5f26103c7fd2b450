"""A minimal HTTP/1.1 client for the gateway's upstream calls: keep-alive pool,
``httptools`` response parser, asyncio protocols (uvloop when the server runs on it).

Why not httpx: on this path httpx (and the SDKs on top of it) cost about a
millisecond of CPU per call, several times the rest of the gateway together. This
client does one thing: POST a JSON body, read a JSON or streamed answer. Anything
unusual (an unparsable response, a connection lost mid-answer) is an
``UpstreamTransportError`` for the adapter to map into the drux error tree.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httptools


class UpstreamTransportError(Exception):
    """Could not connect, or the connection failed or misbehaved before the answer ended."""

    def __init__(self, message: str, *, connected: bool = False) -> None:
        super().__init__(message)
        self.connected = connected  # False: nothing was sent, trying elsewhere is safe


class _Conn(asyncio.Protocol):
    """One keep-alive connection; one exchange at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.reusable = False
        self.status = 0
        self.headers: dict[str, str] = {}
        self.got_bytes = False
        self._head: asyncio.Future[None] | None = None
        self._parts: deque[bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._complete = False
        self._error: BaseException | None = None

    # -- asyncio callbacks ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self._complete:
            self._fail(UpstreamTransportError(
                f"connection closed by the upstream{f': {exc}' if exc else ''}",
                connected=self.got_bytes))

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamTransportError(f"unparsable HTTP response: {exc}", connected=True))
            self.close()

    # -- httptools callbacks --------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.reusable = self.parser.should_keep_alive()
        if self._head is not None and not self._head.done():
            self._head.set_result(None)

    def on_body(self, body: bytes) -> None:
        self._parts.append(body)
        self._wake()

    def on_message_complete(self) -> None:
        self._complete = True
        self._wake()

    # -- exchange ---------------------------------------------------------------------------
    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        self._error = exc
        if self._head is not None and not self._head.done():
            self._head.set_exception(exc)
        self._wake()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def send(self, raw: bytes) -> None:
        """Write a request and wait for the response's status line and headers."""
        loop = asyncio.get_running_loop()
        self.status, self.headers, self.got_bytes = 0, {}, False
        self._parts.clear()
        self._complete, self._error = False, None
        self._head = loop.create_future()
        assert self.transport is not None
        self.transport.write(raw)
        await self._head

    async def parts(self) -> AsyncIterator[bytes]:
        """Body pieces as they arrive, until the message is complete."""
        while True:
            while self._parts:
                yield self._parts.popleft()
            if self._complete:
                return
            if self._error is not None:
                raise self._error
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def read(self) -> bytes:
        return b"".join([part async for part in self.parts()])

    @property
    def finished(self) -> bool:
        return self._complete


class Pool:
    """Keep-alive connections to one origin (scheme, host, port)."""

    def __init__(self, base_url: str, *, max_idle: int = 512) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base_path = parts.path.rstrip("/")
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        default_port = (parts.scheme == "https" and self.port == 443) or self.port == 80
        self.host_header = self.host if default_port else f"{self.host}:{self.port}"
        self._idle: list[_Conn] = []
        self._max_idle = max_idle

    async def _connect(self) -> _Conn:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(
                _Conn, self.host, self.port, ssl=self._ssl,
                server_hostname=self.host if self._ssl else None)
        except OSError as exc:
            raise UpstreamTransportError(f"cannot connect to {self.host_header}: "
                                         f"{exc.strerror or exc}") from None
        return conn

    async def exchange(self, raw: bytes) -> _Conn:
        """Send one request; returns the connection with the response head read.

        A pooled connection that turns out to be closed before answering anything
        is replaced once by a fresh one (the upstream closed it while idle).
        """
        conn = self._take_idle()
        if conn is not None:
            try:
                await conn.send(raw)
                return conn
            except UpstreamTransportError as exc:
                conn.close()
                if exc.connected:
                    raise
            except BaseException:
                conn.close()
                raise
        conn = await self._connect()
        try:
            await conn.send(raw)
        except BaseException:
            conn.close()
            raise
        return conn

    def _take_idle(self) -> _Conn | None:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
        return None

    def release(self, conn: _Conn) -> None:
        """Return a connection whose response was read to the end; close any other."""
        if conn.finished and conn.reusable and not conn.closed and len(self._idle) < self._max_idle:
            self._idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
