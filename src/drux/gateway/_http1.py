"""A minimal HTTP/1.1 client for the gateway's upstream calls: keep-alive pool,
``httptools`` response parser, asyncio protocols (uvloop when the server runs on it).

Why not httpx: on this path httpx (and the SDKs on top of it) cost about a
millisecond of CPU per call, several times the rest of the gateway together. This
client does one thing: send a request it is given as bytes, read a JSON or
streamed answer. What it still owes any HTTP client:

- bodies framed by Content-Length, by chunks, or by the end of the connection;
- every value of a header sent more than once (``Headers``);
- bounded memory: a response head over ``MAX_HEAD`` or a body over ``max_body``
  bytes is ``ResponseTooLarge``, and reading from the socket pauses while more
  than ``_HIGH_WATER`` bytes wait to be consumed;
- at most ``max_connections`` connections per pool (one origin; ``Pools`` gives the
  adapters of one gateway one pool per host); further requests wait for one to come back;
- the proxy of the environment, as the SDK path honours it (``_proxy``): absolute-form
  requests through the proxy for ``http://`` upstreams, a CONNECT tunnel for ``https://``.

Anything unusual (an unparsable response, a connection lost mid-answer) is an
``UpstreamTransportError`` for the adapter to map into the drux error tree.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httptools

from drux.gateway._proxy import Proxy, ProxyError, proxy_for

__all__ = ["Headers", "Pool", "Pools", "ProxyError", "Response", "ResponseTooLarge",
           "UpstreamTransportError"]

MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024
MAX_CONNECTIONS = 1000  # what the openai SDK allows its httpx client
_HIGH_WATER = 1024 * 1024


class UpstreamTransportError(Exception):
    """Could not connect, or the connection failed or misbehaved before the answer ended."""

    def __init__(self, message: str, *, connected: bool = False) -> None:
        super().__init__(message)
        self.connected = connected  # False: nothing was sent, trying elsewhere is safe


class ResponseTooLarge(UpstreamTransportError):
    """The response head or body passed its cap: no answer worth that much memory."""


class Headers(Mapping[str, str]):
    """Response headers, names in lower case, every value kept in arrival order.

    A name sent more than once reads as its values joined by ", " (as the SDK path's
    httpx reads it); ``get_list`` gives the values apart (two Set-Cookie, say)."""

    __slots__ = ("_joined", "raw")

    def __init__(self) -> None:
        self.raw: list[tuple[str, str]] = []
        self._joined: dict[str, str] | None = None

    def _index(self) -> dict[str, str]:
        if self._joined is None:  # built on first lookup: most answers are never asked
            joined: dict[str, str] = {}
            for name, value in self.raw:
                joined[name] = f"{joined[name]}, {value}" if name in joined else value
            self._joined = joined
        return self._joined

    def __getitem__(self, name: str) -> str:
        return self._index()[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index())

    def __len__(self) -> int:
        return len(self._index())

    def get_list(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.raw if key == name]


class _Conn(asyncio.Protocol):
    """One keep-alive connection; one exchange at a time."""

    def __init__(self, max_body: int) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.reusable = False
        self.status = 0
        self.headers = Headers()
        self.got_bytes = False
        self._max_body = max_body
        self._head_done = False
        self._head_bytes = 0
        self._body_bytes = 0
        self._unread = 0
        self._paused = False
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
        if self._complete or self._error is not None:
            return  # ended, or already failed (a close we made after an error, say)
        if exc is None and self._head_done and self._ends_at_close():
            self._complete = True  # the body was framed by the end of the connection
            self._wake()
            return
        self._fail(UpstreamTransportError(
            f"connection closed by the upstream{f': {exc}' if exc else ''}",
            connected=self.got_bytes))

    def _ends_at_close(self) -> bool:
        # Neither a length nor chunks (httptools cannot be told of the end of input:
        # the framing is checked here instead).
        return ("content-length" not in self.headers
                and "chunked" not in self.headers.get("transfer-encoding", "").lower())

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._abort(UpstreamTransportError(f"unparsable HTTP response: {exc}", connected=True))
            return
        if not self._head_done:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self._abort(ResponseTooLarge(f"response head larger than {MAX_HEAD} bytes",
                                             connected=True))

    # -- httptools callbacks --------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.raw.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.reusable = self.parser.should_keep_alive()
        self._head_done = True
        if self._head is not None and not self._head.done():
            self._head.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self._error is not None:
            return
        self._body_bytes += len(body)
        if self._body_bytes > self._max_body:
            self._abort(ResponseTooLarge(f"response body larger than {self._max_body} bytes",
                                         connected=True))
            return
        self._parts.append(body)
        self._unread += len(body)
        if self._unread > _HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True  # the reader is behind: let TCP hold the rest
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._error is None:
            self._complete = True
        self._wake()

    # -- exchange ---------------------------------------------------------------------------
    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self._error is not None:
            return  # the first failure is the story; the close it causes is not news
        self._error = exc
        if self._head is not None and not self._head.done():
            self._head.set_exception(exc)
        self._wake()

    def _abort(self, exc: BaseException) -> None:
        self._fail(exc)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def send(self, raw: bytes) -> None:
        """Write a request and wait for the response's status line and headers."""
        loop = asyncio.get_running_loop()
        self.status, self.headers, self.got_bytes = 0, Headers(), False
        self._parts.clear()
        self._complete, self._error = False, None
        self._head_done, self._head_bytes, self._body_bytes, self._unread = False, 0, 0, 0
        self._head = loop.create_future()
        assert self.transport is not None
        if self._paused:
            self._paused = False
            self.transport.resume_reading()
        self.transport.write(raw)
        await self._head

    async def parts(self) -> AsyncIterator[bytes]:
        """Body pieces as they arrive, until the message is complete."""
        while True:
            while self._parts:
                part = self._parts.popleft()
                self._unread -= len(part)
                if self._paused and self._unread <= _HIGH_WATER // 2 and self.transport is not None:
                    self._paused = False
                    self.transport.resume_reading()
                yield part
            if self._error is not None:
                raise self._error
            if self._complete:
                return
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    @property
    def finished(self) -> bool:
        return self._complete


