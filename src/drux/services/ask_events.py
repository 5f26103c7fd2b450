"""Ask events as JSON: the one shape the SSE stream, the event log, job workers and the pages share.

Every event is a dict with a ``type`` field. Final answers carry ``html``: the
answer rendered from Markdown and sanitized on the server, so the browser never
turns model text into markup itself.
"""

from __future__ import annotations

from typing import Any

from drux.hub.render import render_markdown
from drux.panel import Failed, Finished, Started, Timings, Token
from drux.records import AnswerError, AnswerStatus, AskRecord, AskStatus, SynthesisRecord
from drux.services import Services
from drux.services.ask import AskCreated, AskDone, AskEvent, Scored
from drux.services.rounds import RoundScored, RoundStarted
from drux.services.synthesis import Synthesized


def _timings(t: Timings) -> dict[str, Any]:
    return {"first_token_s": t.first_token_s, "total_s": t.total_s,
            "tokens_per_s": t.tokens_per_s}


def _cost(services: Services, model: str, answered_by: str | None,
          input_tokens: int, output_tokens: int) -> float:
    models = services.config.catalog.models
    spec = models.get(answered_by or "") or models.get(model)
    return spec.cost(input_tokens, output_tokens) if spec is not None else 0.0


def substitute(answered_by: str | None, substituted_for: str | None,
               deployment: str | None) -> str | None:
    """Who answered instead of the model asked for: the model id, else the deployment."""
    if answered_by:
        return answered_by
    return (deployment or "another model") if substituted_for else None


def event_to_dict(services: Services, event: AskEvent) -> dict[str, Any]:
    if isinstance(event, Token):
        return {"type": "token", "model": event.model, "text": event.text,
                "restart": event.restart, "deployment": event.deployment,
                "answered_by": substitute(event.answered_by, event.substituted_for,
                                          event.deployment),
                "substituted_for": event.substituted_for}
    if isinstance(event, Started):
        return {"type": "started", "model": event.model}
    if isinstance(event, Finished):
        c = event.completion
        return {
            "type": "finished", "model": event.model, "text": c.text,
            "html": render_markdown(c.text), "finish_reason": c.finish_reason,
            "deployment": c.deployment,
            "answered_by": substitute(c.answered_by, c.substituted_for, c.deployment),
            "substituted_for": c.substituted_for, "recovered": c.recovered,
            "timings": _timings(event.timings),
            "usage": {"input_tokens": c.usage.input_tokens,
                      "output_tokens": c.usage.output_tokens},
            "cost_usd": _cost(services, event.model, c.answered_by,
                              c.usage.input_tokens, c.usage.output_tokens),
        }
    if isinstance(event, Failed):
        return {"type": "failed", "model": event.model,
                "error": {"type": event.error.code, "message": str(event.error)},
                "text": event.partial_text, "html": render_markdown(event.partial_text),
                "timings": _timings(event.timings)}
    if isinstance(event, AskCreated):
        return {"type": "created", "ask_id": event.ask_id, "models": event.models,
                "families": event.families, "skipped": event.skipped, "panel": event.panel}
    if isinstance(event, Scored):
        return {"type": "scored", "ask_id": event.ask_id, "score": event.consensus.score,
                "verdict": event.consensus.verdict, "explanation": event.explanation}
    if isinstance(event, AskDone):
        return {"type": "done", "ask_id": event.ask_id, "status": event.status}
    return deliberation_event(event)


def deliberation_event(event: AskEvent) -> dict[str, Any]:
    """A round started or ended, or the synthesis was written (``--rounds``, ``--synthesize``)."""
    if isinstance(event, RoundStarted):
        return {"type": "round_started", "ask_id": event.ask_id, "round": event.round}
    if isinstance(event, RoundScored):
        return {"type": "round_scored", "ask_id": event.ask_id, "round": event.round,
                "score": event.consensus.score, "verdict": event.consensus.verdict,
                "explanation": event.explanation, "changed": event.changed, "why": event.why}
    if isinstance(event, Synthesized):
        return synthesis_event(event.ask_id, event.synthesis)
    raise TypeError(f"not an ask event: {type(event).__name__}")


def synthesis_event(ask_id: str, s: SynthesisRecord) -> dict[str, Any]:
    return {"type": "synthesized", "ask_id": ask_id, "label": s.label, "synthesizer": s.model,
            "text": s.text, "side_by_side": s.side_by_side, "error": s.error}


def replay_stored(record: AskRecord) -> list[dict[str, Any]]:
    """The events of an ask that is no longer running, rebuilt from its stored record."""
    events: list[dict[str, Any]] = [{
        "type": "created", "ask_id": record.id, "models": record.models,
        "families": {a.model: a.family for a in record.answers},
        "skipped": record.skipped, "panel": record.panel}]
    for a in record.answers:
        base = {"model": a.model, "text": a.text, "html": render_markdown(a.text),
                "timings": a.timings.model_dump()}
        if a.status == AnswerStatus.DONE:
            events.append({**base, "type": "finished", "finish_reason": a.finish_reason,
                           "deployment": a.deployment,
                           "answered_by": substitute(a.answered_by, a.substituted_for,
                                                     a.deployment),
                           "substituted_for": a.substituted_for, "recovered": a.recovered,
                           "usage": a.usage.model_dump(), "cost_usd": a.cost_usd})
        else:
            err = a.error or AnswerError(type=a.status, message=f"the answer is {a.status}",
                                         status=None)
            events.append({**base, "type": "failed",
                           "error": {"type": err.type, "message": err.message}})
    events += [{"type": "round_scored", "ask_id": record.id, "round": r.round, "score": r.score,
                "verdict": r.verdict, "changed": r.changed, "why": r.why,
                "explanation": r.consensus.explanation if r.consensus else ""}
               for r in record.rounds]
    if record.synthesis is not None:
        events.append(synthesis_event(record.id, record.synthesis))
    if record.consensus is not None:
        events.append({"type": "scored", "ask_id": record.id, "score": record.score,
                       "verdict": record.verdict, "explanation": record.consensus.explanation})
    # A stored ask still marked running has no live run behind it (the server
    # stopped mid-ask): what was received is all there will be.
    status = AskStatus.PARTIAL if record.status == AskStatus.RUNNING else record.status
    events.append({"type": "done", "ask_id": record.id, "status": status})
    return events
