"""HTTP shapes of the JSON API (``XCreate`` in, ``XPublic`` out)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from drux.services.ask import MAX_CONTEXT_CHARS, MAX_QUESTION_CHARS


class AskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    models: list[str] | None = Field(default=None, max_length=20,
                                     description="Model ids; default: the panel's members.")
    panel: str | None = Field(default=None, max_length=100)
    max_tokens: int | None = Field(default=None, ge=1, le=8192)
    temperature: float | None = Field(default=None, ge=0, le=2)
    timeout: float | None = Field(default=None, gt=0, le=3600)
    context: str | None = Field(default=None, max_length=MAX_CONTEXT_CHARS)
    article_id: str | None = Field(default=None, max_length=200,
                                   description="Ask about this Hub article (used as context).")

    @field_validator("models")
    @classmethod
    def _names_a_model(cls, value: list[str] | None) -> list[str] | None:
        # As in the CLI: an empty list is a mistake, not "the default panel" (omit it for that).
        if value is not None and not any(m.strip() for m in value):
            raise ValueError("name at least one model, or leave models out to ask the panel")
        return value


class AskStarted(BaseModel):
    id: str
    url: str
    events_url: str
    result_url: str


class AskStopped(BaseModel):
    id: str
    stopped: bool = Field(description="False when the ask had already ended (nothing changed).")
    status: str = Field(description="The ask's status: partial once stopped.")
    url: str


class ErrorBody(BaseModel):
    type: str
    message: str


class ErrorPublic(BaseModel):
    error: ErrorBody


class AnswerPublic(BaseModel):
    model: str
    family: str | None
    deployment: str | None
    substituted_for: str | None
    answered_by: str | None
    recovered: bool
    status: str
    text: str
    finish_reason: str | None
    error: dict[str, Any] | None
    timings: dict[str, float | None]
    usage: dict[str, int]
    cost_usd: float


class AskPublic(BaseModel):
    id: str
    created_at: str | None
    finished_at: str | None
    question: str
    context: str | None
    panel: str | None
    models: list[str]
    skipped: list[dict[str, str]]
    status: str
    source: str
    article_id: str | None
    score: float | None
    verdict: str | None
    consensus: dict[str, Any] | None
    answers: list[AnswerPublic]


class AskSummaryPublic(BaseModel):
    id: str
    created_at: str
    question: str
    status: str
    score: float | None
    verdict: str | None
    models: list[str]
    article_id: str | None


class AskList(BaseModel):
    items: list[AskSummaryPublic]
    total: int
    limit: int
    offset: int


class ArticlePublic(BaseModel):
    id: str
    title: str
    source_url: str | None
    source_domain: str | None
    published: datetime | None
    tags: list[str]
    summary: str | None
    url: str


class ArticleList(BaseModel):
    items: list[ArticlePublic]
    total: int
    page: int
    per_page: int


class StatusPublic(BaseModel):
    models: list[dict[str, Any]]
    deployments: list[dict[str, Any]]
    running_asks: int
