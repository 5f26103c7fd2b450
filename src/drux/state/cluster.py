"""Who is running: heartbeats of every long-running drux process, and the job queue's counts.

Each ``drux serve``, ``drux gateway`` and ``drux worker`` process wraps its life in
``heartbeat(settings, kind=...)``. With ``DRUX_REDIS_URL`` it writes one key per process,
``drux:proc:<id>``, refreshed every ``BEAT_S`` seconds and expiring after ``MISSED_BEATS``
missed beats: a process killed with -9 drops out of ``drux status`` on its own, with nothing
to clean up. Without Redis there is nothing to share; the registry is this process's memory
and the status says "single process (no DRUX_REDIS_URL)".

A Redis that goes away never stops the process that beats: it logs one warning, keeps
trying, and logs once more when a beat gets through again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from drux import __version__
from drux.errors import SharedStateError
from drux.outage import OutageLog
from drux.state.connection import describe, guarded, redis_client

if TYPE_CHECKING:
    from drux.config import Settings

log = logging.getLogger(__name__)

BEAT_S = 5.0
MISSED_BEATS = 3
KEY_PREFIX = "drux:proc:"
QUEUE_NAME = "drux"  # the SAQ queue asks run on (``drux worker``)
SINGLE_PROCESS = "single process (no DRUX_REDIS_URL)"

ProcessKind = Literal["web", "gateway", "worker"]


class ProcessBeat(BaseModel):
    """One process's heartbeat, as stored and as shown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    kind: ProcessKind
    host: str
    pid: int
    started_at: datetime
    beat_at: datetime
    version: str
    concurrency: int | None = None  # a worker's job slots


class Registry(Protocol):
    """Where heartbeats go: Redis for a cluster, this process's memory otherwise."""

    async def beat(self, beat: ProcessBeat, ttl_s: float) -> None: ...

    async def leave(self, process_id: str) -> None: ...

    async def alive(self) -> list[ProcessBeat]: ...


class MemoryRegistry:
    """The embedded default: only this process, which is alive while it can ask."""

    def __init__(self) -> None:
        self._beats: dict[str, tuple[ProcessBeat, float]] = {}

    async def beat(self, beat: ProcessBeat, ttl_s: float) -> None:
        self._beats[beat.id] = (beat, time.monotonic() + ttl_s)

    async def leave(self, process_id: str) -> None:
        self._beats.pop(process_id, None)

    async def alive(self) -> list[ProcessBeat]:
        now = time.monotonic()
        return sorted((b for b, until in self._beats.values() if until > now),
                      key=lambda b: (b.kind, b.host, b.pid))


class RedisRegistry:
    """One expiring key per process; ``alive`` lists the keys that have not expired."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def beat(self, beat: ProcessBeat, ttl_s: float) -> None:
        async with guarded(self.url):
            await redis_client(self.url).set(KEY_PREFIX + beat.id, beat.model_dump_json(),
                                             px=int(ttl_s * 1000))

    async def leave(self, process_id: str) -> None:
        async with guarded(self.url):
            await redis_client(self.url).delete(KEY_PREFIX + process_id)

    async def alive(self) -> list[ProcessBeat]:
        client = redis_client(self.url)
        async with guarded(self.url):
            keys = [k async for k in client.scan_iter(match=KEY_PREFIX + "*", count=500)]
            values = await client.mget(keys) if keys else []
        beats = []
        for value in values:
            if value is None:  # expired between the scan and the read
                continue
            try:
                beats.append(ProcessBeat.model_validate_json(value))
            except ValidationError:  # written by another drux version: not ours to show
                continue
        return sorted(beats, key=lambda b: (b.kind, b.host, b.pid))


def registry_for(settings: Settings) -> Registry:
    return RedisRegistry(settings.redis_url) if settings.redis_url else MemoryRegistry()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def new_beat(kind: ProcessKind, concurrency: int | None = None) -> ProcessBeat:
    host = socket.gethostname()
    pid = os.getpid()
    now = _utcnow()
    return ProcessBeat(id=f"{host}:{pid}:{secrets.token_hex(4)}", kind=kind, host=host, pid=pid,
                       started_at=now, beat_at=now, version=__version__,
                       concurrency=concurrency)


async def _beat_forever(registry: Registry, first: ProcessBeat, interval: float) -> None:
    ttl = interval * MISSED_BEATS
    outage = OutageLog(log, f"heartbeat of this {first.kind} process not sent",
                       f"heartbeat of this {first.kind} process sent again")
    while True:
        beat = first.model_copy(update={"beat_at": _utcnow()})
        try:
            await registry.beat(beat, ttl)
        except SharedStateError as exc:
            outage.failed(exc)
        else:
            outage.worked()
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def heartbeat(settings: Settings, *, kind: ProcessKind, concurrency: int | None = None,
                    interval: float = BEAT_S, registry: Registry | None = None,
                    ) -> AsyncIterator[ProcessBeat]:
    """Register this process for as long as the block runs (``drux worker`` wraps its run
    in it with ``kind="worker"``). The first beat is sent in the background, so a Redis that
    is down never delays or fails the start."""
    registry = registry or registry_for(settings)
    first = new_beat(kind, concurrency)
    task = asyncio.create_task(_beat_forever(registry, first, interval),
                               name=f"drux-heartbeat-{kind}")
    try:
        yield first
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        with contextlib.suppress(SharedStateError):
            await registry.leave(first.id)  # gone at once, not after the key expires


# -- what `drux status` shows ---------------------------------------------------------------

class Reachability(BaseModel):
    """Whether an engine answered a trivial command, and how fast."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str  # without any password
    reachable: bool
    latency_ms: float | None = None
    error: str | None = None


class JobCounts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: str
    queued: int
    running: int


async def redis_reachability(url: str) -> Reachability:
    """Two pings: the first may open the connection; the second is the round trip shown."""
    client = redis_client(url)
    try:
        async with guarded(url):
            await client.ping()  # type: ignore[misc]
            started = time.perf_counter()
            await client.ping()  # type: ignore[misc]
    except SharedStateError as exc:
        return Reachability(target=describe(url), reachable=False, error=str(exc))
    return Reachability(target=describe(url), reachable=True,
                        latency_ms=round((time.perf_counter() - started) * 1000, 2))


async def job_counts(url: str) -> JobCounts:
    """The SAQ queue's counts, read only: whether or not any worker runs."""
    from saq.queue.redis import RedisQueue

    queue = RedisQueue(redis_client(url), name=QUEUE_NAME)  # not disconnected: the client is shared
    async with guarded(url):
        queued = await queue.count("queued")
        running = await queue.count("active")
    return JobCounts(queue=QUEUE_NAME, queued=queued, running=running)
