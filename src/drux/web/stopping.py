"""Stopping an ask from the web: what a stop leaves in the store and tells the caller.

A stopped ask keeps what it received, as Ctrl-C does in the CLI: finished answers
stay as they are, unfinished ones keep their text marked "partial", and the ask is
"partial" (it has no score: scoring needs every answer).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drux.errors import DruxError
from drux.records import AnswerStatus, AskStatus

if TYPE_CHECKING:
    from drux.store.asks import AskRepository

FINAL_ANSWER_STATUSES = frozenset({AnswerStatus.DONE, AnswerStatus.FAILED})


@dataclass(frozen=True, slots=True)
class Stopped:
    ask_id: str
    stopped: bool  # False: the ask had already ended, nothing was changed
    status: AskStatus  # the ask's status once it ended


def final_status(events: Iterable[dict[str, Any]]) -> AskStatus | None:
    """The status of the run's "done" event, or None while it has none."""
    return next((AskStatus(e["status"]) for e in events if e.get("type") == "done"), None)


def stopped_record(repo: AskRepository, ask_id: str) -> AskStatus:
    """Settle the stored ask of a stopped run; its status afterwards.

    ``run_ask`` already saves an interrupted panel as partial; this also covers a stop
    that landed while the answers were being scored, or before the run began.
    """
    try:
        record = repo.get(ask_id)
        if record is None:
            return AskStatus.PARTIAL
        if record.status != AskStatus.RUNNING:
            return record.status
        repo.update_answers(ask_id, {a.model: {"status": AnswerStatus.PARTIAL}
                                     for a in record.answers
                                     if a.status not in FINAL_ANSWER_STATUSES})
        repo.finish(ask_id, status=AskStatus.PARTIAL)
    except DruxError:  # the database is busy or gone: the followers still hear the end
        pass
    return AskStatus.PARTIAL
