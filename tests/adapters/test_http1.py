"""The gateway's lean HTTP/1.1 client (gateway/_http1.py) on its own, against tiny
servers on 127.0.0.1: body framings, repeated headers, caps, the connection pool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from http1_kit import Answer, Server, fetch, ok_json

from drux.catalog import ModelSpec, VendorSpec
from drux.errors import MalformedResponseError, RateLimitError
from drux.gateway._http1 import Pool, Pools, ResponseTooLarge, UpstreamTransportError
from drux.gateway.upstream import LeanOpenAIChat
from drux.providers.openai import OpenAIChat
from drux.types import ChatRequest, Message


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = await Server().start()
    yield srv
    await srv.stop()


async def test_a_body_framed_by_content_length(server: Server) -> None:
    server.add(ok_json(b'{"a": 1}'))
    pool = Pool(server.url)
    assert await fetch(pool) == (200, {"content-type": "application/json",
                                       "content-length": "8"}, b'{"a": 1}')
    assert server.requests[0].startswith(b"POST /v1/x HTTP/1.1\r\nHost: 127.0.0.1:")
    pool.close()


async def test_a_chunked_body(server: Server) -> None:
    server.add(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
    pool = Pool(server.url)
    assert (await fetch(pool))[2] == b"abcdefg"
    assert (await fetch(pool))[2] == b"abcdefg"
    assert server.connections == 1
    pool.close()


async def test_a_body_that_ends_when_the_connection_closes(server: Server) -> None:
    # Neither Content-Length nor chunks: the end of the connection ends the body.
    # It was an error ("connection closed by the upstream") and the answer was lost.
    server.add(Answer(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"a\": 2}",
                      close=True))
    pool = Pool(server.url)
    for _ in range(2):
        status, _, body = await fetch(pool)
        assert (status, body) == (200, b'{"a": 2}')
    assert server.connections == 2  # such a connection cannot be used again
    pool.close()


async def test_a_close_delimited_body_read_in_parts(server: Server) -> None:
    async def slowly(writer: Any) -> None:
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nfirst ")
        await writer.drain()
        writer.write(b"second")

    server.add(Answer(slowly, close=True))
    pool = Pool(server.url)
    response = await pool.request(pool.head("POST", "/v1/x") + b"Content-Length: 0\r\n\r\n")
    assert b"".join([p async for p in response.parts()]) == b"first second"
    response.release()
    pool.close()


async def test_a_chunked_body_cut_by_the_close_is_an_error(server: Server) -> None:
    server.add(Answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc", close=True))
    pool = Pool(server.url)
    with pytest.raises(UpstreamTransportError, match="connection closed"):
        await fetch(pool)
    pool.close()


async def test_repeated_headers_are_all_kept(server: Server) -> None:
    # The last value won: one of two Set-Cookie headers was lost.
    server.add(ok_json(b"{}", "Set-Cookie: a=1", "Retry-After: 3", "set-cookie: b=2",
                       "Retry-After: 4"))
    pool = Pool(server.url)
    _, headers, _ = await fetch(pool)
    assert headers.get_list("Set-Cookie") == ["a=1", "b=2"]
    assert headers["set-cookie"] == "a=1, b=2"  # joined, as httpx reads them
    assert headers["retry-after"] == "3, 4" and headers.get_list("retry-after") == ["3", "4"]
    assert headers.raw[-4:] == [("set-cookie", "a=1"), ("retry-after", "3"),
                                ("set-cookie", "b=2"), ("retry-after", "4")]
    pool.close()


def _openai_pair(url: str) -> tuple[OpenAIChat, LeanOpenAIChat]:
    vendor = VendorSpec("fake-openai", "openai", "fake", url)
    spec = ModelSpec(id="drux-openai", vendor=vendor.name, upstream="m", family="fake")
    return (OpenAIChat(spec, vendor, "sk-test-key-123456", 5.0),
            LeanOpenAIChat(spec, vendor, "sk-test-key-123456", 5.0))


@pytest.mark.parametrize("waits", [("7",), ("7", "9")], ids=["once", "twice"])
async def test_a_repeated_retry_after_reads_as_the_sdk_reads_it(server: Server,
                                                                waits: tuple[str, ...]) -> None:
    body = b'{"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}}'
    answer = ok_json(body, *(f"Retry-After: {w}" for w in waits)).replace(b"200 OK", b"429 Too")
    server.add(answer)
    seen = []
    for provider in _openai_pair(server.url):
        with pytest.raises(RateLimitError) as info:
            await provider.complete(ChatRequest(messages=[Message("user", "hi")]))
        seen.append(info.value.retry_after)
        await provider.aclose()
    assert seen[0] == seen[1] == (7.0 if len(waits) == 1 else None)


async def _endless(writer: Any) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
    while True:  # until the client hangs up
        writer.write(piece)
        await writer.drain()


async def _huge_length(writer: Any) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n")
    while True:
        writer.write(b"y" * 65536)
        await writer.drain()


async def _unframed(writer: Any) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\n\r\n")  # ends at the close, which never comes
    while True:
        writer.write(b"w" * 65536)
        await writer.drain()


async def _endless_head(writer: Any) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\n")
    while True:
        writer.write(b"X-Filler: " + b"z" * 1000 + b"\r\n")
        await writer.drain()


@pytest.mark.parametrize("answer", [_endless, _huge_length, _unframed],
                         ids=["endless", "huge-length", "unframed"])
async def test_a_body_over_the_cap_is_an_error(server: Server, answer: Any) -> None:
    server.add(Answer(answer))
    pool = Pool(server.url, max_body=300_000)
    with pytest.raises(ResponseTooLarge, match="larger than 300000 bytes"):
        await fetch(pool)
    assert pool._open == 0  # type: ignore[attr-defined]  # the connection was not kept
    pool.close()


async def test_a_head_over_the_cap_is_an_error(server: Server) -> None:
    server.add(Answer(_endless_head))
    pool = Pool(server.url)
    with pytest.raises(ResponseTooLarge, match="response head larger"):
        await fetch(pool)
    pool.close()


async def test_the_lean_adapter_reports_an_oversized_answer_as_malformed(server: Server) -> None:
    server.add(Answer(_endless))
    _, lean = _openai_pair(server.url)
    lean._pool._max_body = 200_000  # type: ignore[attr-defined]
    with pytest.raises(MalformedResponseError, match="answer too large"):
        await lean.complete(ChatRequest(messages=[Message("user", "hi")]))
    await lean.aclose()


async def test_a_slow_reader_pauses_the_socket_instead_of_buffering(server: Server) -> None:
    server.add(Answer(_endless))
    pool = Pool(server.url, max_body=10**12)
    response = await pool.request(pool.head("POST", "/v1/x") + b"Content-Length: 0\r\n\r\n")
    parts = response.parts()
    await anext(parts)
    conn = response._conn  # type: ignore[attr-defined]
    # The server writes without end while nobody reads: wait until reading has paused
    # (a condition polled under a generous deadline: the transport has no event for it).
    deadline = asyncio.get_running_loop().time() + 30
    while not conn._paused and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    assert conn._paused and conn._unread <= 2 * 1024 * 1024
    await anext(parts)
    while conn._unread > 512 * 1024:
        await anext(parts)
    assert not conn._paused
    response.release()
    pool.close()


async def test_keep_alive_connections_are_reused(server: Server) -> None:
    server.add(ok_json())
    pool = Pool(server.url)
    for _ in range(5):
        assert (await fetch(pool))[0] == 200
    assert server.connections == 1 and len(server.requests) == 5
    pool.close()


async def test_a_connection_in_use_when_the_pool_closes_is_closed_on_its_return(
        server: Server) -> None:
    server.add(ok_json())
    pool = Pool(server.url)
    response = await pool.request(pool.head("POST", "/v1/x") + b"Content-Length: 0\r\n\r\n")
    await response.read()
    pool.close()
    response.release()  # it was kept idle, open, after the pool had closed
    assert response._conn.closed and not pool._idle  # type: ignore[attr-defined]


async def test_requests_beyond_the_cap_wait_for_a_free_connection(server: Server) -> None:
    gate = asyncio.Event()
    server.add(Answer(ok_json(), hold=gate))
    pool = Pool(server.url, max_connections=2)
    calls = [asyncio.create_task(fetch(pool)) for _ in range(5)]
    await asyncio.wait_for(server.seen.get(), 30)
    await asyncio.wait_for(server.seen.get(), 30)
    assert server.connections == 2
    assert len(pool._waiters) == 3  # type: ignore[attr-defined]
    gate.set()
    assert [c[0] for c in await asyncio.gather(*calls)] == [200] * 5
    assert server.connections == 2 and len(server.requests) == 5
    pool.close()


async def test_a_caller_that_gives_up_waiting_frees_nothing_it_does_not_hold(server: Server) -> None:
    gate = asyncio.Event()
    server.add(Answer(ok_json(), hold=gate))
    pool = Pool(server.url, max_connections=1)
    first = asyncio.create_task(fetch(pool))
    await asyncio.wait_for(server.seen.get(), 30)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await fetch(pool)  # waits for the one connection, then gives up
    assert not pool._waiters  # type: ignore[attr-defined]
    gate.set()
    assert (await first)[0] == 200
    assert (await fetch(pool))[0] == 200
    assert server.connections == 1 and pool._open == 1  # type: ignore[attr-defined]
    pool.close()


async def test_a_connection_refused_is_a_transport_error() -> None:
    probe = await Server().start()
    url = probe.url
    await probe.stop()
    pool = Pool(url)
    with pytest.raises(UpstreamTransportError, match=r"cannot connect to 127\.0\.0\.1") as info:
        await fetch(pool)
    assert not info.value.connected and pool._open == 0  # type: ignore[attr-defined]


_ANSWER = (b'{"id": "x", "choices": [{"index": 0, "finish_reason": "stop", '
           b'"message": {"role": "assistant", "content": "hi"}}]}')


async def test_adapters_given_shared_pools_share_connections_per_host(server: Server) -> None:
    # The cap was per adapter: each model (and each route using it) had a pool of its own.
    server.add(ok_json(_ANSWER))
    pools = Pools(max_connections=1)
    made = []
    for model in ("m1", "m2"):
        vendor = VendorSpec(f"v-{model}", "openai", "fake", server.url + "/")
        spec = ModelSpec(id=model, vendor=vendor.name, upstream=model, family="fake")
        made.append(LeanOpenAIChat(spec, vendor, "sk-test-key-123456", 5.0, pools))
    assert made[0]._pool is made[1]._pool  # type: ignore[attr-defined]
    for lean in made * 2:
        assert (await lean.complete(ChatRequest(messages=[Message("user", "hi")]))).text == "hi"
    assert server.connections == 1 and len(server.requests) == 4
    assert server.requests[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    for lean in made:
        await lean.aclose()  # shared: left to their owner
    pool = made[0]._pool  # type: ignore[attr-defined]
    assert len(pool._idle) == 1
    pools.close()
    assert not pool._idle
