"""Asks run as jobs the HTTP requests do not own; their events fan out to any number of readers.

``AskRunner.start`` validates and creates the ask (bad input raises before any job exists),
publishes its ``created`` event and hands it to the jobs: a task of this process (no
``DRUX_REDIS_URL``) or a SAQ job a ``drux worker`` runs. Either way the ask's events go to
its ``EventLog`` (``drux.state.events``), which SSE readers follow from any web worker; the
ask completes and is stored even when every client has gone. Once the log no longer holds an
ask, it is replayed from the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi import HTTPException

from drux.errors import SharedStateError
from drux.records import AskStatus
from drux.services import Services
from drux.services.ask import AskOptions, start_ask
from drux.services.ask_events import event_to_dict
from drux.state.events import AskRun, EventLog, MemoryEventLog, event_log
from drux.state.jobs import AskJobs, ask_jobs, settle
from drux.web.stopping import Stopped, final_status

__all__ = ["AskRun", "AskRunner"]

log = logging.getLogger(__name__)


class AskRunner:
    def __init__(self, services: Services, *, events: EventLog | None = None,
                 jobs: AskJobs | None = None) -> None:
        redis_url = services.settings.redis_url
        self._services = services
        self.services = services
        self.events = events if events is not None else event_log(redis_url)
        self.jobs = jobs if jobs is not None else ask_jobs(services, self.events, redis_url)

    async def start(self, opts: AskOptions) -> str:
        """Create the ask and start it; bad input raises here, before any job exists. With
        Redis unreachable nothing is created (``SharedStateError``, a 503)."""
        await self.events.ready()
        created = start_ask(self._services, opts)
        try:
            await self.events.publish(created.ask_id, event_to_dict(self._services, created))
            await self.jobs.submit(opts, created)
        except SharedStateError:  # Redis went away in between: the row must not stay running
            await asyncio.to_thread(settle, self._services, created.ask_id, stopped=False)
            raise
        return created.ask_id

    def get(self, ask_id: str) -> AskRun | None:
        """This process's run of an ask (only without Redis: with it, follow ``events``)."""
        return self.events.run(ask_id) if isinstance(self.events, MemoryEventLog) else None

    async def live(self, ask_id: str) -> bool:
        """Whether the ask runs now, as far as the event log knows. With Redis unreachable:
        False, so a page shows what is stored rather than an error."""
        try:
            return await self.events.live(ask_id) is True
        except SharedStateError:
            return False

    async def followable(self, ask_id: str, record_ended: Callable[[], Awaitable[bool]]) -> bool:
        """Whether to follow the ask's live log (else replay the stored record). With Redis
        unreachable an ask that ended is replayed from the store; a running one is a 503."""
        try:
            return await self.events.live(ask_id) is not None
        except SharedStateError:
            if await record_ended():
                return False
            raise

    @property
    def running(self) -> int:
        return self.jobs.running

    async def cancel(self, ask_id: str) -> Stopped | None:
        """Stop a running ask, whichever process runs it; what it received is kept, marked
        partial.

        None when the event log does not hold the ask (the caller asks the store). An ask that
        already ended is left as it is (stopping twice is harmless).
        """
        live = await self.events.live(ask_id)
        if live is None:
            return None
        stopped = bool(live) and await self.jobs.stop(ask_id)
        status = final_status(await self.events.events(ask_id)) or AskStatus.PARTIAL
        return Stopped(ask_id, stopped=stopped, status=status)

    async def stop(self, ask_id: str) -> Stopped:
        """What the Stop button and the cancel endpoint both do: stop the ask's run, or
        report how the stored ask ended (404 for an unknown id, 409 for an ask run outside
        the web app and its workers, such as ``drux ask``)."""
        stopped = await self.cancel(ask_id)
        if stopped is not None:
            return stopped
        record = await asyncio.to_thread(self._services.store.asks.get, ask_id)
        if record is None:
            raise HTTPException(404, "no ask with this id")
        if record.status == AskStatus.RUNNING:  # another process runs it (drux ask, a server)
            raise HTTPException(409, "this ask runs in another process; it can only be stopped there")
        return Stopped(ask_id, stopped=False, status=record.status)

    async def aclose(self, grace: float = 5.0) -> None:
        """Let running asks finish for ``grace`` seconds, then cancel them (they save partial)."""
        await self.jobs.aclose(grace)
