"""Heartbeats and the cluster view (issue 11): every long-running process is seen alive while
it beats and gone once it stops or misses its beats; `drux status --cluster`, /api/status and
the status page show processes by kind, the job queue, and whether Redis and the database
answer. Without DRUX_REDIS_URL the status says it is a single process."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from web_kit import Scripts, make_services, relaxed

from drux.config import Settings
from drux.services.status import cluster_status
from drux.state.cluster import (
    QUEUE_NAME,
    SINGLE_PROCESS,
    MemoryRegistry,
    RedisRegistry,
    heartbeat,
    new_beat,
)
from drux.state.connection import aclose_clients
from drux.web.app import create_app

from waiting import PATIENCE_S, wait_until

DRUX = str(Path(sys.executable).parent / "drux")
FAST = 0.05  # seconds between beats in these tests


async def _kinds(url: str) -> list[str]:
    return [b.kind for b in await RedisRegistry(url).alive()]


@pytest.mark.redis
async def test_a_heartbeat_is_seen_while_it_runs_and_gone_after(redis_url: str) -> None:
    settings = Settings(redis_url=redis_url)
    async with heartbeat(settings, kind="worker", concurrency=4, interval=FAST) as me:
        beats = await _wait_for(redis_url, lambda kinds: kinds == ["worker"])
        assert beats[0].id == me.id and beats[0].pid == os.getpid()
        assert beats[0].concurrency == 4 and beats[0].version
    assert await _kinds(redis_url) == []  # left at once, not after the key expired
    await aclose_clients()


async def _wait_for(url: str, wanted: Any) -> list[Any]:
    deadline = time.monotonic() + PATIENCE_S
    while True:
        beats = await RedisRegistry(url).alive()
        if wanted([b.kind for b in beats]):
            return beats
        assert time.monotonic() < deadline, f"heartbeats never matched: {beats}"
        await asyncio.sleep(FAST)


@pytest.mark.redis
async def test_a_process_that_stops_beating_expires(redis_url: str) -> None:
    registry = RedisRegistry(redis_url)
    await registry.beat(new_beat("gateway"), ttl_s=0.3)  # killed -9 right after: no leave
    assert await _kinds(redis_url) == ["gateway"]
    await _wait_for(redis_url, lambda kinds: kinds == [])
    await aclose_clients()


async def test_the_memory_registry_holds_this_process_only() -> None:
    registry = MemoryRegistry()
    async with heartbeat(Settings(), kind="web", interval=FAST, registry=registry):
        deadline = time.monotonic() + PATIENCE_S
        while True:  # the first beat is sent by a task: let it run
            beats = await registry.alive()
            if beats:
                break
            assert time.monotonic() < deadline, "the first beat never came"
            await asyncio.sleep(FAST)
        assert [b.kind for b in beats] == ["web"]
    assert await registry.alive() == []


@pytest.mark.redis
async def test_heartbeats_survive_redis_going_away(redis_server: Any, redis_url: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(redis_url=redis_url)
    caplog.set_level(logging.WARNING, logger="drux.state.cluster")
    async with heartbeat(settings, kind="worker", interval=FAST):
        await _wait_for(redis_url, lambda kinds: kinds == ["worker"])
        redis_server.stop()
        try:
            deadline = time.monotonic() + PATIENCE_S
            while not any("unreachable" in r.getMessage() for r in caplog.records):
                assert time.monotonic() < deadline, "the outage was never logged"
                await asyncio.sleep(FAST)
        finally:
            redis_server.start()
        # The same process is seen again once Redis is back (its keys were lost with it).
        await _wait_for(redis_url, lambda kinds: kinds == ["worker"])
    outage = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(outage) == 1  # one line per outage, not one per beat
    assert any("sent again" in r.getMessage() for r in caplog.records)
    assert not any(r.exc_info for r in caplog.records)  # no traceback
    await aclose_clients()


async def test_single_process_status_without_redis(drux_env: Path) -> None:
    services = make_services(drux_env, Scripts())
    view = await cluster_status(services)
    assert view.mode == "single" and view.summary == SINGLE_PROCESS
    assert view.redis is None and view.jobs is None and view.processes == []
    assert view.database.reachable and view.database.latency_ms is not None


@pytest.mark.redis
async def test_cluster_status_counts_processes_and_jobs(drux_env: Path, redis_url: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from saq.queue.redis import RedisQueue

    from drux.state.connection import redis_client

    monkeypatch.setenv("DRUX_REDIS_URL", redis_url)
    services = make_services(drux_env, Scripts())
    registry = RedisRegistry(redis_url)
    for kind in ("web", "web", "worker"):
        await registry.beat(new_beat(kind), ttl_s=PATIENCE_S)  # type: ignore[arg-type]
    queue = RedisQueue(redis_client(redis_url), name=QUEUE_NAME)
    for _ in range(3):
        await queue.enqueue("run_ask")
    view = await cluster_status(services)
    assert view.mode == "cluster"
    assert view.alive == {"web": 2, "worker": 1}
    assert view.jobs is not None and (view.jobs.queued, view.jobs.running) == (3, 0)
    assert view.redis is not None and view.redis.reachable and view.database.reachable
    assert view.summary == "2 web, 1 worker alive; 3 job(s) queued, 0 running"
    await aclose_clients()


@pytest.mark.redis
async def test_cluster_status_when_redis_is_down(drux_env: Path, redis_server: Any,
                                                 redis_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRUX_REDIS_URL", redis_url)
    services = make_services(drux_env, Scripts())
    redis_server.stop()
    try:
        view = await cluster_status(services)
    finally:
        redis_server.start()
    assert view.redis is not None and not view.redis.reachable
    assert "unreachable" in (view.redis.error or "")
    assert view.jobs is None and view.processes == [] and view.database.reachable
    assert view.summary.startswith("Redis is unreachable")
    await aclose_clients()


@pytest.mark.redis
def test_the_web_app_beats_and_shows_the_cluster(drux_env: Path, redis_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRUX_REDIS_URL", redis_url)
    app = create_app(make_services(drux_env, Scripts()), relaxed())
    with TestClient(app) as client:
        def web_alive() -> dict[str, Any] | None:
            data = client.get("/api/status").json()["cluster"]
            return data if data["alive"].get("web") == 1 else None

        cluster = wait_until(web_alive, "the web process never showed in /api/status")
        assert cluster["mode"] == "cluster" and cluster["redis"]["reachable"]
        assert cluster["database"]["reachable"]
        assert cluster["jobs"] == {"queue": QUEUE_NAME, "queued": 0, "running": 0}
        page = client.get("/status").text
        assert "Cluster" in page and "1 web alive" in page


def test_the_status_page_says_single_process(drux_env: Path) -> None:
    app = create_app(make_services(drux_env, Scripts()), relaxed())
    with TestClient(app) as client:
        assert client.get("/api/status").json()["cluster"]["summary"] == SINGLE_PROCESS
        assert SINGLE_PROCESS in client.get("/status").text


def _status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DRUX, "status", "--cluster", *args], capture_output=True, text=True,
                          timeout=PATIENCE_S, check=False, env=os.environ.copy(),
                          stdin=subprocess.DEVNULL)


@pytest.mark.redis
async def test_drux_status_cluster(drux_env: Path, redis_url: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRUX_REDIS_URL", redis_url)
    await RedisRegistry(redis_url).beat(new_beat("worker", 4), ttl_s=PATIENCE_S)
    done = await asyncio.to_thread(_status, "--json")
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout)
    assert view["alive"] == {"worker": 1} and view["redis"]["reachable"]
    assert view["processes"][0]["concurrency"] == 4
    shown = await asyncio.to_thread(_status)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("cluster: 1 worker alive; 0 job(s) queued, 0 running\n")
    assert "database: reachable in" in shown.stdout and "redis: reachable in" in shown.stdout
    assert "worker x4\t" in shown.stdout  # piped: one tab-separated line per process
    await aclose_clients()


def test_drux_status_cluster_without_redis(drux_env: Path) -> None:
    done = _status("--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"] == SINGLE_PROCESS
    assert _status().stdout.startswith(f"cluster: {SINGLE_PROCESS}\n")


@pytest.mark.redis
async def test_the_standalone_gateway_beats_as_a_gateway(drux_env: Path, redis_url: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from drux.gateway import create_gateway_app

    monkeypatch.setenv("DRUX_REDIS_URL", redis_url)
    gateway = create_gateway_app(make_services(drux_env, Scripts()))
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    served = asyncio.create_task(gateway({"type": "lifespan"}, inbox.get, outbox.put))
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    await _wait_for(redis_url, lambda kinds: kinds == ["gateway"])
    await inbox.put({"type": "lifespan.shutdown"})
    assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
    await served
    assert await _kinds(redis_url) == []
    await aclose_clients()
