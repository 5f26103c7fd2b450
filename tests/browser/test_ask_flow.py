"""The ask flow in a real browser: columns stream, the score appears, the permalink keeps it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from browser_kit import ANSWERS, screenshot, scripted_factory
from playwright.sync_api import expect

from drux.web.settings import WebSettings

from scripted import Gate, Raise, Reply, ScriptedProvider

pytestmark = pytest.mark.browser

def _ask(page: Any, base: str, question: str) -> None:
    page.goto(f"{base}/ask")
    page.fill("#question", question)
    page.click("form.ask-form button[type=submit]")
    page.wait_for_url(re.compile(r"/r/[A-Za-z0-9_-]{16,}$"))


def test_ask_streams_columns_scores_and_permalink_reloads_the_same(serve: Any, page: Any) -> None:
    gate = Gate()  # the answers hold their last word until the columns were seen streaming
    server = serve(scripted_factory(delay=0.3, gate=gate), fake_panel=True)
    _ask(page, server.url, "What is the boiling point of water at sea level?")
    # While the answers stream, columns show live text before they are done.
    page.wait_for_selector('.column.status-streaming [data-role="answer"]:not(:empty)')
    streaming = page.locator(".column.status-streaming").count()
    assert streaming >= 1
    gate.open()
    page.wait_for_selector("#consensus-result .gauge", timeout=90_000)
    assert page.locator(".column.status-done").count() == 3
    for model, text in ANSWERS.items():
        answer = page.locator(f'.column[data-model="{model}"] [data-role="answer"]')
        assert answer.inner_text().strip() == text
        assert page.locator(f'.column[data-model="{model}"] [data-role="tokens"]').inner_text() \
            .endswith("tokens")
    score = page.locator("#consensus-result .gauge-label").text_content()
    verdict = page.locator("#consensus-result .verdict").inner_text()
    assert score.isdigit() or score == "—"
    assert page.locator("#consensus-result .heatmap rect.hm-cell").count() == 9
    screenshot(page, "result")

    url = page.url
    page.goto(url)  # the permalink, loaded fresh from the store
    assert page.locator("#consensus-result .gauge-label").text_content() == score
    assert page.locator("#consensus-result .verdict").inner_text() == verdict
    for model, text in ANSWERS.items():
        answer = page.locator(f'.column[data-model="{model}"] [data-role="answer"]')
        assert answer.inner_text().strip() == text
    assert page.locator("#ask-status").inner_text() == "complete"
    assert page.locator('meta[property="og:title"]').get_attribute("content").startswith(
        "What is the boiling point")
    assert page.locator("#permalink").input_value() == url
    page.click("#copy-link")
    expect(page.locator("#copy-link")).to_have_text("Copied")
    with page.expect_download() as download:
        page.click("text=Export JSON")
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["id"] == url.rsplit("/", 1)[1] and exported["status"] == "complete"
    with page.expect_download() as download:
        page.click("text=Export Markdown")
    assert Path(download.value.path()).read_text().startswith(
        "# What is the boiling point of water at sea level?")
    assert not page.console_errors and not page.dialogs and not page.offsite


def _mixed_factory() -> Any:
    """The real SmolLM2 beside one scripted model, so there is something to agree with."""
    from drux.providers import build_provider

    def build(spec: Any, config: Any) -> Any:
        if spec.weights is not None:
            return build_provider(spec, config)
        return ScriptedProvider(spec.id, [Reply("Paris is the capital of France.", delay=0.02)])

    return build


@pytest.mark.e2e
def test_ask_with_the_real_offline_model(serve: Any, page: Any) -> None:
    from drux.catalog import Catalog
    from drux.config import Settings
    from drux.weights import status

    spec = Catalog.builtin().model("smollm2-135m")
    assert spec.weights is not None
    if not status(spec.weights, Settings().models_dir).ready:
        pytest.skip("SmolLM2 weights are not assembled (make models)")
    server = serve(_mixed_factory(), fake_panel=True,
                   web=WebSettings(asks_per_minute=60, ask_burst=10, max_tokens=32))
    page.goto(f"{server.url}/ask")
    page.fill("#question", "What is the capital of France?")
    page.check('input[name="mode"][value="models"]')
    page.check('input[name="models"][value="smollm2-135m"]')
    page.check('input[name="models"][value="alpha"]')
    page.click("form.ask-form button[type=submit]")
    page.wait_for_url(re.compile(r"/r/[A-Za-z0-9_-]{16,}$"))
    page.wait_for_selector("#consensus-result", timeout=180_000)
    smol = page.locator('.column[data-model="smollm2-135m"]')
    assert "status-done" in (smol.get_attribute("class") or "")
    live_text = smol.locator('[data-role="answer"]').inner_text().strip()
    assert live_text
    screenshot(page, "result-smollm2")
    page.reload()
    assert smol.locator('[data-role="answer"]').inner_text().strip() == live_text
    assert page.locator("#ask-status").inner_text() == "complete"


def test_a_failing_model_shows_failed_while_the_others_answer(serve: Any, page: Any) -> None:
    from drux.errors import ModelNotFoundError

    def build(spec: Any, _config: Any) -> ScriptedProvider:
        if spec.id == "gamma":
            return ScriptedProvider(spec.id, [Raise(ModelNotFoundError(
                "gamma was withdrawn", provider="ollama", model="gamma"), delay=0.3)])
        return ScriptedProvider(spec.id, [Reply(ANSWERS[spec.id], delay=0.05)])

    server = serve(build, fake_panel=True)
    _ask(page, server.url, "What is the boiling point of water at sea level?")
    gamma = page.locator('.column[data-model="gamma"]')
    page.wait_for_selector('.column[data-model="gamma"].status-failed')
    assert gamma.locator('[data-role="status"]').inner_text().lower() == "failed"
    assert "gamma was withdrawn" in gamma.locator('[data-role="error"]').inner_text()
    page.wait_for_selector("#consensus-result", timeout=90_000)
    assert page.locator(".column.status-done").count() == 2
    page.reload()
    assert "gamma was withdrawn" in gamma.locator('[data-role="error"]').inner_text()
    screenshot(page, "result-with-failure")


def test_when_every_model_fails_the_page_says_so(serve: Any, page: Any) -> None:
    from drux.errors import ModelNotFoundError

    def build(spec: Any, _config: Any) -> ScriptedProvider:
        return ScriptedProvider(spec.id, [Raise(ModelNotFoundError(
            f"{spec.id} was withdrawn", provider="ollama", model=spec.id), delay=0.2)])

    server = serve(build, fake_panel=True)
    _ask(page, server.url, "Anyone there?")
    page.wait_for_selector('#result[data-done="1"]', timeout=90_000)
    assert page.locator(".column.status-failed").count() == 3
    assert page.locator("#ask-status").inner_text() == "failed"
    expect(page.locator("#consensus-slot")).not_to_contain_text("appears when")
    slot = page.locator("#consensus-slot").inner_text()
    assert "No Consensus Score" in slot or "No consensus score" in slot


def test_a_cut_answer_is_marked_live_and_no_consensus_shows_the_positions(serve: Any,
                                                                          page: Any) -> None:
    # Issue 12, cases 3 and 5 in the browser: the live column of an answer the token limit
    # cut says so (the page did not), and a contradicted panel gets positions, no answer.
    answers = {"alpha": "The capital of Australia is Canberra.",
               "beta": "The capital of Australia is Canberra.",
               "gamma": "The capital of Australia is Sydney. It is the largest city and"}
    gate = Gate()

    def build(spec: Any, _config: Any) -> ScriptedProvider:
        return ScriptedProvider(spec.id, [Reply(answers[spec.id], delay=0.05, gate=gate,
                                                finish="length" if spec.id == "gamma" else "stop")])

    server = serve(build, fake_panel=True)
    _ask(page, server.url, "What is the capital of Australia?")
    page.wait_for_selector('.column.status-streaming [data-role="answer"]:not(:empty)')
    gate.open()  # the page is live: the "finished" events arrive over SSE
    gamma = page.locator('.column[data-model="gamma"] [data-role="status"]')
    expect(gamma).to_have_text("done · cut off at the token limit", timeout=90_000)
    expect(page.locator('.column[data-model="alpha"] [data-role="status"]')).to_have_text("done")
    expect(page.locator("#positions-line")).to_have_text(
        "The capital of Australia is Canberra: alpha, beta · The capital of Australia is Sydney: gamma",
        timeout=90_000)
    assert page.locator(".consensus-answer").count() == 0
    page.goto(page.url)  # the permalink, from the store: the same marks
    expect(page.locator('.column[data-model="gamma"] [data-role="status"]')).to_have_text(
        "done · cut off at the token limit")
    assert not page.console_errors and not page.dialogs and not page.offsite
