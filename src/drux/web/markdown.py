"""Untrusted Markdown (model answers, article bodies) to safe HTML, as Jinja ``Markup``.

The rendering and sanitizing rules live in ``drux.hub.render`` (markdown-it-py,
then nh3 with safe link schemes only); the web layer only marks the result safe
for templates, so nothing else in ``web/`` ever calls ``Markup`` on content.
"""

from __future__ import annotations

from markupsafe import Markup


def render_markdown(text: str | None) -> Markup:
    if not text:
        return Markup("")
    from drux.hub.render import render_markdown as render

    return Markup(render(text))
