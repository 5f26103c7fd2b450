"""Untrusted Markdown to safe HTML: article bodies and model answers.

Two layers, each enough on its own for the common attacks:

1. markdown-it-py (CommonMark, plus tables and strikethrough) with raw HTML
   *disabled*: ``<script>`` or ``<img onerror=...>`` typed into Markdown comes
   out as visible, escaped text, and its link validator refuses
   ``javascript:``/``vbscript:``/``file:``/``data:`` destinations.
2. nh3 (ammonia) over the result with a small allow-list of tags and
   attributes: no ``style``, ``class``, ``id`` or ``on*`` attribute survives;
   ``href`` must be an absolute ``http``/``https``/``mailto`` URL (relative,
   protocol-relative and every other scheme are dropped); every link gets
   ``rel="nofollow noopener noreferrer"``.

Images: none. A page never loads a remote image named by an article or a model
(no tracking pixels, and the site's CSP can keep ``img-src 'self'``). Markdown
``![alt](url)`` becomes a plain link labelled ``image: alt`` that the reader
may follow on purpose; ``img`` is not in the allow-list either.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from html import escape
from typing import Any
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = frozenset({
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s",
    "code", "pre", "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr",
    "th", "td",
})
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {"a": {"href", "title"}, "ol": {"start"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener noreferrer"


def safe_url(url: str) -> bool:
    """An absolute http(s) URL with a host, or a mailto: address."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme == "mailto":
        return bool(parts.path)
    return scheme in ("http", "https") and bool(parts.netloc)


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if attr == "href":
        return value if safe_url(value) else None
    if attr == "start":
        return value if value.isdigit() and len(value) < 10 else None
    return value


def _render_image(_renderer: Any, tokens: Sequence[Any], idx: int, _options: Any, _env: Any) -> str:
    # Registered as a renderer method, hence the leading renderer argument.
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = "".join(child.content for child in (token.children or []))
    label = escape(f"image: {alt}" if alt.strip() else "image")
    return f'<a href="{escape(src, quote=True)}">{label}</a>'


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.add_render_rule("image", _render_image)
    return md


@lru_cache(maxsize=1)
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_attribute_filter,
        url_schemes=set(URL_SCHEMES),
        url_relative="deny",
        link_rel=LINK_REL,
        strip_comments=True,
    )


def sanitize_html(html: str) -> str:
    """The second layer alone: clean an HTML fragment with the allow-list above."""
    return _cleaner().clean(html)


def render_markdown(text: str) -> str:
    """Untrusted Markdown to HTML that is safe to embed in a page as is."""
    if not text:
        return ""
    return sanitize_html(_markdown().render(text))


def plain_text(text: str, limit: int | None = None) -> str:
    """Markdown to whitespace-normalised plain text (for snippets and meta tags)."""
    html = render_markdown(text)
    stripped = nh3.clean(html, tags=set(), clean_content_tags={"script", "style"})
    from html import unescape

    flat = " ".join(unescape(stripped).split())
    if limit is not None and len(flat) > limit:
        flat = flat[: max(0, limit - 1)].rstrip() + "…"
    return flat


def _plain_words(text: str) -> str:
    # Markdown escapes (a feed body is escaped text) and spacing aside, the words as read.
    return " ".join(re.sub(r"\\(.)", r"\1", text).split())


def lead_repeats_body(summary: str | None, body_md: str) -> bool:
    """Whether an article's summary is just the start of its body (a feed item with a
    description and no separate content): the page then shows it once, as the body."""
    if not summary:
        return False
    lead = _plain_words(summary.removesuffix("…"))
    return bool(lead) and _plain_words(body_md).startswith(lead)
