"""Untrusted Markdown (model answers, article bodies) to safe HTML, as Jinja ``Markup``.

The rendering and sanitizing rules live in ``drux.hub.render`` (markdown-it-py,
then nh3 with safe link schemes only); the web layer only marks the result safe
for templates, so nothing else in ``web/`` ever calls ``Markup`` on content.
"""

from __future__ import annotations

import re

from markupsafe import Markup

from drux.hub.render import render_markdown as render


def render_markdown(text: str | None) -> Markup:
    if not text:
        return Markup("")

    return Markup(render(text))


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_LT = re.compile(r"(\\*)<")


def _escape_lt(line: str) -> str:
    # A backslash run before '<' is doubled so it cannot swallow the escape added here.
    return _LT.sub(lambda m: m.group(1) * 2 + "\\<", line)


def escape_raw_html(text: str) -> str:
    """Markdown whose '<' can open no HTML tag, comment or autolink in any renderer that
    allows raw HTML (an export is pasted into notes and issues). Fenced code blocks are
    left as written: a renderer shows their text, and code reads better unescaped."""
    out: list[str] = []
    fence, indent = "", 0
    for line in text.split("\n"):
        match = _FENCE.match(line)
        depth = len(line) - len(line.lstrip(" "))
        if fence and line.strip() and depth < indent:
            # Less indented than the fence's opening line: in a list item that line ends
            # the item and its code block, so it is read as Markdown again.
            fence = ""
        if not fence:
            if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
                fence, indent = match.group(1), depth
            else:
                line = _escape_lt(line)
        elif match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence) \
                and not match.group(2).strip():
            fence = ""
        out.append(line)
    return "\n".join(out)
