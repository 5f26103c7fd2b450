"""A bounded mixed soak of the cluster: web asks, gateway calls, a job worker killed and
restarted; reports lost asks, 5xx answers and every process's resident memory over time.

    PYTHONPATH=src .venv/bin/python bench/cluster/soak.py [--minutes 10] [--users 8]

2 web processes, 2 job workers and 2 gateways on one PostgreSQL and one Redis (harness.py).
`--users` clients each start an ask, follow it to `done` over SSE from the other web process,
and start the next; as many gateway clients send chat completions (every third one streamed).
At 30 % and 65 % of the run one job worker gets SIGKILL and a new one is started 10 s later.
Memory (VmRSS of every process and its children) is sampled every 10 s; "flat" compares the
median of the second minute (after warm-up) with the median of the last minute.
Loopback only; bounded by --minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import time
from collections import Counter
from typing import Any

import httpx
from harness import Cluster, rss_kib


class Tally:
    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()
        self.asks: dict[str, str | None] = {}  # id -> final status seen over SSE
        self.errors: Counter[str] = Counter()


async def web_user(client: httpx.AsyncClient, urls: list[str], i: int, stop: float,
                   tally: Tally) -> None:
    n = 0
    while time.monotonic() < stop:
        n += 1
        post, follow = urls[n % len(urls)], urls[(n + 1) % len(urls)]
        try:
            r = await client.post(f"{post}/api/asks", json={"question": f"soak {i}.{n}: 2+{n}?"})
            tally.statuses[f"web {r.status_code}"] += 1
            if r.status_code != 202:
                continue
            ask_id = r.json()["id"]
            tally.asks[ask_id] = None
            async with client.stream("GET", f"{follow}/api/asks/{ask_id}/events") as stream:
                tally.statuses[f"sse {stream.status_code}"] += 1
                async for line in stream.aiter_lines():
                    if line.startswith("data:"):
                        event = json.loads(line[5:])
                        if event.get("type") == "done":
                            tally.asks[ask_id] = event.get("status")
                            break
        except httpx.HTTPError as exc:
            tally.errors[f"web {type(exc).__name__}"] += 1


async def gateway_user(client: httpx.AsyncClient, urls: list[str], i: int, stop: float,
                       tally: Tally) -> None:
    n = 0
    while time.monotonic() < stop:
        n += 1
        body = {"model": "bench-a", "messages": [{"role": "user", "content": f"hi {i}.{n}"}],
                "stream": n % 3 == 0}
        try:
            r = await client.post(f"{urls[n % len(urls)]}/v1/chat/completions", json=body)
            tally.statuses[f"gateway {r.status_code}"] += 1
        except httpx.HTTPError as exc:
            tally.errors[f"gateway {type(exc).__name__}"] += 1


async def chaos(cluster: Cluster, started: float, seconds: float, log: list[str]) -> None:
    for share, victim in ((0.30, 0), (0.65, 1)):
        await asyncio.sleep(max(0.0, started + share * seconds - time.monotonic()))
        name = f"worker{victim}"
        cluster.proc(name).kill(signal.SIGKILL)
        log.append(f"{time.monotonic() - started:.0f}s SIGKILL {name}")
        await asyncio.sleep(10)
        cluster.start_worker(victim)
        log.append(f"{time.monotonic() - started:.0f}s restarted {name}")


async def sample_memory(cluster: Cluster, stop: float, samples: dict[str, list[tuple[float, int]]],
                        started: float) -> None:
    while time.monotonic() < stop:
        for proc in cluster.procs:
            if proc.name == "upstream" or proc.popen is None:
                continue
            total = sum(v for pid in proc.pids() if (v := rss_kib(pid)) is not None)
            samples.setdefault(proc.name, []).append((time.monotonic() - started, total))
        await asyncio.sleep(10)


def flatness(points: list[tuple[float, int]], seconds: float) -> dict[str, Any]:
    early = [v for t, v in points if 60 <= t < 120] or [points[0][1]]
    late = [v for t, v in points if t >= seconds - 60] or [points[-1][1]]
    a, b = statistics.median(early), statistics.median(late)
    return {"second_minute_mib": round(a / 1024, 1), "last_minute_mib": round(b / 1024, 1),
            "change_pct": round(100 * (b - a) / a, 1)}


async def soak(cluster: Cluster, seconds: float, users: int) -> dict[str, Any]:
    tally, chaos_log = Tally(), []
    samples: dict[str, list[tuple[float, int]]] = {}
    started = time.monotonic()
    stop = started + seconds
    limits = httpx.Limits(max_connections=8 * users)
    async with httpx.AsyncClient(timeout=httpx.Timeout(120.0), limits=limits) as client:
        await asyncio.gather(
            *(web_user(client, cluster.web_urls, i, stop, tally) for i in range(users)),
            *(gateway_user(client, cluster.gateway_urls, i, stop, tally) for i in range(users)),
            chaos(cluster, started, seconds, chaos_log),
            sample_memory(cluster, stop, samples, started))
        # Every accepted ask must have reached a final state in the store.
        stored: Counter[str] = Counter()
        for ask_id in tally.asks:
            r = await client.get(f"{cluster.web_urls[0]}/api/asks/{ask_id}")
            stored[r.json().get("status", f"http {r.status_code}")] += 1
    fivexx = {k: v for k, v in tally.statuses.items() if k.split()[-1].startswith("5")}
    return {
        "seconds": seconds, "asks_accepted": len(tally.asks),
        "asks_final_over_sse": Counter(s or "no done event" for s in tally.asks.values()),
        "asks_stored": stored, "lost": stored.get("running", 0),
        "statuses": tally.statuses, "client_errors": tally.errors, "5xx": fivexx,
        "chaos": chaos_log,
        "memory": {name: flatness(points, seconds) for name, points in samples.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--users", type=int, default=8)
    args = ap.parse_args()
    cluster = Cluster("redis", web=2, workers=2, gateways=2, delay_ms=50).start()
    try:
        report = asyncio.run(soak(cluster, args.minutes * 60, args.users))
        print(json.dumps(report, indent=1, default=dict))
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
