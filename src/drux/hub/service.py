"""``HubService``: the Hub's articles for the CLI, the pages and the API.

Stable interface (the web app is built against it; changes are listed here):

- ``list_articles(query=None, tag=None, page=1, per_page=20) -> (list[ArticleView], total)``
  newest first; every word of ``query`` must appear in the title, summary or body;
  ``tag`` filters by one tag; ``page`` counts from 1; ``per_page`` is 1..100.
- ``get_article(slug) -> ArticleView | None``
- ``all_tags() -> list[str]`` (sorted) and ``tag_counts() -> list[tuple[str, int]]``
  (most used first)
- ``import_path(path) -> list[str]``: a Markdown file, an RSS/Atom file, or a folder
  of both; every file is validated before anything is written, and the batch is
  written in one transaction, so a bad file changes nothing.
- ``ensure_loaded() -> list[str]``: imports the shipped samples into an empty Hub (the
  slugs it stored; none when the Hub had articles). Safe when many processes start at once
  on one database: one of them stores the samples, the others find them there.
- ``ask_options(slug, question=None, ...) -> AskOptions``: an ask about the article
  with the article as context (for "Ask the AIs: <title>").
- ``faq(slug, models=None, panel=None, ...)`` (async) and ``faq_results(slug)``:
  see ``drux.hub.faq``; ``on_step`` gets every event of each question's ask (progress).
- ``latest_scores(slugs) -> dict[str, ArticleScore]``: each article's latest scored
  ask (articles never scored are left out), in one query for a page of articles.

Every ``*_html`` value is sanitized (``drux.hub.render``); every other string is
plain text the caller must escape (Jinja2 autoescape does).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from drux.errors import InputError
from drux.hub import faq as faq_flow
from drux.hub.articles import ArticleDoc, load_markdown_file, normalize_tag
from drux.hub.feeds import FEED_SUFFIXES, load_feed, looks_like_feed, suffixed_slug
from drux.hub.render import lead_repeats_body, plain_text, render_markdown
from drux.records import AskSource
from drux.services import Services
from drux.services.ask import AskEvent, AskOptions
from drux.services.options import Backend
from drux.store.articles import ArticleRecord

if TYPE_CHECKING:
    from drux.store.articles import ArticleRepository, ArticleScore

SAMPLE_CONTENT = Path(__file__).parent / "content"
MARKDOWN_SUFFIXES = (".md", ".markdown")
MAX_PER_PAGE = 100
MAX_PAGE = 10_000  # as the web pages and API
MAX_FILES = 1000
MAX_QUERY_WORDS = 8
SNIPPET_CHARS = 240
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,199}$")


@dataclass(frozen=True, slots=True)
class ArticleView:
    id: str
    title: str
    source_url: str | None
    source_domain: str | None
    published: datetime | None
    tags: list[str]
    summary: str | None
    body_html: str
    faq: list[dict[str, Any]] = field(default_factory=list)
    # The summary shown above the body: none when it is only the body's first words (a
    # feed item's description with no separate content, or a snippet of the body).
    lead: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "source_url": self.source_url,
                "source_domain": self.source_domain,
                "published": self.published.isoformat() if self.published else None,
                "tags": list(self.tags), "summary": self.summary, "body_html": self.body_html,
                "faq": [dict(q) for q in self.faq]}


def source_domain(url: str | None) -> str | None:
    if not url:
        return None
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.") or None


def to_view(r: ArticleRecord) -> ArticleView:
    faq = [{"question": q.get("question", ""), "answer": q.get("answer"),
            "answer_html": render_markdown(q["answer"]) if q.get("answer") else None}
           for q in r.faq]
    summary = r.summary or (plain_text(r.body_md, SNIPPET_CHARS) or None)
    lead = None if lead_repeats_body(r.summary, r.body_md) else r.summary
    return ArticleView(r.id, r.title, r.source_url, source_domain(r.source_url), r.published,
                       list(r.tags), summary, render_markdown(r.body_md), faq, lead)


def _record(doc: ArticleDoc) -> ArticleRecord:
    return ArticleRecord(doc.slug, doc.title, doc.source_url, doc.published, list(doc.tags),
                         doc.summary, doc.body_md, [dict(q) for q in doc.faq])


class HubService:
    """The Hub over the shared ``Services`` (store, panel); see the module docstring."""

    def __init__(self, services: Services, *, content_dir: Path | None = None) -> None:
        self.services = services
        self.content_dir = content_dir or SAMPLE_CONTENT

    @property
    def repo(self) -> ArticleRepository:
        return self.services.store.articles

    # -- reading ---------------------------------------------------------------------------
    def list_articles(self, query: str | None = None, tag: str | None = None, page: int = 1,
                      per_page: int = 20) -> tuple[list[ArticleView], int]:
        if not 1 <= page <= MAX_PAGE:  # a huge page overflowed the database's OFFSET
            raise InputError(f"page must be between 1 and {MAX_PAGE}")
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise InputError(f"per_page must be between 1 and {MAX_PER_PAGE}")
        words = [w[:100] for w in (query or "").split()][:MAX_QUERY_WORDS]
        tag_name = None
        if tag is not None and tag.strip():
            tag_name = normalize_tag(tag)
            if not tag_name:
                return [], 0
        records, total = self.repo.search(words=words, tag=tag_name, limit=per_page,
                                          offset=(page - 1) * per_page)
        return [to_view(r) for r in records], total

    def get_article(self, slug: str) -> ArticleView | None:
        record = self._record(slug)
        return to_view(record) if record else None

    def all_tags(self) -> list[str]:
        return sorted(self.repo.tag_counts())

    def tag_counts(self) -> list[tuple[str, int]]:
        return sorted(self.repo.tag_counts().items(), key=lambda kv: (-kv[1], kv[0]))

    def latest_scores(self, slugs: list[str], shared_only: bool = False
                      ) -> dict[str, ArticleScore]:
        """The latest Consensus Score of each of these articles (one query for all)."""
        return self.repo.latest_scores(slugs, shared_only)

    def _record(self, slug: str) -> ArticleRecord | None:
        if not isinstance(slug, str) or not _SLUG.match(slug):
            return None
        return self.repo.get(slug)

    def require(self, slug: str) -> ArticleRecord:
        record = self._record(slug)
        if record is None:
            raise InputError(f"no article {slug!r} in the Hub (see: drux hub list)")
        return record

    # -- importing -------------------------------------------------------------------------
    def import_path(self, path: str | Path) -> list[str]:
        """Validate every file under ``path``, then upsert them all; returns the slugs."""
        docs = collect(Path(path))
        self._settle_feed_slugs(docs)
        self.repo.upsert_many([_record(d) for d in docs])
        return [d.slug for d in docs]

    def ensure_loaded(self) -> list[str]:
        if self.repo.count() > 0:  # the usual case, without taking the seeding lock
            return []
        docs = collect(self.content_dir)
        self._settle_feed_slugs(docs)
        return [d.slug for d in docs] if self.repo.seed([_record(d) for d in docs]) else []

    def _settle_feed_slugs(self, docs: list[ArticleDoc]) -> None:
        """A feed entry never overwrites another article that merely shares its title."""
        taken = {d.slug: d.source_url for d in docs if d.kind == "markdown"}
        stored = self.repo.source_urls([d.slug for d in docs if d.kind == "feed"])
        for doc in docs:
            if doc.kind != "feed":
                continue
            other = taken.get(doc.slug, stored.get(doc.slug, doc.source_url))
            if doc.slug in taken or other != doc.source_url:
                doc.slug = suffixed_slug(doc.slug, doc.source_url or doc.origin)
            taken[doc.slug] = doc.source_url

    # -- asking ----------------------------------------------------------------------------
    def ask_options(self, slug: str, question: str | None = None, *,
                    models: list[str] | None = None, panel: str | None = None,
                    source: AskSource = AskSource.WEB) -> AskOptions:
        """An ask about this article, with the article as context."""
        return faq_flow.ask_options(self.require(slug), question, models=models, panel=panel,
                                    source=source)

    async def faq(self, slug: str, models: list[str] | None = None, panel: str | None = None,
                  *, questions: list[str] | None = None, max_tokens: int | None = None,
                  model_timeout: float | None = None, backend: Backend = "fast",
                  on_result: Callable[[dict[str, Any]], None] | None = None,
                  on_step: Callable[[faq_flow.FaqStep], None] | None = None,
                  ) -> list[dict[str, Any]]:
        """Ask the panel each FAQ question (or the chosen ones) with the article as context;
        with ``DRUX_REDIS_URL`` each ask is a job a ``drux worker`` runs."""
        ask: faq_flow.RunAsk = faq_flow.run_ask
        redis_url = self.services.settings.redis_url
        if redis_url:
            from drux.state.queued_ask import queued_run_ask

            def ask(services: Services, opts: AskOptions) -> AsyncIterator[AskEvent]:
                return queued_run_ask(services, opts, redis_url)

        return await faq_flow.run_faq(
            self.services, self.require(slug), models=models, panel=panel, questions=questions,
            max_tokens=max_tokens, model_timeout=model_timeout, backend=backend,
            on_result=on_result, on_step=on_step, ask=ask)

    def faq_results(self, slug: str) -> list[dict[str, Any]]:
        """Each FAQ question with its latest ask (or none yet), disagreements flagged."""
        record = self._record(slug)
        return faq_flow.results(self.services, record) if record else []


def collect(path: Path) -> list[ArticleDoc]:
    """Every article under ``path``, all validated; the first problem is raised."""
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file()
                       and p.suffix.lower() in MARKDOWN_SUFFIXES + FEED_SUFFIXES
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
        if not files:
            raise InputError(f"{path}: no Markdown (.md) or feed (.xml, .rss, .atom) files")
        if len(files) > MAX_FILES:
            raise InputError(f"{path}: {len(files)} files; import at most {MAX_FILES} at a time")
    elif path.is_file():
        files = [path]
    else:  # a named pipe or a device would block the read, or never end
        raise InputError(f"{path}: not a regular file or folder")
    docs: list[ArticleDoc] = []
    errors: list[str] = []
    for file in files:
        try:
            docs.extend(load_feed(file) if looks_like_feed(file) else [load_markdown_file(file)])
        except InputError as exc:
            errors.append(str(exc))
    if errors:
        more = f" (and {len(errors) - 1} more problem{'s' * (len(errors) > 2)})" if len(errors) > 1 else ""
        raise InputError(f"{errors[0]}{more}; nothing was imported")
    seen: dict[str, str] = {}
    for doc in (d for d in docs if d.kind == "markdown"):
        if doc.slug in seen:
            raise InputError(f"{doc.origin}: article id {doc.slug!r} is also used by "
                             f"{seen[doc.slug]}; nothing was imported")
        seen[doc.slug] = doc.origin
    return docs
