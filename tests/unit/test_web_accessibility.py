"""Accessibility of the server-rendered pages (WCAG 2.1 AA basics), checked on their HTML and CSS."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_kit import Scripts, ask_from_the_form, make_services, relaxed

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
    ("bad", "accent-soft", ".status-failed in an article's past results (.ai-block)"),
    ("accent", "accent-soft", ".status-running in .ai-block"),
]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_colours_meet_aa_contrast(scheme: str) -> None:
    palette = _palettes()[scheme]
    failing = [f"{fg} on {bg} ({where}): {contrast(palette[fg], palette[bg]):.2f}"
               for fg, bg, where in TEXT_PAIRS if contrast(palette[fg], palette[bg]) < 4.5]
    assert not failing, failing
    # The mid score pill keeps dark text on the amber fill in both schemes.
    assert contrast("#1d1f23", palette["mid"]) >= 4.5


def test_motion_is_only_used_with_a_reduced_motion_rule() -> None:
    css = CSS.read_text()
    moves = re.findall(r"(?:animation|transition|scroll-behavior)\s*:\s*(?!none)[^;]+", css)
    if moves:
        assert "prefers-reduced-motion" in css, moves


def test_contrast_formula_matches_known_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.fixture
def client(drux_env: Path) -> Iterator[TestClient]:
    app = create_app(make_services(drux_env, Scripts()), relaxed(page_size=3))
    with TestClient(app) as c:
        yield c


def test_heatmap_numbers_are_also_a_table_and_readable_on_every_fill(client: TestClient) -> None:
    html = client.get(f"/r/{ask_from_the_form(client)}").text
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
    html = client.get(f"/r/{ask_from_the_form(client)}").text
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


class _Audit(HTMLParser):
    """Collects what the structural checks need from one page."""

    def __init__(self) -> None:
        super().__init__()
        self.html_lang = ""
        self.title = ""
        self.headings: list[int] = []
        self.tags: list[str] = []
        self.ids: set[str] = set()
        self.label_for: set[str] = set()
        self.unlabelled: list[str] = []
        self.links: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self._in_title = False
        self._label_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "html":
            self.html_lang = a.get("lang") or ""
        elif tag == "title" and "body" not in self.tags:  # not an SVG's <title>
            self._in_title = True
        elif re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        elif tag == "label":
            self._label_depth += 1
            if a.get("for"):
                self.label_for.add(str(a["for"]))
        elif tag == "a":
            self.links.append(a)
        if tag in ("input", "select", "textarea") and a.get("type") not in (
                "hidden", "submit", "button") and not self._label_depth \
                and not a.get("aria-label") and not a.get("aria-labelledby"):
            self.unlabelled.append(str(a.get("id") or a.get("name")))
        if "style" in a or any(k.startswith("on") for k in a) or (
                tag == "script" and not a.get("src")) or tag == "style":
            self.inline.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "label":
            self._label_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def _audit(html: str) -> _Audit:
    audit = _Audit()
    audit.feed(html)
    return audit


def _pages(client: TestClient) -> dict[str, str]:
    ask_id = ask_from_the_form(client)
    paths = {"hub": "/", "hub search": "/?q=water", "article": "/articles/november-heat-record",
             "ask": "/ask", "result": f"/r/{ask_id}", "thread": f"/t/{ask_id}",
             "history": "/history",
             "status": "/status", "docs": "/docs", "not found": "/nowhere",
             "bad input": "/?page=0"}
    return {name: client.get(path).text for name, path in paths.items()}


def test_every_page_has_structure_landmarks_labels_and_a_unique_title(client: TestClient) -> None:
    titles: dict[str, str] = {}
    for name, html in _pages(client).items():
        a = _audit(html)
        assert a.html_lang == "en", name
        assert a.headings.count(1) == 1, (name, a.headings)
        assert a.headings[0] == 1, (name, a.headings)
        skipped = [(x, y) for x, y in zip(a.headings, a.headings[1:], strict=False) if y > x + 1]
        assert not skipped, (name, a.headings)
        for landmark in ("header", "nav", "main", "footer"):
            assert landmark in a.tags, (name, landmark)
        assert a.links[0].get("class") == "skip" and a.links[0].get("href") == "#main", name
        assert "main" in a.ids
        unlabelled = [c for c in a.unlabelled if c not in a.label_for]
        assert not unlabelled, (name, unlabelled)
        assert not a.inline, (name, a.inline)  # the CSP forbids inline script and style
        assert a.title.endswith(" · drux") and len(a.title) > len(" · drux"), name
        assert a.title not in titles.values(), (name, a.title, titles)
        titles[name] = a.title


def test_numbers_and_current_choices_are_named_for_screen_readers(client: TestClient) -> None:
    ask_id = ask_from_the_form(client)
    history = client.get("/history").text
    pill = re.search(r'<span class="score-pill (\w+)">(.*?)</span>\s*<span class="q">', history)
    assert pill and pill.group(2).startswith('<span class="sr">Score </span>')
    result = client.get(f"/r/{ask_id}").text
    for label, role in (("Total time: ", "latency"), ("Output: ", "tokens"), ("Cost: ", "cost")):
        assert f'<span class="sr">{label}</span><span data-role="{role}">' in result
    tagged = client.get("/?tag=space").text
    assert '<div class="tags" role="group" aria-label="Filter by tag">' in tagged
    current = re.findall(r'<a class="tag active" aria-current="true" href="[^"]*">([^<]+)</a>',
                         tagged)
    assert current == ["space"]
