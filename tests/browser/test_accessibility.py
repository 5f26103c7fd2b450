"""Accessibility in a real browser: what screen readers hear while an ask runs, keyboard-only use."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from browser_kit import WAIT_MS, scripted_factory
from playwright.sync_api import expect

from scripted import Gate

pytestmark = pytest.mark.browser

# Reports every text #live-status takes as a console message. An init script is installed
# through the DevTools protocol before the page's own scripts, so the CSP (no eval) allows it;
# the test hears the messages as events, in order, without evaluating anything in the page.
REPORT_ANNOUNCEMENTS = """
document.addEventListener("DOMContentLoaded", function () {
  var el = document.getElementById("live-status");
  if (!el) return;
  new MutationObserver(function () {
    if (el.textContent) console.log("announced: " + el.textContent);
  }).observe(el, {childList: true, characterData: true, subtree: true});
});
"""
ANNOUNCED = "announced: "


def _announcement(message: Any) -> str | None:
    text = str(message.text)
    return text.removeprefix(ANNOUNCED) if text.startswith(ANNOUNCED) else None


def _record_announcements(page: Any) -> list[str]:
    """Every announcement the page makes from now on, in order."""
    said: list[str] = []
    page.add_init_script(REPORT_ANNOUNCEMENTS)
    page.on("console", lambda m: (text := _announcement(m)) is not None and said.append(text))
    return said


def _announcing(page: Any, wanted: Callable[[str], bool]) -> Any:
    """A block that ends once the page has announced a text ``wanted`` accepts."""
    def match(message: Any) -> bool:
        text = _announcement(message)
        return text is not None and wanted(text)

    return page.expect_console_message(match, timeout=WAIT_MS)


def test_live_columns_announce_progress_politely_not_every_token(serve: Any, page: Any) -> None:
    gate = Gate()  # the answers hold their last word until the columns were seen streaming
    server = serve(scripted_factory(delay=0.25, gate=gate), fake_panel=True)
    said = _record_announcements(page)
    page.goto(f"{server.url}/ask")
    page.fill("#question", "What is the boiling point of water at sea level?")
    with _announcing(page, lambda text: text.startswith("Consensus Score")):
        page.click("form.ask-form button[type=submit]")
        page.wait_for_url(re.compile(r"/r/[A-Za-z0-9_-]{16,}$"))
        page.wait_for_selector('.column.status-streaming [data-role="answer"]:not(:empty)')
        assert page.locator(
            '.column.status-streaming [data-role="answer"][aria-busy="true"]').count()
        gate.open()
        page.wait_for_selector("#consensus-result .gauge", timeout=90_000)
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


def _describe_focus(page: Any) -> str:
    focused = page.locator(":focus")
    if not focused.count():
        return "nothing"
    first = focused.first
    return str(first.get_attribute("id") or first.get_attribute("name") or first.inner_text())


def _tab_to(page: Any, target: Any, limit: int = 30) -> None:
    """Press Tab until ``target`` (a locator) has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.and_(page.locator(":focus")).count():
            return
    raise AssertionError(f"Tab never reached {target}; stopped on {_describe_focus(page)}")


def test_keyboard_only_ask_copy_and_export(serve: Any, page: Any) -> None:
    server = serve(scripted_factory(delay=0.02), fake_panel=True)
    _record_announcements(page)
    page.goto(f"{server.url}/ask")
    page.keyboard.press("Tab")
    skip = page.locator("a.skip")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box and box["x"] >= 0 and box["y"] >= 0  # shown when focused
    expect(skip).not_to_have_css("outline-style", "none")
    _tab_to(page, page.locator("#question"))
    page.keyboard.type("Keyboard only: does water boil at 100 C?")
    page.keyboard.press("Tab")
    expect(page.locator('input[name="mode"][value="panel"]')).to_be_focused()
    page.keyboard.press("ArrowDown")  # the other radio of the group: these models
    expect(page.locator('input[name="mode"][value="models"]')).to_be_focused()
    assert page.locator('select[name="panel"]').is_disabled()
    # the checkboxes follow, ready models first
    _tab_to(page, page.locator('input[name="models"][value="alpha"]'))
    page.keyboard.press("Space")
    _tab_to(page, page.locator('input[name="models"][value="gamma"]'))
    page.keyboard.press("Space")
    _tab_to(page, page.get_by_role("button", name="Ask", exact=True))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/r/[A-Za-z0-9_-]{16,}$"))
    columns = page.locator(".column")
    assert sorted(c.get_attribute("data-model") for c in columns.all()) == ["alpha", "gamma"]
    page.wait_for_selector('#result[data-done="1"]', timeout=90_000)

    _tab_to(page, page.locator("#copy-link"), limit=60)
    with _announcing(page, lambda text: text == "Link copied"):
        page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Export JSON", exact=True)).to_be_focused()
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["models"] == ["alpha", "gamma"]
    assert not page.console_errors and not page.offsite
