"""Reading a throwaway Redis's own clock in tests of the windows counted in its seconds."""

from __future__ import annotations

import redis


def sync_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def redis_now_us(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1_000_000 + int(micros)


def early_in_a_second(client: redis.Redis, within_us: int) -> int:
    """Redis's time, in µs, once it is in the first ``within_us`` of a second (polled, not
    slept): what a test writes for this second then runs in that same second."""
    while (now := redis_now_us(client)) % 1_000_000 > within_us:
        pass
    return now
