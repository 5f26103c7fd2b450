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


@pytest.mark.parametrize("field", ["tool_calls", "function_call", "tool_call_id"])
def test_tool_call_fields_in_messages_are_refused_not_dropped(http: httpx.Client,
                                                               field: str) -> None:
    value: Any = "call_1" if field == "tool_call_id" else (
        [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
        if field == "tool_calls" else {"name": "f", "arguments": "{}"})
    messages = [{"role": "user", "content": "hi"},
                {"role": "assistant", "content": "calling", field: value}]
    error = error_of(http.post("/chat/completions", json={**GOOD, "messages": messages}), 400)
    assert error["param"] == f"messages[1].{field}"
    assert error["code"] == "unsupported_parameter"
    # null is what some clients send when there is no call: still accepted
    ok = http.post("/chat/completions", json={**GOOD, "messages": [
        {"role": "user", "content": "hi", field: None}]})
    assert ok.status_code == 200, ok.text
