"""One ask: resolve the members, run the panel, persist as it streams, score.

``run_ask`` is an async generator of events shared by the CLI (live columns),
the web app (SSE) and the API. The ask row is written before the first token;
each model's answer is written when it ends, and streaming text is flushed
periodically, so an interrupted ask keeps what was received, marked partial.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Protocol

from drux.catalog import PanelOptions
from drux.consensus import ascore_answers
from drux.consensus.engine import NEEDS_JUDGE
from drux.errors import ContextWindowExceededError, DruxError, InputError
from drux.panel import Failed, Finished, PanelEvent, Started, Token, run_panel
from drux.records import AnswerStatus, AskStatus, ConsensusRecord, ThreadPosition
from drux.services import Resolution, Services
from drux.services.judge import DEFAULT_JUDGE, make_judge
from drux.services.options import AskOptions
from drux.services.rounds import Deliberation, RoundScored, RoundStarted, reset_rows
from drux.services.status import save_health
from drux.services.synthesis import Synthesized, check_synthesis, write_synthesis
from drux.services.threads import ThreadHistory, load_history, plan_follow_up, user_content
from drux.types import AnswerAccumulator, ChatRequest, Message, Provider

FLUSH_EVERY_S = 1.0
DEFAULT_SYSTEM = (
    "You are one member of a panel of AI models. Answer the user's question directly, "
    "factually and briefly (one to three sentences). If unsure, say so."
)


@dataclass(slots=True)
class AskCreated:
    ask_id: str
    models: list[str]
    families: dict[str, str]
    skipped: list[dict[str, str]]
    panel: str | None
    thread: ThreadPosition | None = None  # a follow-up: its thread and turn


@dataclass(slots=True)
class Scored:
    ask_id: str
    consensus: ConsensusRecord
    explanation: str


@dataclass(slots=True)
class AskDone:
    ask_id: str
    status: AskStatus


AskEvent = AskCreated | PanelEvent | Scored | AskDone | RoundStarted | RoundScored | Synthesized


class AskRepository(Protocol):
    """What an ask in flight writes to the store (``store.asks.AskRepository``); a Protocol,
    so importing this module does not import the store's database driver."""

    def update_answers(self, ask_id: str, updates: dict[str, dict[str, Any]]) -> None: ...

    def finish(self, ask_id: str, *, status: AskStatus, score: float | None = None,
               verdict: str | None = None, consensus: ConsensusRecord | None = None) -> None: ...


@dataclass(slots=True)
class _AnswerState:
    status: AnswerStatus = AnswerStatus.WAITING
    answer: AnswerAccumulator = field(default_factory=AnswerAccumulator)
    dirty: bool = False

    @property
    def text(self) -> str:
        return self.answer.text


def _check_context(opts: AskOptions, resolution: Resolution) -> None:
    # ~4 characters per token for English; the adapters enforce the exact limit.
    approx = (len(opts.question) + len(opts.context or "") + len(opts.system or DEFAULT_SYSTEM)) // 4
    too_small = [s for s in resolution.members if approx > s.context]
    if too_small and len(too_small) == len(resolution.members):
        s = min(too_small, key=lambda m: m.context)
        raise InputError(
            f"the question is about {approx} tokens, longer than {s.id}'s context window "
            f"({s.context} tokens); shorten it or pick models with larger windows"
        )


