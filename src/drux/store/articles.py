"""Hub articles and the FAQ asks linked to them.

Articles are upserted by id (their slug) in one transaction, so an import
either stores every article of a batch or none. Writes are INSERT ... ON CONFLICT, never
"read, then insert": two processes importing or seeding the same articles at once both
succeed and each row is written once ("read, then insert" let both see no row, and one died
on the primary key: uvicorn then stopped the whole server at start-up). Search is portable SQL
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
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from drux.store._session import READ_FAILED, WRITE_FAILED, reading, writing
from drux.store.models import Article, Ask, FaqAnswer, utcnow

T = TypeVar("T")

_SEED_LOCK = 0x64727568  # "druh": the advisory lock that makes Hub seeding one at a time
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}  # both have ON CONFLICT
_CHUNK = 500  # rows per INSERT, 9 values each: PostgreSQL takes at most 65,535 per statement


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


def _row(r: ArticleRecord, now: datetime) -> dict[str, Any]:
    return {"id": r.id, "title": r.title, "source_url": r.source_url, "published": r.published,
            "tags": list(r.tags), "summary": r.summary, "body_md": r.body_md,
            "faq": [dict(q) for q in r.faq], "imported_at": now}


def _insert(session: Session, records: list[ArticleRecord], *, replace: bool) -> None:
    """INSERT ... ON CONFLICT for the batch (in chunks, under the drivers' parameter limits):
    ``replace`` updates an article stored meanwhile by another process, otherwise it is left
    as it is."""
    now = utcnow()
    rows = [_row(r, now) for r in records]
    dialect = session.get_bind().dialect.name
    insert: Any = _INSERTS.get(dialect)
    if insert is None:  # another engine: no portable ON CONFLICT; one writer is usual there
        for row in rows:
            if replace:
                session.merge(Article(**row))
            elif session.get(Article, row["id"]) is None:
                session.add(Article(**row))
        return
    for i in range(0, len(rows), _CHUNK):
        stmt = insert(Article).values(rows[i:i + _CHUNK])
        if replace:
            stmt = stmt.on_conflict_do_update(
                index_elements=[Article.id],
                set_={k: stmt.excluded[k] for k in rows[0] if k != "id"})
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=[Article.id])
        session.execute(stmt)


def _one_writer_at_a_time(session: Session) -> None:
    """Wait for any other transaction doing the same, until this one ends."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_SEED_LOCK)))
    elif dialect == "sqlite":
        # A deferred transaction that read before another process wrote cannot write at all
        # in WAL mode (busy_timeout does not help): take the write lock before reading.
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")


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
        if records:
            self._write(lambda session: _insert(session, records, replace=True))

    def seed(self, records: list[ArticleRecord]) -> bool:
        """Store these articles if the Hub has none, as one step however many processes
        start at once; whether this call stored them. Seeders take turns (an advisory lock
        on PostgreSQL, SQLite's write lock taken up front) and each looks again once it has
        its turn, so articles imported meanwhile are never overwritten by the samples."""

        def fn(session: Session) -> bool:
            _one_writer_at_a_time(session)
            if session.scalar(select(func.count()).select_from(Article)):
                return False
            _insert(session, records, replace=False)
            return True

        return self._write(fn) if records else False

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
