"""Follow-up threads on the web: the "Ask a follow-up" form, the thread page, its exports
and share toggle, the API's follow-up and thread endpoints, and who may do what."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from accounts_web_kit import session_token, sign_in
from fastapi.testclient import TestClient
from web_kit import Scripts, ask_from_the_form, make_services, relaxed, sse_events

from drux.services import Services
from drux.web.app import create_app


@pytest.fixture
def scripts() -> Scripts:
    return Scripts()


@pytest.fixture
def services(drux_env: Path, scripts: Scripts) -> Services:
    return make_services(drux_env, scripts)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services, relaxed())) as c:
        yield c


def _follow_up(client: TestClient, ask_id: str, question: str, token: str | None = None) -> str:
    data = {"question": question, **({"csrf_token": token} if token else {})}
    r = client.post(f"/r/{ask_id}/follow-up", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    new_id: str = r.headers["location"].rsplit("/", 1)[1]
    sse_events(client.get(f"/api/asks/{new_id}/events").text)  # wait for the end
    return new_id


def test_the_follow_up_form_continues_the_thread(client: TestClient, scripts: Scripts) -> None:
    first = ask_from_the_form(client, "Does water boil at 100 C?")
    page = client.get(f"/r/{first}").text
    assert 'id="followup-form"' in page and f'action="/r/{first}/follow-up"' in page
    second = _follow_up(client, first, "And on Everest?")
    sent = [(m.role, m.content) for m in scripts.built["alpha"].requests[-1].messages][1:]
    assert sent[0] == ("user", "Does water boil at 100 C?")
    assert sent[1][0] == "assistant" and sent[2] == ("user", "And on Everest?")
    result = client.get(f"/r/{second}").text
    assert f'href="/t/{first}"' in result and "turn 2 of a thread" in result
    record = client.get(f"/api/asks/{second}").json()
    assert record["thread"] == {"id": first, "turn": 2, "trimmed": {}}
    history = client.get("/history").text
    assert "turn 1 of a thread" in history and "turn 2 of a thread" in history


def test_a_refused_follow_up_comes_back_with_the_question(client: TestClient) -> None:
    first = ask_from_the_form(client)
    r = client.post(f"/r/{first}/follow-up", data={"question": "   "})
    assert r.status_code == 422
    assert 'id="followup-error"' in r.text and 'id="followup-form"' in r.text
    assert client.post("/r/no-such-ask/follow-up", data={"question": "Why?"}).status_code == 404
    assert client.get("/api/asks").json()["total"] == 1


def test_the_thread_page_shows_every_turn_with_its_score(client: TestClient) -> None:
    first = ask_from_the_form(client, "Does water boil at 100 C?")
    second = _follow_up(client, first, "And on Everest?")
    page = client.get(f"/t/{first}")
    assert page.status_code == 200
    assert 'id="turn-1"' in page.text and 'id="turn-2"' in page.text
    assert page.text.count('data-role="score"') == 2
    assert "And on Everest?" in page.text and f'href="/r/{second}"' in page.text
    # The form on the thread page continues after its last turn.
    assert f'action="/r/{second}/follow-up"' in page.text
    assert client.get(f"/t/{second}").status_code == 404  # a later turn names no thread
    exported = json.loads(client.get(f"/t/{first}/export.json").text)
    assert [t["id"] for t in exported["turns"]] == [first, second]
    md = client.get(f"/t/{first}/export.md")
    assert md.headers["content-disposition"].endswith(f'drux-thread-{first}.md"')
    assert md.text.startswith("# Thread: Does water boil at 100 C?")
    assert "## Turn 2: And on Everest?" in md.text and "**Consensus Score:" in md.text


def test_the_api_starts_a_follow_up_and_reads_a_thread(client: TestClient) -> None:
    first = ask_from_the_form(client)
    r = client.post(f"/api/asks/{first}/follow-ups", json={"question": "Why?"})
    assert r.status_code == 202, r.text
    second = r.json()["id"]
    sse_events(client.get(r.json()["events_url"]).text)
    thread = client.get(f"/api/threads/{first}").json()
    assert thread["id"] == first and [t["id"] for t in thread["turns"]] == [first, second]
    assert "params" not in thread["turns"][0]  # the API's ask shape
    bad = client.post(f"/api/asks/{first}/follow-ups", json={"question": "Why?", "models": ["a"]})
    assert bad.status_code == 422
    assert client.get("/api/threads/nope").status_code == 404
    missing = client.post("/api/asks/nope/follow-ups", json={"question": "Why?"})
    assert missing.status_code == 422 and "no ask or thread" in missing.json()["error"]["message"]


def test_a_thread_whose_model_is_gone_says_which_was_skipped(
        drux_env: Path, scripts: Scripts) -> None:
    services = make_services(drux_env, scripts)
    with TestClient(create_app(services, relaxed())) as client:
        first = ask_from_the_form(client)
    # The next server runs without gamma in the catalog.
    toml = (drux_env / "project.toml").read_text()
    (drux_env / "project.toml").write_text(toml.replace('"gamma"', '"alpha"', 1)
                                           .replace("[models.gamma]", "[models.gone]"))
    from drux.config import load_config

    later = Services(load_config(), provider_factory=scripts)
    with TestClient(create_app(later, relaxed())) as client:
        second = _follow_up(client, first, "And why?")
        record = client.get(f"/api/asks/{second}").json()
        assert [s["model"] for s in record["skipped"]] == ["gamma"]
        assert "gamma (no longer configured" in client.get(f"/r/{second}").text
        assert "gamma (no longer configured" in client.get(f"/t/{first}").text


def test_only_the_owner_follows_up_and_others_get_404(services: Services) -> None:
    services.store.users.create("bob", "long enough")
    services.store.users.create("cy", "long enough")
    app = create_app(services, relaxed())
    with TestClient(app) as bob, TestClient(app) as cy:
        sign_in(bob, "bob")
        sign_in(cy, "cy")
        bob_token, cy_token = session_token(bob), session_token(cy)
        r = bob.post("/ask", data={"question": "Private?", "mode": "panel", "panel": "default",
                                   "csrf_token": bob_token}, follow_redirects=False)
        first = r.headers["location"].rsplit("/", 1)[1]
        sse_events(bob.get(f"/api/asks/{first}/events").text)
        # Without the form's token the follow-up is refused (CSRF).
        assert bob.post(f"/r/{first}/follow-up", data={"question": "Why?"}).status_code == 403
        second = _follow_up(bob, first, "Why?", bob_token)
        for path in (f"/t/{first}", f"/t/{first}/export.json", f"/t/{first}/export.md",
                     f"/api/threads/{first}", f"/r/{second}"):
            assert cy.get(path).status_code == 404, path
        assert cy.post(f"/r/{first}/follow-up", data={"question": "Mine?",
                                                      "csrf_token": cy_token}).status_code == 404
        assert cy.post(f"/api/asks/{first}/follow-ups", json={"question": "Mine?"},
                       headers={"X-CSRF-Token": cy_token}).status_code == 404
        # Shared as a whole: cy reads every turn, gets no form, and cannot add a turn.
        shared = bob.post(f"/t/{first}/share", data={"shared": "true", "csrf_token": bob_token},
                          follow_redirects=False)
        assert shared.status_code == 303
        page = cy.get(f"/t/{first}")
        assert page.status_code == 200 and 'id="turn-2"' in page.text
        assert 'id="followup-form"' not in page.text and 'id="share-toggle"' not in page.text
        assert 'id="followup-form"' not in cy.get(f"/r/{second}").text
        assert cy.post(f"/r/{second}/follow-up", data={"question": "Mine?",
                                                       "csrf_token": cy_token}).status_code == 403
        # A follow-up of a shared thread is shared too, and stays bob's.
        third = _follow_up(bob, second, "And then?", bob_token)
        assert cy.get(f"/r/{third}").status_code == 200
        assert cy.get("/api/asks").json()["total"] == 0
        assert bob.get("/api/asks").json()["total"] == 3


def test_the_result_page_says_which_turns_were_left_out(client: TestClient,
                                                        services: Services) -> None:
    from drux.records import ThreadPosition

    root = services.store.asks.create(question="Q1?", models=["alpha"], families={})
    later = services.store.asks.create(question="Q2?", models=["alpha", "beta"], families={},
                                       thread=ThreadPosition(id=root, turn=2,
                                                             trimmed={"alpha": 2, "beta": 1}))
    page = client.get(f"/r/{later}").text
    assert ("alpha was not sent the 2 oldest turns of this thread; "
            "beta was not sent the 1 oldest turn of this thread.") in page
    assert 'id="thread-trimmed"' not in client.get(f"/r/{root}").text