def build_requests(services: Services, resolution: Resolution, question: str,
                   opts: AskOptions, history: ThreadHistory | None = None
                   ) -> dict[str, ChatRequest]:
    """``history``: a follow-up's earlier turns; each model is sent its own (services.threads)."""
    settings = services.settings
    panel = services.config.catalog.panel_options.get(resolution.panel or "", PanelOptions())
    user = user_content(question, opts.context)
    requests = {}
    for spec in resolution.members:
        # The ask's own settings, then the panel's, then the model's, then the defaults.
        max_tokens = opts.max_tokens or panel.max_tokens or spec.max_tokens or settings.max_tokens
        temperature = _first(opts.temperature, panel.temperature, spec.temperature,
                             settings.temperature)
        system = opts.system or panel.system or spec.system or DEFAULT_SYSTEM
        requests[spec.id] = ChatRequest(
            messages=[Message("system", system), Message("user", user)] if history is None
            else history.messages(spec, Message("system", system), user, max_tokens),
            model=spec.id, temperature=temperature, max_tokens=max_tokens,
            timeout=opts.timeout or settings.timeout,
        )
    return requests


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def _answer_update(services: Services, event: Finished | Failed) -> dict[str, Any]:
    t = event.timings
    base: dict[str, Any] = {"first_token_s": t.first_token_s, "total_s": t.total_s,
                            "tokens_per_s": t.tokens_per_s, "output_tokens": t.output_tokens}
    if isinstance(event, Finished):
        c = event.completion
        spec = services.config.catalog.model(event.model)
        answered_by = services.config.catalog.models.get(c.answered_by or "")
        base.update(
            status=AnswerStatus.DONE, text=c.text, finish_reason=c.finish_reason, deployment=c.deployment,
            substituted_for=c.substituted_for, answered_by=c.answered_by, recovered=c.recovered,
            input_tokens=c.usage.input_tokens, output_tokens=c.usage.output_tokens,
            cost_usd=(answered_by or spec).cost(c.usage.input_tokens, c.usage.output_tokens),
        )
        return base
    err = event.error
    base.update(status=AnswerStatus.FAILED, text=event.partial_text, error_type=err.code,
                error_message=str(err), error_status=getattr(err, "status", None),
                deployment=getattr(err, "provider", None) or None)
    return base


async def score(services: Services, question: str, answers: dict[str, str],
                families: dict[str, str], backend: str,
                judge_model: str | None = None,
                truncated: frozenset[str] = frozenset(),
                judge_writes: bool = True) -> tuple[ConsensusRecord, str]:
    """Score the answers (``truncated``: the ones the token limit cut). A scoring failure
    never loses the answers: the ask is stored with a consensus of n/a that says why."""

    try:
        judge = None
        if backend in NEEDS_JUDGE and len(answers) >= 2:
            judge = await make_judge(services, judge_model)
        # A configured text judge also writes the consensus answer, labelled a synthesis,
        # unless the ask has its own synthesis (--synthesize): one synthesis per ask.
        result = await ascore_answers(question, answers, families, backend=backend, judge=judge,
                                      synthesize=judge is not None and judge_writes,
                                      truncated=truncated)
        return ConsensusRecord.model_validate(result.to_dict()), result.explanation()
    except Exception as exc:  # the answers are already stored; keep them, report the failure
        reason = f"scoring failed: {type(exc).__name__}: {exc}"
        # The reason is also the stored explanation: `drux show` prints what `drux ask` did.
        return ConsensusRecord(score=None, verdict="n/a", reason=reason, backend=backend,
                               explanation=reason), reason


def check_scoring(services: Services, opts: AskOptions) -> None:
    """The scoring options, checked before any model is asked: an unknown or unusable judge
    was only noticed after the whole panel had answered ("scoring failed", exit 0)."""
    if opts.judge_model is not None:
        services.config.catalog.model(opts.judge_model)
    if opts.consensus_backend not in NEEDS_JUDGE:
        return

    model_id = opts.judge_model or DEFAULT_JUDGE
    usable, reason = services.readiness(services.config.catalog.model(model_id))
    if not usable:
        raise InputError(f"the {opts.consensus_backend} backend needs judge model {model_id}, "
                         f"which is not usable: {reason}")


@dataclass(slots=True)
class _Run:
    """One ask in flight: what was asked, and what has arrived so far."""

    ask_id: str
    question: str
    members: dict[str, Provider]
    requests: dict[str, ChatRequest]
    families: dict[str, str]
    states: dict[str, _AnswerState] = field(default_factory=dict)
    finals: dict[str, Finished | Failed] = field(default_factory=dict)
    # Final answers not yet written: a database busy for a moment (another writer) must not
    # end the ask or lose an answer; they are retried with each flush and at the end.
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)


