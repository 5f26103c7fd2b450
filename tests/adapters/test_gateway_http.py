"""Malformed requests through a raw HTTP client: each is a typed 4xx in OpenAI's
error shape, never a 500. Plus the small endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_kit import Served, running_gateway

from fakes import Fail, FakeServer

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
    assert isinstance(error["message"], str) and error["message"]
    return dict(error)


def with_(**changes: Any) -> dict[str, Any]:
    body = {**GOOD, **changes}
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize("raw", [b"{bad json", b"", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_bodies_that_are_not_a_json_object(http: httpx.Client, raw: bytes) -> None:
    error = error_of(http.post("/chat/completions", content=raw,
                               headers={"content-type": "application/json"}), 400)
    assert error["code"] == "invalid_json"


@pytest.mark.parametrize(("body", "param"), [
    ({"messages": GOOD["messages"]}, "model"),
    ({"model": "m-solo"}, "messages"),
    (with_(model=42), "model"),
    (with_(model=""), "model"),
    (with_(messages="hi"), "messages"),
    (with_(messages=[]), "messages"),
    (with_(messages=["hi"]), "messages[0]"),
    (with_(messages=[{"role": "wizard", "content": "hi"}]), "messages[0].role"),
    (with_(messages=[{"role": "user"}]), "messages[0].content"),
    (with_(messages=[{"role": "user", "content": 5}]), "messages[0].content"),
    (with_(messages=[{"role": "user", "content": [{"type": "image_url"}]}]), "messages[0].content"),
    (with_(temperature="hot"), "temperature"),
    (with_(temperature=9), "temperature"),
    (with_(temperature=True), "temperature"),
    (with_(max_tokens=-1), "max_tokens"),
    (with_(max_tokens=1.5), "max_tokens"),
    (with_(top_p=2), "top_p"),
    (with_(stop=[1, 2]), "stop"),
    (with_(stream="yes"), "stream"),
    (with_(stream=True, stream_options="usage"), "stream_options"),
    (with_(n=3), "n"),
    (with_(tools=[{"type": "function"}]), "tools"),
    (with_(presence_penalty=5), "presence_penalty"),
])
def test_wrong_types_and_missing_fields_name_the_param(http: httpx.Client, body: dict[str, Any],
                                                       param: str) -> None:
    error = error_of(http.post("/chat/completions", json=body), 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_unknown_model_is_a_404(http: httpx.Client) -> None:
    error = error_of(http.post("/chat/completions", json=with_(model="no-such-model")), 404)
    assert error["code"] == "model_not_found" and "no-such-model" in error["message"]


def test_declared_huge_body_is_a_413_without_reading_it(http: httpx.Client) -> None:
    big = b'{"model": "m-solo", "messages": [{"role": "user", "content": "' + b"x" * 200_000 + b'"}]}'
    error = error_of(http.post("/chat/completions", content=big,
                               headers={"content-type": "application/json"}), 413)
    assert error["code"] == "request_too_large"


def test_streamed_huge_body_without_length_is_a_413(http: httpx.Client) -> None:
    def pieces() -> Iterator[bytes]:
        yield b'{"model": "m-solo", "messages": [{"role": "user", "content": "'
        for _ in range(20):
            yield b"y" * 8192
        yield b'"}]}'

    error = error_of(http.post("/chat/completions", content=pieces(),
                               headers={"content-type": "application/json"}), 413)
    assert error["code"] == "request_too_large"


def test_unknown_fields_are_ignored(http: httpx.Client) -> None:
    r = http.post("/chat/completions", json=with_(num_retries=0, metadata={"a": 1}))
    assert r.status_code == 200


def test_wrong_method_and_unknown_path(http: httpx.Client, gateway: Served) -> None:
    error = error_of(http.get("/chat/completions"), 405)
    assert error["code"] == "method_not_allowed"
    error = error_of(http.post("/embeddings", json={}), 404)
    assert error["code"] == "unknown_url"


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("GET", "/chat/completions", "POST"), ("OPTIONS", "/chat/completions", "POST"),
    ("POST", "/models", "GET, HEAD"), ("OPTIONS", "/models", "GET, HEAD")])
def test_a_405_names_every_method_answered(http: httpx.Client, method: str, path: str,
                                           allow: str) -> None:
    r = http.request(method, path)
    assert r.status_code == 405 and r.headers["allow"] == allow
    for each in allow.split(", "):
        assert http.request(each, path, json={}).status_code != 405, each


def test_health_and_models(gateway: Served) -> None:
    assert httpx.get(f"{gateway.url}/health").json() == {"status": "ok"}
    data = httpx.get(f"{gateway.base_url}/models").json()
    assert data["object"] == "list"
    group = next(m for m in data["data"] if m["id"] == "g-fast")
    assert group["drux"] == {"kind": "group", "members": ["m-solo", "m-backup"]}


def test_content_parts_and_developer_role_are_accepted(http: httpx.Client,
                                                       fake_llm: FakeServer) -> None:
    body = with_(messages=[{"role": "developer", "content": "Be brief."},
                           {"role": "user", "content": [{"type": "text", "text": "a"},
                                                        {"type": "text", "text": "b"}]}])
    assert http.post("/chat/completions", json=body).status_code == 200
    sent = fake_llm.requests_for(model="up-solo")[-1].json["messages"]
    assert sent == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "ab"}]


def test_upstream_key_is_sent_upstream_and_never_shown(fake_llm: FakeServer, drux_env: Path) -> None:
    secret = "sk-upstream-secret-0123456789"
    fake_llm.script("up-solo", Fail("server", message=f"bad things happened with key {secret}"))
    with running_gateway(fake_llm, drux_env, upstream_key=secret) as gw:
        r = httpx.post(f"{gw.base_url}/chat/completions", json=GOOD, timeout=20)
    error = error_of(r, 502)
    assert secret not in r.text and "***" in error["message"]
    assert fake_llm.requests_for(model="up-solo")[0].headers["authorization"] == f"Bearer {secret}"


def test_a_public_model_without_its_upstream_key_is_a_503(fake_llm: FakeServer,
                                                          drux_env: Path) -> None:
    with running_gateway(fake_llm, drux_env, models=["m-solo", "gpt-4.1"]) as gw:
        r = httpx.post(f"{gw.base_url}/chat/completions", json=with_(model="gpt-4.1"), timeout=20)
    error = error_of(r, 503)
    assert error["code"] == "model_unavailable" and "OPENAI_API_KEY" in error["message"]


def test_a_catalog_model_without_its_key_is_a_503_by_default(fake_llm: FakeServer,
                                                             drux_env: Path) -> None:
    """With no [gateway] models list, a catalog model whose vendor has no key was a 404
    "does not exist"; it is a 503 naming the key variable. Unknown names stay 404."""
    with running_gateway(fake_llm, drux_env, models=None) as gw:
        r = httpx.post(f"{gw.base_url}/chat/completions",
                       json=with_(model="claude-sonnet-4"), timeout=20)
        unknown = httpx.post(f"{gw.base_url}/chat/completions",
                             json=with_(model="no-such-model"), timeout=20)
        listed = [m["id"] for m in httpx.get(f"{gw.base_url}/models", timeout=20).json()["data"]]
    error = error_of(r, 503)
    assert error["code"] == "model_unavailable" and "ANTHROPIC_API_KEY" in error["message"]
    assert error_of(unknown, 404)["code"] == "model_not_found"
    assert "claude-sonnet-4" not in listed and "m-solo" in listed


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
