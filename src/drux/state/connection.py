"""The Redis client drux uses for shared state, and what its failures become.

One ``redis.asyncio.Redis`` per URL and event loop (a client's connections belong to the loop
that made them). Commands time out after a few seconds rather than hang a request: a Redis
that went away must become a typed 503 quickly, and a Redis that comes back is used again by
the same client without a restart (redis-py reconnects on the next command).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from drux.errors import SharedStateError

SOCKET_TIMEOUT = 5.0
CONNECT_TIMEOUT = 2.0

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, aioredis.Redis]] = (
    weakref.WeakKeyDictionary())


def redis_client(url: str) -> aioredis.Redis:
    """The client for ``url`` on the running event loop (made on first use)."""
    loop = asyncio.get_running_loop()
    per_loop = _clients.setdefault(loop, {})
    client = per_loop.get(url)
    if client is None:
        client = aioredis.Redis.from_url(
            url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=CONNECT_TIMEOUT,
            health_check_interval=15, retry_on_timeout=False)
        per_loop[url] = client
    return client


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    head, sep, tail = url.partition("@")
    if not sep:
        return url
    scheme, _, _ = head.partition("://")
    return f"{scheme}://***@{tail}"


def unavailable(url: str, exc: BaseException) -> SharedStateError:
    return SharedStateError(f"Redis at {describe(url)} is unreachable ({type(exc).__name__}); "
                            "live state and jobs are paused until it is back")


@contextlib.asynccontextmanager
async def guarded(url: str) -> AsyncIterator[None]:
    """Redis errors (connection refused, timeouts, a server gone mid-command) become one
    ``SharedStateError`` naming Redis; callers decide whether to fail open or closed."""
    try:
        yield
    except RedisError as exc:
        raise unavailable(url, exc) from None
    except OSError as exc:  # a socket error redis-py did not wrap
        raise unavailable(url, exc) from None


async def ping(url: str) -> bool:
    try:
        async with guarded(url):
            return bool(await redis_client(url).ping())  # type: ignore[misc]
    except SharedStateError:
        return False


async def aclose_clients() -> None:
    """Close this loop's clients (on shutdown)."""
    loop = asyncio.get_running_loop()
    for client in _clients.pop(loop, {}).values():
        with contextlib.suppress(RedisError, OSError):
            await client.aclose()
