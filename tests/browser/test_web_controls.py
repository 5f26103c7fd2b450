"""The everyday web controls in chromium: the waiting state, Stop, the Ask form's options,
the reader's own question about an article and the FAQ asks."""

from __future__ import annotations

import re
from typing import Any

import pytest
from browser_kit import ANSWERS, screenshot, scripted_factory
from playwright.sync_api import expect

from scripted import Hang, Reply, ScriptedProvider

pytestmark = pytest.mark.browser

RESULT_URL = re.compile(r"/r/[A-Za-z0-9_-]{16,}$")
SLOW = 60_000  # generous: the machine is shared


def _factory(steps: dict[str, Any]) -> Any:
    providers: dict[str, ScriptedProvider] = {}

    def build(spec: Any, _config: Any) -> ScriptedProvider:
        providers[spec.id] = ScriptedProvider(spec.id, [steps.get(spec.id, Reply("fine"))])
        return providers[spec.id]

    build.providers = providers  # type: ignore[attr-defined]
    return build


def _ask(page: Any, base: str, question: str) -> None:
    page.goto(f"{base}/ask")
    page.fill("#question", question)
    page.click("form.ask-form button[type=submit]")
    page.wait_for_url(RESULT_URL)


def _badge(page: Any, model: str) -> Any:
    return page.locator(f'.column[data-model="{model}"] [data-role="status"]')


def test_a_silent_column_counts_the_seconds_then_streams(serve: Any, page: Any) -> None:
    server = serve(_factory({"alpha": Reply(ANSWERS["alpha"], first_delay=4.0, delay=0.4),
                             "beta": Reply(ANSWERS["beta"]), "gamma": Reply(ANSWERS["gamma"])}),
                   fake_panel=True)
    _ask(page, server.url, "What is the boiling point of water at sea level?")
    alpha = _badge(page, "alpha")
    expect(alpha).to_have_text(re.compile(r"^waiting for first token · [0-9] s$"), timeout=SLOW)
    # It ticks: seconds later it still waits, with more seconds on it.
    expect(alpha).to_have_text(re.compile(r"^waiting for first token · [2-9] s$"), timeout=SLOW)
    screenshot(page, "result-waiting")
    expect(page.locator("#live-status")).not_to_contain_text("waiting")  # never spoken
    expect(alpha).to_have_text("streaming", timeout=SLOW)
    expect(page.locator('.column[data-model="alpha"]')).to_have_class(
        re.compile(r"\bstatus-streaming\b"))
    expect(alpha).to_have_text("done", timeout=SLOW)
    expect(page.locator("#ask-status")).to_have_text("complete", timeout=SLOW)
    assert not page.console_errors and not page.offsite


def test_stop_keeps_what_arrived_and_shows_the_end_state(serve: Any, page: Any) -> None:
    factory = _factory({"alpha": Reply(ANSWERS["alpha"]),
                        "beta": Reply("At sea level " + "very " * 60, delay=0.3),
                        "gamma": Hang()})
    server = serve(factory, fake_panel=True)
    _ask(page, server.url, "What is the boiling point of water at sea level?")
    expect(_badge(page, "alpha")).to_have_text("done", timeout=SLOW)
    expect(_badge(page, "beta")).to_have_text("streaming", timeout=SLOW)
    expect(_badge(page, "gamma")).to_have_text(re.compile("^waiting for first token"))
    page.click("#stop-ask")
    expect(page.locator("#ask-status")).to_have_text("partial", timeout=SLOW)
    expect(_badge(page, "beta")).to_have_text("interrupted")
    expect(_badge(page, "gamma")).to_have_text("interrupted")
    expect(_badge(page, "alpha")).to_have_text("done")
    expect(page.locator("#stop-form")).to_be_hidden()
    expect(page.locator("#live-status")).to_have_text(re.compile("^Stopped"), timeout=SLOW)
    expect(page.locator("#consensus-slot")).to_contain_text("No Consensus Score", timeout=SLOW)
    beta_text = page.locator('.column[data-model="beta"] [data-role="answer"]').inner_text()
    assert beta_text.startswith("At")
    screenshot(page, "result-stopped")
    assert factory.providers["beta"].cancelled == 1 and factory.providers["gamma"].cancelled == 1

    page.reload()  # the stored record: partial, with what arrived
    expect(page.locator("#ask-status")).to_have_text("partial")
    expect(page.locator("#stop-form")).to_have_count(0)
    expect(page.locator('.column[data-model="alpha"] [data-role="answer"]')).to_have_text(
        ANSWERS["alpha"])
    expect(page.locator('.column[data-model="beta"] [data-role="answer"]')).to_have_text(
        beta_text.strip())  # every word that arrived, and only those
    expect(_badge(page, "beta")).to_have_text("interrupted")
    assert not page.console_errors and not page.offsite


