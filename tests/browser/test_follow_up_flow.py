"""A follow-up in a real browser: ask, ask a follow-up below the answers, open the thread."""

from __future__ import annotations

import re
from typing import Any

import pytest
from browser_kit import screenshot, scripted_factory
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

RESULT_URL = re.compile(r"/r/[A-Za-z0-9_-]{16,}$")


def test_a_follow_up_continues_the_thread_and_the_thread_page_shows_both_turns(
        serve: Any, page: Any) -> None:
    factory = scripted_factory(delay=0.02)
    server = serve(factory, fake_panel=True)
    page.goto(f"{server.url}/ask")
    page.fill("#question", "What is the boiling point of water at sea level?")
    page.click("form.ask-form button[type=submit]")
    page.wait_for_url(RESULT_URL)
    first_url = page.url
    expect(page.locator("#consensus-result .gauge")).to_be_visible()

    page.fill("#followup-question", "And on top of Mount Everest?")
    page.click("#followup-submit")
    page.wait_for_url(lambda url: RESULT_URL.search(url) is not None and url != first_url)
    expect(page.locator("h1.question")).to_have_text("And on top of Mount Everest?")
    expect(page.locator("#consensus-result .gauge")).to_be_visible()
    expect(page.locator("#thread-link")).to_have_text("turn 2 of a thread")
    # Each model was sent its own first answer before the follow-up.
    sent = factory.providers["alpha"].requests[-1].messages
    assert [m.role for m in sent] == ["system", "user", "assistant", "user"]

    page.click("#thread-link")
    page.wait_for_url(re.compile(r"/t/[A-Za-z0-9_-]{16,}$"))
    expect(page.locator(".turn")).to_have_count(2)
    expect(page.locator("#turn-1 .turn-title")).to_contain_text("boiling point of water")
    expect(page.locator("#turn-2 .turn-title")).to_contain_text("And on top of Mount Everest?")
    expect(page.locator('#turn-2 [data-role="score"]')).to_have_text(re.compile(r"\d+|—"))
    expect(page.locator("#followup-form")).to_be_visible()
    screenshot(page, "thread")
    assert not page.console_errors and not page.dialogs and not page.offsite
