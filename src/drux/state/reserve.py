"""Budgets (USD) and tokens per minute that hold under concurrency.

Checking a limit before a call and charging it after lets every call that starts while the
limit still has room through: 20 parallel calls at a key with 0.02 USD left all ran. Instead
each call RESERVES the most it can cost, atomically with the check, and SETTLES after it: the
reservation is replaced by what the call really cost (all of it refunded if the call failed).

The rule, for a subject with a budget B (tokens per minute T likewise, over a 60 s window):

- a call whose maximum fits in what is left reserves its maximum: such calls never take the
  subject past B, whatever the concurrency and however many workers share the Redis counter;
- a call whose maximum does not fit is admitted only when no other call of the subject is in
  flight, and reserves all that is left: nothing else is admitted until it settles, so B is
  exceeded by at most that one call's cost beyond what was left (send ``max_tokens`` to make
  the maximum, and so this bound, small); while others are in flight it is refused (retry);
- nothing is admitted once spent + reserved reaches B.

A worker killed mid-call leaves its reservation counted (erring on the side of refusing); an
open call is forgotten for the in-flight rule after ``STALE_SECONDS``.

One process: ``MemoryReserver`` (no await between check and reserve, so it is atomic on the
event loop). Several workers: ``RedisReserver``, one Lua script per reserve and one per settle;
``settle_soon`` queues a settle and sends it with the others of the next 50 ms in one pipelined
round trip, after the answer (``drux.state.settling``).
Its budget counter starts from the spend stored in the database (a restarted or flushed Redis
keeps the budget) and is the truth for admission after that; the database keeps the usage rows.

Outage policy: budgets fail CLOSED (a ``SharedStateError``, a 503 naming Redis: money is at
stake); a subject with only a tokens-per-minute limit fails OPEN onto this process's memory
window, with a warning, until Redis answers again.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from drux.errors import SharedStateError
from drux.state import settling
from drux.state.connection import describe, guarded, redis_client
from drux.state.settling import SettleQueue
from drux.types import Message

log = logging.getLogger("drux.state")

WINDOW = 60.0
STALE_SECONDS = 900  # longer than any call may take


@dataclass(frozen=True, slots=True)
class Caps:
    """What a subject is held to. ``spent_usd``: its spend as stored in the database."""

    budget_usd: float | None = None
    spent_usd: float = 0.0
    tpm: int | None = None
    # Requests per minute, counted in the same atomic step when a reservation is made anyway
    # (one round trip to Redis instead of two); subjects with only this limit use
    # ``drux.state.limits``.
    rpm: int | None = None
    # Counters of a subject that only lives a while (a user's day) expire after this.
    expire_seconds: int | None = None

    @property
    def limited(self) -> bool:
        return self.budget_usd is not None or self.tpm is not None


@dataclass(frozen=True, slots=True)
class Hold:
    """A reservation: what was set aside for one call, to settle when it ends."""

    subject: str
    usd: float
    tokens: int
    ticket: str
    shared: bool = False  # made in Redis (else in this process's memory)


class OverBudget(Exception):
    """Spent. ``busy``: not spent, but what is left is less than the call may cost and other
    calls are in flight (retry when they end, or ask for fewer tokens)."""

    def __init__(self, budget_usd: float, *, busy: bool = False) -> None:
        super().__init__(f"budget of {budget_usd:g} USD {'busy' if busy else 'used up'}")
        self.budget_usd = budget_usd
        self.busy = busy


class OverRequests(Exception):
    def __init__(self, rpm: int, retry_after: float) -> None:
        super().__init__(f"{rpm} requests per minute used")
        self.rpm = rpm
        self.retry_after = retry_after


class OverTokens(Exception):
    def __init__(self, tpm: int, retry_after: float) -> None:
        super().__init__(f"{tpm} tokens per minute used")
        self.tpm = tpm
        self.retry_after = retry_after


def _refuse(caps: Caps, fits_usd: bool, fits_tokens: bool) -> Exception:
    """Why a call that does not fit cannot have the rest while others are in flight (they
    end soon: retry in a second)."""
    if not fits_usd:
        return OverBudget(caps.budget_usd or 0.0, busy=True)
    return OverTokens(caps.tpm or 0, 1.0)


class Reserver(Protocol):
    async def reserve(self, subject: str, caps: Caps, *, usd: float, tokens: int) -> Hold:
        """Set aside up to ``usd`` and ``tokens`` or raise ``OverBudget``/``OverTokens``."""
        ...

    async def settle(self, hold: Hold, *, usd: float, tokens: int) -> None:
        """Replace the reservation by the real cost (0, 0 refunds it all). Never raises."""
        ...

    def settle_soon(self, hold: Hold, *, usd: float, tokens: int) -> None:
        """``settle`` without waiting for it: at once in memory, in the next batch sent to
        Redis (``drux.state.settling``: only ever stricter for a moment, never looser)."""
        ...

    async def drain(self) -> None:
        """Settle what ``settle_soon`` has queued (on shutdown)."""
        ...

    def flushed(self, subject: str, usd: float) -> None:
        """``usd`` of this process's settled spend is now in the database (and so in the
        ``spent_usd`` the caller passes from now on)."""
        ...


def prompt_tokens_at_most(messages: Sequence[Message]) -> int:
    """Tokens a prompt can take, erring high (refunded when the call settles): the byte-level
    tokenizers of the models we serve make at most one token per UTF-8 byte; a few more per
    message stand for the chat template's role markers."""
    return sum(len(m.content.encode("utf-8", "surrogatepass")) + 4 for m in messages) + 3