def test_stop_without_javascript_posts_the_form(serve: Any, browser: Any) -> None:
    server = serve(_factory({"alpha": Reply(ANSWERS["alpha"]), "gamma": Hang()}),
                   fake_panel=True)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{server.url}/ask")
        page.fill("#question", "What is the boiling point of water at sea level?")
        page.click("form.ask-form button[type=submit]")
        page.wait_for_url(RESULT_URL)
        expect(page.locator("#ask-status")).to_have_text("running")
        page.click("#stop-ask")
        expect(page.locator("#ask-status")).to_have_text("partial", timeout=SLOW)
        expect(page.locator("#stop-form")).to_have_count(0)
        expect(_badge(page, "gamma")).to_have_text("interrupted")
    finally:
        context.close()


def test_the_ask_options_reach_the_models(serve: Any, page: Any) -> None:
    factory = scripted_factory(delay=0.0)
    server = serve(factory, fake_panel=True)
    page.goto(f"{server.url}/ask")
    page.fill("#question", "What is the boiling point of water at sea level?")
    page.fill("#max_tokens", "42")
    page.fill("#temperature", "0.7")
    screenshot(page, "ask-options")
    page.click("form.ask-form button[type=submit]")
    page.wait_for_url(RESULT_URL)
    expect(page.locator("#ask-status")).to_have_text("complete", timeout=SLOW)
    requests = [p.requests[-1] for p in factory.providers.values()]
    assert len(requests) == 3
    assert {(r.max_tokens, r.temperature) for r in requests} == {(42, 0.7)}
    assert not page.console_errors


def _open_article(page: Any, base: str, slug: str) -> str:
    page.goto(f"{base}/articles/{slug}")
    title: str = page.locator("h1").inner_text()
    return title


def test_the_reader_asks_their_own_question_about_an_article(serve: Any, page: Any) -> None:
    factory = scripted_factory(delay=0.0)
    server = serve(factory, fake_panel=True)
    title = _open_article(page, server.url, "november-heat-record")
    page.fill("#own-question", "Who measured the record, and how?")
    page.click("button.ask-own")
    page.wait_for_url(RESULT_URL)
    expect(page.locator("h1.question")).to_have_text("Who measured the record, and how?")
    expect(page.locator(".crumbs a")).to_have_text(title)
    expect(page.locator("#ask-status")).to_have_text("complete", timeout=SLOW)
    for provider in factory.providers.values():
        prompt = provider.requests[-1].prompt_text
        assert "Context:" in prompt and title in prompt
        assert "Who measured the record, and how?" in prompt
    assert not page.console_errors and not page.offsite


def test_a_faq_question_is_asked_from_the_article_and_its_score_shown(serve: Any,
                                                                      page: Any) -> None:
    server = serve(scripted_factory(delay=0.0), fake_panel=True)
    _open_article(page, server.url, "november-heat-record")
    item = page.locator(".faq-item").nth(1)
    question = item.locator('input[name="question"]').get_attribute("value")
    expect(item.locator("summary")).to_contain_text("No Consensus Score yet")
    item.locator("summary").click()  # open it: the button sits under the answer
    item.locator("button.ask-faq").click()
    page.wait_for_url(RESULT_URL)
    result_path = page.url.removeprefix(server.url)
    expect(page.locator("h1.question")).to_have_text(question)
    expect(page.locator("#consensus-result .gauge-label")).to_have_text(re.compile(r"^\d+$"),
                                                                        timeout=SLOW)
    score = page.locator("#consensus-result .gauge-label").text_content()
    page.goto(f"{server.url}/articles/november-heat-record")
    item = page.locator(".faq-item").nth(1)
    expect(item.locator("summary .score-pill")).to_have_text(f"Consensus Score {score}",
                                                            use_inner_text=False)
    expect(item.locator(f'a[href="{result_path}"]')).to_have_count(1)
    screenshot(page, "article-faq-scored")
    page.goto(server.url + "/")
    card = page.locator(".article-card", has=page.locator('a[href="/articles/november-heat-record"]'))
    expect(card.locator(".card-score .score-pill")).to_have_text(score)
    expect(card.locator(".card-score a")).to_have_attribute("href", result_path)
    assert not page.console_errors and not page.offsite
