#!/usr/bin/env python3
"""One reservation's cost, without a gateway around it: ``RedisReserver.reserve`` in a loop
against a Redis on loopback, next to a bare ``PING`` on the same client (the floor: one round
trip through redis-py). Wall and CPU microseconds per call; the script's time inside Redis is
in ``redis-cli info commandstats`` (``evalsha``). Usage (a throwaway redis-server, yours):

  PYTHONPATH=src .venv/bin/python bench/gateway/reserve_micro.py redis://127.0.0.1:PORT/0
"""

from __future__ import annotations

import asyncio
import sys
import time

from drux.state.connection import redis_client
from drux.state.reserve import Caps, RedisReserver

CALLS = 3000


async def main(url: str) -> None:
    reserver = RedisReserver(url)
    caps = Caps(budget_usd=1e6, tpm=10**9, rpm=10**6)  # every limit on, none refuses
    for _ in range(200):  # warm: connection, script cached in Redis
        await reserver.reserve("key:bench", caps, usd=0.001, tokens=100)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(CALLS):
        await reserver.reserve("key:bench", caps, usd=0.001, tokens=100)
    print(f"reserve: {(time.perf_counter() - wall) / CALLS * 1e6:.1f} us wall, "
          f"{(time.process_time() - cpu) / CALLS * 1e6:.1f} us CPU")
    client = redis_client(url)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(CALLS):
        await client.ping()  # type: ignore[misc]
    print(f"ping:    {(time.perf_counter() - wall) / CALLS * 1e6:.1f} us wall, "
          f"{(time.process_time() - cpu) / CALLS * 1e6:.1f} us CPU")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
