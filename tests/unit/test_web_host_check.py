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
