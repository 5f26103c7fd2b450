"""Turning web input into ``AskOptions``."""

from __future__ import annotations

from dataclasses import replace

from drux.errors import DruxError
from drux.hub import HubService
from drux.hub.service import ArticleView
from drux.records import AskSource
from drux.services import Services
from drux.services.options import AskOptions


def split_models(raw: list[str] | None) -> list[str] | None:
    if not raw:
        return None
    ids = list(dict.fromkeys(m.strip() for m in raw if m and m.strip()))
    return ids or None


def article_options(hub: HubService, slug: str, *, source: AskSource, question: str | None = None,
                    models: list[str] | None = None, panel: str | None = None,
                    max_tokens: int | None = None, temperature: float | None = None,
                    timeout: float | None = None, system: str | None = None,
                    owner_id: int | None = None) -> AskOptions:
    """"Ask the AIs" about an article: its topic, with the article as context."""
    opts = hub.ask_options(slug, question, models=models, panel=panel, source=source)
    # A new, checked AskOptions (they are frozen: nothing skips their limits).
    return replace(opts, max_tokens=max_tokens, temperature=temperature, timeout=timeout,
                   system=system, owner_id=owner_id)


def link_faq_ask(services: Services, article: ArticleView, question: str, ask_id: str) -> bool:
    """A web ask of one of the article's FAQ questions counts as that question's latest
    answer (its score is then the one shown beside the question)."""
    if not any(q.get("question") == question for q in article.faq):
        return False
    try:
        services.store.articles.add_faq_answer(article.id, question, ask_id)
        # Shown beside the question to every reader of the article, so readable by them.
        services.store.asks.set_shared(ask_id, True)
    except DruxError:  # the ask runs anyway; only the FAQ page will not point at it
        return False
    return True
