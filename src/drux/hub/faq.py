"""An article's FAQ put to the panel, and what came back.

Each FAQ question is one ordinary ask (``run_ask``) with the article as
context, ``article_id`` set and ``source="hub"``; a ``FaqAnswer`` row links the
question to the ask as soon as the ask exists, so an interrupted run still
shows what was received. Questions run one after another: each ask already
runs the whole panel in parallel.

A question is flagged as a disagreement when its latest ask has contradictions
between models, a verdict of ``contradictory`` or ``divided``, or a Consensus
Score below ``DISAGREEMENT_BELOW`` (the no-consensus threshold). Without a consensus
the entry has no consensus answer: it lists the competing positions instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drux.errors import InputError
from drux.hub.render import render_markdown
from drux.records import AskRecord, AskSource, AskStatus, ConsensusRecord
from drux.services import Services
from drux.services.ask import AskCreated, AskDone, AskEvent, AskOptions, Scored, run_ask
from drux.services.options import Backend
from drux.verdicts import CONTRADICTORY, DIVIDED, NO_CONSENSUS_BELOW

if TYPE_CHECKING:
    from drux.store.articles import ArticleRecord

# How one question's ask is run: here (``run_ask``), or as a job a ``drux worker`` runs.
RunAsk = Callable[[Services, AskOptions], AsyncIterator[AskEvent]]
DISAGREEMENT_BELOW = NO_CONSENSUS_BELOW
DISAGREEING_VERDICTS = frozenset({CONTRADICTORY, DIVIDED})
CONTEXT_CHARS = 6000


@dataclass(frozen=True, slots=True)
class FaqStep:
    """One event of the ask of one FAQ question, for progress ("question 2 of 3")."""

    number: int  # from 1
    total: int
    question: str
    event: AskEvent


def article_context(record: ArticleRecord, limit: int = CONTEXT_CHARS) -> str:
    """The article as the models see it: title, source, date, summary, body (trimmed)."""
    head = [f"Article: {record.title}"]
    if record.source_url:
        head.append(f"Source: {record.source_url}")
    if record.published:
        head.append(f"Published: {record.published.date().isoformat()}")
    parts = ["\n".join(head)]
    if record.summary:
        parts.append(record.summary)
    if record.body_md.strip():
        parts.append(record.body_md.strip())
    text = "\n\n".join(parts)
    if len(text) > limit:
        cut = text.rfind("\n\n", 0, limit - 4)
        text = text[: cut if cut > limit // 2 else limit - 4].rstrip() + "\n[…]"
    return text


def topic_question(record: ArticleRecord) -> str:
    return f"What do you make of this news: {record.title}? Is it accurate, and why does it matter?"


def ask_options(record: ArticleRecord, question: str | None = None, *,
                models: list[str] | None = None, panel: str | None = None,
                source: AskSource = AskSource.WEB, max_tokens: int | None = None,
                timeout: float | None = None, backend: Backend = "fast") -> AskOptions:
    return AskOptions(question=question or topic_question(record), models=models, panel=panel,
                      context=article_context(record), article_id=record.id, source=source,
                      max_tokens=max_tokens, timeout=timeout, consensus_backend=backend,
                      shared=source == AskSource.HUB)


def _pick(record: ArticleRecord, questions: list[str] | None) -> list[str]:
    known = [str(q.get("question", "")) for q in record.faq if q.get("question")]
    if not known:
        raise InputError(f"article {record.id!r} has no FAQ questions")
    if not questions:
        return known
    missing = [q for q in questions if q not in known]
    if missing:
        raise InputError(f"article {record.id!r} has no FAQ question {missing[0]!r}")
    return [q for q in known if q in questions]


async def run_faq(services: Services, record: ArticleRecord, *, models: list[str] | None,
                  panel: str | None, questions: list[str] | None = None,
                  max_tokens: int | None = None, model_timeout: float | None = None,
                  backend: Backend = "fast",
                  on_result: Callable[[dict[str, Any]], None] | None = None,
                  on_step: Callable[[FaqStep], None] | None = None,
                  ask: RunAsk = run_ask) -> list[dict[str, Any]]:
    """Ask every picked question in turn; one summary dict per question, passed to
    ``on_result`` as each ends, and every event of each ask to ``on_step`` as it comes."""

    picked = _pick(record, questions)
    services.resolve(models, panel)  # fail on a bad panel before any ask is stored
    out = []
    for number, question in enumerate(picked, 1):
        opts = ask_options(record, question, models=models, panel=panel, source=AskSource.HUB,
                           max_tokens=max_tokens, timeout=model_timeout, backend=backend)
        result: dict[str, Any] = {"question": question, "ask_id": None, "status": AskStatus.FAILED,
                                  "score": None, "verdict": None, "explanation": None,
                                  "disagreement_reason": None}
        async for event in ask(services, opts):
            if on_step is not None:
                on_step(FaqStep(number, len(picked), question, event))
            if isinstance(event, AskCreated):
                result["ask_id"] = event.ask_id
                services.store.articles.add_faq_answer(record.id, question, event.ask_id)
            elif isinstance(event, Scored):
                result.update(score=event.consensus.score, verdict=event.consensus.verdict,
                              explanation=event.explanation)
                result["disagreement_reason"] = disagreement(
                    event.consensus, event.consensus.verdict, event.consensus.score)
            elif isinstance(event, AskDone):
                result["status"] = event.status
        out.append(result)
        if on_result is not None:
            on_result(result)
    return out


def disagreement(consensus: ConsensusRecord | None, verdict: str | None,
                 score: float | None) -> str | None:
    """Why an ask with this consensus, verdict and score counts as a disagreement, or None."""
    contradictions = consensus.contradictions if consensus else []
    if contradictions:
        first = contradictions[0]
        models = " vs ".join(first.models)
        why = (first.reasons or first.kinds or ["they contradict"])[0]
        return f"{models} contradict ({why})" if models else str(why)
    if verdict in DISAGREEING_VERDICTS:
        return f"verdict: {verdict}"
    if score is not None and score < DISAGREEMENT_BELOW:
        return f"low Consensus Score ({score:.0f})"
    return None


def _answers(ask: AskRecord) -> list[dict[str, Any]]:
    return [{"model": a.model, "status": a.status, "text_html": render_markdown(a.text)}
            for a in ask.answers]


def _entry(question: str, editor_answer: str | None, ask: AskRecord | None,
           asked_at: str | None) -> dict[str, Any]:
    consensus = (ask.consensus if ask else None) or ConsensusRecord()
    reason = disagreement(ask.consensus, ask.verdict, ask.score) if ask else None
    # Below the threshold the largest group is one position of several, not the panel's answer.
    consensus_answer = None if consensus.without_consensus else consensus.consensus_answer
    return {
        "question": question, "answer": editor_answer,
        "ask_id": ask.id if ask else None, "asked_at": asked_at,
        "status": ask.status if ask else None,
        "score": ask.score if ask else None, "verdict": ask.verdict if ask else None,
        "explanation": consensus.explanation or None,
        "consensus_model": consensus.consensus_model,
        "consensus_answer": consensus_answer,
        "consensus_html": render_markdown(consensus_answer) if consensus_answer else None,
        "no_consensus": consensus.without_consensus,
        "positions": [p.model_dump(mode="json") for p in consensus.positions],
        "positions_line": consensus.positions_line() if consensus.without_consensus else None,
        "contradictions": [c.model_dump(mode="json") for c in consensus.contradictions],
        "disagreement": reason is not None, "disagreement_reason": reason,
        "answers": _answers(ask) if ask else [],
    }


def results(services: Services, record: ArticleRecord) -> list[dict[str, Any]]:
    latest: dict[str, tuple[str, str]] = {}
    for link in services.store.articles.faq_answers(record.id):
        latest.setdefault(link.question, (link.ask_id, link.created_at.isoformat()))
    out = []
    for q in record.faq:
        question = str(q.get("question", ""))
        ask_id, asked_at = latest.get(question, (None, None))
        ask = services.store.asks.get(ask_id) if ask_id else None
        out.append(_entry(question, q.get("answer"), ask, asked_at if ask else None))
    return out
