"""The ask job's payload and the job worker's queue, without worker processes."""

from __future__ import annotations

import time
from typing import Any

import pytest

from drux.records import AskSource, ThreadPosition
from drux.services.ask import AskCreated, AskOptions
from drux.state.jobs import REDIS_AWAY_PAUSE_S, AskJob, worker_queue


def test_an_ask_job_round_trips_through_json() -> None:
    opts = AskOptions(question="  Why?  ", models=["a"], max_tokens=12, source=AskSource.API,
                      owner_id=3, shared=True)
    created = AskCreated("id1", ["a"], {"a": "fa"}, [{"model": "b", "reason": "no key"}], None)
    payload = AskJob(options=opts, created=created).model_dump(mode="json")
    again = AskJob.model_validate(payload)
    assert again.options == opts and again.options.question == "Why?"
    assert again.created == created


def test_a_follow_up_job_keeps_its_thread_and_continue_from() -> None:
    """A worker rebuilds the follow-up from the payload: without its thread it would run with
    no earlier turns."""
    opts = AskOptions(question="And then?", continue_from="first")
    created = AskCreated("id2", ["a"], {"a": "fa"}, [], None,
                         thread=ThreadPosition(id="first", turn=2, trimmed={"a": 1}))
    again = AskJob.model_validate(AskJob(options=opts, created=created).model_dump(mode="json"))
    assert again.created.thread == created.thread
    assert again.options.continue_from == "first"


def test_a_job_payload_is_validated_like_any_ask() -> None:
    from drux.errors import InputError

    payload: dict[str, Any] = {"options": {"question": "Why?", "max_tokens": 0},
                               "created": {"ask_id": "x", "models": [], "families": {},
                                           "skipped": [], "panel": None}}
    with pytest.raises(InputError, match="max_tokens"):
        AskJob.model_validate(payload)


@pytest.mark.redis
async def test_a_worker_waits_between_dequeues_while_redis_is_away(redis_server: Any,
                                                                   redis_url: str) -> None:
    queue = worker_queue(redis_url, quiet_start=0)
    redis_server.stop()
    try:
        began = time.monotonic()
        assert await queue.dequeue(timeout=1) is None  # raised at once: workers spun a core
        assert time.monotonic() - began >= REDIS_AWAY_PAUSE_S * 0.9
    finally:
        redis_server.start()
        await queue.disconnect()
