"""100 concurrent asks through the web API: all complete, none lost, time to first event.

    PYTHONPATH=src .venv/bin/python bench/cluster/web_load.py [--asks 100] [--modes memory,redis]

Each mode starts its own cluster (bench/cluster/harness.py): ``memory`` is one `drux serve`
with no Redis (the embedded default, the baseline of the same run); ``redis`` is 2 web
processes and 2 job workers on one PostgreSQL and one Redis. Every ask is posted to a web
process in turn and followed over SSE from the OTHER one (from the same one in memory mode),
then read back from the store. Reported: asks completed, lost (never reached a final state),
p50/p99 from submit to the first event and to `done`. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

import httpx
from harness import Cluster


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def one_ask(client: httpx.AsyncClient, post_to: str, follow_from: str, i: int
                  ) -> dict[str, Any]:
    try:
        return await _one_ask(client, post_to, follow_from, i)
    except httpx.HTTPError as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


async def _one_ask(client: httpx.AsyncClient, post_to: str, follow_from: str, i: int
                   ) -> dict[str, Any]:
    t0 = time.perf_counter()
    r = await client.post(f"{post_to}/api/asks",
                          json={"question": f"Bench question {i}: what is {i} + {i}?"})
    if r.status_code != 202:
        return {"ok": False, "status": r.status_code, "body": r.text[:200]}
    ask_id = r.json()["id"]
    accepted = time.perf_counter() - t0
    first = done = None
    final = None
    async with client.stream("GET", f"{follow_from}/api/asks/{ask_id}/events") as stream:
        async for line in stream.aiter_lines():
            if not line.startswith("data:"):
                continue
            if first is None:
                first = time.perf_counter() - t0
            event = json.loads(line[5:])
            if event.get("type") == "done":
                done = time.perf_counter() - t0
                final = event.get("status")
                break
    stored = (await client.get(f"{post_to}/api/asks/{ask_id}")).json()
    return {"ok": True, "id": ask_id, "accepted": accepted, "first": first, "done": done, "final": final,
            "stored": stored.get("status"),
            "answers": sum(1 for a in stored.get("answers", []) if a.get("status") == "done")}


async def run(cluster: Cluster, n: int) -> dict[str, Any]:
    urls = cluster.web_urls
    # A new connection per request: a kept-alive one that the server closes as idle just as
    # the next request goes out is a client artefact, not a lost ask.
    limits = httpx.Limits(max_connections=4 * n, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=httpx.Timeout(300.0), limits=limits) as client:
        t0 = time.perf_counter()
        results = await asyncio.gather(*(
            one_ask(client, urls[i % len(urls)], urls[(i + 1) % len(urls)], i)
            for i in range(n)))
        wall = time.perf_counter() - t0
    ok = [r for r in results if r["ok"]]
    complete = [r for r in ok if r["final"] == "complete" and r["stored"] == "complete"]
    firsts = [r["first"] for r in ok if r["first"] is not None]
    dones = [r["done"] for r in ok if r["done"] is not None]
    accepts = [r["accepted"] for r in ok]
    return {
        "mode": cluster.mode, "asks": n, "accepted": len(ok), "complete": len(complete),
        "lost": len([r for r in ok if r["stored"] not in ("complete", "partial", "failed")]),
        "not_complete": [r for r in ok if r not in complete][:5],
        "refused": [r for r in results if not r["ok"]][:5],
        "accepted_p50_ms": round(1000 * statistics.median(accepts), 1) if accepts else None,
        "accepted_p99_ms": round(1000 * pct(accepts, 0.99), 1) if accepts else None,
        "first_event_p50_ms": round(1000 * statistics.median(firsts), 1) if firsts else None,
        "first_event_p99_ms": round(1000 * pct(firsts, 0.99), 1) if firsts else None,
        "done_p50_ms": round(1000 * statistics.median(dones), 1) if dones else None,
        "done_p99_ms": round(1000 * pct(dones, 0.99), 1) if dones else None,
        "wall_s": round(wall, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--asks", type=int, default=100)
    ap.add_argument("--modes", default="memory,redis")
    ap.add_argument("--delay-ms", type=int, default=100, help="upstream delay before answering")
    args = ap.parse_args()
    for mode in args.modes.split(","):
        cluster = Cluster(mode, delay_ms=args.delay_ms).start()
        try:
            asyncio.run(run(cluster, 3))  # warm-up: imports, connections, first queries
            report = asyncio.run(run(cluster, args.asks))
            print(json.dumps(report), flush=True)
            if report["refused"]:
                for proc in cluster.procs:
                    tail = proc.log.read_text(errors="replace")[-1500:]
                    print(f"--- {proc.name} ---\n{tail}", flush=True)
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
