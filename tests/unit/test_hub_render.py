"""The sanitizer: hostile Markdown and HTML come out inert, ordinary Markdown survives."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from drux.hub.render import ALLOWED_TAGS, plain_text, render_markdown, sanitize_html


class _Tags(HTMLParser):
    """The real elements of a fragment (escaped text is not an element)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def _no_active_content(html: str) -> None:
    parser = _Tags()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag in ALLOWED_TAGS, html
        for name, value in attrs:
            assert not name.startswith("on") and name not in ("style", "src", "class"), html
            if name == "href":
                assert (value or "").startswith(("http://", "https://", "mailto:")), html


def test_ordinary_markdown_survives() -> None:
    html = render_markdown(
        "# Title\n\nSome **bold**, *em*, `code` and [a link](https://example.com/a?b=1&c=2).\n\n"
        "- one\n- two\n\n> quoted\n\n```\nx = 1\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html and "<em>em</em>" in html and "<code>code</code>" in html
    assert '<a href="https://example.com/a?b=1&amp;c=2" rel="nofollow noopener noreferrer">' in html
    assert "<li>one</li>" in html and "<blockquote>" in html and "<pre><code>x = 1" in html
    assert "<td>1</td>" in html


@pytest.mark.parametrize("payload", [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)" onclick="alert(2)">x</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![pixel](data:image/png;base64,iVBORw0KGgo=)",
    "![tracker](https://tracker.example.com/p.gif)",
    "<svg onload=alert(1)></svg>",
    '<iframe src="https://evil.example.com"></iframe>',
    "[rel](//evil.example.com/x)",
    '<p style="position:fixed">x</p>',
])
def test_markdown_payloads_stay_inert(payload: str) -> None:
    _no_active_content(render_markdown(f"Before {payload} after"))


def test_raw_html_in_markdown_is_shown_as_text_not_markup() -> None:
    html = render_markdown("<script>alert(1)</script>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_images_become_links_and_are_never_loaded() -> None:
    html = render_markdown("![a cat](https://img.example.com/cat.png)")
    assert "<img" not in html
    assert ('<a href="https://img.example.com/cat.png" rel="nofollow noopener noreferrer">'
            "image: a cat</a>") in html
    assert 'href' not in render_markdown("![x](data:image/png;base64,AAAA)")


@pytest.mark.parametrize("html", [
    '<a href="javascript:alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<a href="/relative">x</a>',
    '<a href="//evil.example.com">x</a>',
    '<p onclick="alert(1)" class="btn" id="x">x</p>',
    "<img src=https://x.example/p.png>",
    "<script>alert(1)</script><style>body{}</style>",
    "<object data=x></object><embed src=x><form action=x><input></form>",
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
])
def test_the_html_layer_alone_removes_active_content(html: str) -> None:
    cleaned = sanitize_html(html)
    _no_active_content(cleaned)
    assert "alert(1)</script>" not in cleaned and "<style" not in cleaned


def test_links_keep_safe_schemes_and_get_rel() -> None:
    cleaned = sanitize_html('<a href="mailto:desk@example.com" rel="opener" target="_blank">m</a>')
    assert cleaned == '<a href="mailto:desk@example.com" rel="nofollow noopener noreferrer">m</a>'


def test_plain_text_snippet() -> None:
    assert plain_text("# Head\n\nSome **bold** &amp; <b>tags</b>", limit=200) == \
        "Head Some bold & <b>tags</b>"
    assert plain_text("word " * 100, limit=20).endswith("…")
    assert len(plain_text("word " * 100, limit=20)) == 20
