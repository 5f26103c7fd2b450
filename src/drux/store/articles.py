"""Hub articles and the FAQ asks linked to them.

Articles are upserted by id (their slug) in one transaction, so an import
either stores every article of a batch or none. Search is portable SQL
(``ILIKE`` per word over title, summary and body; a tag matched inside the
JSON list's text, which is safe because tags are ``[a-z0-9-]`` only), so the
same code runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import String, and_, cast, func, or_, select, true
from sqlalchemy.orm import Session, sessionmaker

from drux.store._session import READ_FAILED, WRITE_FAILED, reading, writing
from drux.store.models import Article, Ask, FaqAnswer, utcnow

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ArticleRecord:
    id: str
    title: str
    source_url: str | None = None
    published: datetime | None = None
    tags: list[str] = field(default_factory=list)
    summary: str | None = None
    body_md: str = ""
    faq: list[dict[str, Any]] = field(default_factory=list)
    imported_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FaqLink:
    article_id: str
    question: str
    ask_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ArticleScore:
    """The Consensus Score of the latest scored ask about an article."""

    article_id: str
    ask_id: str
    score: float
    verdict: str | None


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _record(a: Article) -> ArticleRecord:
    return ArticleRecord(a.id, a.title, a.source_url, _utc(a.published), list(a.tags or []),
                         a.summary, a.body_md or "", [dict(q) for q in (a.faq or [])],
                         _utc(a.imported_at))


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ArticleRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def _write(self, fn: Callable[[Session], T]) -> T:
        with writing(self._sessions, WRITE_FAILED) as session:
            return fn(session)

    def _read(self, fn: Callable[[Session], T]) -> T:
        with reading(self._sessions, READ_FAILED) as session:
            return fn(session)

    def upsert_many(self, records: list[ArticleRecord]) -> None:
        """Insert or replace these articles, all in one transaction."""

        def fn(session: Session) -> None:
            now = utcnow()
            for r in records:
                row = session.get(Article, r.id) or Article(id=r.id)
                row.title, row.source_url, row.published = r.title, r.source_url, r.published
                row.tags, row.summary, row.body_md = list(r.tags), r.summary, r.body_md
                row.faq, row.imported_at = [dict(q) for q in r.faq], now
                session.add(row)

        self._write(fn)

    def get(self, article_id: str) -> ArticleRecord | None:
        def fn(session: Session) -> ArticleRecord | None:
            row = session.get(Article, article_id)
            return _record(row) if row is not None else None

        return self._read(fn)

    def source_urls(self, ids: list[str]) -> dict[str, str | None]:
        def fn(session: Session) -> dict[str, str | None]:
            rows = session.execute(select(Article.id, Article.source_url).where(Article.id.in_(ids)))
            return {i: s for i, s in rows}

        return self._read(fn) if ids else {}

    def search(self, *, words: list[str] | None = None, tag: str | None = None,
               limit: int = 20, offset: int = 0) -> tuple[list[ArticleRecord], int]:
        """Newest first; every word must appear (any case) in the title, summary or body."""
        conditions = [
            or_(Article.title.ilike(_like(w), escape="\\"),
                Article.summary.ilike(_like(w), escape="\\"),
                Article.body_md.ilike(_like(w), escape="\\"))
            for w in words or []
        ]
        if tag is not None:
            conditions.append(cast(Article.tags, String).like(f'%"{tag}"%'))
        where = and_(*conditions) if conditions else None
        stmt = select(Article).order_by(Article.published.desc().nulls_last(),
                                        Article.imported_at.desc(), Article.id)
        count = select(func.count()).select_from(Article)
        if where is not None:
            stmt, count = stmt.where(where), count.where(where)

        def fn(session: Session) -> tuple[list[ArticleRecord], int]:
            total = int(session.scalar(count) or 0)
            rows = session.scalars(stmt.limit(limit).offset(offset)).all()
            return [_record(r) for r in rows], total

        return self._read(fn)

    def count(self) -> int:
        return self._read(lambda s: int(s.scalar(select(func.count()).select_from(Article)) or 0))

    def tag_counts(self) -> dict[str, int]:
        def fn(session: Session) -> dict[str, int]:
            counts: Counter[str] = Counter()
            for tags in session.scalars(select(Article.tags)):
                counts.update(str(t) for t in tags or [])
            return dict(counts)

        return self._read(fn)

    def add_faq_answer(self, article_id: str, question: str, ask_id: str) -> None:
        self._write(lambda s: s.add(FaqAnswer(article_id=article_id, question=question,
                                              ask_id=ask_id)))

    def faq_answers(self, article_id: str) -> list[FaqLink]:
        """Every FAQ ask of an article, newest first."""
        stmt = (select(FaqAnswer).where(FaqAnswer.article_id == article_id)
                .order_by(FaqAnswer.created_at.desc(), FaqAnswer.id.desc()))

        def fn(session: Session) -> list[FaqLink]:
            return [FaqLink(r.article_id, r.question, r.ask_id, _utc(r.created_at) or r.created_at)
                    for r in session.scalars(stmt)]

        return self._read(fn)

    def latest_scores(self, article_ids: list[str], shared_only: bool = False
                      ) -> dict[str, ArticleScore]:
        """Each article's latest scored ask, for a whole page of articles in one query
        (``shared_only``: among shared asks, the only ones every reader may open)."""
        if not article_ids:
            return {}
        newest_first = func.row_number().over(partition_by=Ask.article_id,
                                              order_by=(Ask.created_at.desc(), Ask.id.desc()))
        ranked = (select(Ask.article_id, Ask.id, Ask.score, Ask.verdict,
                         newest_first.label("rank"))
                  .where(Ask.article_id.in_(article_ids), Ask.score.is_not(None),
                         Ask.shared.is_(True) if shared_only else true()).subquery())
        stmt = select(ranked.c.article_id, ranked.c.id, ranked.c.score,
                      ranked.c.verdict).where(ranked.c.rank == 1)

        def fn(session: Session) -> dict[str, ArticleScore]:
            return {row[0]: ArticleScore(row[0], row[1], float(row[2]), row[3])
                    for row in session.execute(stmt)}

        return self._read(fn)
