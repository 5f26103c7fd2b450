"""The lean client honours the environment's proxy as the SDK path does (httpx with
trust_env): HTTP_PROXY forwards http:// requests in absolute form, HTTPS_PROXY tunnels
https:// ones with CONNECT, NO_PROXY goes direct. Test proxies on 127.0.0.1 record what
they got; the upstream's name (upstream.test) is never resolved by the client."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_kit import running_gateway
from http1_kit import Server, fetch, ok_json, tls_contexts

from drux.catalog import ModelSpec, VendorSpec
from drux.errors import ConfigError
from drux.gateway._http1 import Pool, ProxyError, UpstreamTransportError
from drux.gateway._proxy import _bypassed
from drux.gateway.upstream import LeanOpenAIChat
from drux.types import ChatRequest, Message

from fakes import FakeServer

_VARS = ["http_proxy", "https_proxy", "all_proxy", "no_proxy", "REQUEST_METHOD"]


@pytest.fixture(autouse=True)
def no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in _VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    yield monkeypatch


@pytest.fixture
async def proxy() -> AsyncIterator[Server]:
    srv = await Server().start()
    srv.add(ok_json(b'{"via": "proxy"}'))
    yield srv
    await srv.stop()


class Tunnel:
    """A CONNECT proxy: records each request head, then pipes bytes to ``target_port``."""

    def __init__(self, target_port: int, answer: bytes = b"HTTP/1.1 200 Connection established\r\n\r\n"):
        self.target_port = target_port
        self.answer = answer
        self.heads: list[bytes] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> Tunnel:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(self.answer)
        if not self.answer.startswith(b"HTTP/1.1 200"):
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def test_http_upstream_goes_through_http_proxy_in_absolute_form(
        proxy: Server, no_proxy_settings: pytest.MonkeyPatch) -> None:
    no_proxy_settings.setenv("HTTP_PROXY", f"http://user:p%40ss@127.0.0.1:{proxy.port}")
    no_proxy_settings.setenv("NO_PROXY", "example.org,.internal")
    pool = Pool("http://upstream.test:8080/v1")
    for _ in range(2):
        assert (await fetch(pool, "/v1/x"))[2] == b'{"via": "proxy"}'
    auth = base64.b64encode(b"user:p@ss").decode()
    assert proxy.requests[0].startswith(
        b"POST http://upstream.test:8080/v1/x HTTP/1.1\r\nHost: upstream.test:8080\r\n"
        b"Proxy-Authorization: Basic " + auth.encode() + b"\r\n")
    assert proxy.connections == 1 and len(proxy.requests) == 2  # kept alive to the proxy
    pool.close()


async def test_the_lean_adapter_sends_its_calls_through_the_proxy(
        proxy: Server, no_proxy_settings: pytest.MonkeyPatch) -> None:
    proxy.answers.clear()
    proxy.add(ok_json(b'{"id": "x", "choices": [{"index": 0, "finish_reason": "stop", '
                      b'"message": {"role": "assistant", "content": "hi"}}]}'))
    no_proxy_settings.setenv("all_proxy", f"127.0.0.1:{proxy.port}")  # no scheme: http://
    vendor = VendorSpec("v", "openai", "fake", "http://upstream.test/v1")
    spec = ModelSpec(id="m", vendor="v", upstream="m", family="fake")
    lean = LeanOpenAIChat(spec, vendor, "sk-test-key-123456", 5.0)
    done = await lean.complete(ChatRequest(messages=[Message("user", "hi")]))
    assert done.text == "hi"
    head = proxy.requests[0].split(b"\r\n\r\n")[0]
    assert head.startswith(b"POST http://upstream.test/v1/chat/completions HTTP/1.1\r\n"
                           b"Host: upstream.test\r\n")
    assert b"Authorization: Bearer sk-test-key-123456" in head
    await lean.aclose()


async def test_https_upstream_is_tunnelled_with_connect(
        tmp_path: Path, no_proxy_settings: pytest.MonkeyPatch) -> None:
    server_tls, client_tls = tls_contexts(tmp_path, "upstream.test")
    upstream = await Server().start(tls=server_tls)
    upstream.add(ok_json(b'{"via": "tunnel"}'))
    tunnel = await Tunnel(upstream.port).start()
    no_proxy_settings.setenv("HTTPS_PROXY", f"http://127.0.0.1:{tunnel.port}")
    no_proxy_settings.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # not for https://
    pool = Pool("https://upstream.test/v1", ssl_context=client_tls)
    for _ in range(2):
        assert (await fetch(pool, "/v1/x"))[2] == b'{"via": "tunnel"}'
    assert tunnel.heads == [b"CONNECT upstream.test:443 HTTP/1.1\r\nHost: upstream.test:443\r\n\r\n"]
    assert upstream.requests[0].startswith(b"POST /v1/x HTTP/1.1\r\nHost: upstream.test\r\n")
    assert len(upstream.requests) == 2 and upstream.connections == 1
    pool.close()
    await tunnel.stop()
    await upstream.stop()


async def test_a_tunnel_the_proxy_refuses_is_a_transport_error(
        no_proxy_settings: pytest.MonkeyPatch) -> None:
    tunnel = await Tunnel(9, answer=b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").start()
    no_proxy_settings.setenv("https_proxy", f"http://127.0.0.1:{tunnel.port}")
    pool = Pool("https://upstream.test/v1")
    with pytest.raises(UpstreamTransportError, match=r"refused the tunnel to upstream\.test:443: "
                                                     r"407 Proxy Authentication Required"):
        await fetch(pool)
    assert pool._open == 0  # type: ignore[attr-defined]
    await tunnel.stop()


async def test_no_proxy_goes_direct(proxy: Server, no_proxy_settings: pytest.MonkeyPatch) -> None:
    upstream = await Server().start()
    upstream.add(ok_json(b'{"via": "direct"}'))
    no_proxy_settings.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    no_proxy_settings.setenv("no_proxy", "example.org, 127.0.0.1")
    pool = Pool(upstream.url)
    assert pool.proxy is None
    assert (await fetch(pool))[2] == b'{"via": "direct"}'
    assert upstream.requests[0].startswith(b"POST /v1/x HTTP/1.1\r\n")
    assert proxy.requests == []
    pool.close()
    await upstream.stop()


@pytest.mark.parametrize("url", ["socks5://127.0.0.1:1080", "https://u:secret@127.0.0.1:3128"])
def test_a_proxy_scheme_the_client_cannot_use_is_refused_in_one_line(
        url: str, no_proxy_settings: pytest.MonkeyPatch) -> None:
    no_proxy_settings.setenv("HTTPS_PROXY", url)
    with pytest.raises(ProxyError) as info:
        Pool("https://upstream.test/v1")
    message = str(info.value)
    assert "http:// proxies only" in message and "\n" not in message and "secret" not in message
    vendor = VendorSpec("v", "openai", "fake", "https://upstream.test/v1")
    spec = ModelSpec(id="m", vendor="v", upstream="m", family="fake")
    with pytest.raises(ConfigError, match="v:m: the https_proxy/all_proxy setting names a"):
        LeanOpenAIChat(spec, vendor, "sk-test-key-123456", 5.0)


def test_the_gateway_answers_a_typed_503_when_the_proxy_cannot_be_used(
        fake_llm: FakeServer, drux_env: Path, no_proxy_settings: pytest.MonkeyPatch) -> None:
    no_proxy_settings.setenv("HTTP_PROXY", "socks5://127.0.0.1:1080")
    body = {"model": "m-solo", "messages": [{"role": "user", "content": "hi"}]}
    with running_gateway(fake_llm, drux_env) as gw, \
            httpx.Client(trust_env=False, timeout=20) as client:  # the test's own calls: direct
        r = client.post(f"{gw.base_url}/chat/completions", json=body)
    assert r.status_code == 503
    error = r.json()["error"]
    assert error["code"] == "model_unavailable" and "http:// proxies only" in error["message"]
    assert fake_llm.requests == []


@pytest.mark.parametrize(("no_proxy", "scheme", "host", "port", "bypassed"), [
    ("*", "https", "api.openai.com", 443, True),
    ("openai.com", "https", "api.openai.com", 443, True),
    ("openai.com", "https", "openai.com", 443, True),
    ("openai.com", "https", "notopenai.com", 443, False),
    (".openai.com", "https", "openai.com", 443, False),
    (".openai.com", "https", "api.openai.com", 443, True),
    ("openai.com:8443", "https", "api.openai.com", 443, False),
    ("openai.com:8443", "https", "api.openai.com", 8443, True),
    ("openai.com:443", "https", "api.openai.com", 443, False),  # httpx drops default ports
    ("*.openai.com", "https", "api.openai.com", 443, True),
    ("*.openai.com", "https", "openai.com", 443, False),
    ("10.0.0.0/8", "http", "10.1.2.3", 80, True),
    ("10.0.0.0/8", "http", "11.1.2.3", 80, False),
    ("10.0.0.0/8", "http", "ten.example", 80, False),
    ("10.1.2.3", "http", "10.1.2.3", 80, True),
    ("10.1.2.3", "http", "10.1.2.4", 80, False),
    ("::1", "http", "::1", 80, True),
    ("[::1]", "http", "::1", 80, True),
    ("localhost", "http", "localhost", 80, True),
    ("localhost", "http", "my.localhost", 80, False),
    ("http://internal.example", "http", "internal.example", 80, True),
    ("http://internal.example", "https", "internal.example", 443, False),
    ("", "https", "api.openai.com", 443, False),
    (" a.example , b.example ", "https", "x.b.example", 443, True),
])
def test_no_proxy_entries_match_as_httpx_matches_them(
        no_proxy: str, scheme: str, host: str, port: int, bypassed: bool,
        no_proxy_settings: pytest.MonkeyPatch) -> None:
    assert _bypassed(no_proxy, scheme, host, port) is bypassed
    # The same verdict from httpx's own reading of the variables (the SDK path's client):
    # its mount patterns, most specific first, the first match deciding.
    httpx: Any = pytest.importorskip("httpx2")
    no_proxy_settings.setenv("ALL_PROXY", "http://127.0.0.1:3128")
    no_proxy_settings.setenv("NO_PROXY", no_proxy)
    mounts = sorted((httpx._utils.URLPattern(k), v)
                    for k, v in httpx._utils.get_environment_proxies().items())
    name = f"[{host}]" if ":" in host else host
    url = httpx.URL(f"{scheme}://{name}:{port}/")
    first = next((v for pattern, v in mounts if pattern.matches(url)), None)
    assert (first is None) is bypassed
