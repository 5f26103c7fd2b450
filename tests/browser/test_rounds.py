"""Deliberation rounds in a real browser: each round's score shows live as it ends, then the
timeline and the synthesis the server renders once the ask is over."""

from __future__ import annotations

import re
from typing import Any

import pytest
from browser_kit import screenshot
from playwright.sync_api import expect

from scripted import Gate, Reply, ScriptedProvider

pytestmark = pytest.mark.browser

FIRST = {"alpha": "Water boils at 100 degrees Celsius.", "beta": "Water boils at 90 degrees Celsius.",
         "gamma": "Water boils at 100 degrees Celsius at sea level."}
SECOND = {m: "Water boils at 100 degrees Celsius.\nWhy: the others agree." for m in FIRST}


def test_rounds_show_live_then_as_a_timeline_with_the_synthesis(serve: Any, page: Any) -> None:
    gate = Gate()  # round 2 holds its last word until round 1's line was seen

    def build(spec: Any, _config: Any) -> ScriptedProvider:
        return ScriptedProvider(spec.id, [Reply(FIRST.get(spec.id, "fine"), delay=0.02),
                                          Reply(SECOND.get(spec.id, "fine"), gate=gate)])

    server = serve(build, fake_panel=True)
    page.goto(f"{server.url}/ask")
    page.fill("#question", "At what temperature does water boil?")
    page.select_option("#rounds", "2")
    page.check("#synthesize")
    page.click("form.ask-form button[type=submit]")
    page.wait_for_url(re.compile(r"/r/[A-Za-z0-9_-]{16,}$"))
    live = page.locator("#live-rounds li")
    expect(live.first).to_contain_text(re.compile(r"^Round 1: \d+ \("), timeout=90_000)
    gate.open()
    expect(page.locator("#rounds #round-2")).to_contain_text("Round 2", timeout=90_000)
    expect(page.locator("#rounds #round-2")).to_contain_text("changed their answer: beta")
    expect(page.locator("#rounds .trend")).to_contain_text(re.compile(r"round 1: \d+ → round 2: \d+"))
    expect(page.locator("#synthesis h3")).to_contain_text("synthesized by alpha")
    expect(page.locator("#ask-status")).to_have_text("complete")
    screenshot(page, "rounds")
