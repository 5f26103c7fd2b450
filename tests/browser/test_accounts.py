"""Accounts in chromium: signing in and out, a wrong password, throttling, a refused CSRF
token, private asks, the admin-only status page and the read-only public Hub."""

from __future__ import annotations

import re
from typing import Any

import pytest
from browser_kit import ANSWERS, screenshot, scripted_factory
from playwright.sync_api import expect

from drux.web.settings import WebSettings

from scripted import Hang, Reply, ScriptedProvider

pytestmark = pytest.mark.browser

RESULT_URL = re.compile(r"/r/[A-Za-z0-9_-]{16,}$")
SLOW = 60_000
PASSWORD = "long enough"


def _web(**kw: Any) -> WebSettings:
    return WebSettings(**{"asks_per_minute": 600, "ask_burst": 100, **kw})


def _server(serve: Any, factory: Any = None, **web: Any) -> Any:
    server = serve(factory or scripted_factory(delay=0.0), fake_panel=True, web=_web(**web))
    users = server.services.store.users
    users.create("ada", PASSWORD, "admin")
    users.create("bob", PASSWORD)
    users.create("cy", PASSWORD)
    return server


def _sign_in(page: Any, base: str, name: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("#sign-in")


def _ask(page: Any, base: str, question: str) -> str:
    page.goto(f"{base}/ask")
    page.fill("#question", question)
    page.click("form.ask-form button[type=submit]")
    page.wait_for_url(RESULT_URL)
    return str(page.url)


def test_sign_in_asks_and_signs_out(serve: Any, page: Any) -> None:
    server = _server(serve)
    page.goto(f"{server.url}/ask")
    expect(page).to_have_url(re.compile(r"/login\?next=/ask$"))
    page.fill("#username", "bob")
    page.fill("#password", "not the password")
    page.click("#sign-in")
    expect(page.locator("#login-error")).to_have_text("Wrong username or password.")
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    expect(page).to_have_url(re.compile(r"/ask$"))
    expect(page.locator("#signed-in-as")).to_have_text("bob")
    screenshot(page, "accounts-signed-in")
    _ask(page, server.url, "Does water boil at 100 C?")
    column = page.locator('.column[data-model="alpha"] [data-role="answer"]')
    expect(column).to_have_text(ANSWERS["alpha"], timeout=SLOW)
    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto(f"{server.url}/history")
    expect(page).to_have_url(re.compile(r"/login\?next=/history$"))
    # Only the refused sign-in's own status: no script failed on the way.
    assert page.console_errors == [  # type: ignore[attr-defined]
        "Failed to load resource: the server responded with a status of 401 (Unauthorized)"]


def test_stop_sends_the_csrf_token_from_a_signed_in_page(serve: Any, page: Any) -> None:
    providers: dict[str, ScriptedProvider] = {}

    def factory(spec: Any, _config: Any) -> ScriptedProvider:
        step = Hang() if spec.id == "gamma" else Reply(ANSWERS.get(spec.id, "fine"))
        providers[spec.id] = ScriptedProvider(spec.id, [step])
        return providers[spec.id]

    server = _server(serve, factory)
    _sign_in(page, server.url, "bob")
    _ask(page, server.url, "Does water boil at 100 C?")
    page.click("#stop-ask")
    expect(page.locator("#ask-status")).to_have_text("partial", timeout=SLOW)


def test_throttled_after_too_many_attempts(serve: Any, page: Any) -> None:
    server = _server(serve, login_burst=2, login_per_minute=1)
    for _ in range(2):
        _sign_in(page, server.url, "bob", "wrong password")
        expect(page.locator("#login-error")).to_have_text("Wrong username or password.")
    _sign_in(page, server.url, "bob")  # right, but too late
    expect(page.locator("#login-error")).to_have_text(
        re.compile(r"^Too many sign-in attempts; try again in \d+ s\.$"))
    expect(page.locator("#signed-in-as")).to_have_count(0)


def test_a_post_without_the_csrf_token_is_refused(serve: Any, page: Any) -> None:
    server = _server(serve)
    _sign_in(page, server.url, "bob")
    expect(page.locator("#signed-in-as")).to_have_text("bob")
    # The browser's own session cookie, without the page's token: what a forged post sends.
    form = {"question": "Forged?", "mode": "panel", "panel": "default"}
    refused = page.request.post(f"{server.url}/ask", form=form, max_redirects=0)
    assert refused.status == 403
    api = page.request.post(f"{server.url}/api/asks", data={"question": "Forged?"})
    assert api.status == 403 and api.json()["error"]["type"] == "forbidden"
    assert server.services.store.asks.count() == 0


def test_a_member_cannot_read_another_members_ask_or_admin_pages(serve: Any,
                                                                  browser: Any) -> None:
    server = _server(serve)
    bob = browser.new_page()
    cy = browser.new_page()
    try:
        _sign_in(bob, server.url, "bob")
        permalink = _ask(bob, server.url, "Is this mine alone?")
        _sign_in(cy, server.url, "cy")
        cy.goto(permalink)
        expect(cy.locator("h1")).to_have_text("Not found")
        cy.goto(f"{server.url}/status")
        expect(cy.locator("h1")).to_have_text("Not allowed")
        expect(cy.locator("nav[aria-label=Main] a", has_text="Status")).to_have_count(0)
        bob.click("#share-toggle")
        expect(bob.locator("#share-toggle")).to_have_text("Make private")
        cy.goto(permalink)
        expect(cy.locator("h1.question")).to_have_text("Is this mine alone?")
        expect(cy.locator("#share-toggle")).to_have_count(0)
    finally:
        bob.context.close()
        cy.context.close()


def test_anonymous_visitors_read_the_public_hub_only(serve: Any, browser: Any) -> None:
    server = _server(serve, public_hub=True)
    bob = browser.new_page()
    visitor = browser.new_page()
    try:
        _sign_in(bob, server.url, "bob")
        shared = _ask(bob, server.url, "Shared with everyone?")
        bob.click("#share-toggle")
        expect(bob.locator("#share-toggle")).to_have_text("Make private")
        private = _ask(bob, server.url, "Kept to myself?")
        visitor.goto(f"{server.url}/")
        expect(visitor.locator("h1")).to_have_text(re.compile("Hub"))
        expect(visitor.locator("a.sign-in")).to_have_text("Sign in")
        visitor.locator(".card a").first.click()
        visitor.click(".ask-ai")
        expect(visitor).to_have_url(re.compile(r"/login\?next="))
        visitor.goto(shared)
        expect(visitor.locator("h1.question")).to_have_text("Shared with everyone?")
        visitor.goto(private)
        expect(visitor.locator("h1")).to_have_text("Not found")
        visitor.goto(f"{server.url}/ask")
        expect(visitor).to_have_url(re.compile(r"/login\?next=/ask$"))
    finally:
        bob.context.close()
        visitor.context.close()
