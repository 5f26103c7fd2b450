"""DNS rebinding: `drux serve` on loopback answers only to loopback host names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_kit import Scripts, make_services, relaxed

from drux.web.app import create_server_app
from drux.web.middleware import host_name
from drux.web.settings import WebSettings


@pytest.mark.parametrize(("raw", "name"), [
    ("127.0.0.1:8000", "127.0.0.1"), ("LOCALHOST", "localhost"), ("[::1]:8000", "::1"),
    ("[::1]", "::1"), ("evil.example:80", "evil.example"), ("", ""), ("[broken", "[broken"),
])
def test_host_name(raw: str, name: str) -> None:
    assert host_name(raw) == name


def test_which_hosts_are_allowed() -> None:
    auto = WebSettings()
    assert set(auto.hosts_for("127.0.0.1") or []) >= {"localhost", "127.0.0.1", "::1"}
    assert "127.0.0.2" in (auto.hosts_for("127.0.0.2") or [])
    assert auto.hosts_for("0.0.0.0") is None  # public: any name (behind a proxy)
    named = WebSettings(allowed_hosts=["drux.example.org"])
    assert set(named.hosts_for("0.0.0.0") or []) == {"drux.example.org", "localhost",
                                                     "127.0.0.1", "::1"}
    assert WebSettings(allowed_hosts=["*"]).hosts_for("127.0.0.1") is None


EVIL = {"Host": "evil.example:8000"}


@pytest.fixture
def client(drux_env: Path) -> Iterator[TestClient]:
    app = create_server_app(make_services(drux_env, Scripts()), relaxed(),
                            allowed_hosts=WebSettings().hosts_for("127.0.0.1"))
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        yield c


@pytest.mark.parametrize("path", ["/", "/api/asks", "/api/status", "/health", "/v1/models"])
def test_only_loopback_names_are_answered(client: TestClient, path: str) -> None:
    # (the gateway's /v1 wants a key from TestClient's non-loopback client address)
    assert client.get(path).status_code == (401 if path.startswith("/v1") else 200)
    assert client.get(path, headers={"Host": "localhost:8000"}).status_code != 400
    refused = client.get(path, headers=EVIL)
    assert refused.status_code == 400
    assert refused.json()["error"]["type"] == "host_not_allowed"
    assert "DRUX_WEB_ALLOWED_HOSTS" in refused.json()["error"]["message"]


def test_a_rebound_page_cannot_start_an_ask(client: TestClient) -> None:
    assert client.post("/api/asks", json={"question": "hi"}, headers=EVIL).status_code == 400
    assert client.get("/api/asks").json()["total"] == 0


def test_host_check_remembers_only_what_it_let_through() -> None:
    """HostCheck skips parsing a Host it already allowed; the verdicts stay those of a
    fresh parse: refused names stay refused, the last of two Host headers counts, and
    more distinct allowed values than it remembers all still pass."""
    import asyncio

    from drux.web.middleware import HostCheck

    reached: list[bytes] = []

    async def inner(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        reached.append(dict(scope["headers"])[b"host"])

    check = HostCheck(inner, ["localhost", "127.0.0.1"])  # type: ignore[arg-type]

    async def status(*hosts: bytes) -> int:
        sent: list[dict] = []  # type: ignore[type-arg]

        async def send(message: dict) -> None:  # type: ignore[type-arg]
            sent.append(message)

        scope = {"type": "http", "headers": [(b"host", h) for h in hosts]}
        before = len(reached)
        await check(scope, None, send)  # type: ignore[arg-type]
        return 200 if len(reached) > before else sent[0]["status"]

    async def run() -> None:
        for _ in range(3):
            assert await status(b"127.0.0.1:8000") == 200
            assert await status(b"evil.example:8000") == 400
            assert await status(b"127.0.0.1:8000", b"evil.example") == 400
            assert await status(b"evil.example", b"localhost:1") == 200
        for port in range(200):  # beyond what is remembered
            assert await status(b"localhost:%d" % port) == 200
            assert await status(b"evil.example:%d" % port) == 400
        assert await status() == 400  # no Host at all

    asyncio.run(run())
