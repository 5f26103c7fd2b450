"""HTTP shapes of the JSON API (``XCreate`` in, ``XPublic`` out)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from drux.records import AnswerRecord, AskRecord, AskSummary, ThreadRecord
from drux.services.options import (
    Backend,
    Context,
    MaxTokens,
    Question,
    Rounds,
    SystemPrompt,
    Temperature,
    Timeout,
)
from drux.services.status import ClusterStatus


# AskOptions's own field types (and so its limits), plus bounds on what only the API lets
# a client send at length. (A comment, not a docstring: that would enter the OpenAPI schema.)
class AskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Question
    models: list[str] | None = Field(default=None, max_length=20,
                                     description="Model ids; default: the panel's members.")
    panel: str | None = Field(default=None, max_length=100)
    max_tokens: MaxTokens | None = None
    temperature: Temperature | None = None
    timeout: Timeout | None = None
    context: Context | None = None
    system: SystemPrompt | None = Field(
        default=None, description="This ask's system prompt (wins over the panel's and the model's).")
    article_id: str | None = Field(default=None, max_length=200,
                                   description="Ask about this Hub article (used as context).")
    rounds: Rounds = Field(default=1, description=(
        "Deliberation rounds: from round 2 each model reads the others' answers (unnamed) "
        "and answers again; every round is scored and returned in `rounds`."))
    synthesize: bool = Field(default=False, description=(
        "One model writes one answer from the panel's (returned in `synthesis`, never a vote)."))
    synthesizer: str | None = Field(default=None, max_length=200, description=(
        "The model that writes the synthesis (implies synthesize); default: qwen2.5-1.5b when "
        "installed, else the strongest panel member."))
    backend: Backend = Field(default="fast", description=(
        "How agreement is judged: fast (default), cross (the agreement cross-encoder: slower), "
        "judge or hybrid (both need `judge`)."))
    judge: str | None = Field(default=None, max_length=200, description=(
        "The judge model of the judge and hybrid backends."))

    @field_validator("models")
    @classmethod
    def _names_a_model(cls, value: list[str] | None) -> list[str] | None:
        # As in the CLI: an empty list is a mistake, not "the default panel" (omit it for that).
        if value is not None and not any(m.strip() for m in value):
            raise ValueError("must name at least one model, or be left out to ask the panel")
        return value


class AskFollowUp(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Question
    max_tokens: MaxTokens | None = None
    temperature: Temperature | None = None
    timeout: Timeout | None = None
    context: Context | None = None
    system: SystemPrompt | None = Field(
        default=None, description="This turn's system prompt (wins over the panel's and the model's).")


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


class AnswerPublic(AnswerRecord):
    """An answer as the API shows it: the stored record itself."""


class AskPublic(AskRecord):
    """A stored ask as the API shows it: the record, but its request parameters."""

    answers: list[AnswerPublic]  # type: ignore[assignment]  # the same record, named for the API
    params: SkipJsonSchema[dict[str, Any]] = Field(default_factory=dict, exclude=True)


class ThreadPublic(ThreadRecord):
    """A thread as the API shows it: its turns, each a stored ask as ``GET /api/asks/{id}``."""

    turns: list[AskPublic]  # type: ignore[assignment]  # the same records, named for the API


class AskSummaryPublic(AskSummary):
    """One history row as the API lists it: the store's summary itself."""


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
    cluster: ClusterStatus
