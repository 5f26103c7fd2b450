"""Accessibility in a real browser: what screen readers hear while an ask runs, keyboard-only use."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from browser_kit import scripted_factory

pytestmark = pytest.mark.browser

# Records every text #live-status takes (installed before the page's own scripts run).
RECORD_ANNOUNCEMENTS = """
window.__announced = [];
document.addEventListener("DOMContentLoaded", function () {
  var el = document.getElementById("live-status");
  if (!el) return;
  new MutationObserver(function () {
    if (el.textContent) window.__announced.push(el.textContent);
  }).observe(el, {childList: true, characterData: true, subtree: true});
});
"""


def test_live_columns_announce_progress_politely_not_every_token(serve: Any, page: Any) -> None:
    server = serve(scripted_factory(delay=0.25), fake_panel=True)  # slow enough to see streaming
    page.add_init_script(RECORD_ANNOUNCEMENTS)
    page.goto(f"{server.url}/ask")
    page.fill("#question", "What is the boiling point of water at sea level?")
    page.click("form.ask-form button[type=submit]")
    page.wait_for_url(re.compile(r"/r/[A-Za-z0-9_-]{16,}$"))
    page.wait_for_selector('.column.status-streaming [data-role="answer"]:not(:empty)',
                           timeout=20_000)
    assert page.locator('.column.status-streaming [data-role="answer"][aria-busy="true"]').count()
    page.wait_for_selector("#consensus-result .gauge", timeout=90_000)
    page.wait_for_function("() => window.__announced.some(t => t.startsWith('Consensus Score'))",
                           timeout=30_000)
    said = page.evaluate("window.__announced")
    assert said[0] == "3 models are answering"
    done = [t for t in said if " answered (" in t]
    assert sorted(t.split(" ")[0] for t in done) == ["alpha", "beta", "gamma"]
    assert any(t.endswith("(3 of 3 done)") for t in done)
    score = page.locator("#consensus-result .gauge-label").text_content()
    verdict = page.locator("#consensus-result .verdict").text_content()
    assert said[-1] == f"Consensus Score {score} out of 100: {verdict}"
    assert len(said) == 5  # start, three answers, the score: far fewer than the tokens
    assert page.locator("[aria-live]").count() == 1
    assert page.locator('[data-role="answer"][aria-busy]').count() == 0
    assert not page.console_errors and not page.offsite


def _focused(page: Any) -> str:
    return str(page.evaluate(
        "(() => { const e = document.activeElement;"
        " return e.id || (e.name ? e.name + '=' + e.value"
        " : e.tagName.toLowerCase() + ':' + e.textContent.trim()); })()"))


def _tab_to(page: Any, target: str, limit: int = 30) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if _focused(page) == target:
            return
    raise AssertionError(f"Tab never reached {target}; stopped on {_focused(page)}")


def test_keyboard_only_ask_copy_and_export(serve: Any, page: Any) -> None:
    server = serve(scripted_factory(delay=0.02), fake_panel=True)
    page.add_init_script(RECORD_ANNOUNCEMENTS)
    page.goto(f"{server.url}/ask")
    page.keyboard.press("Tab")
    skip = page.locator("a.skip")
    assert page.evaluate("document.activeElement.className") == "skip"
    box = skip.bounding_box()
    assert box and box["x"] >= 0 and box["y"] >= 0  # shown when focused
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    _tab_to(page, "question")
    page.keyboard.type("Keyboard only: does water boil at 100 C?")
    page.keyboard.press("Tab")
    assert _focused(page) == "mode=panel"
    page.keyboard.press("ArrowDown")  # the other radio of the group: these models
    assert _focused(page) == "mode=models"
    assert page.locator('select[name="panel"]').is_disabled()
    _tab_to(page, "models=alpha")  # the checkboxes follow, ready models first
    page.keyboard.press("Space")
    _tab_to(page, "models=gamma")
    page.keyboard.press("Space")
    _tab_to(page, "button:Ask")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/r/[A-Za-z0-9_-]{16,}$"))
    assert sorted(page.locator(".column").evaluate_all(
        "els => els.map(e => e.dataset.model)")) == ["alpha", "gamma"]
    page.wait_for_selector('#result[data-done="1"]', timeout=90_000)

    _tab_to(page, "copy-link", limit=60)
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.__announced.includes('Link copied')", timeout=10_000)
    page.keyboard.press("Tab")
    assert _focused(page) == "a:Export JSON"
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["models"] == ["alpha", "gamma"]
    assert not page.console_errors and not page.offsite
