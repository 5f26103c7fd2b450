"""Asks and their answers: written as they happen, so nothing received is lost."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from drux.errors import StoreError
from drux.records import (
    AnswerError,
    AnswerRecord,
    AnswerStatus,
    AnswerTimings,
    AnswerUsage,
    AskRecord,
    AskSource,
    AskStatus,
    AskSummary,
    ConsensusRecord,
    RoundRecord,
    SynthesisRecord,
    ThreadPosition,
)
from drux.store._session import READ_FAILED, WRITE_FAILED, reading, writing
from drux.store.models import Answer, Ask, AskRound, utcnow

T = TypeVar("T")

_ID_LENGTH = 32  # Ask.id is String(32)

ANSWER_FIELDS = {
    "family", "deployment", "substituted_for", "answered_by", "recovered", "status", "text", "finish_reason",
    "error_type", "error_message", "error_status", "first_token_s", "total_s", "input_tokens",
    "output_tokens", "tokens_per_s", "cost_usd",
}


def _text(value: Any) -> Any:
    # PostgreSQL text cannot hold NUL (SQLite can); it carries nothing, so it is dropped everywhere.
    return value.replace("\x00", "") if isinstance(value, str) else value


def _text_tree(value: Any) -> Any:
    """``_text`` through JSON: a model's text may hold NUL wherever it is stored."""
    if isinstance(value, dict):
        return {k: _text_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_text_tree(v) for v in value]
    return _text(value)


def new_ask_id() -> str:
    """16 random bytes, URL-safe: the permalink must not be guessable. Ids never start
    with '-' or '_', so `drux show ID` never mistakes one for an option."""
    while True:
        ask_id = secrets.token_urlsafe(16)
        if ask_id[0] not in "-_":
            return ask_id


def thread_position(thread_id: str | None, turn: int | None,
                    trimmed: dict[str, Any] | None) -> ThreadPosition | None:
    if thread_id is None:
        return None
    return ThreadPosition(id=thread_id, turn=turn or 1, trimmed=dict(trimmed or {}))


def _summary(row: Any) -> AskSummary:
    ask_id, created_at, question, status, score, verdict, models, article_id, *thread = row
    return AskSummary(id=ask_id, created_at=created_at.isoformat(), question=question,
                      status=AskStatus(status), score=score, verdict=verdict,
                      models=list(models or []),
                      article_id=article_id, thread=thread_position(*thread))


def answer_record(a: Answer) -> AnswerRecord:
    return AnswerRecord(
        model=a.model, family=a.family, deployment=a.deployment,
        substituted_for=a.substituted_for, answered_by=a.answered_by, recovered=a.recovered,
        status=AnswerStatus(a.status), text=a.text, finish_reason=a.finish_reason,
        error=None if not a.error_type else AnswerError(
            type=a.error_type, message=a.error_message, status=a.error_status),
        timings=AnswerTimings(first_token_s=a.first_token_s, total_s=a.total_s,
                              tokens_per_s=a.tokens_per_s),
        usage=AnswerUsage(input_tokens=a.input_tokens, output_tokens=a.output_tokens),
        cost_usd=a.cost_usd,
    )


def ask_record(ask: Ask) -> AskRecord:
    return AskRecord(
        id=ask.id,
        created_at=ask.created_at.isoformat() if ask.created_at else None,
        finished_at=ask.finished_at.isoformat() if ask.finished_at else None,
        question=ask.question, context=ask.context, panel=ask.panel,
        models=list(ask.models or []), skipped=list(ask.skipped or []),
        params=dict(ask.params or {}), status=AskStatus(ask.status),
        source=AskSource(ask.source),
        article_id=ask.article_id, score=ask.score, verdict=ask.verdict,
        consensus=None if ask.consensus is None else ConsensusRecord.model_validate(ask.consensus),
        answers=[answer_record(a) for a in ask.answers],
        thread=thread_position(ask.thread_id, ask.turn, ask.thread_trimmed),
        rounds=[round_record(r) for r in ask.rounds],
        synthesis=None if not ask.synthesis else SynthesisRecord.model_validate(ask.synthesis),
    )


def round_record(row: AskRound) -> RoundRecord:
    return RoundRecord(
        round=row.round, status=AskStatus(row.status), score=row.score, verdict=row.verdict,
        consensus=None if row.consensus is None else ConsensusRecord.model_validate(row.consensus),
        answers=[AnswerRecord.model_validate(a) for a in row.answers or []],
        why=dict(row.why or {}), changed=list(row.changed or []),
    )


@dataclass(frozen=True, slots=True)
class AskAccess:
    """Who may read an ask: its owner (None: asked from the CLI or before accounts existed),
    and everyone else too when it is shared."""

    owner_id: int | None
    shared: bool


