"""The Hub in a real browser: "Ask the AIs" on an article, every main page, mobile width."""

from __future__ import annotations

import re
from typing import Any

import pytest
from browser_kit import WAIT_MS, screenshot, scripted_factory

from drux.hub import HubService

pytestmark = pytest.mark.browser


def _first_article(page: Any, base: str) -> str:
    page.goto(base + "/")
    link = page.locator(".article-card h2 a").first
    title = link.inner_text()
    link.click()
    page.wait_for_selector("h1")
    assert page.locator("h1").inner_text() == title
    return title


def test_article_ask_the_ais_runs_the_panel_with_the_article(serve: Any, page: Any) -> None:
    factory = scripted_factory(delay=0.02)
    server = serve(factory, fake_panel=True)
    title = _first_article(page, server.url)
    article_url = page.url
    button = page.locator("button.ask-ai")
    assert button.inner_text() == f"Ask the AIs: {title}"
    screenshot(page, "article")
    button.click()
    page.wait_for_url(re.compile(r"/r/[A-Za-z0-9_-]{16,}$"))
    page.wait_for_selector("#consensus-result", timeout=90_000)
    assert page.locator(".crumbs a").inner_text() == title
    # Every model was asked about the article's topic with the article as context.
    for provider in factory.providers.values():
        prompt = provider.requests[-1].prompt_text
        assert title in prompt and "Context:" in prompt
    result_url = page.url
    page.goto(article_url)
    past = page.locator(".ai-block .asklist a")
    assert past.count() == 1
    assert past.first.get_attribute("href") == result_url.removeprefix(server.url)
    page.goto(f"{server.url}/history?article={article_url.rsplit('/', 1)[1]}")
    assert page.locator(".asklist li").count() == 1
    assert not page.console_errors and not page.offsite


def test_main_pages_render_cleanly(serve: Any, page: Any) -> None:
    server = serve(scripted_factory(delay=0.0), fake_panel=True)
    _first_article(page, server.url)
    page.click("button.ask-ai")
    page.wait_for_selector("#consensus-result", timeout=90_000)
    for name, path in [("hub", "/"), ("ask", "/ask"), ("history", "/history"),
                       ("status", "/status"), ("docs", "/docs")]:
        response = page.goto(server.url + path)
        assert response is not None and response.status == 200, name
        csp = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        screenshot(page, name)
    assert not page.console_errors, page.console_errors  # CSP blocked nothing we serve
    assert not page.offsite
    response = page.goto(server.url + "/r/not-a-result")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    screenshot(page, "not-found")


def test_mobile_width_has_no_horizontal_scroll(serve: Any, browser: Any) -> None:
    server = serve(scripted_factory(delay=0.0), fake_panel=True)
    context = browser.new_context(viewport={"width": 375, "height": 780}, is_mobile=True,
                                  device_scale_factor=2)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    try:
        page.goto(server.url + "/")
        page.locator(".article-card h2 a").first.click()
        page.wait_for_selector("button.ask-ai")
        article = page.url
        page.click("button.ask-ai")
        page.wait_for_selector("#consensus-result", timeout=90_000)
        for name, url in [("mobile-result", page.url), ("mobile-hub", server.url + "/"),
                          ("mobile-article", article), ("mobile-ask", server.url + "/ask"),
                          ("mobile-status", server.url + "/status")]:
            page.goto(url)
            widths = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert widths[0] <= widths[1], f"{name} scrolls sideways: {widths}"
            screenshot(page, name)
    finally:
        context.close()


# Scripted providers stream word by word, so some payloads have no spaces: they arrive
# as one token, which is what a live view that used innerHTML would execute.
XSS_ANSWER = (
    "Look: <img/src=x/onerror=window.__xss=12> <svg/onload=window.__xss=13> "
    '<img src=x onerror="window.__xss=1"> and <script>window.__xss=2</script> '
    "[click me](javascript:window.__xss=3) <a href=\"javascript:window.__xss=4\">raw</a> "
    "<svg onload=\"window.__xss=5\"></svg>"
)


def _assert_inert(page: Any) -> None:
    assert page.evaluate("window.__xss") is None
    assert not page.dialogs
    hrefs = [str(a.get_attribute("href")) for a in page.locator("a[href]").all()]
    assert not [h for h in hrefs if h.strip().lower().startswith(("javascript:", "data:"))]
    assert page.locator("main img, main [onerror], main [onload], main script").count() == 0


def test_xss_in_model_answers_stays_inert(serve: Any, page: Any) -> None:
    from scripted import Gate, Reply, ScriptedProvider

    gate = Gate()  # every word but the last streams, then waits until the live page was checked

    def build(spec: Any, _config: Any) -> ScriptedProvider:
        return ScriptedProvider(spec.id, [Reply(XSS_ANSWER, delay=0.1, gate=gate)])

    server = serve(build, fake_panel=True)
    page.goto(server.url + "/ask")
    page.fill("#question", "<script>window.__xss=9</script> what now?")
    page.click("form.ask-form button[type=submit]")
    page.wait_for_selector('.column.status-streaming [data-role="answer"]:not(:empty)')
    _assert_inert(page)  # live tokens are text
    gate.open()
    page.wait_for_selector("#consensus-result", timeout=90_000)
    _assert_inert(page)  # the final, server-sanitized answers
    answer = page.locator('.column[data-model="alpha"] [data-role="answer"]')
    assert "click me" in answer.inner_text()
    assert "<script>window.__xss=9</script>" in page.locator("h1.question").inner_text()
    page.reload()
    _assert_inert(page)  # the stored result
    screenshot(page, "xss-answer")


def test_xss_in_an_article_stays_inert(serve: Any, page: Any, tmp_path: Any) -> None:
    server = serve(scripted_factory(delay=0.0), fake_panel=True)
    md = tmp_path / "evil-article.md"
    md.write_text(
        "---\n"
        "title: \"<img src=x onerror=window.__xss=6> Breaking news\"\n"
        "source: https://news.example.com/evil\n"
        "date: 2026-11-25\n"
        "tags: [security]\n"
        "summary: \"<script>window.__xss=7</script> summary\"\n"
        "faq:\n"
        "  - question: \"Is it <b>safe</b>?\"\n"
        "    answer: \"[yes](javascript:window.__xss=8) <img src=x onerror=window.__xss=10>\"\n"
        "---\n" + XSS_ANSWER + "\n\n<iframe src=\"javascript:window.__xss=11\"></iframe>\n")
    HubService(server.services).import_path(md)
    page.goto(server.url + "/articles/evil-article")
    assert "Breaking news" in page.locator("h1").inner_text()
    _assert_inert(page)
    assert page.locator("main iframe").count() == 0
    page.goto(server.url + "/?q=breaking")
    _assert_inert(page)
    screenshot(page, "xss-article")
