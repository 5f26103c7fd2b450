"""The Lua scripts behind ``RedisReserver`` (reserve, settle, lease) and their commands.

A subject (a key, a user) has three keys, all with one hash tag so a Redis Cluster keeps them
on one node:

- ``drux:reserve:{subject}:usd``   the budget counter (spent + reserved, USD, a string); it
  starts from the spend stored in the database and never expires (a user's day: it does);
- ``drux:reserve:{subject}:open``  the calls in flight (a sorted set: ticket -> start time),
  what the rule for calls that do not fit looks at; a call is forgotten after ``STALE`` seconds;
- ``drux:reserve:{subject}:win``   requests and tokens of the last minute, one bucket per second
  (a hash: ``r<second>`` requests, ``t<second>`` tokens, ``m<second>`` the last call's time in
  microseconds, ``R``/``T`` the sums of the buckets held, ``lo`` the oldest second held).

A quota lease (``drux.state.lease``) counts its requests and tokens in the bucket of the second
it ENDS (a second ahead) and sets that bucket's time to its end: a bucket's time is the latest
of its calls' and leases' times. The window counts a bucket until that time is 60 s old, so it
never lets more through than a 60-second moving window would: it is stricter by less than a
second (the earlier calls of a bucket are counted until the bucket's last one leaves). A refused call is told to retry when the
oldest bucket leaves. This replaces a sorted-set member per call, and five EXPIREs per call by
two about once a second (when the window's oldest second moves; one per call for a subject
with a budget only); the in-flight set is pruned
and counted only when the answer depends on it (a call that does not fit, a budget spent).
The settles of a batch make one script call per subject; a lease (taken, and the previous one
returned) is one call of the lease script.

Rolling upgrade: the budget counter and the in-flight set keep their names and layout, so old
and new workers share budgets and the in-flight rule; the old per-call sorted sets (``:tpm``,
``:tpm-sum``, ``:rpm``) are no longer read, so while both versions serve one key its requests
and tokens per minute are counted per version (up to twice the limit for that minute), and
the old keys expire by themselves within two minutes. Workers from before quota leases set a
bucket's time to their call's, not the latest: do not mix them with leasing workers on one key
(a lease's bucket could leave the window up to a second early).

The reserve command is sent as bytes packed once per subject and limits (keys and caps), with
only the three per-call arguments (USD, tokens, ticket) packed per call
(``drux.state.packed``).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

STALE = 900  # seconds: longer than any call may take
# The window's own expiry: refreshed when its oldest second moves, which happens at least once
# every 60 s while calls come, so a bucket outlives its last call by more than a minute.
WINDOW_KEEP = 125
# How long a quota lease lives (``drux.state.lease``), in µs: at most a second, so its bucket
# is at most one second ahead of the time it was taken.
LEASE_US = 1_000_000

# Numbers go back to Redis as strings: a Lua number returned as a reply is cut to an integer.
# ARGV: 1 budget, 2 spent, 3 tpm, 4 expire, 5 rpm (per subject and caps; '' when unset),
#       6 USD wanted, 7 tokens wanted, 8 ticket (per call).
# Reply: {status, USD taken, tokens taken, wait or window second}; status 0 admitted (4th: the
# second the tokens were counted in, '' without a tokens limit), 1 budget spent, 2 tokens,
# 3 budget busy, 4 requests (4th: seconds to wait).
_HEAD = """
local t = redis.call('TIME')
local sec = tonumber(t[1])
local now = sec * 1000000 + tonumber(t[2])
local open, win = KEYS[3], KEYS[2]
local busy_seen, busy_is = false, false
local function busy()
  if not busy_seen then
    redis.call('ZREMRANGEBYSCORE', open, '-inf', now / 1000000 - STALE)
    busy_is, busy_seen = redis.call('EXISTS', open) == 1, true
  end
  return busy_is
end
"""

# The budget counter, seeded from the spend stored in the database when Redis has none.
_SEED = """
local function budget_counter()
  local cur = tonumber(redis.call('GET', KEYS[1]) or '')
  if cur == nil then
    cur = tonumber(ARGV[2])
    if ARGV[4] ~= '' then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[4])
    else redis.call('SET', KEYS[1], ARGV[2]) end
  end
  return cur
