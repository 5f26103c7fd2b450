"""The JSON API over scripted providers: asks, SSE, typed errors, limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from web_kit import ANSWERS, Scripts, make_services, relaxed, sse_events

from drux.web.app import create_app
from drux.web.settings import WebSettings

from scripted import Gate


@pytest.fixture
def client(drux_env: Path) -> Iterator[TestClient]:
    app = create_app(make_services(drux_env, Scripts(delay=0.001)), relaxed())
    with TestClient(app) as c:
        yield c


def _start(client: TestClient, **body: Any) -> str:
    r = client.post("/api/asks", json={"question": "At what temperature does water boil?",
                                       **body})
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def _events(client: TestClient, ask_id: str, **headers: str) -> list[tuple[int, dict[str, Any]]]:
    r = client.get(f"/api/asks/{ask_id}/events", headers=headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    return sse_events(r.text)


def test_ask_events_arrive_in_order_and_the_ask_is_stored(client: TestClient) -> None:
    ask_id = _start(client)
    events = [e for _, e in _events(client, ask_id)]
    types = [e["type"] for e in events]
    assert types[0] == "created" and types[-2:] == ["scored", "done"]
    assert events[0]["models"] == ["alpha", "beta", "gamma"]
    for model, text in ANSWERS.items():
        mine = [e for e in events if e.get("model") == model]
        assert mine[0]["type"] == "started" and mine[-1]["type"] == "finished"
        assert {e["type"] for e in mine[1:-1]} == {"token"}
        assert "".join(e["text"] for e in mine[1:-1]) == text == mine[-1]["text"]
        assert mine[-1]["html"].startswith("<p>")
        assert mine[-1]["usage"]["output_tokens"] == len(text.split())
    assert events[-1] == {"type": "done", "ask_id": ask_id, "status": "complete"}
    assert isinstance(events[-2]["score"], float)

    stored = client.get(f"/api/asks/{ask_id}").json()
    assert stored["status"] == "complete" and stored["source"] == "api"
    assert [a["text"] for a in stored["answers"]] == list(ANSWERS.values())
    assert stored["score"] == events[-2]["score"]
    listed = client.get("/api/asks").json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == ask_id


def test_the_api_takes_a_system_prompt_for_one_ask(drux_env: Path) -> None:
    # AskOptions.system reached the CLI only; the JSON body refused it as an unknown key.
    scripts = Scripts()
    with TestClient(create_app(make_services(drux_env, scripts), relaxed())) as client:
        ask_id = _start(client, system="Answer like a pirate.")
        _events(client, ask_id)
        assert {p.requests[-1].system for p in scripts.built.values()} == {
            "Answer like a pirate."}
        empty = client.post("/api/asks", json={"question": "Why?", "system": " "})
        assert empty.status_code == 422
        assert empty.json()["error"]["message"] == "system is empty"


def test_late_subscribers_get_every_event_and_last_event_id_resumes(client: TestClient) -> None:
    ask_id = _start(client)
    first = _events(client, ask_id)
    again = _events(client, ask_id)
    assert again == first
    resumed = _events(client, ask_id, **{"Last-Event-ID": str(first[4][0])})
    assert resumed == first[5:]


def test_events_of_an_ask_the_runner_forgot_are_rebuilt_from_the_store(
        client: TestClient) -> None:
    ask_id = _start(client)
    live = [e for _, e in _events(client, ask_id)]
    client.app.state.runner.events._runs.clear()  # type: ignore[attr-defined]
    stored = [e for _, e in _events(client, ask_id)]
    assert [e["type"] for e in stored] == ["created", "finished", "finished", "finished",
                                           "scored", "done"]
    finals = {e["model"]: e["text"] for e in live if e["type"] == "finished"}
    assert {e["model"]: e["text"] for e in stored if e["type"] == "finished"} == finals
    assert stored[-2]["score"] == next(e for e in live if e["type"] == "scored")["score"]


def test_an_ask_about_an_article_uses_it_as_context(client: TestClient) -> None:
    articles = client.get("/api/articles", params={"per_page": 2}).json()
    assert articles["total"] >= 2 and len(articles["items"]) == 2
    article = articles["items"][0]
    ask_id = _start(client, article_id=article["id"], question="Is this accurate?")
    _events(client, ask_id)
    stored = client.get(f"/api/asks/{ask_id}").json()
    assert stored["article_id"] == article["id"] and article["title"] in stored["context"]
    listed = client.get("/api/asks", params={"article": article["id"]}).json()
    assert [i["id"] for i in listed["items"]] == [ask_id]


@pytest.mark.parametrize(("body", "status", "kind"), [
    ({"question": "   "}, 422, "invalid_input"),
    ({"question": ""}, 422, "invalid_input"),
    ({"question": "x" * 8001}, 422, "invalid_input"),
    ({"question": "hi", "models": ["no-such-model"]}, 422, "unknown_model"),
    ({"question": "hi", "models": []}, 422, "invalid_input"),  # as the CLI: not "the panel"
    ({"question": "hi", "models": [" ", ""]}, 422, "invalid_input"),
    ({"question": "hi", "panel": "no-such-panel"}, 422, "unknown_model"),
    ({"question": "hi", "models": ["gpt-4.1"]}, 422, "invalid_input"),  # no API key here
    ({"question": "hi", "max_tokens": 0}, 422, "invalid_input"),
    ({"question": "hi", "surprise": 1}, 422, "invalid_input"),
    ({"question": "hi", "article_id": "no-such-article"}, 422, "invalid_input"),
    ({"question": ["not", "text"]}, 422, "invalid_input"),
])
def test_bad_asks_get_typed_errors(client: TestClient, body: dict[str, Any], status: int,
                                   kind: str) -> None:
    r = client.post("/api/asks", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["type"] == kind and error["message"]
    assert client.get("/api/asks").json()["total"] == 0


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "kind"), [
    ("GET", "/api/asks/nope", {}, 404, "not_found"),
    ("GET", "/api/asks/nope/events", {}, 404, "not_found"),
    ("GET", "/api/nothing-here", {}, 404, "not_found"),
    ("GET", "/api", {}, 404, "not_found"),
    ("GET", "/api/asks?limit=0", {}, 422, "invalid_input"),
    ("GET", "/api/asks?offset=-1", {}, 422, "invalid_input"),
    ("GET", "/api/articles?page=abc", {}, 422, "invalid_input"),
    ("DELETE", "/api/asks", {}, 405, "method_not_allowed"),
    ("POST", "/api/asks", {"content": b"{not json", "headers": {
        "content-type": "application/json"}}, 422, "invalid_input"),
    ("POST", "/api/asks", {"content": b"question=hi", "headers": {
        "content-type": "application/x-www-form-urlencoded"}}, 422, "invalid_input"),
])
def test_bad_requests_get_typed_errors_never_500(client: TestClient, method: str, path: str,
                                                  kwargs: dict[str, Any], status: int,
                                                  kind: str) -> None:
    r = client.request(method, path, **kwargs)
    assert r.status_code == status, r.text
    assert r.json()["error"]["type"] == kind


def test_bodies_over_the_limit_are_refused(drux_env: Path) -> None:
    app = create_app(make_services(drux_env, Scripts()), relaxed(max_body_bytes=2048))
    with TestClient(app) as c:
        r = c.post("/api/asks", json={"question": "x" * 3000})
        assert r.status_code == 413 and r.json()["error"]["type"] == "body_too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            yield b'{"question": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}'

        r = c.post("/api/asks", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["type"] == "body_too_large"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert c.get("/api/asks").json()["total"] == 0


async def test_asks_are_rate_limited_per_client(drux_env: Path) -> None:
    app = create_app(make_services(drux_env, Scripts()),
                     WebSettings(asks_per_minute=1, ask_burst=2))

    def client_from(ip: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(ip, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    async with app.router.lifespan_context(app), client_from("10.0.0.1") as a, \
            client_from("10.0.0.2") as b:
        body = {"question": "Is the sky blue?"}
        assert (await a.post("/api/asks", json=body)).status_code == 202
        assert (await a.post("/api/asks", json=body)).status_code == 202
        r = await a.post("/api/asks", json=body)
        assert r.status_code == 429
        assert r.json()["error"]["type"] == "rate_limited"
        assert int(r.headers["retry-after"]) >= 1
        assert (await b.post("/api/asks", json=body)).status_code == 202  # another client
        # Reading is not limited.
        assert (await a.get("/api/asks")).status_code == 200


def test_status_lists_models_and_deployments_without_secrets(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-value-123")
    _events(client, _start(client))
    r = client.get("/api/status")
    assert r.status_code == 200
    data = r.json()
    models = {m["id"]: m for m in data["models"]}
    assert models["alpha"]["usable"] and not models["claude-sonnet-4"]["usable"]
    assert {d["model"] for d in data["deployments"]} >= {"alpha", "beta", "gamma"}
    assert "sk-test-secret-value-123" not in r.text


def test_openapi_documents_the_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/api/asks", "/api/asks/{ask_id}", "/api/asks/{ask_id}/events", "/api/articles",
            "/api/status"} <= set(spec["paths"])
    assert "AskCreate" in spec["components"]["schemas"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/api/asks/{ask_id}/events" in docs.text


def test_status_shows_snapshots_other_processes_saved(client: TestClient) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    services.store.health.save([{"deployment": "openai:gpt-4.1", "model": "gpt-4.1",
                                 "state": "open", "requests": 3, "failures": 3,
                                 "error_rate": 1.0,
                                 "last_error": {"type": "model_not_found", "message": "gone"}}],
                               source="cli")
    data = client.get("/api/status").json()
    stored = next(d for d in data["deployments"] if d["deployment"] == "openai:gpt-4.1")
    assert stored["state"] == "open" and stored["source"] == "cli" and stored["as_of"]
    page = client.get("/status").text
    assert "openai:gpt-4.1" in page and "model_not_found" in page


def test_head_is_answered_like_get_without_a_body(client: TestClient) -> None:
    ask_id = _start(client)
    _events(client, ask_id)  # finished: its events replay from the store or memory
    for path in ("/", "/api/asks", "/api/status", f"/api/asks/{ask_id}", f"/r/{ask_id}",
                 f"/api/asks/{ask_id}/events", "/static/app.css"):
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"", path
        assert head.headers["content-type"] == got.headers["content-type"], path
        assert "content-security-policy" in head.headers
    missing = client.head("/api/asks/nope")
    assert missing.status_code == 404 and missing.content == b""
    assert client.head("/api/asks/nope/events").status_code == 404
    # A route with no GET still refuses HEAD, saying which methods it takes.
    refused = client.head("/articles/november-heat-record/ask")
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"


def test_head_on_a_running_asks_events_returns_before_the_ask_ends(drux_env: Path) -> None:
    gate = Gate()  # the ask cannot end before the test has looked
    app = create_app(make_services(drux_env, Scripts(delay=0.2, gate=gate)), relaxed())
    with TestClient(app) as client:
        ask_id = _start(client)
        head = client.head(f"/api/asks/{ask_id}/events")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-type"].startswith("text/event-stream")
        assert not app.state.runner.get(ask_id).done  # HEAD did not wait for the stream
        gate.open()
        assert [e for _, e in _events(client, ask_id)][-1]["type"] == "done"


def test_an_ask_whose_judge_is_unusable_is_refused_before_it_starts(client: TestClient) -> None:
    # Issue 12, case 6, for the web: the runner starts no task for an ask it cannot score;
    # the InputError it raises is the typed 422 every shell's handler gives.
    from drux.errors import InputError
    from drux.services.options import AskOptions

    runner = client.app.state.runner  # type: ignore[attr-defined]
    opts = AskOptions("hi", consensus_backend="judge", judge_model="gpt-4.1")
    with pytest.raises(InputError, match=r"judge model gpt-4\.1, which is not usable"):
        client.portal.call(runner.start, opts)  # type: ignore[union-attr]
    assert runner.running == 0 and client.get("/api/asks").json()["total"] == 0
