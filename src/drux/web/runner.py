"""Asks run in background tasks the HTTP requests do not own.

``AskRunner.start`` validates and creates the ask, then drives ``run_ask`` in a
task of its own: any number of SSE subscribers follow it, a late subscriber gets
every past event first, and the ask completes and is stored even when every
client has gone. Finished runs stay in memory for a while so a reload replays
from memory; older ones are replayed from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from fastapi import HTTPException

from drux.errors import DruxError
from drux.records import AnswerStatus, AskStatus
from drux.services import Services
from drux.services.ask import AskCreated, AskOptions, run_ask
from drux.web.events import event_to_dict
from drux.web.stopping import Stopped, final_status, stopped_record

log = logging.getLogger(__name__)


class AskRun:
    """The events of one running (or recently finished) ask, for any number of readers."""

    def __init__(self, ask_id: str) -> None:
        self.ask_id = ask_id
        self.events: list[dict[str, Any]] = []
        self.done = False
        self.finished_at: float | None = None
        self.task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    def publish(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self._wake()

    def close(self) -> None:
        self.done = True
        self.finished_at = time.monotonic()
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def follow(self, start: int = 0, *, heartbeat: float | None = None
                     ) -> AsyncIterator[tuple[int, dict[str, Any]] | None]:
        """Every event from index ``start`` on, as (index, event), until the ask ends.

        With ``heartbeat``, yields ``None`` after that many quiet seconds (so an
        SSE stream can send a comment and notice a client that left).
        """
        i = max(start, 0)
        while True:
            while i < len(self.events):
                yield i, self.events[i]
                i += 1
            if self.done:
                return
            try:
                await asyncio.wait_for(self._changed.wait(), heartbeat)
            except TimeoutError:
                yield None


class AskRunner:
    def __init__(self, services: Services, *, keep_finished: int = 100,
                 keep_seconds: float = 600.0) -> None:
        self._services = services
        self._runs: OrderedDict[str, AskRun] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._keep = keep_finished
        self._keep_s = keep_seconds

    async def start(self, opts: AskOptions) -> str:
        """Create the ask and start it; bad input raises here, before any task exists."""
        events = run_ask(self._services, opts)
        try:
            first = await anext(events)
        except BaseException:
            await events.aclose()
            raise
        assert isinstance(first, AskCreated)
        run = AskRun(first.ask_id)
        run.publish(event_to_dict(self._services, first))
        self._prune()
        self._runs[run.ask_id] = run
        task = asyncio.create_task(self._drive(run, events), name=f"ask:{run.ask_id}")
        run.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run.ask_id

    def get(self, ask_id: str) -> AskRun | None:
        return self._runs.get(ask_id)

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def _drive(self, run: AskRun, events: AsyncIterator[Any]) -> None:
        try:
            async for event in events:
                run.publish(event_to_dict(self._services, event))
        except asyncio.CancelledError:
            # Stopped (or the server is shutting down): the record is partial before
            # followers hear "done", even when the stop came while scoring.
            status = await asyncio.to_thread(stopped_record, self._services.store.asks,
                                             run.ask_id)
            run.publish({"type": "done", "ask_id": run.ask_id, "status": status})
            raise
        except Exception as exc:  # the stored record keeps what was received
            log.warning("ask %s ended with %s: %s", run.ask_id, type(exc).__name__, exc)
            message = str(exc) if hasattr(exc, "code") else "the ask stopped unexpectedly"
            run.publish({"type": "error", "ask_id": run.ask_id,
                         "error": {"type": getattr(exc, "code", "internal_error"),
                                   "message": message}})
            if not any(e["type"] == "done" for e in run.events):
                status = await asyncio.to_thread(self._settle, run.ask_id)
                run.publish({"type": "done", "ask_id": run.ask_id, "status": status})
        finally:
            run.close()

    async def cancel(self, ask_id: str) -> Stopped | None:
        """Stop a running ask; what it received is kept, marked partial.

        None when this server has no run by that id (the caller asks the store). An ask
        that already ended is left as it is (stopping twice is harmless).
        """
        run = self._runs.get(ask_id)
        if run is None:
            return None
        if run.done or run.task is None:
            return Stopped(ask_id, stopped=False, status=final_status(run.events) or AskStatus.PARTIAL)
        run.task.cancel()
        await asyncio.wait({run.task})  # never raises: the stop outlives a caller that left
        if final_status(run.events) is None:  # cancelled before its first step
            status = await asyncio.to_thread(stopped_record, self._services.store.asks, ask_id)
            run.publish({"type": "done", "ask_id": ask_id, "status": status})
            run.close()
        return Stopped(ask_id, stopped=True, status=final_status(run.events) or AskStatus.PARTIAL)

    async def stop(self, ask_id: str) -> Stopped:
        """What the Stop button and the cancel endpoint both do: stop this server's run, or
        report how the stored ask ended (404 for an unknown id, 409 for an ask another
        process runs)."""
        stopped = await self.cancel(ask_id)
        if stopped is not None:
            return stopped
        record = await asyncio.to_thread(self._services.store.asks.get, ask_id)
        if record is None:
            raise HTTPException(404, "no ask with this id")
        if record.status == AskStatus.RUNNING:  # another process runs it (drux ask, a server)
            raise HTTPException(409, "this ask runs in another process; it can only be stopped there")
        return Stopped(ask_id, stopped=False, status=record.status)

    def _settle(self, ask_id: str) -> AskStatus:
        """An ask that broke after its answers (e.g. while scoring) must not stay "running"."""
        repo = self._services.store.asks
        try:
            record = repo.get(ask_id)
            if record is None or record.status != AskStatus.RUNNING:
                return record.status if record else AskStatus.FAILED
            answered = any(a.status == AnswerStatus.DONE for a in record.answers)
            status = AskStatus.PARTIAL if answered else AskStatus.FAILED
            repo.finish(ask_id, status=status)
            return status
        except DruxError:
            return AskStatus.FAILED

    def _prune(self) -> None:
        now = time.monotonic()
        finished = [r for r in self._runs.values() if r.done]
        excess = len(finished) - self._keep
        for run in finished:
            assert run.finished_at is not None
            if excess > 0 or now - run.finished_at > self._keep_s:
                del self._runs[run.ask_id]
                excess -= 1

    async def aclose(self, grace: float = 5.0) -> None:
        """Let running asks finish for ``grace`` seconds, then cancel them (they save partial)."""
        tasks = list(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
