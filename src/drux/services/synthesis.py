"""Synthesis: one model writes one answer from the panel's answers (``--synthesize``).

Who writes it: the model asked for (``--synthesizer``, a panel member or any configured
model), else the default chairman, the offline Qwen2.5-Coder-1.5B (``make models-judge``)
when it is installed, else the strongest usable panel member: the highest output price
(a cloud model's price follows its size), then the largest local weights file, then the
first listed. The synthesis is stored with the ask and labelled "synthesized by X"
everywhere; it is never a vote (the score, groups and claims are the panel's alone).
"""

from __future__ import annotations

from dataclasses import dataclass

from drux.catalog import ModelSpec
from drux.deliberation import synthesis_messages
from drux.errors import DruxError, InputError
from drux.records import AnswerStatus, AskRecord, AskStatus, ConsensusRecord, SynthesisRecord
from drux.services import Services
from drux.services.options import AskOptions
from drux.types import ChatRequest

DEFAULT_SYNTHESIZER = "qwen2.5-1.5b"
SYNTHESIS_MAX_TOKENS = 400


def _strength(spec: ModelSpec) -> tuple[float, int]:
    return spec.output_price, spec.weights.size if spec.weights is not None else 0


def choose_synthesizer(services: Services, members: list[str], requested: str | None) -> str:
    """The synthesizer's model id; a requested model that cannot be used is an ``InputError``
    (checked before any model is asked, like the judge)."""
    catalog = services.config.catalog
    if requested is not None:
        spec = catalog.model(requested)  # unknown: InputError naming the known ones
        usable, reason = services.readiness(spec)
        if not usable:
            raise InputError(f"synthesizer {requested} is not usable: {reason}")
        return requested
    chairman = catalog.models.get(DEFAULT_SYNTHESIZER)
    if chairman is not None and services.readiness(chairman)[0]:
        return DEFAULT_SYNTHESIZER
    specs = [catalog.model(m) for m in members]
    ready = [s for s in specs if services.readiness(s)[0]] or specs
    if not ready:
        raise InputError("no model can write the synthesis: the panel is empty")
    best = max(ready, key=_strength)  # max keeps the first of equals
    return best.id


async def synthesize(services: Services, model: str, question: str, answers: dict[str, str],
                     consensus: ConsensusRecord | None, *, seconds: float | None = None) -> SynthesisRecord:
    """Ask ``model`` for the synthesis. A failure is recorded, never raised: the panel's
    answers and score stand without it."""
    score = consensus.score if consensus is not None else None
    positions = consensus.positions_line() if consensus is not None and consensus.clusters else None
    side_by_side = consensus is None or consensus.score is None or consensus.without_consensus
    if not answers:
        return SynthesisRecord(model=model, text="", side_by_side=side_by_side,
                               error="no answer to synthesize")
    request = ChatRequest(messages=synthesis_messages(question, answers, score, positions),
                          model=model, temperature=0.0, max_tokens=SYNTHESIS_MAX_TOKENS,
                          timeout=seconds or services.settings.timeout)
    try:
        completion = await services.provider(model).complete(request)
    except DruxError as exc:
        return SynthesisRecord(model=model, text="", side_by_side=side_by_side,
                               error=f"{type(exc).__name__}: {exc}")
    # A routed synthesizer may have been substituted: the label names who really wrote it.
    return SynthesisRecord(model=completion.answered_by or model, text=completion.text.strip(),
                           side_by_side=side_by_side,
                           error=None if completion.text.strip() else "the synthesizer wrote nothing")


@dataclass(slots=True)
class Synthesized:
    ask_id: str
    synthesis: SynthesisRecord


def check_synthesis(services: Services, opts: AskOptions, members: list[str]) -> None:
    """Before any model is asked: a requested synthesizer must be usable."""
    if opts.wants_synthesis:
        choose_synthesizer(services, members, opts.synthesizer)


async def write_synthesis(services: Services, opts: AskOptions, ask_id: str,
                          answers: dict[str, str], consensus: ConsensusRecord) -> Synthesized:
    """Synthesize the final answers and store the synthesis with the ask."""
    model = choose_synthesizer(services, list(answers), opts.synthesizer)
    record = await synthesize(services, model, _asked(opts.question, opts.context), answers,
                              consensus, seconds=opts.timeout)
    services.store.asks.set_synthesis(ask_id, record)
    return Synthesized(ask_id, record)


async def synthesize_stored(services: Services, ask: AskRecord,
                            synthesizer: str | None = None) -> SynthesisRecord:
    """A synthesis of a finished ask's answers (the result page's Synthesize button)."""
    if ask.status == AskStatus.RUNNING:
        raise InputError("the ask is still running; synthesize it when it ends")
    answers = {a.model: a.text for a in ask.answers
               if a.status == AnswerStatus.DONE and a.text.strip()}
    if not answers:
        raise InputError("this ask has no answer to synthesize")
    model = choose_synthesizer(services, list(answers), synthesizer)
    record = await synthesize(services, model, _asked(ask.question, ask.context), answers,
                              ask.consensus)
    services.store.asks.set_synthesis(ask.id, record)
    return record


def _asked(question: str, context: str | None) -> str:
    """The question as the panel saw it (with its context, when there was one)."""
    return question if not context else f"Context:\n{context.strip()}\n\nQuestion: {question}"
