"""Stopping an ask from the web: what a stop leaves in the store and tells the caller.

A stopped ask keeps what it received, as Ctrl-C does in the CLI: finished answers
stay as they are, unfinished ones keep their text marked "partial", and the ask is
"partial" (it has no score: scoring needs every answer). ``drux.state.jobs.settle`` writes
that record, whichever process ran the ask.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from drux.records import AskStatus


@dataclass(frozen=True, slots=True)
class Stopped:
    ask_id: str
    stopped: bool  # False: the ask had already ended, nothing was changed
    status: AskStatus  # the ask's status once it ended


def final_status(events: Iterable[dict[str, Any]]) -> AskStatus | None:
    """The status of the run's "done" event, or None while it has none."""
    return next((AskStatus(e["status"]) for e in events if e.get("type") == "done"), None)
