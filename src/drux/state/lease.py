"""Quota leases: a worker takes a chunk of a subject's headroom in Redis, then admits calls
from it without a round trip.

A reservation is one Redis round trip on the request path. For a key whose limits are far
from used up, a worker instead LEASES a slice of what is left (``LEASE_FRACTION`` of it for
each limit: requests of its rpm, tokens of its tpm, USD of its budget) in one script call, and
admits calls against that slice in memory. Every lease is counted in Redis exactly as the
reservations are, so the limits hold as they do per call:

- a lease is taken only when its slice covers at least ``LEASE_MIN_CALLS`` calls' maximum, for
  every limit; otherwise (small limits, or a key near its limit) the call takes the per-call
  path exactly as before, so a limit near its end is exact again;
- a call is admitted from the lease only when its whole maximum fits in what the lease has
  left (the lease never lends more than it holds);
- a lease lives ``LEASE_SECONDS``; its requests and tokens are counted in the window's bucket
  of the second the lease ENDS, so each call served from it is counted from before it happens
  until more than 60 s after (never looser than the moving window);
- what a lease did not lend goes back when it ends: with the next lease's script call (one
  round trip per lease), or after it expires with no call to carry it (off the request path);
  a call's settle gives its unused part back to the lease while the lease lives, and through
  the batched settles (``drux.state.settling``) after;
- a lease is a member of the subject's in-flight set until it has ended and its last call has
  settled, so the rule for calls that do not fit (admitted only while nothing else is in
  flight) sees it.

One lease is taken at a time per subject: calls that come while it is on its way wait for it,
and those it cannot cover then take the per-call path (two round trips for them: only when a
burst is larger than the lease, i.e. for keys with moderate limits).

Under-admission: a worker may be refused while another holds unused lease; that is bounded by
the leases out (each at most ``1 / LEASE_FRACTION`` of what was left when it was taken, so
small near the limit) and lasts at most a second.

A worker killed holding a lease leaves it counted: its requests and tokens until they leave
the window, its USD in the budget counter (as a killed call's reservation). A lease's return
after Redis restarted or was flushed is dropped (the fresh counters never held it). If Redis
is unreachable, calls are served from a lease already held until it expires; the next lease
fails as a reservation does (``drux.state.reserve``'s outage policy).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from drux.errors import SharedStateError
from drux.state import reserve_lua as lua
from drux.state.connection import guarded, redis_client

log = logging.getLogger("drux.state")

LEASE_SECONDS = lua.LEASE_US / 1_000_000  # at most 1: see ``reserve_lua.LEASE_US``
LEASE_FRACTION = 16  # a lease takes at most this fraction of what is left of each limit
LEASE_MIN_CALLS = 8  # ... and only when that covers this many calls' maximum
# An expired lease nobody renewed is returned this long after it ends (a renewal soon after
# the end carries the return in its own round trip).
RETURN_GRACE = 0.05

LIVE, ENDING, DONE = 0, 1, 2

class Caps(Protocol):
    """What a subject is held to (``drux.state.reserve.Caps``, which imports this module)."""

    @property
    def budget_usd(self) -> float | None: ...
    @property
    def spent_usd(self) -> float: ...
    @property
    def tpm(self) -> int | None: ...
    @property
    def rpm(self) -> int | None: ...
    @property
    def expire_seconds(self) -> int | None: ...


# A call's settle that must go to Redis: (ticket, USD reserved, tokens reserved).
Settle = tuple[str, float, int]
# (budget, tpm, rpm, expiry): a lease serves calls under the limits it was taken for.
Limits = tuple[float | None, int | None, int | None, int | None]


def limits_of(caps: Caps) -> Limits:
    return caps.budget_usd, caps.tpm, caps.rpm, caps.expire_seconds


def worth_leasing(caps: Caps, usd: float, tokens: int) -> bool:
    """Whether a lease could cover ``LEASE_MIN_CALLS`` such calls even with nothing used: a
    key with small limits never tries one (and never pays for the try)."""
    room = LEASE_FRACTION * LEASE_MIN_CALLS
    if caps.budget_usd is not None:
        left = caps.budget_usd - caps.spent_usd
        if left <= 0 or left < room * usd:
            return False
    if caps.tpm is not None and caps.tpm < room * max(tokens, 1):
        return False
    return caps.rpm is None or caps.rpm >= room


@dataclass(slots=True, eq=False)
class Lease:
    """What this worker holds of a subject's headroom: tokens and requests not yet lent, USD
    taken and USD lent net of what came back (kept apart, so that the return is exact to
    the last digit however many calls came and went); None: that limit is not set."""

    subject: str
    member: str
    second: str
    limits: Limits
    usd: float | None
    tokens: int | None
    requests: int | None
    until: float  # on this process's clock: before the lease's end on Redis's
    usd_lent: float = 0.0
    out: int = 0  # calls lent to, not yet settled
    state: int = LIVE
    late: list[tuple[Settle, float, int]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None

    def lend(self, usd: float, tokens: int) -> bool:
        if ((self.requests is not None and self.requests < 1)
                or (self.usd is not None and self.usd - self.usd_lent < usd)
                or (self.tokens is not None and self.tokens < tokens)):
            return False
        if self.requests is not None:
            self.requests -= 1
        if self.usd is not None:
            self.usd_lent += usd
        if self.tokens is not None:
            self.tokens -= tokens
        self.out += 1
        return True

    def ticket(self, last: bool) -> str:
        """A settle's ticket after the lease ended: the last call removes the lease's member
        from the in-flight set ('~' is no member)."""
        member = self.member if last else "~"
        return f"{member}:{self.second}" if self.tokens is not None else member

    def back(self) -> lua.Return:
        unused = 0.0 if self.usd is None else self.usd_lent - self.usd
        return (self.member, self.second, unused, -(self.tokens or 0),
                -(self.requests or 0), self.out == 0)


class Leases:
    """One worker's leases, one per subject at a time; ``send`` queues a settle for Redis
    (subject, settle, USD and tokens used)."""

    def __init__(self, url: str, send: Callable[[str, Settle, float, int], None], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._url = url
        self._send = send
        self._clock = clock
        self._current: dict[str, Lease] = {}
        self._members: dict[str, Lease] = {}  # every lease with a call not yet settled
        self._renewing: dict[str, asyncio.Future[None]] = {}
        self._skip: dict[str, float] = {}  # subject -> no lease tried before then
        self._tasks: set[asyncio.Task[None]] = set()

    def lend(self, subject: str, caps: Caps, usd: float, tokens: int) -> str | None:
        """A call's ticket if the subject's lease admits it (no I/O), else None."""
        lease = self._current.get(subject)
        if (lease is None or lease.state != LIVE or self._clock() >= lease.until
                or lease.limits != limits_of(caps) or not lease.lend(usd, tokens)):
            return None
        return "L" + lease.member

    async def acquire(self, subject: str, caps: Caps, usd: float, tokens: int) -> str | None:
        """A new lease (returning the previous one in the same call), then the call's ticket
        from it; None: the call takes the per-call path. Raises ``SharedStateError``."""
        if self._skip.get(subject, 0.0) > self._clock():
            return None
        pending = self._renewing.get(subject)
        if pending is not None:  # one renewal per subject: the others wait for it
            await asyncio.shield(pending)
            return self.lend(subject, caps, usd, tokens)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._renewing[subject] = done
        try:
            await self._renew(subject, caps, usd, tokens)
        finally:
            del self._renewing[subject]
            done.set_result(None)
        return self.lend(subject, caps, usd, tokens)

    async def _renew(self, subject: str, caps: Caps, usd: float, tokens: int) -> None:
        old = self._current.pop(subject, None)
        back = self._end(old) if old is not None else None
        member = os.urandom(8).hex()
        started = self._clock()
        args = lua.lease_args(caps.budget_usd, caps.spent_usd, caps.tpm, caps.expire_seconds,
                              caps.rpm, (usd, tokens), member,
                              (LEASE_FRACTION, LEASE_MIN_CALLS), back)
        try:
            reply = await self._call(subject, args)
        finally:
            if old is not None:
                self._returned(old)
        if int(reply[0]) != 0:
            self._skip[subject] = started + LEASE_SECONDS
            return
        lease = Lease(subject, member, reply[4].decode(), limits_of(caps),
                      float(reply[1]) if caps.budget_usd is not None else None,
                      int(reply[2]) if caps.tpm is not None else None,
                      int(reply[3]) if caps.rpm is not None else None,
                      started + LEASE_SECONDS)
        lease.timer = asyncio.get_running_loop().call_later(
            LEASE_SECONDS + RETURN_GRACE, self._expire, lease)
        self._current[subject] = self._members[member] = lease

    async def _call(self, subject: str, args: list[str]) -> Any:
        async with guarded(self._url):
            return await lua.run_script(redis_client(self._url), lua.LEASE_SHA,
                                        lua.keys(subject), args)

    def _end(self, lease: Lease) -> lua.Return:
        """Stop lending from ``lease``; what to give back."""
        lease.state = ENDING
        if lease.timer is not None:
            lease.timer.cancel()
        return lease.back()

    def _returned(self, lease: Lease) -> None:
        """The return was sent (or failed: then what it held stays counted, on the side of
        refusing); settles that came meanwhile go to Redis now."""
        lease.state = DONE
        late, lease.late = lease.late, []
        for settle, usd, tokens in late:
            self._settle_done(lease, settle, usd, tokens)
        if lease.out == 0:
            self._members.pop(lease.member, None)

    def _expire(self, lease: Lease) -> None:
        if lease.state != LIVE:
            return
        if self._current.get(lease.subject) is lease:
            del self._current[lease.subject]
        task = asyncio.get_running_loop().create_task(self._give_back(lease, self._end(lease)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _give_back(self, lease: Lease, back: lua.Return) -> None:
        args = lua.lease_args(None, 0.0, None, None, None, (0.0, 0), "", (1, 1), back)
        try:
            await self._call(lease.subject, args)
        except SharedStateError as err:
            log.warning("could not return a lease of %s (stays counted): %s", lease.subject,
                        err)
        finally:
            self._returned(lease)

    def settle(self, ticket: str, reserved: tuple[float, int], usd: float,
               tokens: int) -> Settle | None:
        """A call lent to by a lease ended, using ``usd`` and ``tokens`` of the ``reserved``
        it took: given back to the lease while it lives (None), else the settle to send."""
        lease = self._members.get(ticket[1:])
        if lease is None:
            return None  # already settled
        if lease.state == LIVE:
            lease.out -= 1
            if lease.usd is not None:
                lease.usd_lent -= reserved[0] - usd
            if lease.tokens is not None:
                lease.tokens += reserved[1] - max(tokens, 0)
            return None
        settle = (ticket, reserved[0], reserved[1])
        if lease.state == ENDING:  # its return is on its way: after it
            lease.late.append((settle, usd, tokens))
            return None
        return self._settle_done(lease, settle, usd, tokens, send=False)

    def _settle_done(self, lease: Lease, settle: Settle, usd: float, tokens: int, *,
                     send: bool = True) -> Settle | None:
        lease.out -= 1
        if lease.out == 0:
            self._members.pop(lease.member, None)
        done = (lease.ticket(lease.out == 0), settle[1], settle[2])
        if not send:
            return done
        self._send(lease.subject, done, usd, tokens)
        return None

    async def drain(self) -> None:
        """Return every lease held (on shutdown)."""
        leases = list(self._current.values())
        self._current.clear()
        for lease in leases:
            if lease.state == LIVE:
                await self._give_back(lease, self._end(lease))
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
