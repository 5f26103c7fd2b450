"""SQLAlchemy 2 tables. Every change to them ships as an Alembic migration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from drux.records import AnswerStatus, AskStatus


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Ask(Base):
    __tablename__ = "asks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    question: Mapped[str] = mapped_column(Text)
    context: Mapped[str | None] = mapped_column(Text)
    panel: Mapped[str | None] = mapped_column(String(100))
    models: Mapped[list[Any]] = mapped_column(JSON, default=list)
    skipped: Mapped[list[Any]] = mapped_column(JSON, default=list)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # running, complete, partial (interrupted), failed (no answer at all)
    status: Mapped[str] = mapped_column(String(20), default=AskStatus.RUNNING)
    score: Mapped[float | None] = mapped_column(Float)
    verdict: Mapped[str | None] = mapped_column(String(60))
    consensus: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    article_id: Mapped[str | None] = mapped_column(String(200), index=True)
    source: Mapped[str] = mapped_column(String(20), default="cli")
    # The account that asked (None: the CLI, or the web app before any account existed).
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    # A follow-up thread: its first ask's id (set on that ask too once it is followed up),
    # the turn (1 = the first ask), and per model how many old turns did not fit its window.
    thread_id: Mapped[str | None] = mapped_column(String(32), index=True)
    turn: Mapped[int | None] = mapped_column(Integer)
    thread_trimmed: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # A SynthesisRecord (``--synthesize``): one model's answer from the panel's, never a vote.
    synthesis: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    answers: Mapped[list[Answer]] = relationship(
        back_populates="ask", cascade="all, delete-orphan", order_by="Answer.position"
    )
    rounds: Mapped[list[AskRound]] = relationship(
        cascade="all, delete-orphan", order_by="AskRound.round"
    )


class AskRound(Base):
    """One deliberation round of an ask (``--rounds N``): the answer rows hold the last
    finished round, these hold every round, each scored on its own."""

    __tablename__ = "ask_rounds"
    __table_args__ = (UniqueConstraint("ask_id", "round", name="uq_ask_rounds_ask_round"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ask_id: Mapped[str] = mapped_column(ForeignKey("asks.id", ondelete="CASCADE"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=AskStatus.COMPLETE)
    score: Mapped[float | None] = mapped_column(Float)
    verdict: Mapped[str | None] = mapped_column(String(60))
    consensus: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # AnswerRecords, and per model the "Why:" line and whether the answer changed.
    answers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    why: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    changed: Mapped[list[Any]] = mapped_column(JSON, default=list)


class Answer(Base):
    __tablename__ = "answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ask_id: Mapped[str] = mapped_column(ForeignKey("asks.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    model: Mapped[str] = mapped_column(String(200))
    family: Mapped[str | None] = mapped_column(String(100))
    deployment: Mapped[str | None] = mapped_column(String(300))
    substituted_for: Mapped[str | None] = mapped_column(String(200))
    answered_by: Mapped[str | None] = mapped_column(String(200))
    recovered: Mapped[bool] = mapped_column(Boolean, default=False)
    # waiting, streaming, done, failed, partial
    status: Mapped[str] = mapped_column(String(20), default=AnswerStatus.WAITING)
    text: Mapped[str] = mapped_column(Text, default="")
    finish_reason: Mapped[str | None] = mapped_column(String(40))
    error_type: Mapped[str | None] = mapped_column(String(60))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_status: Mapped[int | None] = mapped_column(Integer)
    first_token_s: Mapped[float | None] = mapped_column(Float)
    total_s: Mapped[float | None] = mapped_column(Float)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    tokens_per_s: Mapped[float | None] = mapped_column(Float)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)

    ask: Mapped[Ask] = relationship(back_populates="answers")


class Article(Base):
    __tablename__ = "articles"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # slug
    title: Mapped[str] = mapped_column(Text)
    source_url: Mapped[str | None] = mapped_column(Text)
    published: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    summary: Mapped[str | None] = mapped_column(Text)
    body_md: Mapped[str] = mapped_column(Text, default="")
    faq: Mapped[list[Any]] = mapped_column(JSON, default=list)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FaqAnswer(Base):
    __tablename__ = "faq_answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[str] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    question: Mapped[str] = mapped_column(Text)
    ask_id: Mapped[str] = mapped_column(ForeignKey("asks.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GatewayKey(Base):
    __tablename__ = "gateway_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(20), index=True)  # shown to identify a key
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    allowed_models: Mapped[list[Any]] = mapped_column(JSON, default=list)  # empty = all
    rpm: Mapped[int | None] = mapped_column(Integer)
    tpm: Mapped[int | None] = mapped_column(Integer)
    budget_usd: Mapped[float | None] = mapped_column(Float)
    spent_usd: Mapped[float] = mapped_column(Float, default=0.0)


class UsageRecord(Base):
    __tablename__ = "usage_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("gateway_keys.id"), index=True)
    model: Mapped[str] = mapped_column(String(200))
    deployment: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[int] = mapped_column(Integer, default=200)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float | None] = mapped_column(Float)


class DeploymentHealthRow(Base):
    """The last health snapshot a process wrote for a deployment (breakers live in memory;
    this lets ``drux status`` in another process show what the last run saw)."""

    __tablename__ = "deployment_health"

    deployment: Mapped[str] = mapped_column(String(300), primary_key=True)
    source: Mapped[str] = mapped_column(String(40), default="cli")
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id, with its parameters
    role: Mapped[str] = mapped_column(String(20), default="member")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Per-user limits on asks from the web app (None: no limit beyond the per-client one).
    asks_per_minute: Mapped[int | None] = mapped_column(Integer)
    daily_budget_usd: Mapped[float | None] = mapped_column(Float)


class WebSession(Base):
    """A signed-in browser. Only the SHA-256 of the cookie's random id is stored, so a copy
    of the database does not sign anyone in."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
