"""Who may call the gateway, for which models, how often and for how much.

Keys are looked up in memory by the SHA-256 of the presented secret; the table
is reloaded from the store every ``key_refresh_seconds`` (revocations and spend
written by other processes show up within that time) and at once when an unknown
key is presented (a key just created works straight away; at most once a second
per unknown key and ten times a second overall).

Requests per minute are a moving window (``drux.state.limits``); budgets and tokens per minute
are reserved before the call and settled after it, off the request path (``drux.state.reserve``
and ``drux.state.settling``). Both live in the
process, or in Redis with ``DRUX_REDIS_URL`` so that every worker shares them; there a key far
from its limits is served from quota leases, without a round trip per call
(``drux.state.lease``).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from drux.errors import SharedStateError
from drux.gateway.errors import GatewayError, retry_after_header
from drux.state.limits import MemoryRateLimits, RateLimits
from drux.state.reserve import (
    Caps,
    Hold,
    MemoryReserver,
    OverBudget,
    OverRequests,
    OverTokens,
    Reserver,
)
from drux.store.keys import ActiveKey, KeyInfo, hash_key

_MISS_RELOADS_PER_SECOND = 10


def is_loopback(host: str | None) -> bool:
    return bool(host) and (host == "::1" or host.startswith("127.") or host == "localhost")  # type: ignore[union-attr]


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller; ``key`` is None for open (keyless loopback) access."""

    key: KeyInfo | None

    @property
    def key_id(self) -> int | None:
        return self.key.id if self.key else None


_OPEN = Caller(None)


def _unauthorized(message: str) -> GatewayError:
    return GatewayError(401, message, code="invalid_api_key",
                        headers=[(b"www-authenticate", b'Bearer realm="drux"')])