# -- one process ------------------------------------------------------------------------------
@dataclass(slots=True)
class _Entry:
    at: float
    tokens: int
    in_window: bool


@dataclass(slots=True)
class _Account:
    outstanding_usd: float = 0.0  # reserved + settled, not yet in the database
    window: deque[_Entry] = field(default_factory=deque)
    window_sum: int = 0
    open: dict[str, _Entry] = field(default_factory=dict)
    requests: deque[float] = field(default_factory=deque)

    def prune(self, now: float) -> None:
        edge = now - WINDOW
        while self.requests and self.requests[0] <= edge:
            self.requests.popleft()
        while self.window and self.window[0].at <= edge:
            self.window_sum -= self.window.popleft().tokens


class MemoryReserver:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._accounts: dict[str, _Account] = {}
        self._tickets = itertools.count(1)

    def _account(self, subject: str) -> _Account:
        account = self._accounts.get(subject)
        if account is None:
            account = self._accounts[subject] = _Account()
        return account

    async def reserve(self, subject: str, caps: Caps, *, usd: float, tokens: int) -> Hold:
        return self.reserve_now(subject, caps, usd=usd, tokens=tokens)

    def reserve_now(self, subject: str, caps: Caps, *, usd: float, tokens: int) -> Hold:
        account = self._account(subject)
        now = self._clock()
        account.prune(now)
        usd, tokens = max(usd, 0.0), max(tokens, 0)
        take_usd, take_tokens = 0.0, 0
        fits_usd = fits_tokens = True
        if caps.budget_usd is not None:
            left = caps.budget_usd - caps.spent_usd - account.outstanding_usd
            if left <= 0:  # reserved by calls in flight is not yet spent: say so
                raise OverBudget(caps.budget_usd, busy=bool(account.open))
            fits_usd, take_usd = usd <= left, min(usd, left)
        if caps.tpm is not None:
            if account.window_sum >= caps.tpm:
                first = account.window[0].at if account.window else now
                raise OverTokens(caps.tpm, first + WINDOW - now)
            fits_tokens = tokens <= caps.tpm - account.window_sum
            take_tokens = min(tokens, caps.tpm - account.window_sum)
        if not (fits_usd and fits_tokens) and account.open:
            raise _refuse(caps, fits_usd, fits_tokens)
        if caps.rpm is not None:
            if len(account.requests) >= caps.rpm:
                raise OverRequests(caps.rpm, account.requests[0] + WINDOW - now)
            account.requests.append(now)
        ticket = str(next(self._tickets))
        account.outstanding_usd += take_usd
        entry = _Entry(now, take_tokens if caps.tpm is not None else 0, caps.tpm is not None)
        if entry.in_window:
            account.window.append(entry)
            account.window_sum += take_tokens
        account.open[ticket] = entry
        return Hold(subject, take_usd, entry.tokens, ticket)

    async def settle(self, hold: Hold, *, usd: float, tokens: int) -> None:
        self.settle_soon(hold, usd=usd, tokens=tokens)

    def settle_soon(self, hold: Hold, *, usd: float, tokens: int) -> None:
        account = self._account(hold.subject)
        account.outstanding_usd = max(0.0, account.outstanding_usd + usd - hold.usd)
        entry = account.open.pop(hold.ticket, None)
        if entry is not None and entry.in_window:
            account.prune(self._clock())
            if entry.at > self._clock() - WINDOW:  # still in the window: count what was used
                account.window_sum += tokens - entry.tokens
                entry.tokens = tokens

    def flushed(self, subject: str, usd: float) -> None:
        account = self._accounts.get(subject)
        if account is not None:
            account.outstanding_usd = max(0.0, account.outstanding_usd - usd)

    async def drain(self) -> None:
        pass  # nothing waits: memory settles at once


