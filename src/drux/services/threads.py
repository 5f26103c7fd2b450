"""Follow-up questions: which thread an ask continues, and what each model is sent.

A follow-up asks the thread's models (its first ask's) again. Each model is sent its own
earlier turns as a conversation: every earlier question as a user message and its own
answer as the assistant's, so no model reads what the others said (the panel stays
independent, and the score keeps its meaning). A turn the model did not answer (it failed,
was skipped or was not asked) is left out of its conversation. When an earlier turn has a
synthesis, the next user message starts with it.

What a model is sent must fit its context window: the oldest turns are dropped first, and
how many were dropped per model is stored with the ask and shown.

A model of the thread that is no longer usable is skipped, with the reason, and the
thread goes on with the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drux.catalog import ModelSpec
from drux.errors import InputError
from drux.records import (
    AnswerStatus,
    AskRecord,
    AskStatus,
    ConsensusKind,
    ThreadPosition,
    ThreadRecord,
)
from drux.services import Resolution, Services
from drux.services.options import AskOptions
from drux.types import Message

CHARS_PER_TOKEN = 4  # as the ask's own context check estimates it; the adapters know exactly


def user_content(question: str, context: str | None) -> str:
    """A question as the models are sent it (with its context, if any)."""
    return question if not context else f"Context:\n{context.strip()}\n\nQuestion: {question}"


def turn_synthesis(ask: AskRecord) -> tuple[str, str] | None:
    """HOOK for the synthesis (helper "delib"): ``(author, text)`` of an earlier turn's
    synthesized answer, which every model sees before the next question; None without one.

    Today the only synthesis stored is the consensus answer a judge model wrote
    (``consensus_kind == "synthesis"``). When the ask record gets its own synthesis
    field, read it here: this is the one place the threads read a synthesis from.
    """
    c = ask.consensus
    if c is None or c.consensus_kind != ConsensusKind.SYNTHESIS or not c.consensus_answer:
        return None
    return c.synthesized_by or "the judge model", c.consensus_answer


@dataclass(frozen=True, slots=True)
class _Turn:
    """One earlier turn as one model had it."""

    question: str
    answer: str
    synthesis: tuple[str, str] | None

    def tokens(self) -> int:
        size = len(self.question) + len(self.answer) + len(self.synthesis[1] if self.synthesis else "")
        return size // CHARS_PER_TOKEN + 8  # a few tokens of message framing


def _with_synthesis(synthesis: tuple[str, str] | None, content: str) -> str:
    if synthesis is None:
        return content
    author, text = synthesis
    return (f"The panel's synthesized answer to the previous question (written by {author}):\n"
            f"{text.strip()}\n\nNext question:\n{content}")


def _own_turns(turns: list[AskRecord], model: str) -> list[_Turn]:
    own = []
    for ask in turns:
        answer = next((a for a in ask.answers if a.model == model), None)
        if answer is None or answer.status not in (AnswerStatus.DONE, AnswerStatus.PARTIAL):
            continue
        if not answer.text.strip():
            continue
        own.append(_Turn(user_content(ask.question, ask.context), answer.text,
                         turn_synthesis(ask)))
    return own


@dataclass(slots=True)
class ThreadHistory:
    """The earlier turns of a thread, turned into each model's own conversation.

    ``trimmed`` collects, per model, how many of its oldest turns did not fit."""

    turns: list[AskRecord]
    trimmed: dict[str, int] = field(default_factory=dict)

    def messages(self, spec: ModelSpec, system: Message, user: str,
                 max_tokens: int | None) -> list[Message]:
        """``system``, the model's own earlier turns that fit its window, then ``user``."""
        own = _own_turns(self.turns, spec.id)
        budget = spec.context - (max_tokens or 0) - (len(system.content) + len(user)) // CHARS_PER_TOKEN
        kept = list(own)
        while kept and sum(t.tokens() for t in kept) > budget:
            kept.pop(0)  # the oldest turn goes first
        if len(kept) < len(own):
            self.trimmed[spec.id] = len(own) - len(kept)
        messages = [system]
        previous: tuple[str, str] | None = None
        for t in kept:
            messages += [Message("user", _with_synthesis(previous, t.question)),
                         Message("assistant", t.answer)]
            previous = t.synthesis
        # The newest turn's synthesis comes before the new question even when trimming
        # dropped that turn's own messages: it is the panel's latest word.
        if self.turns:
            previous = turn_synthesis(self.turns[-1])
        messages.append(Message("user", _with_synthesis(previous, user)))
        return messages


@dataclass(slots=True)
class FollowUp:
    """A follow-up settled before its ask row exists: the thread so far, the models to
    ask now (the others skipped), and who owns it (the thread's owner)."""

    thread: ThreadRecord
    resolution: Resolution
    history: ThreadHistory
    owner_id: int | None
    shared: bool

    @property
    def position(self) -> ThreadPosition:
        """The new turn (the store sets the final number: one past the thread's last)."""
        return ThreadPosition(id=self.thread.id, turn=self.thread.turns[-1].turn + 1,
                              trimmed=dict(self.history.trimmed))


def _shown(ask_id: str) -> str:
    return ask_id if len(ask_id) <= 64 else ask_id[:64] + "…"


def find_thread(services: Services, ask_id: str) -> ThreadRecord:
    """The thread of an ask or thread id (or a unique prefix); a one-line error without one."""
    thread = services.store.threads.of_ask(ask_id)
    if thread is None:
        raise InputError(f"no ask or thread with id {_shown(ask_id)!r}; see `drux history`")
    return thread


def thread_members(services: Services, thread: ThreadRecord) -> Resolution:
    """The thread's models (its first ask's) that can be asked now; the others skipped."""
    root = thread.turns[0]
    members: list[ModelSpec] = []
    skipped: list[dict[str, str]] = []
    for model_id in root.models:
        spec = services.config.catalog.models.get(model_id)
        if spec is None:
            skipped.append({"model": model_id, "reason": "no longer configured; "
                                                         "the thread goes on without it"})
            continue
        usable, reason = services.readiness(spec)
        if usable:
            members.append(spec)
        else:
            skipped.append({"model": model_id, "reason": f"not usable now ({reason}); "
                                                         "the thread goes on without it"})
    if not members:
        detail = "; ".join(f"{s['model']}: {s['reason']}" for s in skipped)
        raise InputError(f"no model of this thread can answer now ({detail})")
    return Resolution(root.panel, members, skipped)


def plan_follow_up(services: Services, opts: AskOptions) -> FollowUp | None:
    """The follow-up ``opts`` asks for (None: a new ask). Bad input raises here."""
    if opts.continue_from is None:
        return None
    if opts.models or opts.panel:
        raise InputError("a follow-up asks its thread's models: leave out the models and "
                         "the panel")
    thread = find_thread(services, opts.continue_from)
    if thread.turns[-1].status == AskStatus.RUNNING:
        # Its answers are not in yet: the models would be sent a thread without them.
        raise InputError("the thread's last question is still being answered: wait for "
                         "its answers (or stop it), then ask the follow-up")
    access = services.store.asks.access(thread.id)
    return FollowUp(thread, thread_members(services, thread), ThreadHistory(list(thread.turns)),
                    owner_id=access.owner_id if access else opts.owner_id,
                    shared=access.shared if access else opts.shared)


def load_history(services: Services, position: ThreadPosition | None) -> ThreadHistory | None:
    """The turns before ``position`` (for the run of a created follow-up), or None."""
    if position is None:
        return None
    thread = services.store.threads.get(position.id)
    turns = [] if thread is None else [t for t in thread.turns if t.turn < position.turn]
    return ThreadHistory(turns)
