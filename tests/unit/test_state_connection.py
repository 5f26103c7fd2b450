"""The Redis client seam: a reachable server answers, a stopped one is a typed error naming
Redis (never a raw redis-py exception), and the same client works again once it is back."""

from __future__ import annotations

from typing import Any

import pytest

from drux.errors import SharedStateError
from drux.state.connection import describe, guarded, ping, redis_client

pytestmark = pytest.mark.redis


async def test_ping_and_recovery_without_a_new_client(redis_server: Any, redis_url: str) -> None:
    assert await ping(redis_url)
    client = redis_client(redis_url)
    async with guarded(redis_url):
        await client.set("k", "v")
    redis_server.stop()
    try:
        with pytest.raises(SharedStateError, match=r"Redis at redis://127\.0\.0\.1"):
            async with guarded(redis_url):
                await client.get("k")
        assert not await ping(redis_url)
    finally:
        redis_server.start()
    async with guarded(redis_url):  # the same client reconnects by itself
        assert await client.ping()
    assert redis_client(redis_url) is client


def test_describe_hides_the_password() -> None:
    assert describe("redis://:s3cret@h:6379/0") == "redis://***@h:6379/0"
    assert describe("redis://127.0.0.1:6379/2") == "redis://127.0.0.1:6379/2"