@dataclass(frozen=True, slots=True)
class Visibility:
    """Whose asks a listing shows: one account's own, and, for an admin, those asked
    without an account (the CLI's, and the web app's before accounts existed)."""

    user_id: int
    unowned: bool = False

    def condition(self) -> ColumnElement[bool]:
        own = Ask.owner_id == self.user_id
        return or_(own, Ask.owner_id.is_(None)) if self.unowned else own


def _visible(stmt: Select[Any], visible_to: Visibility | None) -> Select[Any]:
    return stmt if visible_to is None else stmt.where(visible_to.condition())


def next_turn(session: Session, thread_id: str) -> int:
    """The turn after the thread's last; the first ask becomes turn 1 of its thread when
    first followed up (a single ask has no thread)."""
    root = session.get(Ask, thread_id)
    if root is None:
        raise StoreError(f"no ask {thread_id}")
    if root.thread_id is None:
        root.thread_id, root.turn = thread_id, 1
    last = session.scalar(select(func.max(Ask.turn)).where(Ask.thread_id == thread_id))
    return int(last or 1) + 1


class AskRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def _write(self, fn: Callable[[Session], T]) -> T:
        with writing(self._sessions, WRITE_FAILED) as session:
            return fn(session)

    def create(self, *, question: str, models: list[str], families: dict[str, str],
               panel: str | None = None, skipped: list[dict[str, str]] | None = None,
               params: dict[str, Any] | None = None, context: str | None = None,
               article_id: str | None = None, source: AskSource = AskSource.CLI,
               owner_id: int | None = None, shared: bool = False,
               thread: ThreadPosition | None = None) -> str:
        """``thread``: the new ask is the next turn of that thread (its ``turn`` is set
        here, in the same transaction, as one past the thread's last)."""
        ask_id = new_ask_id()

        def fn(session: Session) -> None:
            ask = Ask(id=ask_id, question=_text(question), models=models, panel=panel,
                      skipped=skipped or [], params=params or {}, context=_text(context),
                      article_id=article_id, source=source, status=AskStatus.RUNNING,
                      owner_id=owner_id, shared=shared)
            if thread is not None:
                ask.thread_id, ask.turn = thread.id, next_turn(session, thread.id)
                ask.thread_trimmed = dict(thread.trimmed)
            ask.answers = [Answer(model=m, family=families.get(m), position=i)
                           for i, m in enumerate(models)]
            session.add(ask)

        self._write(fn)
        return ask_id

    def update_answers(self, ask_id: str, updates: dict[str, dict[str, Any]]) -> None:
        """Patch several models' answer rows in one transaction."""
        if not updates:
            return

        def fn(session: Session) -> None:
            rows = session.scalars(select(Answer).where(Answer.ask_id == ask_id)).all()
            for row in rows:
                for key, value in updates.get(row.model, {}).items():
                    if key not in ANSWER_FIELDS:
                        raise ValueError(f"unknown answer field {key}")
                    setattr(row, key, _text(value))

        self._write(fn)

    def finish(self, ask_id: str, *, status: AskStatus, score: float | None = None,
               verdict: str | None = None, consensus: ConsensusRecord | None = None) -> None:
        def fn(session: Session) -> None:
            ask = session.get(Ask, ask_id)
            if ask is None:
                raise StoreError(f"no ask {ask_id}")
            ask.status, ask.score, ask.verdict = status, score, verdict
            ask.consensus = None if consensus is None else consensus.model_dump(mode="json")
            ask.finished_at = utcnow()

        self._write(fn)

    def save_round(self, ask_id: str, record: RoundRecord) -> None:
        """Store one deliberation round (again: a round is rewritten, never duplicated)."""
        data = record.model_dump(mode="json")

        def fn(session: Session) -> None:
            row = session.scalars(select(AskRound).where(
                AskRound.ask_id == ask_id, AskRound.round == record.round)).first()
            if row is None:
                row = AskRound(ask_id=ask_id, round=record.round)
                session.add(row)
            row.status, row.score, row.verdict = record.status, record.score, record.verdict
            row.consensus, row.answers = data["consensus"], _text_tree(data["answers"])
            row.why, row.changed = _text_tree(data["why"]), data["changed"]

        self._write(fn)

    def set_synthesis(self, ask_id: str, synthesis: SynthesisRecord) -> None:
        def fn(session: Session) -> None:
            ask = session.get(Ask, ask_id)
            if ask is None:
                raise StoreError(f"no ask {ask_id}")
            ask.synthesis = _text_tree(synthesis.model_dump(mode="json"))

        self._write(fn)

    def get(self, ask_id: str) -> AskRecord | None:
        with reading(self._sessions, READ_FAILED) as session:
            ask = session.scalars(
                select(Ask).options(selectinload(Ask.answers), selectinload(Ask.rounds))
                .where(Ask.id == ask_id)
            ).first()
            return ask_record(ask) if ask else None

    def access(self, ask_id: str) -> AskAccess | None:
        with reading(self._sessions, READ_FAILED) as session:
            row = session.execute(select(Ask.owner_id, Ask.shared).where(Ask.id == ask_id)).first()
            return AskAccess(row[0], bool(row[1])) if row else None

    def set_shared(self, ask_id: str, shared: bool) -> None:
        def fn(session: Session) -> None:
            ask = session.get(Ask, ask_id)
            if ask is None:
                raise StoreError(f"no ask {ask_id}")
            ask.shared = shared

        self._write(fn)

    def find(self, prefix: str) -> AskRecord | None:
        """Exact id, or a unique id prefix (handy in the CLI)."""
        exact = self.get(prefix)
        if exact is not None or not 4 <= len(prefix) <= _ID_LENGTH:
            return exact  # longer than any id: no prefix search (SQLite rejects huge patterns)
        with reading(self._sessions, READ_FAILED) as session:
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            ids = session.scalars(
                select(Ask.id).where(Ask.id.like(f"{escaped}%", escape="\\")).limit(2)).all()
        return self.get(ids[0]) if len(ids) == 1 else None

    def settle_abandoned(self, *, default_timeout: float, grace: float = 600.0) -> list[str]:
        """Mark "partial" the asks still "running" long after they must have ended.

        An ask cannot outlive its timeout (every model's deadline) plus scoring, so one
        still running ``grace`` seconds past that was left by a process that died: what
        it received is kept, as an interrupted ask would keep it. Returns their ids.
        """
        now = utcnow()

        def fn(session: Session) -> list[str]:
            settled = []
            running = session.scalars(select(Ask).options(selectinload(Ask.answers))
                                      .where(Ask.status == AskStatus.RUNNING)).all()
            for ask in running:
                timeout = (ask.params or {}).get("timeout") or default_timeout
                created = ask.created_at
                if created.tzinfo is None:  # SQLite gives naive UTC datetimes back
                    created = created.replace(tzinfo=now.tzinfo)
                if (now - created).total_seconds() <= float(timeout) + grace:
                    continue
                for answer in ask.answers:
                    if answer.status not in (AnswerStatus.DONE, AnswerStatus.FAILED):
                        answer.status = AnswerStatus.PARTIAL
                ask.status, ask.finished_at = AskStatus.PARTIAL, now
                settled.append(ask.id)
            return settled

        try:
            result: list[str] = self._write(fn)
        except (ValueError, TypeError):  # a damaged row: leave it to `history` to show
            return []
        return result

    _SUMMARY = (Ask.id, Ask.created_at, Ask.question, Ask.status, Ask.score, Ask.verdict,
                Ask.models, Ask.article_id, Ask.thread_id, Ask.turn, Ask.thread_trimmed)

    def list(self, *, limit: int = 20, offset: int = 0, article_id: str | None = None,
             visible_to: Visibility | None = None) -> list[AskSummary]:
        """Newest first. A damaged row does not hide the others: it is listed as "damaged"."""
        stmt = select(*self._SUMMARY).order_by(Ask.created_at.desc()).limit(limit).offset(offset)
        stmt = _visible(stmt, visible_to)
        if article_id is not None:
            stmt = stmt.where(Ask.article_id == article_id)
        with reading(self._sessions, READ_FAILED) as session:
            try:
                return [_summary(row) for row in session.execute(stmt).all()]
            except (ValueError, TypeError):  # a value the column type cannot read
                ids = session.scalars(stmt.with_only_columns(Ask.id)).all()
                return [self._summary_of(session, ask_id) for ask_id in ids]

    def _summary_of(self, session: Session, ask_id: str) -> AskSummary:
        try:
            return _summary(session.execute(
                select(*self._SUMMARY).where(Ask.id == ask_id)).one())
        except (ValueError, TypeError):
            try:
                question = session.scalar(select(Ask.question).where(Ask.id == ask_id)) or ""
            except (ValueError, TypeError):
                question = ""
            return AskSummary(id=ask_id, created_at="", question=question, status=AskStatus.DAMAGED,
                              score=None, verdict=None, models=[], article_id=None)

    def count(self, *, article_id: str | None = None,
              visible_to: Visibility | None = None) -> int:
        stmt = _visible(select(func.count()).select_from(Ask), visible_to)
        if article_id is not None:
            stmt = stmt.where(Ask.article_id == article_id)
        with reading(self._sessions, READ_FAILED) as session:
            return int(session.scalar(stmt) or 0)