# -- many workers: Redis ------------------------------------------------------------------------
# Numbers go back to Redis as strings: a Lua number returned as a reply is cut to an integer.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - tonumber(ARGV[8]))
local busy = redis.call('ZCARD', KEYS[4]) > 0
local want_usd, want_tokens = tonumber(ARGV[3]), tonumber(ARGV[5])
local take_usd, fits_usd = 0, true
if ARGV[1] ~= '' then
  local budget = tonumber(ARGV[1])
  local cur = tonumber(redis.call('GET', KEYS[1]) or '')
  if cur == nil then
    cur = tonumber(ARGV[2])
    redis.call('SET', KEYS[1], ARGV[2])
    if ARGV[7] ~= '' then redis.call('EXPIRE', KEYS[1], ARGV[7]) end
  end
  if cur >= budget then
    if busy then return {3, '0', 0, '1'} end
    return {1, '0', 0, '0'}
  end
  fits_usd = want_usd <= budget - cur
  take_usd = math.min(want_usd, budget - cur)
end
local take_tokens, fits_tokens = 0, true
if ARGV[4] ~= '' then
  local tpm = tonumber(ARGV[4])
  local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - 60)
  if #gone > 0 then
    local drop = 0
    for _, m in ipairs(gone) do drop = drop + tonumber(string.match(m, ':(%d+)$')) end
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 60)
    redis.call('DECRBY', KEYS[3], drop)
  end
  local used = tonumber(redis.call('GET', KEYS[3]) or '0')
  if used >= tpm then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    local wait = 60
    if #first > 0 then wait = tonumber(first[2]) + 60 - now end
    return {2, '0', 0, tostring(wait)}
  end
  fits_tokens = want_tokens <= tpm - used
  take_tokens = math.min(want_tokens, tpm - used)
end
if busy and not (fits_usd and fits_tokens) then
  if not fits_usd then return {3, '0', 0, '1'} end
  return {2, '0', 0, '1'}
end
if ARGV[9] ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - 60)
  if redis.call('ZCARD', KEYS[5]) >= tonumber(ARGV[9]) then
    local first = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
    return {4, '0', 0, tostring(tonumber(first[2]) + 60 - now)}
  end
  redis.call('ZADD', KEYS[5], now, ARGV[6])
  redis.call('EXPIRE', KEYS[5], 120)
end
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[2], now, ARGV[6] .. ':' .. take_tokens)
  redis.call('INCRBY', KEYS[3], take_tokens)
  redis.call('EXPIRE', KEYS[2], 120)
  redis.call('EXPIRE', KEYS[3], 120)
end
if take_usd > 0 then redis.call('INCRBYFLOAT', KEYS[1], tostring(take_usd)) end
redis.call('ZADD', KEYS[4], now, ARGV[6])
redis.call('EXPIRE', KEYS[4], ARGV[8])
return {0, tostring(take_usd), take_tokens, '0'}
"""

_SETTLE = """
redis.call('ZREM', KEYS[4], ARGV[4])
if ARGV[1] ~= '0' and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
end
if ARGV[2] ~= '' then
  local score = redis.call('ZSCORE', KEYS[2], ARGV[2])
  if score then
    local old = tonumber(string.match(ARGV[2], ':(%d+)$'))
    redis.call('ZREM', KEYS[2], ARGV[2])
    redis.call('ZADD', KEYS[2], score, ARGV[4] .. ':' .. ARGV[3])
    redis.call('INCRBY', KEYS[3], tonumber(ARGV[3]) - old)
  end