def start_ask(services: Services, opts: AskOptions) -> AskCreated:
    """Check the options and create the ask's row; nothing is asked yet. Bad input raises
    here. What ``execute_ask`` needs to run it (here, or as a job in another process) is
    this event and the same options."""
    question = opts.question  # checked and stripped by AskOptions
    check_scoring(services, opts)
    follow = plan_follow_up(services, opts)  # None unless the ask continues a thread
    resolution = follow.resolution if follow else services.resolve(opts.models, opts.panel)
    check_synthesis(services, opts, [s.id for s in resolution.members])
    _check_context(opts, resolution)
    build_requests(services, resolution, question, opts, follow.history if follow else None)
    for spec in resolution.members:  # a model that cannot be built fails before the row exists
        services.provider(spec.id)
    families = {s.id: s.family for s in resolution.members}
    ask_id = services.store.asks.create(
        question=question, models=list(families), families=families, panel=resolution.panel,
        skipped=resolution.skipped, context=opts.context, article_id=opts.article_id,
        source=opts.source, params={"max_tokens": opts.max_tokens, "timeout": opts.timeout,
                                    "temperature": opts.temperature, "system": opts.system},
        # A follow-up belongs to its thread's owner, shared when the thread is.
        owner_id=follow.owner_id if follow else opts.owner_id,
        shared=follow.shared if follow else opts.shared,
        thread=follow.position if follow else None,
    )
    return AskCreated(ask_id, list(families), families, resolution.skipped, resolution.panel,
                      follow.position if follow else None)


def _prepare(services: Services, opts: AskOptions, created: AskCreated) -> _Run:
    """The run of a created ask: its members' providers and requests."""
    catalog = services.config.catalog
    resolution = Resolution(created.panel, [catalog.model(m) for m in created.models],
                            created.skipped)
    requests = build_requests(services, resolution, opts.question, opts,
                              load_history(services, created.thread))
    members = {m: services.provider(m) for m in created.models}
    return _Run(created.ask_id, opts.question, members, requests, dict(created.families),
                states={m: _AnswerState() for m in members})


async def run_ask(services: Services, opts: AskOptions) -> AsyncGenerator[AskEvent, None]:
    """Create the ask, then run it here: ``AskCreated`` first, ``AskDone`` last."""
    created = start_ask(services, opts)
    yield created
    async for event in execute_ask(services, opts, created):
        yield event


async def execute_ask(services: Services, opts: AskOptions,
                      created: AskCreated) -> AsyncGenerator[AskEvent, None]:
    """Ask the panel of a created ask, store answers as they end, score, close the ask.
    With ``opts.rounds`` > 1 the panel runs once per round (``services.rounds``)."""
    repo = services.store.asks
    try:
        run = _prepare(services, opts, created)
    except BaseException:
        _save_partial(repo, created.ask_id, {}, {})
        raise
    talk = Deliberation(run.ask_id, run.question, opts.rounds)
    first = run.requests
    for number in range(1, opts.rounds + 1):
        if number > 1:
            _write_pending(repo, run.ask_id, reset_rows(list(run.members)))  # busy: the round's writes overwrite
            run = dataclasses.replace(run, requests=talk.next_requests(first), finals={},
                                      pending={}, states={m: _AnswerState() for m in run.members})
            yield RoundStarted(run.ask_id, number)
        async for event in _run_round(services, opts, run, talk, number):
            yield event
        if opts.rounds == 1:
            break
        consensus, explanation = await _score(services, opts, run)
        yield await talk.close_round(repo, number, consensus, explanation)
        if talk.last is None or talk.last.round != number:  # nobody answered this round
            talk.restore_last(repo)
            break
    async for closing in _finish(services, opts, run, talk):
        yield closing


async def _run_round(services: Services, opts: AskOptions, run: _Run, talk: Deliberation,
                     number: int) -> AsyncGenerator[AskEvent, None]:
    """One run of the panel; interrupted, it keeps what arrived (and earlier rounds)."""
    repo = services.store.asks
    last_flush = time.monotonic()
    completed = False
    try:
        async for event in run_panel(run.members, run.requests,
                                     deadlines=opts.timeout or services.settings.timeout):
            _track(run.states, event)
            if isinstance(event, Finished) and number > 1:
                event = talk.revised(event)
            if isinstance(event, Finished | Failed):
                run.finals[event.model] = event
                run.pending[event.model] = _answer_update(services, event)
                run.states[event.model].dirty = False
                _write_pending(repo, run.ask_id, run.pending)
            elif time.monotonic() - last_flush > FLUSH_EVERY_S:
                _write_pending(repo, run.ask_id, run.pending)
                _flush(repo, run.ask_id, run.states)
                last_flush = time.monotonic()
            yield event
        if run.pending:  # still failing: the ask fails, saved partial
            repo.update_answers(run.ask_id, run.pending)
            run.pending.clear()
        completed = True
    finally:
        if not completed and talk.last is not None:
            talk.interrupted(repo, number, _partial_updates(run.states, run.finals, run.pending))
        elif not completed:
            _save_partial(repo, run.ask_id, run.states, run.finals, run.pending)


