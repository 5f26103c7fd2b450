"""Asks as jobs across real processes: ``drux serve`` web processes and ``drux worker`` job
workers on one throwaway Redis and one SQLite file, models on the wire-level fake vendor."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx
import pytest
from cluster_kit import Cluster, Follower

from drux.state.jobs import WORKER_LOST

from fakes import FakeServer, Reply
from waiting import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.slow]
QUESTION = {"question": "Does water boil at 100 C?"}


def _holder_pid(redis_url: str, ask_id: str) -> int:
    """The pid of the job worker running the ask (worker ids are host-pid)."""
    from saq import Queue

    async def worker_id() -> str:
        queue = Queue.from_url(redis_url, name="drux")
        try:
            job = await queue.job(ask_id)
            assert job is not None and job.worker_id, job
            return str(job.worker_id)
        finally:
            await queue.disconnect()

    return int(asyncio.run(worker_id()).rsplit("-", 1)[1])


def _beating_pids(redis_url: str, kind: str) -> set[int]:
    from drux.state.cluster import RedisRegistry

    async def alive() -> set[int]:
        return {p.pid for p in await RedisRegistry(redis_url).alive() if p.kind == kind}

    return asyncio.run(alive())


def test_a_job_worker_killed_mid_ask_ends_it_partial_with_answers_kept(
        tmp_path: Path, redis_url: str) -> None:
    with FakeServer() as server:
        server.script("quick", Reply(text="Water boils at 100 C at sea level."))
        server.script("slow", Reply(text="It boils at one hundred degrees", stall_after=2))
        cluster = Cluster(tmp_path, server, redis_url)
        try:
            base = cluster.serve()
            workers = [cluster.worker(), cluster.worker()]
            ask_id = httpx.post(f"{base}/api/asks", json=QUESTION, timeout=30).json()["id"]
            follower = Follower(base, ask_id)
            wait_until(lambda: "finished" in follower.types()
                       and any(e.get("model") == "slow" for _, e in follower.events
                               if e["type"] == "token"),
                       lambda: f"the ask did not get going: {follower.types()} {cluster.logs()}")
            pid = _holder_pid(redis_url, ask_id)
            assert pid in {w.pid for w in workers}
            # Both job workers beat: the cluster's status lists them by pid.
            wait_until(lambda: {w.pid for w in workers} <= _beating_pids(redis_url, "worker"),
                       lambda: f"workers missing from the status: {cluster.logs()}")
            os.kill(pid, signal.SIGKILL)
            events = follower.wait_end()
            assert events[-1][1] == {"type": "done", "ask_id": ask_id, "status": "partial"}
            assert [e["error"]["message"] for _, e in events if e["type"] == "error"] == [
                WORKER_LOST]
            record = httpx.get(f"{base}/api/asks/{ask_id}", timeout=30).json()
        finally:
            cluster.close()
    assert record["status"] == "partial"
    answers = {a["model"]: a for a in record["answers"]}
    assert answers["quick"]["status"] == "done"
    assert answers["quick"]["text"] == "Water boils at 100 C at sea level."
    assert answers["slow"]["status"] == "partial"
    assert answers["slow"]["error"]["message"] == WORKER_LOST
