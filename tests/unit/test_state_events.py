"""The live event log of an ask, in memory and on Redis Streams: every event once and in order,
resuming after any id it handed out, replaying from the start after an id it never sent, and
ending with ``done``; the Redis stream expires a while after its ask ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from web_kit import ANSWERS, Scripts, make_services

from drux.services.ask import AskOptions
from drux.state.connection import redis_client
from drux.state.events import EventLog, MemoryEventLog, RedisEventLog
from drux.state.jobs import LocalJobs
from drux.web.runner import AskRunner

from waiting import PATIENCE_S


async def _all(follow: AsyncIterator[tuple[str, dict[str, Any]] | None]
               ) -> list[tuple[str, dict[str, Any]]]:
    async with asyncio.timeout(PATIENCE_S):
        return [item async for item in follow if item is not None]


async def _check_log(log: EventLog) -> None:
    assert await log.live("a1") is None
    assert await _all(log.follow("a1")) == []  # unknown: nothing, at once
    for n in range(4):
        await log.publish("a1", {"type": "token", "n": n})
    assert await log.live("a1") is True
    follower = asyncio.create_task(_all(log.follow("a1", heartbeat=0.05)))
    await log.publish("a1", {"type": "done", "status": "complete"})
    seen = await follower
    assert [e for _, e in seen] == [*({"type": "token", "n": n} for n in range(4)),
                                    {"type": "done", "status": "complete"}]
    ids = [i for i, _ in seen]
    assert len(set(ids)) == 5 and all(isinstance(i, str) for i in ids)
    assert await _all(log.follow("a1", ids[1])) == seen[2:]  # resumed: nothing repeated
    assert await _all(log.follow("a1", ids[-1])) == []
    for foreign in ("not-an-id", "²", "", None):  # never sent: from the start
        assert await _all(log.follow("a1", foreign)) == seen
    assert await log.live("a1") is False
    assert await log.events("a1") == [e for _, e in seen]


async def test_memory_log() -> None:
    await _check_log(MemoryEventLog())


@pytest.mark.redis
async def test_redis_log_and_its_expiry(redis_url: str) -> None:
    log = RedisEventLog(redis_url, keep_seconds=120)
    await _check_log(log)
    ttl = await redis_client(redis_url).ttl("drux:ask-events:a1")
    assert 0 < ttl <= 120


@pytest.mark.redis
async def test_a_quiet_redis_follower_gets_heartbeats(redis_url: str) -> None:
    log = RedisEventLog(redis_url)
    await log.publish("q", {"type": "created"})
    follower = log.follow("q", heartbeat=0.05)
    assert (await anext(follower))[1] == {"type": "created"}  # type: ignore[index]
    assert await anext(follower) is None
    await log.publish("q", {"type": "done"})
    rest = [item async for item in follower if item is not None]
    assert [e for _, e in rest] == [{"type": "done"}]


@pytest.mark.redis
async def test_an_ask_runs_to_its_end_through_the_redis_log(drux_env: Path,
                                                            redis_url: str) -> None:
    services = make_services(drux_env, Scripts(delay=0.01))
    log = RedisEventLog(redis_url)
    runner = AskRunner(services, events=log, jobs=LocalJobs(services, log))
    try:
        ask_id = await runner.start(AskOptions(question="Does water boil at 100 C?"))
        seen = [e for _, e in await _all(log.follow(ask_id))]
        assert seen[0]["type"] == "created" and seen[-1] == {"type": "done", "ask_id": ask_id,
                                                             "status": "complete"}
        finals = {e["model"]: e["text"] for e in seen if e["type"] == "finished"}
        assert finals == ANSWERS
        assert not await runner.live(ask_id)
    finally:
        await runner.aclose()
        await services.aclose()


@pytest.mark.redis
async def test_an_ask_whose_redis_goes_away_mid_run_is_still_stored_complete(
        drux_env: Path, redis_server: Any, redis_url: str) -> None:
    from scripted import Gate

    gate = Gate()
    services = make_services(drux_env, Scripts(delay=0.01, gate=gate))
    log = RedisEventLog(redis_url)
    jobs = LocalJobs(services, log)
    runner = AskRunner(services, events=log, jobs=jobs)
    try:
        ask_id = await runner.start(AskOptions(question="Does water boil at 100 C?"))
        follower = log.follow(ask_id)
        async with asyncio.timeout(PATIENCE_S):  # under way: a token has been published
            async for item in follower:
                if item is not None and item[1]["type"] == "token":
                    break
        await follower.aclose()
        redis_server.stop()
        try:
            gate.open()
            await jobs.aclose(grace=PATIENCE_S)  # the ask runs to its end without Redis
        finally:
            redis_server.start()
        record = services.store.asks.get(ask_id)
        assert record is not None and record.status == "complete"
        assert [a.text for a in record.answers] == list(ANSWERS.values())
    finally:
        await runner.aclose()
        await services.aclose()
