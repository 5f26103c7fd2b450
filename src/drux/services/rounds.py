"""Deliberation rounds (``--rounds N``): the panel answers again, having read the others.

``execute_ask`` runs the panel once per round; this module holds what happens between
rounds. Round 2 and later ask each model with ``deliberation.revision_messages`` (its own
previous answer, then the others' anonymised); its "Why:" line is kept apart from the
answer (only the answer is scored). Each finished round is scored and stored on its own
(``ask_rounds``), so a later round that fails, times out or is interrupted never loses an
earlier one: the ask's answers and score stay those of the last finished round, and the
cut round is stored as partial (Ctrl-C) or failed (no model answered).
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from typing import Protocol

from drux.consensus.engine import score_answers
from drux.deliberation import Revision, revision_messages, split_revision
from drux.errors import DruxError
from drux.panel import Failed, Finished
from drux.records import (
    AnswerRecord,
    AnswerStatus,
    AskRecord,
    AskStatus,
    ConsensusRecord,
    RoundRecord,
)
from drux.types import ChatRequest

# Two answers of one model that score below this as a pair say different things: changed.
CHANGED_BELOW = 50.0


class RoundRepository(Protocol):
    """What the rounds write (``store.asks.AskRepository``)."""

    def get(self, ask_id: str) -> AskRecord | None: ...

    def save_round(self, ask_id: str, record: RoundRecord) -> None: ...

    def update_answers(self, ask_id: str, updates: dict[str, dict[str, object]]) -> None: ...

    def finish(self, ask_id: str, *, status: AskStatus, score: float | None = None,
               verdict: str | None = None, consensus: ConsensusRecord | None = None) -> None: ...


@dataclass(slots=True)
class RoundStarted:
    ask_id: str
    round: int


@dataclass(slots=True)
class RoundScored:
    """A round ended and was scored (only with ``--rounds`` > 1); the ask's own ``Scored``
    still comes once, at the end, for the last finished round."""

    ask_id: str
    round: int
    consensus: ConsensusRecord
    explanation: str
    changed: list[str]
    why: dict[str, str | None]


@dataclass(slots=True)
class Deliberation:
    """The rounds of one ask: what each finished round said."""

    ask_id: str
    question: str
    rounds: int
    finished: list[RoundRecord] = field(default_factory=list)
    why: dict[str, str | None] = field(default_factory=dict)  # the round in flight's

    @property
    def last(self) -> RoundRecord | None:
        return self.finished[-1] if self.finished else None

    def revised(self, event: Finished) -> Finished:
        """A round-2+ answer without its "Why:" line (kept apart for the round record)."""
        revision: Revision = split_revision(event.completion.text)
        self.why[event.model] = revision.why
        return Finished(event.model, dataclasses.replace(event.completion, text=revision.answer),
                        event.timings)

    def next_requests(self, first: dict[str, ChatRequest]) -> dict[str, ChatRequest]:
        """Round n+1's requests: each model's first turn, its answer, the others' answers."""
        previous = _texts(self.last.answers) if self.last is not None else {}
        out = {}
        for model, request in first.items():
            others = [text for m, text in previous.items() if m != model]
            out[model] = dataclasses.replace(request, messages=revision_messages(
                request.messages, self.question, previous.get(model), others))
        return out

    async def close_round(self, repo: RoundRepository, number: int, consensus: ConsensusRecord,
                          explanation: str) -> RoundScored:
        """Store the round just scored, as the answer rows hold it now."""
        stored = repo.get(self.ask_id)
        answers = list(stored.answers) if stored is not None else []
        before = _texts(self.last.answers) if self.last is not None else {}
        # Off the event loop: comparing answers runs the embedding model.
        changed = await asyncio.to_thread(changed_models, self.question, before, _texts(answers))
        ok = any(a.status == AnswerStatus.DONE and a.text.strip() for a in answers)
        record = RoundRecord(round=number, status=AskStatus.COMPLETE if ok else AskStatus.FAILED,
                             score=consensus.score, verdict=consensus.verdict,
                             consensus=consensus, answers=answers, why=dict(self.why),
                             changed=changed)
        repo.save_round(self.ask_id, record)
        if ok:
            self.finished.append(record)
        self.why = {}
        return RoundScored(self.ask_id, number, consensus, explanation, changed, record.why)

    def restore_last(self, repo: RoundRepository) -> None:
        """Put the last finished round back in the answer rows (a later round is stored apart)."""
        if self.last is None:
            return
        repo.update_answers(self.ask_id, {a.model: _answer_row(a) for a in self.last.answers})

    def interrupted(self, repo: RoundRepository, number: int,
                    partial: dict[str, dict[str, object]]) -> None:
        """Ctrl-C (or a crash) in round ``number`` > 1: keep it as a partial round, and the
        ask as the last finished round (its answers and score), marked partial."""
        last = self.last
        if last is None:
            return
        try:
            repo.update_answers(self.ask_id, partial)
            stored = repo.get(self.ask_id)
            cut = list(stored.answers) if stored is not None else []
            repo.save_round(self.ask_id, RoundRecord(round=number, status=AskStatus.PARTIAL,
                                                     answers=cut, why=dict(self.why)))
            self.restore_last(repo)
            repo.finish(self.ask_id, status=AskStatus.PARTIAL, score=last.score,
                        verdict=last.verdict, consensus=last.consensus)
        except DruxError:
            pass  # the store is down: nothing more can be kept


def reset_rows(models: list[str]) -> dict[str, dict[str, object]]:
    """The answer rows' state when a new round starts."""
    return {m: {"status": AnswerStatus.WAITING, "text": "", "finish_reason": None,
                "error_type": None, "error_message": None, "error_status": None} for m in models}


def _answer_row(a: AnswerRecord) -> dict[str, object]:
    return {"status": a.status, "text": a.text, "finish_reason": a.finish_reason,
            "deployment": a.deployment, "substituted_for": a.substituted_for,
            "answered_by": a.answered_by, "recovered": a.recovered,
            "error_type": a.error.type if a.error else None,
            "error_message": a.error.message if a.error else None,
            "error_status": a.error.status if a.error else None,
            "first_token_s": a.timings.first_token_s, "total_s": a.timings.total_s,
            "tokens_per_s": a.timings.tokens_per_s, "input_tokens": a.usage.input_tokens,
            "output_tokens": a.usage.output_tokens, "cost_usd": a.cost_usd}


def _texts(answers: list[AnswerRecord]) -> dict[str, str]:
    return {a.model: a.text for a in answers if a.status == AnswerStatus.DONE and a.text.strip()}


def changed_models(question: str, before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The models whose new answer says something else than their previous one: the same
    text (up to case and spacing) is kept; otherwise the pair is scored like any two
    answers, and below ``CHANGED_BELOW`` it changed. A model missing in one round is not
    counted as changing."""
    changed = []
    for model, new in after.items():
        old = before.get(model)
        if old is None or " ".join(old.lower().split()) == " ".join(new.lower().split()):
            continue
        pair = score_answers(question, {"before": old, "after": new}, {"before": "a", "after": "b"})
        if pair.score is not None and pair.score < CHANGED_BELOW:
            changed.append(model)
    return changed


def failed_round(finals: dict[str, Finished | Failed]) -> bool:
    return not any(isinstance(e, Finished) and e.completion.text.strip() for e in finals.values())


def trend(records: list[RoundRecord]) -> str:
    """"round 1: 24 → round 2: 71": the score of every round, as the CLI prints it."""
    return " → ".join(f"round {r.round}: {r.score:.0f}" if r.score is not None
                      else f"round {r.round}: {r.status}" for r in records)
