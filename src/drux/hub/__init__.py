"""The Hub: news articles (Markdown files and RSS/Atom feeds), each with an FAQ the
panel can answer, rendered through one sanitizer.

    hub = HubService(services)
    hub.ensure_loaded()
    articles, total = hub.list_articles(query="heat", tag="climate", page=1, per_page=10)
    view = hub.get_article("heat-record")
    await hub.faq("heat-record", panel="default")
    hub.faq_results("heat-record")

The interface is documented in ``drux.hub.service``.
"""

from drux.hub.render import render_markdown, sanitize_html
from drux.hub.service import ArticleView, HubService

__all__ = ["ArticleView", "HubService", "render_markdown", "sanitize_html"]
