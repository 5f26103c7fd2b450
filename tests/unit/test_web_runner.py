"""The AskRunner: asks outlive their clients, late readers replay, and an SSE client that
hangs up over a real socket does not stop the ask."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_kit import ANSWERS, Scripts, make_services, relaxed

from drux.services.ask import AskOptions
from drux.web.runner import AskRunner

from scripted import Gate
from waiting import PATIENCE_S, wait_until


async def _wait_done(runner: AskRunner, ask_id: str) -> None:
    run = runner.get(ask_id)
    assert run is not None
    async with asyncio.timeout(PATIENCE_S):
        async for _ in run.follow():
            pass


async def test_an_ask_nobody_follows_still_completes_and_is_stored(drux_env: Path) -> None:
    services = make_services(drux_env, Scripts(delay=0.01))
    runner = AskRunner(services)
    try:
        ask_id = await runner.start(AskOptions(question="Does water boil at 100 C?"))
        assert services.store.asks.get(ask_id).status == "running"  # type: ignore[union-attr]
        await _wait_done(runner, ask_id)
        record = services.store.asks.get(ask_id)
        assert record is not None and record.status == "complete"
        assert [a.text for a in record.answers] == list(ANSWERS.values())
        assert record.score is not None
    finally:
        await runner.aclose()
        await services.aclose()


async def test_a_reader_that_leaves_early_does_not_disturb_others(drux_env: Path) -> None:
    services = make_services(drux_env, Scripts(delay=0.02))
    runner = AskRunner(services)
    try:
        ask_id = await runner.start(AskOptions(question="Does water boil at 100 C?"))
        run = runner.get(ask_id)
        assert run is not None
        seen = 0
        async for _ in run.follow():  # leaves after three events
            seen += 1
            if seen == 3:
                break
        later = [item[1] async for item in run.follow() if item is not None]
        assert later[0]["type"] == "created" and later[-1]["type"] == "done"
        assert later == run.events
    finally:
        await runner.aclose()
        await services.aclose()


async def test_bad_input_fails_at_start_without_a_task_or_a_row(drux_env: Path) -> None:
    from drux.errors import InputError

    services = make_services(drux_env, Scripts())
    runner = AskRunner(services)
    try:
        with pytest.raises(InputError):
            await runner.start(AskOptions(question=" "))
        assert runner.running == 0 and services.store.asks.count() == 0
    finally:
        await services.aclose()


async def test_an_ask_that_breaks_after_answering_is_not_left_running(
        drux_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import drux.services.ask as ask_service

    def broken_score(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("scoring broke")

    monkeypatch.setattr(ask_service, "score", broken_score)
    services = make_services(drux_env, Scripts())
    runner = AskRunner(services)
    try:
        ask_id = await runner.start(AskOptions(question="Does water boil at 100 C?"))
        await _wait_done(runner, ask_id)
        run = runner.get(ask_id)
        assert run is not None
        assert [e["type"] for e in run.events[-2:]] == ["error", "done"]
        assert run.events[-1]["status"] == "partial"
        assert run.events[-2]["error"]["message"] == "the ask stopped unexpectedly"
        record = services.store.asks.get(ask_id)
        assert record is not None and record.status == "partial"
    finally:
        await runner.aclose()
        await services.aclose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sse_client_disconnect_over_a_real_socket_still_stores(drux_env: Path) -> None:
    import uvicorn

    from drux.web.app import create_app

    gate = Gate()  # the answers hold their last word: still running after the hang-up
    services = make_services(drux_env, Scripts(delay=0.1, gate=gate))
    app = create_app(services, relaxed())
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        def started() -> bool:
            assert thread.is_alive(), "the server stopped while starting"
            return bool(server.started)

        wait_until(started, "the server did not start")
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=PATIENCE_S) as client:
            ask_id = client.post("/api/asks", json={"question": "Boiling point?"}).json()["id"]
            with client.stream("GET", f"/api/asks/{ask_id}/events") as stream:
                for line in stream.iter_lines():
                    if '"type": "token"' in line:
                        break  # hang up mid-answer
            partial = client.get(f"/api/asks/{ask_id}").json()
            assert partial["status"] == "running"
            gate.open()

            def finished() -> dict[str, Any] | None:
                record = client.get(f"/api/asks/{ask_id}").json()
                return None if record["status"] == "running" else record

            record = wait_until(finished, "the ask never finished")
        assert record["status"] == "complete"
        assert [a["text"] for a in record["answers"]] == list(ANSWERS.values())
    finally:
        server.should_exit = True
        thread.join(timeout=PATIENCE_S)


async def test_a_quiet_follower_gets_heartbeats_then_the_rest() -> None:
    from drux.web.runner import AskRun

    run = AskRun("abc")
    run.publish({"type": "created"})
    follower = run.follow(heartbeat=0.01)
    assert await anext(follower) == (0, {"type": "created"})
    assert await anext(follower) is None  # nothing happened for a while
    run.publish({"type": "done"})
    run.close()
    assert [item async for item in follower] == [(1, {"type": "done"})]
