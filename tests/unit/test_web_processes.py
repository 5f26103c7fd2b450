"""Several web processes on one Redis: an ask started on one is followed, resumed and stopped
from another (``drux serve`` twice, and ``drux serve --workers 2``), run by ``drux worker``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest
from cluster_kit import DRUX, Cluster, Follower

from fakes import FakeServer, Reply
from waiting import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.slow]
QUESTION = {"question": "Does water boil at 100 C?"}
WORDS = [f"w{n} " for n in range(12)]


def _ask(base: str) -> str:
    r = httpx.post(f"{base}/api/asks", json=QUESTION, timeout=30)
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def test_an_ask_started_on_one_web_process_is_followed_and_resumed_on_another(
        tmp_path: Path, redis_url: str) -> None:
    with FakeServer() as server:
        server.script("quick", Reply(chunks=WORDS, chunk_delay=0.05))
        server.script("slow", Reply(chunks=WORDS, chunk_delay=0.15))
        cluster = Cluster(tmp_path, server, redis_url)
        try:
            one = cluster.serve()
            other = cluster.serve()
            cluster.worker()
            cluster.worker()
            ask_id = _ask(one)
            dropped = Follower(other, ask_id, stop_after=5).wait_end()
            assert len(dropped) == 5
            resumed = Follower(one, ask_id, last_event_id=dropped[-1][0]).wait_end()
            whole = Follower(other, ask_id).wait_end()  # from the start, after the end
            record = httpx.get(f"{other}/api/asks/{ask_id}", timeout=30).json()
        finally:
            cluster.close()
    assert dropped + resumed == whole  # nothing missed, nothing repeated, same ids
    ids = [i for i, _ in whole]
    assert len(set(ids)) == len(ids) and all("-" in i for i in ids)  # stream entry ids
    assert whole[0][1]["type"] == "created" and whole[-1][1]["status"] == "complete"
    assert record["status"] == "complete"
    assert {a["text"] for a in record["answers"]} == {"".join(WORDS)}


def test_an_ask_run_by_a_job_worker_is_stopped_from_another_web_process(
        tmp_path: Path, redis_url: str) -> None:
    with FakeServer() as server:
        server.script("quick", Reply(text="Water boils at 100 C."))
        server.script("slow", Reply(chunks=WORDS, stall_after=3))
        cluster = Cluster(tmp_path, server, redis_url)
        try:
            one = cluster.serve()
            other = cluster.serve()
            cluster.worker()
            ask_id = _ask(one)
            follower = Follower(one, ask_id)
            wait_until(lambda: "finished" in follower.types()
                       and follower.types().count("token") >= 3,
                       lambda: f"the ask did not get going: {follower.types()}")
            r = httpx.post(f"{other}/api/asks/{ask_id}/cancel", timeout=60)
            events = follower.wait_end()
            record = httpx.get(f"{other}/api/asks/{ask_id}", timeout=30).json()
            again = httpx.post(f"{one}/api/asks/{ask_id}/cancel", timeout=60)
        finally:
            cluster.close()
    assert r.status_code == 202, r.text
    assert r.json()["stopped"] is True and r.json()["status"] == "partial"
    assert events[-1][1] == {"type": "done", "ask_id": ask_id, "status": "partial"}
    assert again.status_code == 202 and again.json()["stopped"] is False
    answers = {a["model"]: a for a in record["answers"]}
    assert record["status"] == "partial"
    assert answers["quick"]["status"] == "done" and answers["slow"]["status"] == "partial"
    assert answers["slow"]["text"] == "".join(WORDS[:3])


def test_serve_with_two_workers_follows_every_ask_to_its_end(tmp_path: Path,
                                                              redis_url: str) -> None:
    with FakeServer() as server:
        server.script("quick", Reply(chunks=WORDS, chunk_delay=0.02))
        server.script("slow", Reply(chunks=WORDS, chunk_delay=0.05))
        cluster = Cluster(tmp_path, server, redis_url)
        try:
            # One web process alone creates and seeds the database (several seeding a new
            # database at once is not this test's subject), then two web workers serve it.
            cluster.serve()
            cluster.close()
            cluster.processes.clear()
            base = cluster.serve("--workers", "2")
            cluster.worker()
            cluster.worker()
            ask_ids = [_ask(base) for _ in range(8)]
            ends = [Follower(base, ask_id).wait_end()[-1][1] for ask_id in ask_ids]
        finally:
            cluster.close()
    assert [e["status"] for e in ends] == ["complete"] * 8


def test_serve_refuses_several_workers_without_redis(drux_env: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DRUX_REDIS_URL"}
    proc = subprocess.run([DRUX, "serve", "--workers", "2", "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: --workers above 1 needs DRUX_REDIS_URL")
    assert proc.stderr.count("\n") == 1
