"""An ask run as a job by ``drux worker``, followed from this process as typed events.

``queued_run_ask`` is ``run_ask`` for callers that read events (``drux hub faq`` and its
progress lines): the ask is created here, queued on SAQ, and its events are read back from its
``EventLog`` and rebuilt as the typed events ``run_ask`` yields. ``Scored`` carries the
consensus as stored (the log holds only what pages show). Leaving early (Ctrl-C) stops the
job: what it received is kept, marked partial.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from drux.errors import DruxError
from drux.panel import Failed, Finished, Started, Timings, Token
from drux.records import AskStatus, ConsensusRecord
from drux.services.ask import AskDone, AskEvent, AskOptions, Scored, start_ask
from drux.services.ask_events import event_to_dict
from drux.state.events import Event, RedisEventLog
from drux.state.jobs import QueueJobs, settle
from drux.types import Completion, Usage

if TYPE_CHECKING:
    from drux.services import Services


class WorkerReportedError(DruxError):
    """A model's failure as the job worker reported it (its code and message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _timings(data: dict[str, Any], output_tokens: int = 0) -> Timings:
    return Timings(first_token_s=data.get("first_token_s"), total_s=data.get("total_s"),
                   output_tokens=output_tokens)


def decode(services: Services, event: Event) -> AskEvent | None:
    """The typed event for one logged event (None for what callers do not see)."""
    kind, model = event.get("type"), event.get("model", "")
    if kind == "started":
        return Started(model)
    if kind == "token":
        return Token(model, event["text"], restart=bool(event.get("restart")),
                     deployment=event.get("deployment") or "",
                     substituted_for=event.get("substituted_for"))
    if kind == "finished":
        usage = Usage(**event.get("usage", {}))
        completion = Completion(event["text"], model, deployment=event.get("deployment") or "",
                                finish_reason=event.get("finish_reason"), usage=usage,
                                substituted_for=event.get("substituted_for"),
                                recovered=bool(event.get("recovered")))
        return Finished(model, completion, _timings(event.get("timings", {}),
                                                    usage.output_tokens))
    if kind == "failed":
        error = event.get("error", {})
        return Failed(model, WorkerReportedError(error.get("type", "provider_error"),
                                                 error.get("message", "failed")),
                      _timings(event.get("timings", {})), event.get("text", ""))
    if kind == "scored":
        record = services.store.asks.get(event["ask_id"])
        consensus = (record.consensus if record and record.consensus else
                     ConsensusRecord(score=event.get("score"), verdict=event.get("verdict")))
        return Scored(event["ask_id"], consensus, event.get("explanation") or "")
    if kind == "done":
        return AskDone(event["ask_id"], AskStatus(event["status"]))
    return None  # "error": the "done" that follows ends the ask


async def queued_run_ask(services: Services, opts: AskOptions, redis_url: str
                         ) -> AsyncGenerator[AskEvent, None]:
    """Create the ask, queue it for a job worker and yield its events: ``AskCreated`` first,
    ``AskDone`` last."""
    events = RedisEventLog(redis_url)
    jobs = QueueJobs(services, events, redis_url)
    await events.ready()  # Redis away: nothing is created
    created = start_ask(services, opts)
    yield created
    finished = False
    try:
        await events.publish(created.ask_id, event_to_dict(services, created))
        await jobs.submit(opts, created)
        async for item in events.follow(created.ask_id):
            typed = decode(services, item[1]) if item is not None else None
            if typed is not None:
                yield typed
            finished = isinstance(typed, AskDone)
    finally:
        if not finished:  # the caller left (Ctrl-C) or Redis failed: do not leave it running
            await asyncio.shield(_stop(services, jobs, created.ask_id))
        await jobs.aclose()


async def _stop(services: Services, jobs: QueueJobs, ask_id: str) -> None:
    try:
        await jobs.stop(ask_id)
    except DruxError:  # Redis is away: the stored ask must not stay "running"
        await asyncio.to_thread(settle, services, ask_id)
