"""Turning web input into ``AskOptions``."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from drux.records import AskSource
from drux.services.options import AskOptions

if TYPE_CHECKING:
    from drux.hub import HubService


def split_models(raw: list[str] | None) -> list[str] | None:
    if not raw:
        return None
    ids = list(dict.fromkeys(m.strip() for m in raw if m and m.strip()))
    return ids or None


def article_options(hub: HubService, slug: str, *, source: AskSource, question: str | None = None,
                    models: list[str] | None = None, panel: str | None = None,
                    max_tokens: int | None = None, temperature: float | None = None,
                    timeout: float | None = None) -> AskOptions:
    """"Ask the AIs" about an article: its topic, with the article as context."""
    opts = hub.ask_options(slug, question, models=models, panel=panel, source=source)
    # A new, checked AskOptions (they are frozen: nothing skips their limits).
    return replace(opts, max_tokens=max_tokens, temperature=temperature, timeout=timeout)
