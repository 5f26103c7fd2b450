"""Usage records, written in batches off the hot path.

Each finished call is booked by the ``UsageLedger``: its tokens and cost are
priced (the caller settles its key's reservation with them) and a ``UsageRow`` is appended to a list (no I/O); a
background task writes the list to the store every ``usage_flush_seconds`` in a
worker thread, and once more at shutdown. If the store fails, rows are kept for
the next try, up to ``max_pending``; beyond that the oldest are dropped with a
warning.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from drux.catalog import ModelSpec
from drux.errors import StoreError
from drux.gateway.access import Caller
from drux.outage import OutageLog
from drux.store.keys import UsageRow
from drux.types import Usage

log = logging.getLogger("drux.gateway")


class UsageRecorder:
    def __init__(self, write: Callable[[Sequence[UsageRow]], None], *,
                 on_written: Callable[[dict[int, float]], None] | None = None,
                 max_pending: int = 50_000) -> None:
        self._write = write  # blocking: runs in a worker thread
        self._on_written = on_written
        self._pending: list[UsageRow] = []
        self._max_pending = max_pending
        self._lock = asyncio.Lock()
        self._outage = OutageLog(log, "gateway usage not recorded yet",
                                 "gateway usage is recorded again (no row was lost)")

    def add(self, row: UsageRow) -> None:
        self._pending.append(row)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> int:
        """Write what is pending; returns how many rows were written."""
        async with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                return 0
            try:
                await asyncio.to_thread(self._write, batch)
            except StoreError as err:
                self._pending = (batch + self._pending)[-self._max_pending:]
                self._outage.failed(err, f"{len(self._pending)} rows kept")
                return 0
            self._outage.worked()
            if self._on_written is not None:
                spent: dict[int, float] = {}
                for r in batch:
                    if r.key_id is not None and r.cost_usd:
                        spent[r.key_id] = spent.get(r.key_id, 0.0) + r.cost_usd
                self._on_written(spent)
            return len(batch)


class UsageLedger:
    """Books a finished call: its tokens and cost priced, its usage row queued."""

    def __init__(self, recorder: UsageRecorder,
                 spec: Callable[[str], ModelSpec | None]) -> None:
        self._recorder = recorder
        self._spec = spec  # prices by public model name (groups included)

    def book(self, caller: Caller, model: str, deployment: str | None, status: int,
             usage: Usage | None, answered_by: str | None,
             started: float) -> tuple[int, float]:
        """``model`` as asked, ``answered_by`` the model that answered (priced), ``started``
        a ``time.perf_counter()`` reading. Returns the tokens and cost. No I/O here."""
        cost = 0.0
        tokens = 0
        if usage is not None:
            tokens = usage.input_tokens + usage.output_tokens
            spec = self._spec(answered_by or model)
            if spec is not None:
                cost = spec.cost(usage.input_tokens, usage.output_tokens)
        self._recorder.add(UsageRow(
            key_id=caller.key_id, model=model, deployment=deployment,
            status=status, input_tokens=usage.input_tokens if usage else 0,
            output_tokens=usage.output_tokens if usage else 0, cost_usd=cost,
            latency_ms=(time.perf_counter() - started) * 1000,
            created_at=datetime.now(UTC)))
        return tokens, cost