class _TunnelOpener(asyncio.Protocol):
    """Reads the proxy's answer to CONNECT: its status line and headers, nothing more."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.answer: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.answer.done():
            return
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end == -1:
            if len(self._buffer) > MAX_HEAD:
                self._settle(ResponseTooLarge("the proxy's answer to CONNECT is too large"))
            return
        if end + 4 != len(self._buffer):  # the server may not speak before TLS starts
            self._settle(UpstreamTransportError("the proxy sent data after its CONNECT answer"))
            return
        version, _, rest = self._buffer[:end].split(b"\r\n", 1)[0].partition(b" ")
        code, _, reason = rest.partition(b" ")
        if not version.startswith(b"HTTP/1.") or not code.isdigit():
            self._settle(UpstreamTransportError("the proxy's answer to CONNECT is not HTTP"))
            return
        self.answer.set_result((int(code), reason.decode("latin-1").strip()))

    def connection_lost(self, exc: Exception | None) -> None:
        self._settle(UpstreamTransportError("the proxy closed the connection before the tunnel "
                                            "was open"))

    def _settle(self, exc: BaseException) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


class Response:
    """A response whose head was read; its body is read through ``read`` or ``parts``.

    ``release`` must follow in every case: it returns the connection to the pool when
    the body was read to its end, and closes it otherwise."""

    __slots__ = ("_conn", "_pool", "headers", "status")

    def __init__(self, pool: Pool, conn: _Conn) -> None:
        self._pool: Pool | None = pool
        self._conn = conn
        self.status = conn.status
        self.headers = conn.headers

    def parts(self) -> AsyncIterator[bytes]:
        return self._conn.parts()

    async def read(self) -> bytes:
        return b"".join([part async for part in self._conn.parts()])

    def release(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.put_back(self._conn)


class Pool:
    """Keep-alive connections to one origin (scheme, host, port), at most ``max_connections``.

    ``ssl_context`` replaces the default verification (tests bring their own CA). The
    proxy is read from the environment when the pool is made: ``ProxyError`` if it
    names one this client cannot use."""

    def __init__(self, base_url: str, *, max_connections: int = MAX_CONNECTIONS,
                 max_idle: int = 512, max_body: int = MAX_BODY,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        tls = parts.scheme == "https"
        self._ssl = (ssl_context or ssl.create_default_context()) if tls else None
        name = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = name if self.port == (443 if tls else 80) else f"{name}:{self.port}"
        self._authority = f"{name}:{self.port}"  # CONNECT's target always names the port
        self.proxy: Proxy | None = proxy_for(parts.scheme, self.host, self.port)
        self._idle: list[_Conn] = []
        self._max_idle = max_idle
        self._max_connections = max_connections
        self._max_body = max_body
        self._open = 0  # connections open or being opened, idle ones included
        self._closed = False
        self._waiters: deque[asyncio.Future[_Conn | None]] = deque()

    def head(self, method: str, path: str) -> bytes:
        """The request line and Host header (and Proxy-Authorization when the request goes
        through a proxy in absolute form); the caller adds its headers and body."""
        if self.proxy is None or self._ssl is not None:
            return f"{method} {path} HTTP/1.1\r\nHost: {self.host_header}\r\n".encode("latin-1")
        text = f"{method} http://{self.host_header}{path} HTTP/1.1\r\nHost: {self.host_header}\r\n"
        if self.proxy.authorization:
            text += f"Proxy-Authorization: {self.proxy.authorization}\r\n"
        return text.encode("latin-1")

    async def request(self, raw: bytes) -> Response:
        """Send one request; returns the response with its head read.

        A pooled connection that turns out to be closed before answering anything
        is replaced once by a fresh one (the upstream closed it while idle)."""
        conn = self._take_idle()
        if conn is None and not self._reserve():
            conn = await self._wait()  # the cap is reached: a connection, or a slot, once freed
        if conn is not None:
            try:
                await conn.send(raw)
                return Response(self, conn)
            except UpstreamTransportError as exc:
                conn.close()
                if exc.connected:
                    self._free_slot()
                    raise
            except BaseException:
                conn.close()
                self._free_slot()
                raise
        conn = None
        try:
            conn = await self._connect()
            await conn.send(raw)
        except BaseException:
            if conn is not None:
                conn.close()
            self._free_slot()
            raise
        return Response(self, conn)

    def _take_idle(self) -> _Conn | None:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
            self._open -= 1
        return None

    def _reserve(self) -> bool:
        """Count a connection about to be opened, if the cap allows one more."""
        if self._open < self._max_connections:
            self._open += 1
            return True
        return False

    async def _wait(self) -> _Conn | None:
        """A connection handed over by ``put_back``, or None: a slot to open a new one."""
        waiter: asyncio.Future[_Conn | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                handed = waiter.result()  # given just as the caller gave up: pass it on
                if handed is None:
                    self._free_slot()
                else:
                    self._give(handed)
            else:
                self._waiters.remove(waiter)
            raise

    def put_back(self, conn: _Conn) -> None:
        """Take back a connection: kept if its response was read to the end, else closed."""
        if conn.finished and conn.reusable and not conn.closed and not self._closed:
            self._give(conn)
        else:
            conn.close()
            self._free_slot()

    def _give(self, conn: _Conn) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        if len(self._idle) < self._max_idle:
            self._idle.append(conn)
        else:
            conn.close()
            self._open -= 1

    def _free_slot(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the first waiter
                return
        self._open -= 1

    async def _connect(self) -> _Conn:
        loop = asyncio.get_running_loop()
        proxy = self.proxy
        where = self.host_header if proxy is None else f"the proxy {proxy.host}:{proxy.port}"
        try:
            if proxy is None:
                _, conn = await loop.create_connection(
                    partial(_Conn, self._max_body), self.host, self.port, ssl=self._ssl,
                    server_hostname=self.host if self._ssl else None)
                return conn
            if self._ssl is None:
                _, conn = await loop.create_connection(
                    partial(_Conn, self._max_body), proxy.host, proxy.port)
                return conn
            return await self._tunnel(loop, proxy)
        except OSError as exc:  # ssl.SSLError included
            raise UpstreamTransportError(f"cannot connect to {where}: "
                                         f"{exc.strerror or exc}") from None

    async def _tunnel(self, loop: asyncio.AbstractEventLoop, proxy: Proxy) -> _Conn:
        """A TLS connection to the upstream inside a CONNECT tunnel through ``proxy``."""
        transport, opener = await loop.create_connection(_TunnelOpener, proxy.host, proxy.port)
        try:
            target = self._authority
            auth = (f"Proxy-Authorization: {proxy.authorization}\r\n"
                    if proxy.authorization else "")
            transport.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{auth}\r\n"
                            .encode("latin-1"))
            status, reason = await opener.answer
            if not 200 <= status < 300:
                raise UpstreamTransportError(f"the proxy {proxy.host}:{proxy.port} refused the "
                                             f"tunnel to {target}: {status} {reason}".rstrip())
            conn = _Conn(self._max_body)
            assert self._ssl is not None
            tls = await loop.start_tls(transport, conn, self._ssl, server_hostname=self.host)
            if tls is None:
                raise UpstreamTransportError("the proxy closed the tunnel during TLS set-up")
            conn.connection_made(tls)
            return conn
        except BaseException:
            transport.close()
            raise

    def close(self) -> None:
        """Close the idle connections; those in use are closed when they come back."""
        self._closed = True
        for conn in self._idle:
            conn.close()
        self._open -= len(self._idle)
        self._idle.clear()


class Pools:
    """One ``Pool`` per origin for every adapter that shares this object (the gateway's
    routes), so the connection cap holds per host, not per model: a deployment used by
    several routes, or several models of one vendor, draw on the same connections."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._by_origin: dict[tuple[str, str, int | None], Pool] = {}

    def get(self, base_url: str) -> Pool:
        parts = urlsplit(base_url)
        origin = (parts.scheme, (parts.hostname or "").lower(), parts.port)
        pool = self._by_origin.get(origin)
        if pool is None:
            pool = self._by_origin[origin] = Pool(base_url, **self._options)
        return pool

    def close(self) -> None:
        for pool in self._by_origin.values():
            pool.close()
        self._by_origin.clear()
