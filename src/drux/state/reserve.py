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
event loop). Several workers: ``RedisReserver``, one Lua script per reserve
(``drux.state.reserve_lua``: its command packed ahead of time, sent on a kept connection);
``settle_soon`` queues a settle and sends it with the others of the next 50 ms in one round
trip (one script call per subject), after the answer (``drux.state.settling``). On Redis the minute is
counted in one bucket per second, each counted until its last call is 60 s old: never looser
than the 60 s moving window, stricter by less than a second.
Its budget counter starts from the spend stored in the database (a restarted or flushed Redis
keeps the budget) and is the truth for admission after that; the database keeps the usage rows.

Quota leases (``RedisReserver(leases=True)``, the gateway's keys; ``drux.state.lease``): when a
key is far from its limits, a worker takes a slice of what is left (1/16 of each limit's
headroom, only if that covers 8 calls' maximum) in one script call, counted in Redis like a
reservation, and admits calls whose maximum fits in what the slice has left without a round
trip. A lease lives a second, is counted in the window's bucket of the second it ends, and
gives back what it did not lend when it ends; while it is out it counts as a call in flight.
Other calls, and every call once a key nears a limit, take the per-call path above.

Outage policy: budgets fail CLOSED (a ``SharedStateError``, a 503 naming Redis: money is at
stake); a subject with only a tokens-per-minute limit fails OPEN onto this process's memory
window, with a warning, until Redis answers again.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from drux.errors import SharedStateError
from drux.state import reserve_lua as lua
from drux.state import settling
from drux.state.connection import describe, guarded, redis_client
from drux.state.lease import Leases, Settle, worth_leasing
from drux.state.packed import send_packed, send_packed_many
from drux.state.settling import SettleQueue
from drux.types import Message

log = logging.getLogger("drux.state")

WINDOW = 60.0
STALE_SECONDS = lua.STALE  # longer than any call may take


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


_EMPTY = Hold("", 0.0, 0, "", shared=True)  # a settle with nothing to send


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
async def _reserve(client: Redis, subject: str, caps: Caps, usd: float, tokens: int,
                   ticket: str) -> Any:
    """The reserve script, packed ahead of time (``drux.state.packed``). A connection that
    fails there is retried through the client, as every other command is (its retries and
    reconnection), and a script Redis does not have (a restart) is sent whole."""
    head = lua.reserve_head(subject, caps.budget_usd, caps.spent_usd, caps.tpm,
                            caps.expire_seconds, caps.rpm)
    try:
        return await send_packed(client, head + lua.reserve_tail(usd, tokens, ticket))
    except NoScriptError:  # a restarted Redis, or its scripts flushed
        args = lua.reserve_args(caps.budget_usd, caps.spent_usd, caps.tpm,
                                caps.expire_seconds, caps.rpm, usd, tokens, ticket)
        return await client.eval(lua.RESERVE, 3, *lua.keys(subject), *args)  # type: ignore[misc]
    except (RedisConnectionError, RedisTimeoutError):
        pass
    args = lua.reserve_args(caps.budget_usd, caps.spent_usd, caps.tpm, caps.expire_seconds,
                            caps.rpm, usd, tokens, ticket)
    return await lua.run_script(client, lua.RESERVE_SHA, lua.keys(subject), args)


async def _settle_all(client: Redis, calls: Sequence[tuple[str, list[str]]]) -> list[Any]:
    """The settles of a batch in one round trip, packed (``drux.state.packed``); on a
    connection that fails there, through the client's pipeline (its retries)."""
    try:
        return await send_packed_many(
            client, b"".join(lua.settle_command(subject, args) for subject, args in calls),
            len(calls))
    except (RedisConnectionError, RedisTimeoutError):
        pass
    pipe = client.pipeline(transaction=False)
    for subject, args in calls:
        keys = lua.keys(subject)
        pipe.evalsha(lua.SETTLE_SHA, len(keys), *keys, *args)
    return await pipe.execute(raise_on_error=False)  # type: ignore[no-any-return]


class RedisReserver:
    def __init__(self, url: str, fallback: MemoryReserver | None = None, *,
                 settle_every: float | None = None, leases: bool = False) -> None:
        self._url = url
        self._fallback = fallback or MemoryReserver()
        self._failing = False
        self._queue: SettleQueue[tuple[Hold, float, int]] = SettleQueue(
            self._settle_batch, every=settling.SETTLE_EVERY if settle_every is None
            else settle_every)
        # Quota leases (``drux.state.lease``): calls at a key far from its limits admitted
        # from a slice of its headroom this worker holds, without a round trip.
        self._leases = Leases(url, self._send_late) if leases else None

    async def reserve(self, subject: str, caps: Caps, *, usd: float, tokens: int) -> Hold:
        leases = self._leases
        if leases is not None:
            usd, tokens = max(usd, 0.0), max(tokens, 0)
            if worth_leasing(caps, usd, tokens):
                ticket = leases.lend(subject, caps, usd, tokens)
                if ticket is None:
                    try:
                        ticket = await leases.acquire(subject, caps, usd, tokens)
                    except SharedStateError as err:
                        return await self._outage(err, subject, caps, usd, tokens)
                    self._note_back()
                if ticket is not None:
                    return Hold(subject, usd if caps.budget_usd is not None else 0.0,
                                tokens if caps.tpm is not None else 0, ticket, shared=True)
        return await self._reserve_one(subject, caps, usd, tokens)

    async def _outage(self, err: SharedStateError, subject: str, caps: Caps, usd: float,
                      tokens: int) -> Hold:
        if caps.budget_usd is not None:
            raise err  # fail closed: money is at stake
        self._note_outage(err)
        return await self._fallback.reserve(subject, caps, usd=usd, tokens=tokens)

    async def _reserve_one(self, subject: str, caps: Caps, usd: float, tokens: int) -> Hold:
        """The per-call path: one reserve script call."""
        ticket = os.urandom(8).hex()
        try:
            async with guarded(self._url):
                status, took_usd, took_tokens, last = await _reserve(
                    redis_client(self._url), subject, caps, max(usd, 0.0), max(tokens, 0),
                    ticket)
        except SharedStateError as err:
            return await self._outage(err, subject, caps, usd, tokens)
        self._note_back()
        if status in (1, 3):
            raise OverBudget(caps.budget_usd or 0.0, busy=status == 3)
        if status == 4:
            raise OverRequests(caps.rpm or 0, float(last))
        if status == 2:
            raise OverTokens(caps.tpm or 0, float(last))
        if last:  # the second the tokens were counted in: the settle corrects that bucket
            ticket = f"{ticket}:{last.decode()}"
        return Hold(subject, float(took_usd), int(took_tokens), ticket, shared=True)

    async def settle(self, hold: Hold, *, usd: float, tokens: int) -> None:
        if not hold.shared:
            self._fallback.settle_soon(hold, usd=usd, tokens=tokens)
            return
        hold = self._from_lease(hold, usd, tokens)
        if hold.ticket:
            await self._settle_batch([(hold, usd, tokens)])

    def settle_soon(self, hold: Hold, *, usd: float, tokens: int) -> None:
        if not hold.shared:
            self._fallback.settle_soon(hold, usd=usd, tokens=tokens)
            return
        hold = self._from_lease(hold, usd, tokens)
        if hold.ticket:
            self._queue.put((hold, usd, tokens))

    def _from_lease(self, hold: Hold, usd: float, tokens: int) -> Hold:
        """A call lent to by a lease: settled into the lease while it lives (an empty ticket:
        nothing to send), else the settle Redis needs."""
        if not hold.ticket.startswith("L") or self._leases is None:
            return hold
        late = self._leases.settle(hold.ticket, (hold.usd, hold.tokens), usd, tokens)
        return _EMPTY if late is None else Hold(hold.subject, late[1], late[2], late[0], True)

    def _send_late(self, subject: str, settle: Settle, usd: float, tokens: int) -> None:
        self._queue.put((Hold(subject, settle[1], settle[2], settle[0], True), usd, tokens))

    async def drain(self) -> None:
        if self._leases is not None:
            await self._leases.drain()
        await self._queue.drain()

    async def _settle_batch(self, batch: Sequence[tuple[Hold, float, int]]) -> None:
        """One round trip for the whole batch, one script call per subject; a script Redis
        does not have yet (first use, or after a restart) is sent whole for the calls that
        missed it."""
        by_subject: dict[str, list[tuple[str, float, int]]] = {}
        for hold, usd, tokens in batch:
            by_subject.setdefault(hold.subject, []).append(
                (hold.ticket, usd - hold.usd, max(tokens, 0) - hold.tokens))
        calls = [(subject, lua.settle_args(settles)) for subject, settles in by_subject.items()]
        try:
            async with guarded(self._url):
                client = redis_client(self._url)
                results = await _settle_all(client, calls)
                for (subject, args), result in zip(calls, results, strict=True):
                    if isinstance(result, NoScriptError):
                        await lua.run_script(client, lua.SETTLE_SHA, lua.keys(subject), args)
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


def reserver(redis_url: str | None, *, leases: bool = False) -> Reserver:
    """``leases``: let calls at subjects far from their limits be admitted from quota leases
    (``drux.state.lease``; the gateway's keys, whose calls are many and small)."""
    return RedisReserver(redis_url, leases=leases) if redis_url else MemoryReserver()
