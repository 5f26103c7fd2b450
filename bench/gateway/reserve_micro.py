#!/usr/bin/env python3
"""One reservation's cost, without a gateway around it: ``RedisReserver.reserve`` in a loop
against a Redis on loopback, then a reservation and its queued settle (what a gateway call
costs: the settles go in batches, off the request path), next to a bare ``PING`` on the same
client (one round trip through redis-py's ``execute_command``), and, where the code has quota
leases, a reservation and settle at a key far from its limits with leases on (the gateway's
way). Wall and CPU microseconds per call; the scripts' time inside Redis is in ``redis-cli
info commandstats`` (``evalsha``).
Usage (a throwaway redis-server, yours; the same script measures older code through
PYTHONPATH, it only uses the ``Reserver`` protocol):

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
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(CALLS):
        hold = await reserver.reserve("key:bench", caps, usd=0.001, tokens=100)
        reserver.settle_soon(hold, usd=0.0005, tokens=50)
    await reserver.drain()
    print(f"reserve + settle_soon: {(time.perf_counter() - wall) / CALLS * 1e6:.1f} us wall, "
          f"{(time.process_time() - cpu) / CALLS * 1e6:.1f} us CPU")
    await reserver.drain()
    try:  # quota leases (drux.state.lease); older code has none
        leasing = RedisReserver(url, leases=True)  # type: ignore[call-arg,unused-ignore]
    except TypeError:
        leasing = None
    if leasing is not None:
        for _ in range(200):
            hold = await leasing.reserve("key:lease", caps, usd=0.001, tokens=100)
            leasing.settle_soon(hold, usd=0.0005, tokens=50)
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(CALLS):
            hold = await leasing.reserve("key:lease", caps, usd=0.001, tokens=100)
            leasing.settle_soon(hold, usd=0.0005, tokens=50)
        print(f"leased reserve + settle_soon: "
              f"{(time.perf_counter() - wall) / CALLS * 1e6:.1f} us wall, "
              f"{(time.process_time() - cpu) / CALLS * 1e6:.1f} us CPU")
        await leasing.drain()
    client = redis_client(url)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(CALLS):
        await client.ping()  # type: ignore[misc]
    print(f"ping:    {(time.perf_counter() - wall) / CALLS * 1e6:.1f} us wall, "
          f"{(time.process_time() - cpu) / CALLS * 1e6:.1f} us CPU")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