async def _score(services: Services, opts: AskOptions, run: _Run) -> tuple[ConsensusRecord, str]:
    answers = {m: e.completion.text for m, e in run.finals.items()
               if isinstance(e, Finished) and e.completion.text.strip()}
    cut = frozenset(m for m, e in run.finals.items()
                    if isinstance(e, Finished) and e.completion.finish_reason == "length")
    return await score(services, run.question, answers,
                       _answer_families(services, run.finals, run.families),
                       opts.consensus_backend, opts.judge_model, cut,
                       judge_writes=not opts.wants_synthesis)


async def _finish(services: Services, opts: AskOptions, run: _Run,
                  talk: Deliberation) -> AsyncGenerator[AskEvent, None]:
    """Score what arrived (the last finished round) and close the ask."""
    last = talk.last
    if last is not None and last.consensus is not None:  # scored as its round ended
        answers = {a.model: a.text for a in last.answers
                   if a.status == AnswerStatus.DONE and a.text.strip()}
        consensus, explanation = last.consensus, last.consensus.explanation
    else:
        answers = {m: e.completion.text for m, e in run.finals.items()
                   if isinstance(e, Finished) and e.completion.text.strip()}
        consensus, explanation = await _score(services, opts, run)
    status = AskStatus.COMPLETE if answers else AskStatus.FAILED
    save_health(services, source=opts.source)
    services.store.asks.finish(run.ask_id, status=status, score=consensus.score,
                               verdict=consensus.verdict, consensus=consensus)
    if opts.wants_synthesis and answers:  # after finish: Ctrl-C here keeps the scored ask
        yield await write_synthesis(services, opts, run.ask_id, answers, consensus)
    yield Scored(run.ask_id, consensus, explanation)
    yield AskDone(run.ask_id, status)
    if not answers and run.finals and all(
        isinstance(e, Failed) and isinstance(e.error, ContextWindowExceededError)
        for e in run.finals.values()
    ):
        raise InputError("the question is longer than every model's context window")


def _answer_families(services: Services, finals: dict[str, Finished | Failed],
                     families: dict[str, str]) -> dict[str, str]:
    """A substitute answers with its own family: it is no independent vote for the original."""
    out = dict(families)
    catalog = services.config.catalog
    for model, event in finals.items():
        if isinstance(event, Finished) and event.completion.answered_by:
            answered = catalog.models.get(event.completion.answered_by)
            if answered is not None:
                out[model] = answered.family
    return out


def _track(states: dict[str, _AnswerState], event: PanelEvent) -> None:
    state = states[event.model]
    if isinstance(event, Started):
        state.status = AnswerStatus.STREAMING
    elif isinstance(event, Token):
        state.answer.add(event)
        state.dirty = True


def _write_pending(repo: AskRepository, ask_id: str, pending: dict[str, dict[str, Any]]) -> None:
    if not pending:
        return
    try:
        repo.update_answers(ask_id, pending)
    except DruxError:
        return  # kept for the next try
    pending.clear()


def _partial_updates(states: dict[str, _AnswerState], finals: dict[str, Finished | Failed],
                     pending: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    updates: dict[str, dict[str, Any]] = {
        m: {"text": s.text, "status": AnswerStatus.PARTIAL} for m, s in states.items() if m not in finals}
    updates.update(pending or {})
    return updates


def _flush(repo: AskRepository, ask_id: str, states: dict[str, _AnswerState]) -> None:
    updates = {m: {"text": s.text, "status": AnswerStatus.STREAMING} for m, s in states.items() if s.dirty}
    if updates:
        try:
            repo.update_answers(ask_id, updates)
        except DruxError:
            return  # progress only: the final write carries the whole text
        for m in updates:
            states[m].dirty = False


def _save_partial(repo: AskRepository, ask_id: str, states: dict[str, _AnswerState],
                  finals: dict[str, Finished | Failed],
                  pending: dict[str, dict[str, Any]] | None = None) -> None:
    """Interrupted: keep every finished answer and every partial text, marked partial."""
    updates = _partial_updates(states, finals, pending)
    try:
        repo.update_answers(ask_id, updates)
        repo.finish(ask_id, status=AskStatus.PARTIAL)
    except DruxError:
        pass