class AccessControl:
    def __init__(self, load: Callable[[], tuple[bool, list[ActiveKey]]], *,
                 open_loopback: bool, refresh_seconds: float,
                 clock: Callable[[], float] = time.monotonic,
                 rate_limits: RateLimits | None = None, reserver: Reserver | None = None) -> None:
        self._load = load  # blocking: runs in a worker thread
        self._open_loopback = open_loopback
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._by_hash: dict[str, KeyInfo] = {}
        self._any_key = False
        self._misses: dict[str, float] = {}  # unknown digests -> when last looked up
        self._miss_times: deque[float] = deque()
        self._limits = rate_limits or MemoryRateLimits()
        self._reserver = reserver or MemoryReserver(clock)
        self._refreshing: asyncio.Future[None] | None = None

    # -- the key table ------------------------------------------------------------------------
    async def refresh(self) -> None:
        """Reload keys; concurrent callers share one reload."""
        if self._refreshing is not None:
            return await asyncio.shield(self._refreshing)
        loop = asyncio.get_running_loop()
        self._refreshing = loop.create_future()
        try:
            any_key, active = await asyncio.to_thread(self._load)
            self._by_hash = {k.key_hash: k.info for k in active}
            self._any_key = any_key
            self._refreshing.set_result(None)
        except BaseException as exc:
            self._refreshing.set_exception(exc)
            self._refreshing.exception()  # mark retrieved
            raise
        finally:
            self._refreshing = None

    def _may_look_again(self, digest: str) -> bool:
        """Reload for an unknown key at most once a second per key and 10 times a second
        overall, so guessing keys cannot hammer the store."""
        now = self._clock()
        last = self._misses.get(digest)
        if last is not None and now - last < 1.0:
            return False
        while self._miss_times and now - self._miss_times[0] > 1.0:
            self._miss_times.popleft()
        if len(self._miss_times) >= _MISS_RELOADS_PER_SECOND:
            return False
        if len(self._misses) > 10_000:
            self._misses.clear()
        self._misses[digest] = now
        self._miss_times.append(now)
        return True

    # -- per request ------------------------------------------------------------------------
    async def authenticate(self, authorization: bytes | None, client_host: str | None, *,
                           from_page: bool = False) -> Caller:
        """The caller of a request. ``from_page``: a browser sent it for a web page (it has
        an ``Origin``, or a ``Sec-Fetch-Site`` other than ``none``). Keyless loopback access
        is for local programs: any site the user visits can make the browser POST here (a
        text/plain form needs no CORS preflight) and, after DNS rebinding, read answers."""
        loopback = is_loopback(client_host)
        open_here = loopback and (self._open_loopback or not self._any_key)
        if authorization is None:
            if open_here and not from_page:
                return _OPEN
            if open_here:
                raise _unauthorized("requests from web pages need an API key, also on this "
                                    "machine; create one with: drux keys create")
            if not self._any_key:
                raise _unauthorized("the gateway has no API keys yet and only serves loopback "
                                    "clients without one; create a key with: drux keys create")
            raise _unauthorized("missing API key: send Authorization: Bearer <drux key>")
        scheme, _, secret = authorization.decode("latin-1").strip().partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise _unauthorized("malformed Authorization header: expected Bearer <drux key>")
        digest = hash_key(secret)
        info = self._by_hash.get(digest)
        if info is None and (self._may_look_again(digest) or self._refreshing is not None):
            # Perhaps a key created since the last reload; a call that comes while another
            # one's reload runs waits for it (it would otherwise pass as keyless loopback).
            await self.refresh()
            info = self._by_hash.get(digest)
        if info is None:
            if open_here and not from_page:
                return _OPEN  # open access ignores whatever key a local client sends
            raise _unauthorized("invalid or revoked API key")
        return Caller(info)

    async def admit(self, caller: Caller, model: str, *, usd: float = 0.0,
                    tokens: int = 0) -> Hold | None:
        """Model allowed, under the rate limits and within budget: counts the request and
        reserves ``usd`` and ``tokens`` (the most the call can cost), to ``settle`` after it."""
        key = caller.key
        if key is None:
            return None
        if key.allowed_models and model not in key.allowed_models:
            raise GatewayError(403, f"this key may not use model {model!r}",
                               type="permission_error", code="model_not_allowed", param="model")
        caps = Caps(budget_usd=key.budget_usd, spent_usd=key.spent_usd, tpm=key.tpm,
                    rpm=key.rpm)
        hold = None
        try:
            if caps.limited:  # requests per minute counted in the same step
                hold = await self._reserver.reserve(_subject(key.id), caps, usd=usd,
                                                    tokens=tokens)
            elif key.rpm is not None:
                wait = await self._limits.hit("gateway-rpm", str(key.id), key.rpm)
                if wait is not None:
                    raise OverRequests(key.rpm, wait)
        except OverRequests as over:
            raise GatewayError(429, f"rate limit: {key.rpm} requests per minute for this key",
                               type="requests", code="rate_limit_exceeded",
                               headers=retry_after_header(over.retry_after)) from None
        except OverBudget as over:
            if over.busy:
                raise GatewayError(429, f"this key has less of its {key.budget_usd:g} USD "
                                   "budget left than this request may cost while others are "
                                   "running; retry when they end, or lower max_tokens",
                                   type="insufficient_quota", code="insufficient_quota",
                                   headers=retry_after_header(1.0)) from None
            raise GatewayError(429, f"this key's budget of {key.budget_usd:g} USD is used up",
                               type="insufficient_quota", code="insufficient_quota") from None
        except OverTokens as over:
            raise GatewayError(429, f"rate limit: {key.tpm} tokens per minute for this key",
                               type="tokens", code="rate_limit_exceeded",
                               headers=retry_after_header(over.retry_after)) from None
        except SharedStateError as err:  # budgets fail closed (state/reserve.py)
            raise GatewayError(503, str(err), type="server_error",
                               code="redis_unavailable") from None
        return hold

    async def settle(self, hold: Hold | None, tokens: int, cost_usd: float) -> None:
        """Replace a call's reservation by what it used (nothing, if it failed)."""
        if hold is not None:
            await self._reserver.settle(hold, usd=cost_usd, tokens=tokens)

    def settle_soon(self, hold: Hold | None, tokens: int, cost_usd: float) -> None:
        """``settle`` without waiting: the answer is not held up by a round trip to Redis
        (a settle only gives back, so a late one is only ever stricter for a moment)."""
        if hold is not None:
            self._reserver.settle_soon(hold, usd=cost_usd, tokens=tokens)

    async def drain(self) -> None:
        """Settle what ``settle_soon`` queued (on shutdown)."""
        await self._reserver.drain()

    def flushed(self, spent: dict[int, float]) -> None:
        """Spend now in the store: move it from unflushed onto the cached key."""
        for key_id, amount in spent.items():
            self._reserver.flushed(_subject(key_id), amount)
            for digest, info in self._by_hash.items():
                if info.id == key_id:
                    self._by_hash[digest] = replace(info, spent_usd=info.spent_usd + amount)


def _subject(key_id: int) -> str:
    return f"key:{key_id}"
