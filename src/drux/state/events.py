"""The live event log of each ask: what SSE followers read, whichever process runs the ask.

Every event is a JSON dict with a ``type`` (``drux.services.ask_events``); the last one of an
ask is ``done``. Followers get ``(id, event)`` pairs; the id is what the SSE stream sends as
``id:`` and takes back as ``Last-Event-ID`` (an opaque string to clients). Resuming after an
id yields every later event once, in order; an id the log never handed out replays from the
start.

- ``MemoryEventLog``: one process (no ``DRUX_REDIS_URL``). Ids are the event's index; finished
  asks are kept a while (a bounded number) so a reload replays from memory.
- ``RedisEventLog``: one Redis stream per ask (XADD per event, XREAD BLOCK for followers). The
  id is the stream entry id, so a follower resumes on any web worker. A stream expires
  ``keep_seconds`` after its ask ends; later readers are served from the stored record.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any, Protocol

from drux.state.connection import guarded, redis_client

Event = dict[str, Any]
KEEP_SECONDS = 600.0
# A stream whose ask never ends (every process running it died before the sweep) still goes.
RUNNING_TTL_S = 24 * 3600
# Below the Redis client's socket timeout: a blocked read must not look like a dead server.
READ_BLOCK_S = 2.0


class EventLog(Protocol):
    async def ready(self) -> None:
        """Raise ``SharedStateError`` when the log cannot be written (checked before an ask
        is created, so a 503 leaves nothing behind)."""
        ...

    async def publish(self, ask_id: str, event: Event) -> str:
        """Append ``event``; its id. A ``done`` event ends the ask's log."""
        ...

    async def live(self, ask_id: str) -> bool | None:
        """None: the log does not hold this ask (never, or no longer); else whether it runs."""
        ...

    async def events(self, ask_id: str) -> list[Event]:
        """Every event so far (empty when the log does not hold the ask)."""
        ...

    def follow(self, ask_id: str, after: str | None = None, *, heartbeat: float | None = None
               ) -> AsyncIterator[tuple[str, Event] | None]:
        """Events after id ``after`` (all with None or an unknown id) until ``done``; with
        ``heartbeat``, ``None`` after that many quiet seconds."""
        ...


def is_done(event: Event) -> bool:
    return event.get("type") == "done"


class AskRun:
    """The events of one running (or recently finished) ask in this process, for any number
    of readers."""

    def __init__(self, ask_id: str) -> None:
        self.ask_id = ask_id
        self.events: list[Event] = []
        self.done = False
        self.finished_at: float | None = None
        self._changed = asyncio.Event()

    def publish(self, event: Event) -> None:
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
                     ) -> AsyncIterator[tuple[int, Event] | None]:
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


def _index_after(after: str | None) -> int:
    """The index after id ``after``. Header bytes arrive as latin-1, so ``isdigit`` alone
    lets "²" through to ``int``."""
    value = (after or "").strip()
    if value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value) + 1
    return 0


class MemoryEventLog:
    def __init__(self, *, keep_finished: int = 100, keep_seconds: float = KEEP_SECONDS) -> None:
        self._runs: OrderedDict[str, AskRun] = OrderedDict()
        self._keep = keep_finished
        self._keep_s = keep_seconds

    def run(self, ask_id: str) -> AskRun | None:
        return self._runs.get(ask_id)

    async def ready(self) -> None:
        return None

    async def publish(self, ask_id: str, event: Event) -> str:
        run = self._runs.get(ask_id)
        if run is None:
            self._prune()
            run = self._runs[ask_id] = AskRun(ask_id)
        if run.done:  # nothing follows "done" (a late error report of a stopped run)
            return str(len(run.events) - 1)
        run.publish(event)
        if is_done(event):
            run.close()
        return str(len(run.events) - 1)

    async def live(self, ask_id: str) -> bool | None:
        run = self._runs.get(ask_id)
        return None if run is None else not run.done

    async def events(self, ask_id: str) -> list[Event]:
        run = self._runs.get(ask_id)
        return list(run.events) if run is not None else []

    async def follow(self, ask_id: str, after: str | None = None, *,
                     heartbeat: float | None = None) -> AsyncIterator[tuple[str, Event] | None]:
        run = self._runs.get(ask_id)
        if run is None:
            return
        async for item in run.follow(_index_after(after), heartbeat=heartbeat):
            yield None if item is None else (str(item[0]), item[1])

    def _prune(self) -> None:
        now = time.monotonic()
        finished = [r for r in self._runs.values() if r.done]
        excess = len(finished) - self._keep
        for run in finished:
            assert run.finished_at is not None
            if excess > 0 or now - run.finished_at > self._keep_s:
                del self._runs[run.ask_id]
                excess -= 1


_STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")


class RedisEventLog:
    def __init__(self, url: str, *, keep_seconds: float = KEEP_SECONDS,
                 prefix: str = "drux:ask-events:") -> None:
        self._url = url
        self._keep_s = int(keep_seconds)
        self._prefix = prefix

    def _key(self, ask_id: str) -> str:
        return self._prefix + ask_id

    async def ready(self) -> None:
        async with guarded(self._url):
            await redis_client(self._url).ping()  # type: ignore[misc]

    async def publish(self, ask_id: str, event: Event) -> str:
        key = self._key(ask_id)
        async with guarded(self._url):
            client = redis_client(self._url)
            async with client.pipeline(transaction=True) as pipe:
                pipe.xadd(key, {"e": json.dumps(event, ensure_ascii=False)})
                pipe.expire(key, self._keep_s if is_done(event) else RUNNING_TTL_S)
                entry_id, _ = await pipe.execute()
        return str(entry_id.decode() if isinstance(entry_id, bytes) else entry_id)

    async def live(self, ask_id: str) -> bool | None:
        async with guarded(self._url):
            last = await redis_client(self._url).xrevrange(self._key(ask_id), count=1)
        if not last:
            return None
        return not is_done(_decode(last[0])[1])

    async def events(self, ask_id: str) -> list[Event]:
        async with guarded(self._url):
            entries = await redis_client(self._url).xrange(self._key(ask_id))
        return [_decode(e)[1] for e in entries]

    async def follow(self, ask_id: str, after: str | None = None, *,
                     heartbeat: float | None = None) -> AsyncIterator[tuple[str, Event] | None]:
        key = self._key(ask_id)
        client = redis_client(self._url)
        cursor = await self._resume_point(key, after)
        quiet_since = time.monotonic()
        while True:
            block = READ_BLOCK_S if heartbeat is None else min(READ_BLOCK_S, heartbeat)
            async with guarded(self._url):
                reply = await client.xread({key: cursor}, block=int(block * 1000), count=200)
            entries = reply[0][1] if reply else []
            if not entries and await self.live(ask_id) is not True:
                # Ended (or gone) while we waited: what came in between, then stop.
                async with guarded(self._url):
                    reply = await client.xread({key: cursor}, count=1000)
                entries = reply[0][1] if reply else []
                if not entries:
                    return
            for entry in entries:
                cursor, event = _decode(entry)
                yield cursor, event
                if is_done(event):
                    return
            if entries:
                quiet_since = time.monotonic()
            elif heartbeat is not None and time.monotonic() - quiet_since >= heartbeat:
                quiet_since = time.monotonic()
                yield None

    async def _resume_point(self, key: str, after: str | None) -> str:
        """``after`` if it is an entry of this stream, else the start (an id never sent)."""
        value = (after or "").strip()
        if not _STREAM_ID.fullmatch(value):
            return "0-0"
        async with guarded(self._url):
            found = await redis_client(self._url).xrange(key, min=value, max=value, count=1)
        return value if found else "0-0"


def _decode(entry: Any) -> tuple[str, Event]:
    raw_id, fields = entry
    entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
    data = fields.get(b"e") if b"e" in fields else fields.get("e")
    event: Event = json.loads(data)
    return entry_id, event


def event_log(redis_url: str | None) -> EventLog:
    """The log for this deployment: Redis when ``DRUX_REDIS_URL`` is set, else memory."""
    return RedisEventLog(redis_url) if redis_url else MemoryEventLog()
