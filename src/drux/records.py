"""A stored ask as typed records: what the store returns and every shell reads.

The CLI (``drux show --json``, ``drux ask --json``), the JSON API and the exports all
serialize these models, so one change of shape is one change here. This module sits
low (it imports only pydantic and ``drux.verdicts``) so the store, the services and every shell can use it.

Statuses are ``StrEnum``s: they compare and serialize as the plain strings stored in
the database and shown by earlier versions.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

from drux.verdicts import NO_CONSENSUS_BELOW, positions_text


class AskStatus(StrEnum):
    RUNNING = "running"
    COMPLETE = "complete"
    PARTIAL = "partial"  # interrupted: what was received is kept
    FAILED = "failed"  # no model answered
    DAMAGED = "damaged"  # a history row whose columns cannot be read (never stored)


class AnswerStatus(StrEnum):
    WAITING = "waiting"
    STREAMING = "streaming"
    DONE = "done"
    FAILED = "failed"
    PARTIAL = "partial"


class AskSource(StrEnum):
    CLI = "cli"
    WEB = "web"
    API = "api"
    HUB = "hub"


class ConsensusKind(StrEnum):
    REPRESENTATIVE = "representative"  # the largest cluster's own answer
    SYNTHESIS = "synthesis"  # written by a judge model


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _StoredJson(BaseModel):
    """A part of the ``consensus`` JSON column: serialized as it was stored.

    Rows written by older versions lack later keys, and a failed scoring stores only a
    few; so the keys absent from the row stay absent from the output (no invented
    ``null``), and keys this version does not know are kept.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    @model_serializer(mode="wrap")
    def _as_stored(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        kept = self.model_fields_set | set(self.model_extra or {})
        return {k: v for k, v in data.items() if k in kept}


class ClaimRecord(_StoredJson):
    text: str = ""
    supported_by: list[str] = []
    contradicted_by: list[str] = []
    unique: bool = False
    reasons: list[str] = []
    not_reached_by: list[str] = []  # answers cut by the token limit before saying anything on it


class PositionRecord(_StoredJson):
    """One group of answers: a short label from its representative answer, and its models."""

    label: str = ""
    models: list[str] = []
    model: str | None = None


class ContradictionRecord(_StoredJson):
    models: list[str] = []
    kinds: list[str] = []
    reasons: list[str] = []


class ConsensusRecord(_StoredJson):
    """The score breakdown (``ConsensusResult.to_dict()``, or the reason scoring failed)."""

    score: float | None = None
    verdict: str | None = None
    reason: str | None = ""
    backend: str | None = None
    explanation: str = ""
    clusters: list[list[str]] = []
    matrix: dict[str, dict[str, float]] = {}
    # The largest group's representative; it names the leading position even without a
    # consensus, when ``consensus_answer`` is None (the score is below the threshold).
    consensus_model: str | None = None
    consensus_answer: str | None = None
    consensus_kind: ConsensusKind | None = None
    synthesized_by: str | None = None
    claims: list[ClaimRecord] = []
    contradictions: list[ContradictionRecord] = []
    families: dict[str, str] = {}
    breakdown: dict[str, float] = {}
    # One per group; shown instead of a consensus answer below the no-consensus threshold.
    positions: list[PositionRecord] = []
    truncated: list[str] = []  # answers the token limit cut (judged on what they say)

    @property
    def without_consensus(self) -> bool:
        """Scored, but below the no-consensus threshold: the positions stand in for an answer."""
        return self.score is not None and self.score < NO_CONSENSUS_BELOW

    def positions_line(self) -> str:
        """"Canberra: qwen2.5, gemma3 · Sydney: smollm2" (groups without positions: older rows)."""
        pairs = [(p.label, p.models) for p in self.positions]
        return positions_text(pairs or [(f"group {i}", c) for i, c in enumerate(self.clusters, 1)])


def synthesis_label(model: str) -> str:
    """How every shell names a synthesis, a ``--synthesize`` one or a judge backend's
    consensus answer: one concept, one label."""
    return f"synthesized by {model}"


class SynthesisRecord(_Record):
    """One answer a model wrote from the panel's answers (``--synthesize``); never a vote.
    ``side_by_side``: written without consensus, so it sets the positions side by side."""

    model: str
    text: str
    side_by_side: bool = False
    error: str | None = None  # why there is no text (the ask's answers and score stand)

    @property
    def label(self) -> str:
        return synthesis_label(self.model)


class AnswerError(_Record):
    type: str
    message: str | None
    status: int | None


class AnswerTimings(_Record):
    first_token_s: float | None
    total_s: float | None
    tokens_per_s: float | None


class AnswerUsage(_Record):
    input_tokens: int
    output_tokens: int


# How every shell marks an answer the token limit cut (CLI columns and timings, web columns, exports).
TRUNCATED_NOTE = "cut off at the token limit"


class AnswerRecord(_Record):
    """One model's answer; ``truncated`` when the token limit cut it (finish reason "length")."""

    model: str
    family: str | None
    deployment: str | None
    substituted_for: str | None
    answered_by: str | None
    recovered: bool
    status: AnswerStatus
    text: str
    finish_reason: str | None
    error: AnswerError | None
    timings: AnswerTimings
    usage: AnswerUsage
    cost_usd: float

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


class ThreadPosition(_Record):
    """Where an ask sits in a follow-up thread. The thread's id is its first ask's id; that
    ask is turn 1. ``trimmed``: per model, how many of the oldest earlier turns were left
    out of what it was sent, to fit its context window."""

    id: str
    turn: int
    trimmed: dict[str, int] = {}


class RoundRecord(_Record):
    """One deliberation round (``--rounds N``, N > 1): its answers, scored on their own.
    ``why``: each model's one line on keeping or changing its answer (round 2 and later);
    ``changed``: the models whose answer says something else than in the round before.
    A round cut short (Ctrl-C, or no model answered) has status partial or failed, no score."""

    round: int
    status: AskStatus
    score: float | None = None
    verdict: str | None = None
    consensus: ConsensusRecord | None = None
    answers: list[AnswerRecord] = []
    why: dict[str, str | None] = {}
    changed: list[str] = []


class AskSummary(_Record):
    """One row of the history (a damaged row has status ``damaged`` and empty fields)."""

    id: str
    created_at: str
    question: str
    status: AskStatus
    score: float | None
    verdict: str | None
    models: list[str]
    article_id: str | None
    thread: ThreadPosition | None = None  # None: a single ask, never followed up


class AskRecord(_Record):
    id: str
    created_at: str | None
    finished_at: str | None
    question: str
    context: str | None
    panel: str | None
    models: list[str]
    skipped: list[dict[str, str]]
    params: dict[str, Any]
    status: AskStatus
    source: AskSource
    article_id: str | None
    score: float | None
    verdict: str | None
    consensus: ConsensusRecord | None
    answers: list[AnswerRecord]  # the last finished round's (the only one, without --rounds)
    rounds: list[RoundRecord] = []  # every round, when the ask deliberated (--rounds N > 1)
    synthesis: SynthesisRecord | None = None  # never a vote: not in score, groups or claims
    thread: ThreadPosition | None = None  # None: a single ask, never followed up

    @property
    def turn(self) -> int:
        """Its turn in its thread (a single ask: 1)."""
        return self.thread.turn if self.thread else 1

    def to_json(self) -> str:
        """The ask as ``drux show --json`` and export.json print it."""
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False, indent=2)


class ThreadRecord(_Record):
    """A follow-up thread: its asks in turn order (the first ask's id is the thread's)."""

    id: str
    turns: list[AskRecord]

    def to_json(self) -> str:
        """The thread as its export.json holds it."""
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False, indent=2)
