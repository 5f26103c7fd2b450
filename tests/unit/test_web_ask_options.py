"""The Ask form's options: max tokens and temperature reach the models, within the limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_kit import Scripts, make_services, relaxed, sse_events

from drux.web.app import create_app

QUESTION = "Does water boil at 100 C?"


@pytest.fixture
def scripts() -> Scripts:
    return Scripts()


@pytest.fixture
def client(drux_env: Path, scripts: Scripts) -> Iterator[TestClient]:
    with TestClient(create_app(make_services(drux_env, scripts), relaxed(max_tokens=64))) as c:
        yield c


def _ask(client: TestClient, **fields: str) -> str:
    r = client.post("/ask", data={"question": QUESTION, "mode": "panel", "panel": "default",
                                  **fields}, follow_redirects=False)
    assert r.status_code == 303, r.text
    ask_id = r.headers["location"].rsplit("/", 1)[1]
    sse_events(client.get(f"/api/asks/{ask_id}/events").text)  # wait for the end
    return ask_id


def test_the_form_offers_the_options_within_the_server_limit(client: TestClient) -> None:
    html = client.get("/ask").text
    assert 'name="max_tokens" type="number" inputmode="numeric" min="1" max="64"' in html
    assert 'name="temperature" type="number" inputmode="decimal" min="0" max="2"' in html


def test_the_chosen_options_reach_every_model(client: TestClient, scripts: Scripts) -> None:
    ask_id = _ask(client, max_tokens="42", temperature="0.7")
    requests = [p.requests[-1] for p in scripts.built.values()]
    assert len(requests) == 3
    assert {(r.max_tokens, r.temperature) for r in requests} == {(42, 0.7)}
    params = client.app.state.services.store.asks.get(ask_id).params  # type: ignore[attr-defined]
    assert params["max_tokens"] == 42 and params["temperature"] == 0.7


def test_empty_options_keep_the_server_defaults(client: TestClient, scripts: Scripts) -> None:
    _ask(client, max_tokens="", temperature="")
    assert {p.requests[-1].max_tokens for p in scripts.built.values()} == {64}


@pytest.mark.parametrize(("max_tokens", "temperature", "message"), [
    ("0", "", "max tokens must be a whole number from 1 to 64"),
    ("65", "", "max tokens must be a whole number from 1 to 64"),  # over this server's cap
    ("9000", "", "max tokens must be a whole number from 1 to 64"),
    ("1.5", "", "max tokens must be a whole number from 1 to 64"),
    ("lots", "", "max tokens must be a whole number from 1 to 64"),
    ("", "2.5", "temperature must be a number from 0 to 2"),
    ("", "-0.1", "temperature must be a number from 0 to 2"),
    ("", "nan", "temperature must be a number from 0 to 2"),
    ("", "warm", "temperature must be a number from 0 to 2"),
])
def test_bad_options_re_render_the_form_with_the_question_kept(
        client: TestClient, scripts: Scripts, max_tokens: str, temperature: str,
        message: str) -> None:
    r = client.post("/ask", data={"question": QUESTION, "mode": "panel", "panel": "default",
                                  "max_tokens": max_tokens, "temperature": temperature})
    assert r.status_code == 422
    assert f'<p class="alert" role="alert" id="ask-error">{message}</p>' in r.text
    assert f">{QUESTION}</textarea>" in r.text
    assert f'name="max_tokens" type="number" inputmode="numeric" min="1" max="64" step="1" ' \
           f'value="{max_tokens}"' in r.text
    assert not scripts.built  # no model was asked
    assert client.get("/api/asks").json()["total"] == 0
