"""Breaker verdicts shared through Redis: a hash of the latest verdict per deployment, a
channel that carries each new one, and one probe slot per deployment.

    drux:breakers:states         hash  deployment -> verdict JSON (with its version)
    drux:breakers:version        the last version given: orders every verdict of every deployment
    drux:breakers:probe:<name>   the half-open probe slot, SET NX PX probe_timeout
    drux:breakers                channel: each new verdict, as stored

A verdict is written, versioned, published and its probe slot freed in one Lua script, so
every worker sees transitions in the order Redis made them. Versions are Redis's clock in
microseconds (kept increasing), not a plain counter: a Redis restarted empty would start a
counter again at 1, and workers would ignore every verdict as older than what they had seen.

Staleness: a worker adopts another's verdict when the channel delivers it (a loopback or LAN
round trip, well under the time a failing upstream takes to fail). Calls already admitted in
that window go through; they are the calls a single process would also have had in flight.
A worker that starts, or reconnects, reads the hash before it says it is in step.

Redis unreachable: each worker's breakers decide alone (the behaviour of one process), the
outage is logged once, verdicts made meanwhile are kept and published when Redis is back,
and the listener re-reads the hash then: no restart needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any

import redis as syncredis
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from drux.errors import SharedStateError
from drux.state.breakers import BreakerVerdict, SharedBreaker
from drux.state.connection import CONNECT_TIMEOUT, describe, guarded, redis_client

log = logging.getLogger("drux.state.breakers")

STATES = "drux:breakers:states"
VERSION = "drux:breakers:version"
CHANNEL = "drux:breakers"
PROBE = "drux:breakers:probe:"

# KEYS: states hash, version counter, probe slot. ARGV: deployment, verdict JSON without its
# version (an object, so it ends with "}"), channel.
_PUBLISH = """
local t = redis.call('TIME')
local v = math.max(tonumber(t[1]) * 1000000 + tonumber(t[2]),
                   tonumber(redis.call('GET', KEYS[2]) or '0') + 1)
