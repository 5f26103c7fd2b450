"""Accessibility of the server-rendered pages (WCAG 2.1 AA basics), checked on their HTML and CSS."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_kit import Scripts, make_services, relaxed, sse_events

from drux.web.app import create_app
from drux.web.svg import _cell_color, gauge

CSS = Path(__file__).resolve().parents[2] / "src/drux/web/static/app.css"


def _luminance(hex_colour: str) -> float:
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    channels = [int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _palettes() -> dict[str, dict[str, str]]:
    css = CSS.read_text()
    blocks = re.findall(r":root\s*\{([^}]*)\}", css)
    assert len(blocks) == 2, "expected a light :root and a dark :root"
    light = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{3,6})\b", blocks[0]))
    dark = {**light, **dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{3,6})\b", blocks[1]))}
    return {"light": light, "dark": dark}


# (text colour, background, where): every pairing of palette colours the stylesheet uses for text.
TEXT_PAIRS = [
    ("text", "bg", "body"), ("muted", "bg", ".muted, .lead, footer"),
    ("muted", "surface", ".muted in cards"), ("muted", "code", ".badge waiting"),
    ("accent", "bg", "links"), ("accent", "surface", "links in cards, .status-running"),
    ("accent-text", "accent", ".button.primary, .tag.active"),
    ("accent", "accent-soft", ".badge streaming, .method"),
    ("muted", "accent-soft", ".muted in .ai-block"),
    ("good", "surface", ".badge done, .claim-col.shared h4"), ("good", "bg", ".status-complete"),
    ("good", "code", ".state-closed"),
    ("bad", "surface", ".badge failed, .error-text, .alert"), ("bad", "bg", ".status-failed, .flag"),
    ("bad", "code", ".state-open"),
    ("mid-text", "surface", ".substitute"), ("mid-text", "code", ".state-half-open"),
    ("on-status", "good", ".score-pill.high"), ("on-status", "bad", ".score-pill.low"),
    ("on-status", "muted", ".score-pill.none"),
]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_colours_meet_aa_contrast(scheme: str) -> None:
    palette = _palettes()[scheme]
    failing = [f"{fg} on {bg} ({where}): {contrast(palette[fg], palette[bg]):.2f}"
               for fg, bg, where in TEXT_PAIRS if contrast(palette[fg], palette[bg]) < 4.5]
    assert not failing, failing
    # The mid score pill keeps dark text on the amber fill in both schemes.
    assert contrast("#1d1f23", palette["mid"]) >= 4.5


def test_contrast_formula_matches_known_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.fixture
def client(drux_env: Path) -> Iterator[TestClient]:
    app = create_app(make_services(drux_env, Scripts()), relaxed(page_size=3))
    with TestClient(app) as c:
        yield c


def _finished_ask(client: TestClient, question: str = "Does water boil at 100 C?") -> str:
    r = client.post("/ask", data={"question": question, "mode": "panel", "panel": "default"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    ask_id = r.headers["location"].rsplit("/", 1)[1]
    sse_events(client.get(f"/api/asks/{ask_id}/events").text)  # wait for the end
    return ask_id


def test_heatmap_numbers_are_also_a_table_and_readable_on_every_fill(client: TestClient) -> None:
    html = client.get(f"/r/{_finished_ask(client)}").text
    svg = re.search(r'<svg class="heatmap".*?</svg>', html, re.S)
    assert svg and 'role="img"' in svg.group(0)
    pairs = re.findall(r"<title>([^<]+) vs ([^<]+): ([0-9.]+)</title>", svg.group(0))
    assert len(pairs) == 6
    table = re.search(r'<details class="hm-table">.*?</details>', html, re.S)
    assert table, "the heatmap has no table alternative"
    head = re.findall(r'<th scope="col">([^<]+)</th>', table.group(0))
    assert head == ["Model", "alpha", "beta", "gamma"]
    rows = {m.group(1): re.findall(r"<td>([^<]+)</td>", m.group(2)) for m in re.finditer(
        r'<tr><th scope="row">([^<]+)</th>(.*?)</tr>', table.group(0), re.S)}
    for a, b, value in pairs:
        assert rows[a][head.index(b) - 1] == value
    assert [rows[m][i] for i, m in enumerate(["alpha", "beta", "gamma"])] == ["—"] * 3
    # Each number's ink is chosen against its own fill.
    for fill, ink in re.findall(r'fill="(#[0-9a-f]{6})">.*?class="hm-value hm-ink-(\w+)"',
                                svg.group(0)):
        assert contrast(fill, "#ffffff" if ink == "light" else "#000000") >= 4.5


def test_gauge_text_alternative_says_the_score_or_that_there_is_none() -> None:
    assert 'aria-label="Consensus Score 87 out of 100"' in gauge(87.4)
    assert 'aria-label="No Consensus Score"' in gauge(None)
    for v in range(0, 101):
        fill, ink = _cell_color(v / 100)
        assert contrast(fill, "#ffffff" if ink == "light" else "#000000") >= 4.5, v


def test_result_page_announces_progress_from_one_polite_status_not_the_tokens(
        client: TestClient) -> None:
    html = client.get(f"/r/{_finished_ask(client)}").text
    live = re.findall(r"<[^>]*aria-live=[^>]*>", html)
    assert live == ['<p class="sr" id="live-status" role="status" aria-live="polite" '
                    'aria-atomic="true">']
    assert 'data-role="answer"' in html  # the answers exist but are not live regions


def test_a_refused_ask_shows_the_form_again_with_the_input_kept(drux_env: Path) -> None:
    app = create_app(make_services(drux_env, Scripts()), relaxed(asks_per_minute=1, ask_burst=2))
    form = {"question": "Which models agree on 2 + 2?", "mode": "models",
            "models": ["alpha", "gamma"]}
    with TestClient(app) as client:
        empty = client.post("/ask", data={**form, "question": "  "}, follow_redirects=False)
        assert empty.status_code == 422
        assert '<p class="alert" role="alert" id="ask-error">' in empty.text
        assert 'aria-describedby="ask-error"' in empty.text
        assert "<title>Error: Ask the AIs · drux</title>" in empty.text
        for status in (303, 429):  # the empty question spent a token, this ask the other
            r = client.post("/ask", data=form, follow_redirects=False)
            assert r.status_code == status
    html = r.text
    assert "Slow down" in html and int(r.headers["retry-after"]) >= 1
    assert re.search(r"<textarea[^>]*>Which models agree on 2 \+ 2\?</textarea>", html)
    assert 'value="models" checked' in html
    checked = re.findall(r'name="models" value="(\w+)" checked', html)
    assert checked == ["alpha", "gamma"]
