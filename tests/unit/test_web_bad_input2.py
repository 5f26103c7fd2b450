"""More bad input against the web app: odd headers, methods and bodies get a typed JSON
error or an error page, never a 500."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from web_kit import Scripts, make_services, relaxed, sse_events

from drux.services.options import MAX_CONTEXT_CHARS, MAX_QUESTION_CHARS
from drux.web.app import create_app


@pytest.fixture
async def asgi(drux_env: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app called through ASGI directly: header bytes reach it exactly as sent."""
    services = make_services(drux_env, Scripts())
    app = create_app(services, relaxed())
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://testserver") as client:
            yield client
    finally:
        await app.state.runner.aclose()
        await services.aclose()


@pytest.mark.parametrize("last_id", [b"\xb2", b"\xb3", b"1" * 5000, b"-1", b"12abc", b"+3"])
async def test_a_garbage_last_event_id_replays_from_the_start(asgi: httpx.AsyncClient,
                                                               last_id: bytes) -> None:
    ask_id = (await asgi.post("/api/asks", json={"question": "Boiling point?"})).json()["id"]
    full = sse_events((await asgi.get(f"/api/asks/{ask_id}/events")).text)
    r = await asgi.get(f"/api/asks/{ask_id}/events", headers=[(b"last-event-id", last_id)])
    assert r.status_code == 200, r.text
    assert sse_events(r.text) == full


def test_a_form_over_the_body_limit_gets_the_error_page(drux_env: Path) -> None:
    app = create_app(make_services(drux_env, Scripts()), relaxed(max_body_bytes=2048))
    with TestClient(app) as c:
        r = c.post("/ask", data={"question": "x" * 3000}, headers={"accept": "text/html"})
        assert r.status_code == 413
        assert r.headers["content-type"].startswith("text/html")
        assert "Request too large" in r.text and "2048 bytes" in r.text
        r = c.post("/api/asks", json={"question": "x" * 3000}, headers={"accept": "text/html"})
        assert r.status_code == 413 and r.json()["error"]["type"] == "body_too_large"
        assert c.get("/api/asks").json()["total"] == 0


def test_the_longest_valid_question_fits_the_default_body_limit(drux_env: Path) -> None:
    """8000 CJK characters are 72 kB as a url-encoded form, and a question plus context
    at their maxima are 120 kB as ASCII-escaped JSON (Python's json.dumps default)."""
    app = create_app(make_services(drux_env, Scripts()), relaxed())
    question = "水" * MAX_QUESTION_CHARS
    with TestClient(app, follow_redirects=False) as c:
        r = c.post("/ask", data={"question": question})
        assert r.status_code == 303, r.text[:300]
        body = json.dumps({"question": question, "context": "é" * MAX_CONTEXT_CHARS})
        r = c.post("/api/asks", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 202, r.text[:300]


async def test_a_content_length_of_thousands_of_digits_is_a_413(asgi: httpx.AsyncClient) -> None:
    r = await asgi.post("/api/asks", content=b'{"question": "hi"}', headers=[
        (b"content-type", b"application/json"), (b"content-length", b"9" * 5000)])
    assert r.status_code == 413 and r.json()["error"]["type"] == "body_too_large"
