"""Asks as jobs: run here in a task, or queued on SAQ (queue "drux") for ``drux worker``.

Whoever runs an ask publishes its events to the ask's ``EventLog``; followers read that log,
so it does not matter which process runs the ask.

- ``LocalJobs``: no ``DRUX_REDIS_URL``. The ask runs in a task of this process (exactly what
  the web app always did); a stop cancels the task.
- ``QueueJobs``: the ask is a SAQ job whose payload is ``AskJob`` (the validated options and
  the created ask, as JSON). A stop is a SAQ abort: the worker cancels the job, which saves
  what it received as partial and publishes ``done``.

A job worker killed mid-ask (kill -9) stops touching its job's heartbeat; SAQ's sweep, run by
every other worker, re-queues the job, and the worker that picks it up settles the ask instead
of asking again: finished answers stay, unfinished ones are marked partial with the reason
"the worker running it stopped", and followers get ``done``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict

from drux.errors import DruxError, SharedStateError
from drux.records import AnswerStatus, AskStatus
from drux.services.ask import AskCreated, AskOptions, execute_ask
from drux.services.ask_events import event_to_dict
from drux.state.connection import guarded
from drux.state.events import EventLog, is_done

if TYPE_CHECKING:
    from saq import Queue

    from drux.services import Services

log = logging.getLogger(__name__)

QUEUE_NAME = "drux"
JOB_FUNCTION = "run_ask"
HEARTBEAT_S = 10  # a job unseen this long belongs to a dead worker (SAQ's sweep)
STOP_WAIT_S = 30.0
REDIS_AWAY_PAUSE_S = 1.0
WORKER_LOST = "the worker running it stopped"
FINAL_ANSWER_STATUSES = frozenset({AnswerStatus.DONE, AnswerStatus.FAILED})


class AskJob(BaseModel):
    """What a job worker needs to run an ask another process created (one validation path:
    the options are validated again by ``AskOptions`` on the way in)."""

    model_config = ConfigDict(extra="forbid")

    options: AskOptions
    created: AskCreated


class AskJobs(Protocol):
    async def submit(self, opts: AskOptions, created: AskCreated) -> None: ...

    async def stop(self, ask_id: str) -> bool:
        """Ask a running ask to stop; False when it is not known to be running."""
        ...

    @property
    def running(self) -> int: ...

    async def aclose(self, grace: float = 5.0) -> None: ...


def settle(services: Services, ask_id: str, *, reason: str | None = None,
           stopped: bool = True) -> AskStatus:
    """The stored ask of a run that did not end on its own must not stay "running": its
    unfinished answers become partial (with ``reason`` as their error) and the ask partial, or
    failed when nothing was answered and it did not stop on request."""
    repo = services.store.asks
    try:
        record = repo.get(ask_id)
        if record is None:
            return AskStatus.PARTIAL if stopped else AskStatus.FAILED
        if record.status != AskStatus.RUNNING:
            return record.status
        change: dict[str, Any] = {"status": AnswerStatus.PARTIAL}
        if reason:
            change.update(error_type="worker_stopped", error_message=reason)
        repo.update_answers(ask_id, {a.model: dict(change) for a in record.answers
                                     if a.status not in FINAL_ANSWER_STATUSES})
        answered = any(a.status == AnswerStatus.DONE for a in record.answers)
        status = AskStatus.PARTIAL if answered or stopped else AskStatus.FAILED
        repo.finish(ask_id, status=status)
        return status
    except DruxError:  # the database is busy or gone: the followers still hear the end
        return AskStatus.PARTIAL


class _Publisher:
    """Publishes one ask's events. Redis failing mid-ask must not end the ask: the answers
    still go to the database, and a follower that lost the stream reads the stored record."""

    def __init__(self, events: EventLog, ask_id: str) -> None:
        self.events = events
        self.ask_id = ask_id
        self.failing = False

    async def __call__(self, event: dict[str, Any]) -> None:
        try:
            await self.events.publish(self.ask_id, event)
            self.failing = False
        except SharedStateError as exc:
            if not self.failing:
                log.warning("ask %s: events not published (%s); the ask goes on", self.ask_id,
                            exc)
            self.failing = True

    async def still_open(self) -> bool:
        try:
            return await self.events.live(self.ask_id) is not False
        except SharedStateError:
            return True


async def drive(services: Services, events: EventLog, opts: AskOptions,
                created: AskCreated) -> None:
    """Run a created ask to its end, publishing every event; never leaves it "running"."""
    ask_id = created.ask_id
    publish = _Publisher(events, ask_id)
    try:
        async for event in execute_ask(services, opts, created):
            await publish(event_to_dict(services, event))
    except asyncio.CancelledError:
        # Stopped (or the process is shutting down): the record is partial before
        # followers hear "done", even when the stop came while scoring.
        status = await asyncio.to_thread(settle, services, ask_id)
        await publish({"type": "done", "ask_id": ask_id, "status": status})
        raise
    except Exception as exc:  # the stored record keeps what was received
        log.warning("ask %s ended with %s: %s", ask_id, type(exc).__name__, exc)
        message = str(exc) if hasattr(exc, "code") else "the ask stopped unexpectedly"
        await publish({"type": "error", "ask_id": ask_id,
                       "error": {"type": getattr(exc, "code", "internal_error"),
                                 "message": message}})
        if await publish.still_open():
            status = await asyncio.to_thread(settle, services, ask_id, stopped=False)
            await publish({"type": "done", "ask_id": ask_id, "status": status})


async def settle_lost(services: Services, events: EventLog, ask_id: str) -> AskStatus:
    """The ask of a job whose worker died: keep what it stored, end it, tell the followers."""
    status = await asyncio.to_thread(settle, services, ask_id, reason=WORKER_LOST)
    if await events.live(ask_id) is not False:
        await events.publish(ask_id, {"type": "error", "ask_id": ask_id,
                                      "error": {"type": "worker_stopped",
                                                "message": WORKER_LOST}})
        await events.publish(ask_id, {"type": "done", "ask_id": ask_id, "status": status})
    return status


class LocalJobs:
    """Asks run in tasks of this process (the embedded default)."""

    def __init__(self, services: Services, events: EventLog) -> None:
        self._services = services
        self._events = events
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def submit(self, opts: AskOptions, created: AskCreated) -> None:
        task = asyncio.create_task(drive(self._services, self._events, opts, created),
                                   name=f"ask:{created.ask_id}")
        self._tasks[created.ask_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(created.ask_id, None))

    async def stop(self, ask_id: str) -> bool:
        task = self._tasks.get(ask_id)
        if task is None or task.done():
            return False
        task.cancel()
        await asyncio.wait({task})  # never raises: the stop outlives a caller that left
        if await self._events.live(ask_id):  # cancelled before its first step
            status = await asyncio.to_thread(settle, self._services, ask_id)
            await self._events.publish(ask_id, {"type": "done", "ask_id": ask_id,
                                                "status": status})
        return True

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def aclose(self, grace: float = 5.0) -> None:
        """Let running asks finish for ``grace`` seconds, then cancel them (they save partial)."""
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def make_queue(redis_url: str) -> Queue:
    from saq import Queue

    return Queue.from_url(redis_url, name=QUEUE_NAME)


class QueueJobs:
    """Asks as SAQ jobs on Redis, run by ``drux worker`` processes."""

    def __init__(self, services: Services, events: EventLog, redis_url: str) -> None:
        self._services = services
        self._events = events
        self._url = redis_url
        self._queue: Queue | None = None

    def _q(self) -> Queue:
        if self._queue is None:
            self._queue = make_queue(self._url)
        return self._queue

    async def submit(self, opts: AskOptions, created: AskCreated) -> None:
        payload = AskJob(options=opts, created=created).model_dump(mode="json")
        async with guarded(self._url):
            await self._q().enqueue(JOB_FUNCTION, key=created.ask_id, payload=payload,
                                    timeout=0, heartbeat=HEARTBEAT_S, retries=2)

    async def stop(self, ask_id: str) -> bool:
        from saq.job import Status

        async with guarded(self._url):
            job = await self._q().job(ask_id)
            if job is None or job.status not in (Status.QUEUED, Status.ACTIVE):
                return False
            queued = job.status == Status.QUEUED
            await self._q().abort(job, "stopped")
        if queued or not await self._wait_done(ask_id):
            # Nobody runs it (it never started, or its worker is gone): settle it here.
            status = await asyncio.to_thread(settle, self._services, ask_id)
            if await self._events.live(ask_id):
                await self._events.publish(ask_id, {"type": "done", "ask_id": ask_id,
                                                    "status": status})
        return True

    async def _wait_done(self, ask_id: str) -> bool:
        try:
            async with asyncio.timeout(STOP_WAIT_S):
                async for item in self._events.follow(ask_id, heartbeat=1.0):
                    if item is not None and is_done(item[1]):
                        return True
        except TimeoutError:
            return False
        return await self._events.live(ask_id) is not True

    @property
    def running(self) -> int:
        return 0  # asks run on the job workers (``drux status`` shows the queue)

    async def aclose(self, grace: float = 5.0) -> None:
        if self._queue is not None:
            with contextlib.suppress(Exception):
                await self._queue.disconnect()
            self._queue = None


def ask_jobs(services: Services, events: EventLog, redis_url: str | None) -> AskJobs:
    return QueueJobs(services, events, redis_url) if redis_url else LocalJobs(services, events)


# -- the job worker (``drux worker``) -------------------------------------------------------


async def _heartbeat(job: Any) -> None:
    """Touch the job while it runs: a job left untouched ``HEARTBEAT_S`` is swept as dead."""
    while True:
        await asyncio.sleep(HEARTBEAT_S / 4)
        with contextlib.suppress(Exception):  # a Redis blip: the next beat may get through
            await job.update()


async def run_ask_job(ctx: dict[str, Any], *, payload: dict[str, Any]) -> str:
    """The SAQ job: run the ask and publish its events; on a second attempt (its first
    worker died), settle it instead of asking again."""
    services: Services = ctx["services"]
    events: EventLog = ctx["events"]
    job = ctx["job"]
    ask = AskJob.model_validate(payload)
    if job.attempts > 1:
        return str(await settle_lost(services, events, ask.created.ask_id))
    beat = asyncio.create_task(_heartbeat(job))
    try:
        await drive(services, events, ask.options, ask.created)
    finally:
        beat.cancel()
    return "done"


def worker_queue(redis_url: str, *, quiet_start: float) -> Queue:
    """The queue a job worker serves. Its sweep holds off for ``quiet_start`` seconds: SAQ
    moves a job to the active list before marking it active, and a worker's first sweep,
    run while its first dequeue was in that gap, took the job it had just started for a
    dead worker's (seen in the kill -9 test)."""
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError
    from saq.job import Job
    from saq.queue.redis import RedisQueue

    since = time.monotonic()

    class AskQueue(RedisQueue):
        async def sweep(self, lock: int = 60, abort: float = 5.0) -> list[str]:
            if time.monotonic() - since < quiet_start:
                return []
            return await super().sweep(lock, abort)

        async def dequeue(self, timeout: float = 0.0,  # noqa: ASYNC109 - SAQ's signature
                          poll_interval: float = 0.0) -> Job | None:
            # SAQ asks again at once when a dequeue fails: with Redis away each worker spun a
            # core. Wait a moment instead; jobs resume by themselves once Redis is back.
            try:
                return await super().dequeue(timeout, poll_interval)
            except (RedisError, OSError) as exc:
                log.warning("no jobs while Redis is unreachable (%s)", type(exc).__name__)
                await asyncio.sleep(REDIS_AWAY_PAUSE_S)
                return None

    return AskQueue(aioredis.from_url(redis_url), name=QUEUE_NAME)


async def run_worker(services: Services, redis_url: str, *, concurrency: int,
                     sweep_every: int = 5, grace: int = 5) -> None:
    """Run ask jobs until SIGINT/SIGTERM; asks still running after ``grace`` seconds are
    saved partial."""
    from saq import Worker
    from saq.types import PartialTimersDict

    from drux.state.events import RedisEventLog

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["services"] = services
        ctx["events"] = RedisEventLog(redis_url)

    async def shutdown(_ctx: dict[str, Any]) -> None:
        await services.aclose()

    # SAQ's defaults but the sweep (60 s): a dead worker's ask should end within seconds.
    timers: PartialTimersDict = {"schedule": 1, "worker_info": 10, "sweep": sweep_every,
                                 "abort": 1}
    worker: Worker[Any] = Worker(
        worker_queue(redis_url, quiet_start=sweep_every), functions=[(JOB_FUNCTION, run_ask_job)],
        id=f"{socket.gethostname()}-{os.getpid()}",  # which process holds a job, at a glance
        concurrency=concurrency, startup=startup, shutdown=shutdown, timers=timers,
        shutdown_grace_period_s=grace)
    await worker.start()
