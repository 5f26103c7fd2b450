"""Rounds and synthesis on the web: the Ask form's options, the JSON API, the result page's
timeline and synthesis, the exports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_kit import Scripts, make_services, relaxed, sse_events

from drux.web.app import create_app


@pytest.fixture
def client(drux_env: Path) -> Iterator[TestClient]:
    app = create_app(make_services(drux_env, Scripts()), relaxed())
    with TestClient(app) as c:
        yield c


def _api_ask(client: TestClient, **body: object) -> tuple[str, list[dict[str, object]]]:
    r = client.post("/api/asks", json={"question": "At what temperature does water boil?", **body})
    assert r.status_code == 202, r.text
    ask_id = str(r.json()["id"])
    return ask_id, [e for _, e in sse_events(client.get(f"/api/asks/{ask_id}/events").text)]


def test_the_api_runs_rounds_and_a_synthesis(client: TestClient) -> None:
    ask_id, events = _api_ask(client, rounds=2, synthesize=True)
    types = [e["type"] for e in events]
    assert types.count("round_scored") == 2 and types.count("round_started") == 1
    assert types.index("round_started") > types.index("round_scored")
    synthesized = next(e for e in events if e["type"] == "synthesized")
    assert synthesized["label"] == "synthesized by alpha"  # the first of equal members
    assert types[-2:] == ["scored", "done"]
    stored = client.get(f"/api/asks/{ask_id}").json()
    assert [r["round"] for r in stored["rounds"]] == [1, 2]
    assert all(r["status"] == "complete" and r["score"] is not None for r in stored["rounds"])
    assert stored["synthesis"]["model"] == "alpha" and stored["synthesis"]["text"]
    assert stored["score"] == stored["rounds"][1]["score"]


@pytest.mark.parametrize(("body", "kind"), [
    ({"rounds": 5}, "invalid_input"),
    ({"rounds": 0}, "invalid_input"),
    ({"synthesizer": "no-such-model"}, "unknown_model"),
])
def test_bad_rounds_or_synthesizer_are_typed_errors(client: TestClient, body: dict[str, object],
                                                     kind: str) -> None:
    r = client.post("/api/asks", json={"question": "hi", **body})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["type"] == kind
    assert client.get("/api/asks").json()["total"] == 0


def test_the_form_asks_with_rounds_and_the_page_shows_them(client: TestClient) -> None:
    page = client.get("/ask").text
    assert 'name="rounds"' in page and 'name="synthesize"' in page
    r = client.post("/ask", data={"question": "Does water boil at 100 C?", "mode": "panel",
                                  "panel": "default", "rounds": "2", "synthesize": "on"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    ask_id = r.headers["location"].rsplit("/", 1)[1]
    sse_events(client.get(f"/api/asks/{ask_id}/events").text)  # wait for the end
    result = client.get(f"/r/{ask_id}").text
    assert "Deliberation rounds" in result and 'id="round-2"' in result
    assert "Trend:" in result and "synthesized by alpha" in result and "not a vote" in result
    fragment = client.get(f"/r/{ask_id}/consensus").text  # what the live page loads at the end
    assert 'id="round-1"' in fragment and 'id="synthesis"' in fragment
    md = client.get(f"/r/{ask_id}/export.md").text
    assert "## Deliberation rounds" in md and "- Round 2: " in md
    assert "## Synthesis, synthesized by alpha" in md
    exported = client.get(f"/r/{ask_id}/export.json").json()
    assert len(exported["rounds"]) == 2 and exported["synthesis"]["model"] == "alpha"


def test_a_bad_rounds_value_keeps_the_form(client: TestClient) -> None:
    r = client.post("/ask", data={"question": "Keep me", "mode": "panel", "panel": "default",
                                  "rounds": "9", "synthesize": "on"}, follow_redirects=False)
    assert r.status_code == 422
    assert "rounds must be a whole number from 1 to 4" in r.text and "Keep me" in r.text
    assert "checked" in r.text.split('id="synthesize"', 1)[1].split(">", 1)[0]
    assert client.get("/api/asks").json()["total"] == 0


def test_a_plain_ask_shows_no_rounds_or_synthesis(client: TestClient) -> None:
    ask_id, events = _api_ask(client)
    assert not {"round_started", "round_scored", "synthesized"} & {e["type"] for e in events}
    result = client.get(f"/r/{ask_id}").text
    assert "Deliberation rounds" not in result and 'id="synthesis"' not in result


def test_the_result_page_synthesizes_a_finished_ask(client: TestClient) -> None:
    ask_id, _ = _api_ask(client)
    page = client.get(f"/r/{ask_id}").text
    assert 'id="synthesize-ask"' in page and 'id="synthesis"' not in page
    r = client.post(f"/r/{ask_id}/synthesize", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith(f"/r/{ask_id}")
    page = client.get(f"/r/{ask_id}").text
    assert 'id="synthesis"' in page and "synthesized by alpha" in page
    assert 'id="synthesize-ask"' not in page  # one synthesis per ask: the button is gone
    stored = client.get(f"/api/asks/{ask_id}").json()
    assert stored["synthesis"]["model"] == "alpha"
    assert stored["score"] == stored["consensus"]["score"]  # untouched: not a vote


def test_synthesizing_an_unknown_ask_is_a_404(client: TestClient) -> None:
    assert client.post("/r/nope/synthesize", follow_redirects=False).status_code == 404


def test_a_forgotten_asks_events_replay_its_rounds_and_synthesis(client: TestClient) -> None:
    ask_id, live = _api_ask(client, rounds=2, synthesize=True)
    client.app.state.runner.events._runs.clear()  # type: ignore[attr-defined]
    stored = [e for _, e in sse_events(client.get(f"/api/asks/{ask_id}/events").text)]
    types = [e["type"] for e in stored]
    assert types[-5:] == ["round_scored", "round_scored", "synthesized", "scored", "done"]
    live_rounds = [(e["round"], e["score"]) for e in live if e["type"] == "round_scored"]
    assert [(e["round"], e["score"]) for e in stored if e["type"] == "round_scored"] == live_rounds
    synthesized = next(e for e in live if e["type"] == "synthesized")
    assert next(e for e in stored if e["type"] == "synthesized") == synthesized