end
return 0
"""


_RESERVE_SHA = hashlib.sha1(_RESERVE.encode()).hexdigest()
_SETTLE_SHA = hashlib.sha1(_SETTLE.encode()).hexdigest()
_SCRIPTS = {_RESERVE_SHA: _RESERVE, _SETTLE_SHA: _SETTLE}


async def _run(client: Redis, sha: str, keys: Sequence[str], args: list[str]) -> Any:
    """The script by its digest (a short command), sent whole only when Redis does not
    have it yet (first use, or after a restart)."""
    try:
        return await client.evalsha(sha, len(keys), *keys, *args)  # type: ignore[misc]
    except NoScriptError:
        return await client.eval(_SCRIPTS[sha], len(keys), *keys, *args)  # type: ignore[misc]


@functools.lru_cache(maxsize=4096)
def _keys(subject: str) -> tuple[str, ...]:
    # One hash tag per subject: the script's keys stay on one node of a Redis Cluster. Made
    # once per subject (a few allocations less on every call; callers never change them).
    base = f"drux:reserve:{{{subject}}}"
    return (f"{base}:usd", f"{base}:tpm", f"{base}:tpm-sum", f"{base}:open", f"{base}:rpm")


def _settle_args(hold: Hold, usd: float, tokens: int) -> list[str]:
    delta = usd - hold.usd
    return ["0" if delta == 0 else repr(delta), f"{hold.ticket}:{hold.tokens}",
            str(max(tokens, 0)), hold.ticket]


def _opt(value: float | int | None) -> str:
    return "" if value is None else repr(value)


class RedisReserver:
    def __init__(self, url: str, fallback: MemoryReserver | None = None, *,
                 settle_every: float | None = None) -> None:
        self._url = url
        self._fallback = fallback or MemoryReserver()
        self._failing = False
        self._queue: SettleQueue[tuple[Hold, float, int]] = SettleQueue(
            self._settle_batch, every=settling.SETTLE_EVERY if settle_every is None
            else settle_every)

    async def reserve(self, subject: str, caps: Caps, *, usd: float, tokens: int) -> Hold:
        args = [_opt(caps.budget_usd), repr(caps.spent_usd), repr(max(usd, 0.0)),
                _opt(caps.tpm), str(max(tokens, 0)), os.urandom(8).hex(),
                _opt(caps.expire_seconds), str(STALE_SECONDS), _opt(caps.rpm)]
        try:
            async with guarded(self._url):
                client = redis_client(self._url)
                status, took_usd, took_tokens, wait = await _run(
                    client, _RESERVE_SHA, _keys(subject), args)
        except SharedStateError as err:
            if caps.budget_usd is not None:
                raise  # fail closed: money is at stake
            self._note_outage(err)
            return await self._fallback.reserve(subject, caps, usd=usd, tokens=tokens)
        self._note_back()
        if status in (1, 3):
            raise OverBudget(caps.budget_usd or 0.0, busy=status == 3)
        if status == 4:
            raise OverRequests(caps.rpm or 0, float(wait))
        if status == 2:
            raise OverTokens(caps.tpm or 0, float(wait))
        return Hold(subject, float(took_usd), int(took_tokens), args[5], shared=True)

    async def settle(self, hold: Hold, *, usd: float, tokens: int) -> None:
        if not hold.shared:
            self._fallback.settle_soon(hold, usd=usd, tokens=tokens)
            return
        await self._settle_batch([(hold, usd, tokens)])

    def settle_soon(self, hold: Hold, *, usd: float, tokens: int) -> None:
        if hold.shared:
            self._queue.put((hold, usd, tokens))
        else:
            self._fallback.settle_soon(hold, usd=usd, tokens=tokens)

    async def drain(self) -> None:
        await self._queue.drain()

    async def _settle_batch(self, batch: Sequence[tuple[Hold, float, int]]) -> None:
        """One pipelined round trip for the whole batch; a script Redis does not have yet
        (first use, or after a restart) is sent whole for the settles that missed it."""
        calls = [(_keys(hold.subject), _settle_args(hold, usd, tokens))
                 for hold, usd, tokens in batch]
        try:
            async with guarded(self._url):
                client = redis_client(self._url)
                pipe = client.pipeline(transaction=False)
                for keys, args in calls:
                    pipe.evalsha(_SETTLE_SHA, len(keys), *keys, *args)
                results = await pipe.execute(raise_on_error=False)
                for (keys, args), result in zip(calls, results, strict=True):
                    if isinstance(result, NoScriptError):
                        await _run(client, _SETTLE_SHA, keys, args)
                    elif isinstance(result, Exception):
                        raise result
        except SharedStateError as err:
            # The reservations stay counted: the error is on the side of refusing.
            log.warning("could not settle %d reservation(s) (%.6f USD, %d tokens reserved): %s",
                        len(batch), sum(h.usd for h, _, _ in batch),
                        sum(h.tokens for h, _, _ in batch), err)

    def flushed(self, subject: str, usd: float) -> None:
        self._fallback.flushed(subject, usd)  # the Redis counter already holds it

    def _note_outage(self, err: SharedStateError) -> None:
        if not self._failing:
            self._failing = True
            log.warning("tokens-per-minute limits counted per process until Redis is back: %s",
                        err)

    def _note_back(self) -> None:
        if self._failing:
            self._failing = False
            log.warning("Redis at %s is back: token limits are shared again",
                        describe(self._url))


def reserver(redis_url: str | None) -> Reserver:
    return RedisReserver(redis_url) if redis_url else MemoryReserver()
