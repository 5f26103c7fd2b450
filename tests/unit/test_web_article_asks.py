"""The article flow: the reader's own question, FAQ questions asked from the page, and the
latest Consensus Score beside each FAQ question and on each Hub card."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from web_kit import Scripts, make_services, relaxed, sse_events

from drux.web.app import create_app

SLUG = "november-heat-record"
FAQ_QUESTION = "Does a single record-warm day prove that the climate is changing?"


@pytest.fixture
def scripts() -> Scripts:
    return Scripts()


@pytest.fixture
def client(drux_env: Path, scripts: Scripts) -> Iterator[TestClient]:
    with TestClient(create_app(make_services(drux_env, scripts), relaxed(page_size=10))) as c:
        yield c


def _ask_article(client: TestClient, question: str | None, slug: str = SLUG) -> str:
    data = {} if question is None else {"question": question}
    r = client.post(f"/articles/{slug}/ask", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    ask_id = r.headers["location"].rsplit("/", 1)[1]
    sse_events(client.get(f"/api/asks/{ask_id}/events").text)  # wait for the end
    return ask_id


def _record(client: TestClient, ask_id: str) -> dict[str, Any]:
    record: dict[str, Any] = client.get(f"/api/asks/{ask_id}").json()
    return record


def test_the_reader_asks_their_own_question_with_the_article_as_context(
        client: TestClient, scripts: Scripts) -> None:
    page = client.get(f"/articles/{SLUG}").text
    assert re.search(r'<form class="own-question" method="post" action="/articles/'
                     + SLUG + r'/ask">', page)
    assert '<textarea id="own-question" name="question"' in page
    ask_id = _ask_article(client, "  Who measured the 29.1 degrees?  ")
    record = _record(client, ask_id)
    assert record["question"] == "Who measured the 29.1 degrees?"
    assert record["article_id"] == SLUG and record["status"] == "complete"
    prompt = scripts.built["alpha"].requests[-1].prompt_text
    assert "Context:" in prompt and "Who measured the 29.1 degrees?" in prompt
    assert "Coastal city logs its warmest November day" in prompt


def test_an_empty_question_asks_the_article_topic_as_before(client: TestClient) -> None:
    for question in (None, "", "   "):
        record = _record(client, _ask_article(client, question))
        assert record["question"].startswith("What do you make of this news: Coastal city")


def test_a_bad_own_question_re_renders_the_article_with_the_question_kept(
        client: TestClient) -> None:
    long = "why " * 2100  # over the 8000-character limit
    r = client.post(f"/articles/{SLUG}/ask", data={"question": long})
    assert r.status_code == 422
    assert 'id="own-question-error">the question has 8399 characters' in r.text
    assert f">{long}</textarea>" in r.text
    assert "<h1>Coastal city logs its warmest November day" in r.text
    assert client.get("/api/asks").json()["total"] == 0
    assert client.post("/articles/no-such-thing/ask", data={"question": "hi"}
                       ).status_code == 404


def _faq_entry(html: str, question: str) -> str:
    return html.split(f"<summary>{question}", 1)[1].split("</details>", 1)[0]


def test_each_faq_question_can_be_asked_and_shows_its_latest_score(client: TestClient) -> None:
    html = client.get(f"/articles/{SLUG}").text
    questions = re.findall(r'<input type="hidden" name="question" value="([^"]+)">', html)
    assert FAQ_QUESTION in questions and len(questions) >= 2
    assert html.count('class="button ask-faq"') == len(questions)
    assert "No Consensus Score yet" in _faq_entry(html, FAQ_QUESTION)
    ask_id = _ask_article(client, FAQ_QUESTION)
    record = _record(client, ask_id)
    assert record["question"] == FAQ_QUESTION and record["score"] is not None
    entry = _faq_entry(client.get(f"/articles/{SLUG}").text, FAQ_QUESTION)
    assert re.search(r'<span class="sr">Consensus Score </span>'
                     + f"{record['score']:.0f}</span>", entry)
    assert f"/r/{ask_id}" in entry
    other = _faq_entry(client.get(f"/articles/{SLUG}").text,
                       next(q for q in questions if q != FAQ_QUESTION))
    assert "No Consensus Score yet" in other  # only the question asked is linked


def test_an_own_question_that_is_not_a_faq_question_is_not_linked(client: TestClient) -> None:
    ask_id = _ask_article(client, "Is this a FAQ question?")
    assert f"/r/{ask_id}</a>" not in client.get(f"/articles/{SLUG}").text.split(
        "What do the AIs actually think?")[0]


def test_hub_cards_show_the_latest_score_from_one_query(client: TestClient) -> None:
    assert client.get("/").text.count("No Consensus Score yet") >= 3
    _ask_article(client, "First question?")
    latest = _ask_article(client, "Second question?")
    other = _ask_article(client, None, slug="lunar-night-lander")
    engine = client.app.state.services.store.sessions.kw["bind"]  # type: ignore[attr-defined]
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        html = client.get("/").text
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len([s for s in statements if re.search(r"\bFROM asks\b", s)]) == 1
    for slug, ask_id in ((SLUG, latest), ("lunar-night-lander", other)):
        card = html.split(f'href="/articles/{slug}"', 1)[1].split("</li>", 1)[0]
        score = _record(client, ask_id)["score"]
        assert f'<a href="/r/{ask_id}">' in card
        assert f">{score:.0f}</span> latest Consensus Score" in card
