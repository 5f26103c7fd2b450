"""The gateway's uvicorn protocol (gateway/serving.py): the same bytes on the wire as
uvicorn's httptools protocol, in fewer writes, and streams still streamed.

Each exchange runs through two real uvicorn servers, one with ``HttpToolsProtocol`` and
one with ``OneWriteProtocol``, over raw sockets; what the client reads (less the Date
header) must be the same, byte for byte, including where the server closes."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from gateway_kit import serve
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from drux.gateway.serving import ONE_WRITE_HTTP, OneWriteProtocol

from waiting import PATIENCE_S, wait_until

JSON = b'{"answer":"hello"}'


class Gates:
    """Lets a test hold the app at a point of its answer and release it from the test thread."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.event: asyncio.Event | None = None

    async def wait(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()
        await self.event.wait()

    def open(self) -> None:
        wait_until(lambda: self.event is not None, "the app never reached its gate")
        assert self.loop is not None and self.event is not None
        self.loop.call_soon_threadsafe(self.event.set)


def json_head(status: int = 200, body: bytes = JSON) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status,
            "headers": [(b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())]}


def make_app(gates: Gates) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope["path"]
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if path == "/json":
            await send(json_head())
            await send({"type": "http.response.body", "body": JSON})
        elif path == "/echo":  # the request body, read after a 100 Continue if one was asked
            await send(json_head(200, body))
            await send({"type": "http.response.body", "body": body})
        elif path == "/parts":  # a length-framed body in two parts
            await send(json_head())
            await send({"type": "http.response.body", "body": JSON[:5], "more_body": True})
            await send({"type": "http.response.body", "body": JSON[5:]})
        elif path == "/stream":  # no length: chunked; the second chunk waits for the test
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream")]})
            await send({"type": "http.response.body", "body": b"data: a\n\n", "more_body": True})
            if b"gate" in scope["query_string"]:
                await gates.wait()
            await send({"type": "http.response.body", "body": b"data: b\n\n", "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        elif path == "/big":  # far more than the socket buffers: writing pauses for the reader
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream")]})
            for i in range(32):
                await send({"type": "http.response.body", "body": bytes([65 + i % 26]) * 262_144,
                            "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        elif path == "/slow-first":  # the head, then a wait before any body
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream")]})
            await gates.wait()
            await send({"type": "http.response.body", "body": b"data: late\n\n"})
        elif path == "/empty":
            status = int(scope["query_string"] or b"204")
            await send({"type": "http.response.start", "status": status, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        elif path == "/close":  # the app asks to close the connection
            head = json_head()
            head["headers"].append((b"connection", b"close"))
            await send(head)
            await send({"type": "http.response.body", "body": JSON})
        elif path == "/fail-before":
            raise RuntimeError("failed before answering")
        elif path == "/fail-after":
            await send(json_head())
            raise RuntimeError("failed after the head")
        elif path == "/no-end":  # returns with its body unfinished
            await send(json_head())
            await send({"type": "http.response.body", "body": JSON[:3], "more_body": True})
        elif path == "/bad-header":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"x-bad", b"line\nbreak")]})
        else:
            await send(json_head(404))
            await send({"type": "http.response.body", "body": JSON})

    return app


class CountingTransport:
    """A transport that counts the writes made on it (everything else goes through)."""

    def __init__(self, transport: asyncio.Transport, writes: list[bytes]) -> None:
        self._transport = transport
        self.writes = writes

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


WRITES: dict[str, list[bytes]] = {"plain": [], "one": []}


class CountedPlain(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CountingTransport(transport, WRITES["plain"]))  # type: ignore[arg-type]


class CountedOne(OneWriteProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CountingTransport(transport, WRITES["one"]))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[dict[str, int], Gates]]:
    gates = Gates()
    app = make_app(gates)
    with serve(app, http=CountedPlain) as plain, serve(app, http=CountedOne) as one:
        yield {"plain": _port(plain), "one": _port(one)}, gates


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_to_end(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _read_until(sock: socket.socket, marker: bytes, data: bytes = b"") -> bytes:
    while marker not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before {marker!r}; got {data!r}"
        data += chunk
    return data


def _without_date(raw: bytes) -> bytes:
    return re.sub(rb"date: [^\r]*\r\n", b"", raw)


def request(method: str, path: str, *, body: bytes = b"", close: bool = False,
            headers: tuple[bytes, ...] = ()) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"host: 127.0.0.1",
             b"content-length: " + str(len(body)).encode(), *headers]
    if close:
        lines.append(b"connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def exchange(port: int, raw: bytes) -> bytes:
    with _connect(port) as sock:
        sock.sendall(raw)
        return _without_date(_read_to_end(sock))


# Each is sent on one connection; the server closes it at the end (the last request asks
# to close, or the answer closes it), so the whole exchange is read to the end.
EXCHANGES = {
    "json": request("POST", "/json", body=b"{}", close=True),
    "keep-alive then close": request("POST", "/json", body=b"{}")
                             + request("GET", "/parts") + request("GET", "/json", close=True),
    "pipelined": request("GET", "/json") + request("GET", "/stream") + request(
        "GET", "/empty?204", close=True),
    "head": request("HEAD", "/json") + request("HEAD", "/stream", close=True),
    "chunked stream": request("GET", "/stream", close=True),
    "8 MiB stream (flow control)": request("GET", "/big", close=True),
    "204 and 304": request("GET", "/empty?204") + request("GET", "/empty?304", close=True),
    "app asks to close": request("GET", "/close") + request("GET", "/json"),
    "http/1.0": b"GET /json HTTP/1.0\r\nhost: 127.0.0.1\r\n\r\n",
    "fails before its head": request("GET", "/fail-before") + request("GET", "/json"),
    "fails after its head": request("GET", "/fail-after") + request("GET", "/json"),
    "returns unfinished": request("GET", "/no-end") + request("GET", "/json"),
    "invalid header": request("GET", "/bad-header") + request("GET", "/json"),
    "not found": request("GET", "/nowhere", close=True),
    "unparsable request": b"NOT HTTP AT ALL\r\n\r\n",
}


@pytest.mark.parametrize("name", list(EXCHANGES))
def test_the_client_reads_the_same_bytes_as_from_uvicorns_protocol(
        servers: tuple[dict[str, int], Gates], name: str) -> None:
    ports, _ = servers
    plain = exchange(ports["plain"], EXCHANGES[name])
    # Every exchange gets an answer (or at least its head) before the close, but one: uvicorn
    # refuses the invalid header before writing anything, and closes.
    assert bool(plain) is (name != "invalid header")
    assert exchange(ports["one"], EXCHANGES[name]) == plain


def test_a_json_answer_leaves_in_one_write(servers: tuple[dict[str, int], Gates]) -> None:
    ports, _ = servers
    for kind in ("plain", "one"):
        WRITES[kind].clear()
        exchange(ports[kind], request("POST", "/json", body=b"{}", close=True))
    assert len(WRITES["plain"]) == 2  # uvicorn's own: the head, then the body
    [write] = WRITES["one"]
    assert write.startswith(b"HTTP/1.1 200 OK\r\n") and write.endswith(b"\r\n\r\n" + JSON)


def test_100_continue_is_not_held_back(servers: tuple[dict[str, int], Gates]) -> None:
    ports, _ = servers
    with _connect(ports["one"]) as sock:
        sock.sendall(request("POST", "/echo", body=b"", close=True, headers=(
            b"expect: 100-continue",)).replace(b"content-length: 0", b"content-length: 5"))
        assert _read_until(sock, b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        answer = _read_to_end(sock)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"\r\n\r\nhello")


def test_each_stream_chunk_goes_out_when_sent(servers: tuple[dict[str, int], Gates]) -> None:
    ports, gates = servers
    gates.event = None
    with _connect(ports["one"]) as sock:
        sock.sendall(request("GET", "/stream?gate", close=True))
        # The first chunk arrives while the app waits before its second.
        first = _read_until(sock, b"data: a\n\n")
        assert b"data: b" not in first
        gates.open()
        rest = _read_to_end(sock)
    assert rest.endswith(b"data: b\n\n\r\n0\r\n\r\n")


def test_a_head_sent_before_a_slow_first_chunk_still_goes_out(
        servers: tuple[dict[str, int], Gates]) -> None:
    ports, gates = servers
    gates.event = None
    with _connect(ports["one"]) as sock:
        sock.sendall(request("GET", "/slow-first", close=True))
        head = _read_until(sock, b"\r\n\r\n")  # while the app waits for the gate
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"data: late" not in head
        gates.open()
        rest = _read_to_end(sock)
    assert b"data: late\n\n" in rest


def test_the_name_drux_gateway_passes_to_uvicorn_is_this_protocol() -> None:
    # What each worker process imports (``drux gateway --workers N`` passes the name).
    import uvicorn

    config = uvicorn.Config(make_app(Gates()), http=ONE_WRITE_HTTP)
    config.load()
    assert config.http_protocol_class is OneWriteProtocol
