"""More malformed requests against the gateway served by uvicorn: each is a typed 4xx in
OpenAI's error shape, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_kit import Served, running_gateway

from fakes import FakeServer

GOOD = {"model": "m-solo", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def gateway(fake_llm: FakeServer, drux_env: Path) -> Iterator[Served]:
    with running_gateway(fake_llm, drux_env, max_body_bytes=64 * 1024) as served:
        yield served


@pytest.fixture
def http(gateway: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, timeout=20) as c:
        yield c


def error_of(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    error = r.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    return dict(error)


@pytest.mark.parametrize("role", [["user"], {"name": "user"}, 1, None])
def test_a_role_that_is_not_a_string_names_the_param(http: httpx.Client, role: Any) -> None:
    body = {**GOOD, "messages": [{"role": role, "content": "hi"}]}
    error = error_of(http.post("/chat/completions", json=body), 400)
    assert error["param"] == "messages[0].role" and error["code"] == "invalid_value"