local version = string.format('%.0f', v)
redis.call('SET', KEYS[2], version)
local rec = string.sub(ARGV[2], 1, -2) .. ',"version":' .. version .. '}'
redis.call('HSET', KEYS[1], ARGV[1], rec)
redis.call('DEL', KEYS[3])
redis.call('PUBLISH', ARGV[3], rec)
return version
"""
# Free a probe slot only if this worker still holds it (it may have expired and been retaken).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

LISTEN_POLL = 1.0  # seconds a listener waits for a message before checking its own state
RETRY_EVERY = 1.0  # seconds between reconnection attempts while Redis is away


class RedisBreakers:
    """The breaker verdicts of every worker that shares this Redis."""

    scope = "cluster"

    def __init__(self, url: str, *, retry_every: float = RETRY_EVERY,
                 worker: str | None = None) -> None:
        self._url = url
        self._retry_every = retry_every
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._breakers: dict[str, list[SharedBreaker]] = {}
        self._seen: dict[str, BreakerVerdict] = {}  # newest verdict known per deployment
        self._pending: dict[str, BreakerVerdict] = {}  # ours, not yet in Redis
        self._probes: dict[str, str] = {}  # deployment -> token of the probe slot we hold
        self._reachable = True  # until a command says otherwise
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: asyncio.Task[None] | None = None
        self._synced = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- what breakers call -------------------------------------------------------------------
    def attach(self, breaker: SharedBreaker) -> None:
        self._breakers.setdefault(breaker.name, []).append(breaker)
        known = self._seen.get(breaker.name)
        if known is not None and known.by != self.worker:
            breaker.adopt(known)
        self._ensure_listener()

    def opened(self, name: str, verdict: BreakerVerdict) -> None:
        self._send(verdict.model_copy(update={"name": name, "by": self.worker}))

    def closed(self, name: str) -> None:
        self._send(BreakerVerdict(name=name, state="closed", by=self.worker))

    async def claim_probe(self, name: str, ttl: float) -> bool:
        if not self._reachable:
            return True  # Redis away: this worker's own probe slot decides
        self._ensure_listener()
        token = f"{self.worker}:{secrets.token_hex(4)}"
        try:
            async with guarded(self._url):
                taken = await redis_client(self._url).set(
                    PROBE + name, token, nx=True, px=max(1, round(ttl * 1000)))
        except SharedStateError as err:
            self._down(err)
            return True
        if taken:
            self._probes[name] = token
        return bool(taken)

    def release_probe(self, name: str) -> None:
        token = self._probes.pop(name, None)
        if token is not None and self._reachable:
            self._spawn(self._release(name, token))

    async def start(self) -> None:
        self._ensure_listener()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CONNECT_TIMEOUT * 2):
                await self._synced.wait()

    async def aclose(self) -> None:
        tasks = [t for t in (self._listener, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._listener = None
        self._tasks.clear()

    def describe(self) -> dict[str, Any]:
        return {"scope": self.scope, "redis": describe(self._url),
                "reachable": self._reachable, "worker": self.worker}

    # -- publishing ---------------------------------------------------------------------------
    def _send(self, verdict: BreakerVerdict) -> None:
        self._probes.pop(verdict.name, None)  # the script frees the slot with the transition
        self._pending[verdict.name] = verdict
        if self._reachable:
            self._spawn(self._flush(verdict.name))

    async def _flush(self, name: str) -> None:
        """Publish our pending verdict for ``name``; one at a time, so in the order made."""
        async with self._send_lock:
            verdict = self._pending.pop(name, None)
            if verdict is None:
                return
            try:
                async with guarded(self._url):
                    await self._publish(redis_client(self._url), verdict)
            except SharedStateError as err:
                self._pending.setdefault(name, verdict)  # a newer one made meanwhile wins
                self._down(err)

    async def _publish(self, client: Redis, verdict: BreakerVerdict) -> None:
        body = verdict.model_dump_json(exclude={"version"})
        version = await client.eval(  # type: ignore[misc]
            _PUBLISH, 3, STATES, VERSION, PROBE + verdict.name, verdict.name, body, CHANNEL)
        self._note(verdict.model_copy(update={"version": int(version)}))

    async def _release(self, name: str, token: str) -> None:
        with contextlib.suppress(SharedStateError):
            async with guarded(self._url):
                await redis_client(self._url).eval(_RELEASE, 1, PROBE + name, token)  # type: ignore[misc]

    # -- following the others -----------------------------------------------------------------
    def _ensure_listener(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not in async code yet: the first async use starts it
        if self._listener is not None and self._loop is loop and not self._listener.done():
            return
        if self._loop is not loop:  # asyncio primitives belong to one loop
            self._synced = asyncio.Event()
            self._send_lock = asyncio.Lock()
            self._tasks = set()
        self._loop = loop
        self._listener = loop.create_task(self._listen(), name="drux-breakers")

    async def _listen(self) -> None:
        while True:
            try:
                await self._follow()
                continue  # a command elsewhere found Redis away and back: re-read at once
            except (RedisError, OSError) as exc:
                self._down(exc)
            await asyncio.sleep(self._retry_every)

    async def _follow(self) -> None:
        """Subscribe, then read every stored verdict (so none published between the two is
        missed), then apply verdicts as they come until Redis goes away."""
        client = redis_client(self._url)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(CHANNEL)
            await self._resync(client)
            self._up()
            while self._reachable:
                message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                   timeout=LISTEN_POLL)
                if message is not None:
                    self._receive(message["data"])
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    async def _resync(self, client: Redis) -> None:
        # Verdicts made while Redis was away go first: they are the newest evidence we have.
        async with self._send_lock:
            for name in list(self._pending):
                await self._publish(client, self._pending[name])
                self._pending.pop(name, None)
        stored = await client.hgetall(STATES)  # type: ignore[misc]
        for raw in stored.values():
            self._receive(raw)

    def _receive(self, raw: bytes | str) -> None:
        try:
            verdict = BreakerVerdict.model_validate_json(raw)
        except ValidationError:
            log.warning("breakers: ignored a malformed verdict in Redis")
            return
        if not self._note(verdict) or verdict.by == self.worker:
            return
        for breaker in self._breakers.get(verdict.name, ()):
            breaker.adopt(verdict)
        # Every transition frees the probe slot. One we took just after another worker's
        # transition freed it would otherwise outlive it and hold up the next round's probe.
        token = self._probes.pop(verdict.name, None)
        if token is not None:
            self._spawn(self._release(verdict.name, token))

    def _note(self, verdict: BreakerVerdict) -> bool:
        """Remember ``verdict`` if it is newer than what we know; ``False`` if it is not."""
        known = self._seen.get(verdict.name)
        if known is not None and known.version >= verdict.version:
            return False
        self._seen[verdict.name] = verdict
        return True

    def _up(self) -> None:
        if not self._reachable:
            log.warning("breakers of %s: Redis at %s is back; breakers are shared again",
                        self.worker, describe(self._url))
        self._reachable = True
        self._synced.set()

    def _down(self, exc: BaseException) -> None:
        if self._reachable:
            log.warning("breakers of %s: Redis at %s is unreachable (%s); this worker's "
                        "breakers decide alone until it is back", self.worker,
                        describe(self._url), type(exc).__name__)
        self._reachable = False
        self._synced.set()  # in step as far as we can be: start() must not wait for Redis

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            coro.close()  # no loop: stays pending, published by the next resync
            return
        self._ensure_listener()
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def read_verdicts(url: str, *, wall: Callable[[], float] = time.time
                  ) -> dict[str, dict[str, Any]] | None:
    """The cluster's breaker state per deployment, for ``drux status`` (blocking; ``None``
    when Redis cannot be read)."""
    client = syncredis.Redis.from_url(url, socket_timeout=CONNECT_TIMEOUT,
                                      socket_connect_timeout=CONNECT_TIMEOUT)
    try:
        stored: dict[bytes, bytes] = client.hgetall(STATES)  # type: ignore[assignment]
        names = list(stored)
        with client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.exists(PROBE + name.decode())
            probing = {name for name, held in zip(names, pipe.execute(), strict=True) if held}
    except (RedisError, OSError):
        return None
    finally:
        client.close()
    now = wall()
    states: dict[str, dict[str, Any]] = {}
    for name, raw in stored.items():
        try:
            verdict = BreakerVerdict.model_validate_json(raw)
        except ValidationError:
            continue
        state: str = verdict.state
        wait = max(0.0, verdict.open_until - now)
        if state == "open" and wait == 0.0:
            state = "half_open"
        states[verdict.name] = {"state": state, "open_for_s": round(wait, 3),
                                "probing": name in probing, "decided_by": verdict.by}
    return states