end
"""

# The window read and its buckets out of it dropped: ``reqs``/``used`` are the requests and
# tokens of the last minute after it.
_WINDOW = """
local take_tokens, fits_tokens = 0, true
local reqs, used, r_now, t_now, m_now, lo = 0, 0, 0, 0, 0, sec
local function wait()
  -- seconds until the oldest bucket leaves the window
  local fields = {}
  for b = lo, sec do fields[#fields + 1] = 'm' .. b end
  local last = redis.call('HMGET', win, unpack(fields))
  for i = 1, #last do
    if last[i] then return tostring((tonumber(last[i]) + 60000000 - now) / 1000000) end
  end
  return '60'
end
local windowed, refresh = ARGV[3] ~= '' or ARGV[5] ~= '', false
if windowed then
  local w = redis.call('HMGET', win, 'lo', 'R', 'T', 'r' .. sec, 't' .. sec, 'm' .. (sec - 60),
                          'm' .. sec)
  reqs, used = tonumber(w[2]) or 0, tonumber(w[3]) or 0
  r_now, t_now, m_now = tonumber(w[4]) or 0, tonumber(w[5]) or 0, tonumber(w[7]) or 0
  local held = tonumber(w[1])
  local moved = held == nil
  if held ~= nil then
    lo = held
    -- buckets before sec - 60 are out; bucket sec - 60 once its last call is 60 s old
    local last = sec - 61
    if w[6] and tonumber(w[6]) <= now - 60000000 then last = sec - 60 end
    if last >= lo then
      -- a lease's bucket may be a second ahead of its call (lo + 61 at most)
      if last - lo >= 62 then
        redis.call('DEL', win)  -- every bucket held is older than that
        reqs, used = 0, 0
      else
        local fields = {}
        for b = lo, last do
          fields[#fields + 1] = 'r' .. b
          fields[#fields + 1] = 't' .. b
          fields[#fields + 1] = 'm' .. b
        end
        local old = redis.call('HMGET', win, unpack(fields))
        for i = 1, #old, 3 do
          reqs = reqs - (tonumber(old[i]) or 0)
          used = used - (tonumber(old[i + 1]) or 0)
        end
        redis.call('HDEL', win, unpack(fields))
      end
      lo, moved = last + 1, true
    end
  end
  refresh = moved
  if moved then
    redis.call('HSET', win, 'lo', lo, 'R', reqs, 'T', used)
    redis.call('EXPIRE', win, WINDOW_KEEP)
  end
"""


def _fill(script: str) -> str:
    return (script.replace("WINDOW_KEEP", str(WINDOW_KEEP)).replace("STALE", str(STALE))
            .replace("LEASE_US", str(LEASE_US)))


RESERVE = _fill(_HEAD + _SEED + """
local want_usd, want_tokens = tonumber(ARGV[6]), tonumber(ARGV[7])
local take_usd, fits_usd = 0, true
if ARGV[1] ~= '' then
  local budget = tonumber(ARGV[1])
  local cur = budget_counter()
  if cur >= budget then
    if busy() then return {3, '0', 0, '1'} end
    return {1, '0', 0, '0'}
  end
  fits_usd = want_usd <= budget - cur
  take_usd = math.min(want_usd, budget - cur)
end
""" + _WINDOW + """  if ARGV[3] ~= '' then
    local tpm = tonumber(ARGV[3])
    if used >= tpm then return {2, '0', 0, wait()} end
    fits_tokens = want_tokens <= tpm - used
    take_tokens = math.min(want_tokens, tpm - used)
  end
end
if not (fits_usd and fits_tokens) and busy() then
  if not fits_usd then return {3, '0', 0, '1'} end
  return {2, '0', 0, '1'}
end
local bucket = ''
if windowed then
  if ARGV[5] ~= '' then
    if reqs >= tonumber(ARGV[5]) then return {4, '0', 0, wait()} end
    reqs, r_now = reqs + 1, r_now + 1
  end
  if ARGV[3] ~= '' then
    used, t_now, bucket = used + take_tokens, t_now + take_tokens, tostring(sec)
  end
  -- a Lua number goes to Redis as '%.17g': exact for these integers
  redis.call('HSET', win, 'R', reqs, 'T', used, 'r' .. sec, r_now, 't' .. sec, t_now,
             'm' .. sec, math.max(m_now, now))
end
if take_usd > 0 then redis.call('INCRBYFLOAT', KEYS[1], tostring(take_usd)) end
redis.call('ZADD', open, now / 1000000, ARGV[8])
-- Kept while its newest call may be in flight. With a window, refreshed when the window's
-- oldest second moves (within 60 s of any call, hence the extra minute) or the set is new.
if not windowed or refresh or redis.call('ZCARD', open) == 1 then
  redis.call('EXPIRE', open, STALE + 61)
end
return {0, tostring(take_usd), take_tokens, bucket}
""")

# The settles of one subject in one call. ARGV: 1 USD to add to the counter ('0': none), 2 how
# many calls end (n), 3 .. 2+n their tickets, then pairs: a second the tokens were counted in,
# tokens used minus reserved. A bucket already out of the window is left alone (what it held
# no longer counts).
SETTLE = """
local n = tonumber(ARGV[2])
if n > 0 then redis.call('ZREM', KEYS[3], unpack(ARGV, 3, 2 + n)) end
if ARGV[1] ~= '0' and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
end
local total = 0
for i = 3 + n, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[2], 't' .. ARGV[i]) == 1 then
    redis.call('HINCRBY', KEYS[2], 't' .. ARGV[i], ARGV[i + 1])
    total = total + tonumber(ARGV[i + 1])
  end
end
if total ~= 0 then redis.call('HINCRBY', KEYS[2], 'T', total) end
return 0
"""

# A quota lease (``drux.state.lease``): a chunk of a subject's headroom for one worker, and the
# return of that worker's previous lease, in one call. ARGV: 1-5 as RESERVE's; 6 USD and 7
# tokens one call wants at most; 8 the new lease's member in the in-flight set ('': only the
# return); 9 the fraction of what is left a lease may take, 10 how many calls it must cover;
# 11 the previous lease's member ('': none), 12 the second it was counted in, 13 USD, 14 tokens
# and 15 requests to add back (negative: unused), 16 '1' when none of its calls is in flight.
# The return is applied only while the previous lease's member is in the in-flight set (not
# after a restart or flush of Redis, whose fresh counters never held it).
# Reply: {0, USD, tokens, requests, second the lease is counted in} or {5}: no lease.
LEASE = _fill(_HEAD + _SEED + """
if ARGV[11] ~= '' and redis.call('ZSCORE', open, ARGV[11]) then
  local s = ARGV[12]
  if ARGV[13] ~= '0' and redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('INCRBYFLOAT', KEYS[1], ARGV[13])
  end
  for _, kind in ipairs({{'t', 'T', ARGV[14]}, {'r', 'R', ARGV[15]}}) do
    if kind[3] ~= '0' and redis.call('HEXISTS', win, kind[1] .. s) == 1 then
      redis.call('HINCRBY', win, kind[1] .. s, kind[3])
      redis.call('HINCRBY', win, kind[2], kind[3])
    end
  end
  if ARGV[16] == '1' then redis.call('ZREM', open, ARGV[11]) end
end
if ARGV[8] == '' then return {5} end
local want_usd, want_tokens = tonumber(ARGV[6]), tonumber(ARGV[7])
local frac, calls = tonumber(ARGV[9]), tonumber(ARGV[10])
local chunk_usd, chunk_tokens, chunk_reqs = 0, 0, 0
if ARGV[1] ~= '' then
  local left = tonumber(ARGV[1]) - budget_counter()
  chunk_usd = left / frac
  if left <= 0 or chunk_usd < calls * want_usd then return {5} end
end
""" + _WINDOW + """  if ARGV[3] ~= '' then
    chunk_tokens = math.floor((tonumber(ARGV[3]) - used) / frac)
    if chunk_tokens < 1 or chunk_tokens < calls * want_tokens then return {5} end
  end
  if ARGV[5] ~= '' then
    chunk_reqs = math.floor((tonumber(ARGV[5]) - reqs) / frac)
    if chunk_reqs < calls then return {5} end
  end
end
-- counted in the second the lease ends: each call from it is counted from before it happens
-- until more than 60 s after
local ends = now + LEASE_US
local es = math.floor(ends / 1000000)
if windowed then
  if chunk_reqs > 0 then
    redis.call('HINCRBY', win, 'r' .. es, chunk_reqs)
    redis.call('HINCRBY', win, 'R', chunk_reqs)
  end
  if chunk_tokens > 0 then
    redis.call('HINCRBY', win, 't' .. es, chunk_tokens)
    redis.call('HINCRBY', win, 'T', chunk_tokens)
  end
  local m = tonumber(redis.call('HGET', win, 'm' .. es)) or 0
  redis.call('HSET', win, 'm' .. es, math.max(m, ends))
end
local usd = tostring(chunk_usd)
if chunk_usd > 0 then redis.call('INCRBYFLOAT', KEYS[1], usd) end
redis.call('ZADD', open, now / 1000000, ARGV[8])
redis.call('EXPIRE', open, STALE + 61)
return {0, usd, chunk_tokens, chunk_reqs, tostring(es)}
""")

RESERVE_SHA = hashlib.sha1(RESERVE.encode()).hexdigest()
SETTLE_SHA = hashlib.sha1(SETTLE.encode()).hexdigest()
LEASE_SHA = hashlib.sha1(LEASE.encode()).hexdigest()
SCRIPTS = {RESERVE_SHA: RESERVE, SETTLE_SHA: SETTLE, LEASE_SHA: LEASE}


@functools.lru_cache(maxsize=4096)
def keys(subject: str) -> tuple[str, str, str]:
    # Made once per subject: callers never change them.
    base = f"drux:reserve:{{{subject}}}"
    return f"{base}:usd", f"{base}:win", f"{base}:open"


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def _opt(value: float | int | None) -> str:
    return "" if value is None else repr(value)


@functools.lru_cache(maxsize=4096)
def reserve_head(subject: str, budget_usd: float | None, spent_usd: float, tpm: int | None,
                 expire_seconds: int | None, rpm: int | None) -> bytes:
    """``EVALSHA`` of the reserve script up to its per-call arguments, in the wire format
    (RESP): what stays the same for a subject and its limits is encoded once."""
    parts = [b"EVALSHA", RESERVE_SHA.encode(), b"3", *(k.encode() for k in keys(subject)),
             *(a.encode() for a in (_opt(budget_usd), repr(spent_usd), _opt(tpm),
                                    _opt(expire_seconds), _opt(rpm)))]
    return b"*%d\r\n%s" % (len(parts) + 3, b"".join(_bulk(p) for p in parts))


def reserve_tail(usd: float, tokens: int, ticket: str) -> bytes:
    """The per-call arguments, packed."""
    return _bulk(repr(usd).encode()) + _bulk(b"%d" % tokens) + _bulk(ticket.encode())


def reserve_args(budget_usd: float | None, spent_usd: float, tpm: int | None,
                 expire_seconds: int | None, rpm: int | None, usd: float, tokens: int,
                 ticket: str) -> list[str]:
    """The reserve script's arguments as strings (for the client's own ``EVALSHA``/``EVAL``)."""
    return [_opt(budget_usd), repr(spent_usd), _opt(tpm), _opt(expire_seconds), _opt(rpm),
            repr(usd), str(tokens), ticket]


@functools.lru_cache(maxsize=4096)
def _settle_head(subject: str) -> bytes:
    parts = [b"EVALSHA", SETTLE_SHA.encode(), b"3", *(k.encode() for k in keys(subject))]
    return b"".join(_bulk(p) for p in parts)


def settle_command(subject: str, args: list[str]) -> bytes:
    """``EVALSHA`` of the settle script with ``args`` (``settle_args``), packed."""
    return (b"*%d\r\n" % (len(args) + 6) + _settle_head(subject)
            + b"".join(_bulk(a.encode()) for a in args))


def settle_args(settles: Sequence[tuple[str, float, int]]) -> list[str]:
    """The settle script's arguments for one subject's ``(ticket, USD used minus reserved,
    tokens used minus reserved)``. A ticket is the in-flight set's member, then ``:second``
    when its tokens were counted in the window."""
    usd = 0.0
    members: list[str] = []
    tokens: dict[str, int] = {}
    for ticket, usd_delta, tokens_delta in settles:
        member, _, second = ticket.partition(":")
        members.append(member)
        usd += usd_delta
        if second and tokens_delta:
            tokens[second] = tokens.get(second, 0) + tokens_delta
    return ["0" if usd == 0 else repr(usd), str(len(members)), *members,
            *(str(x) for pair in tokens.items() for x in pair)]


# What a lease returns: (member, second, USD, tokens, requests to add back, none in flight).
Return = tuple[str, str, float, int, int, bool]


def lease_args(budget_usd: float | None, spent_usd: float, tpm: int | None,
               expire_seconds: int | None, rpm: int | None, want: tuple[float, int],
               member: str, sizing: tuple[int, int], back: Return | None) -> list[str]:
    """The lease script's arguments: ``want`` a call's most (USD, tokens), ``member`` the new
    lease's ('' for a return only), ``sizing`` (fraction, calls), ``back`` the return."""
    old = ["", "", "0", "0", "0", "0"] if back is None else [
        back[0], back[1], "0" if back[2] == 0 else repr(back[2]), str(back[3]), str(back[4]),
        "1" if back[5] else "0"]
    return [_opt(budget_usd), repr(spent_usd), _opt(tpm), _opt(expire_seconds), _opt(rpm),
            repr(want[0]), str(want[1]), member, str(sizing[0]), str(sizing[1]), *old]


async def run_script(client: Redis, sha: str, keys: Sequence[str], args: Sequence[str]) -> Any:
    """A script by its digest (a short command), sent whole only when Redis does not have it
    yet (first use, or after a restart)."""
    try:
        return await client.evalsha(sha, len(keys), *keys, *args)  # type: ignore[misc]
    except NoScriptError:
        return await client.eval(SCRIPTS[sha], len(keys), *keys, *args)  # type: ignore[misc]
