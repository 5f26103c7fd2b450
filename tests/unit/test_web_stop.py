"""Stopping an ask from the web: AskRunner.cancel, the cancel endpoint and the Stop form.

What was received is kept, as Ctrl-C keeps it in the CLI: finished answers as they are,
unfinished ones with their text marked partial, the ask partial, and followers hear a
"done" event with status partial.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from web_kit import make_services, relaxed, sse_events

from drux.services.ask import AskOptions
from drux.web.app import create_app
from drux.web.runner import AskRunner

from scripted import Hang, Reply, ScriptedProvider

ALPHA = "Water boils at 100 degrees Celsius at sea level."


class Stalling:
    """alpha answers at once, beta sends a few words then dawdles, gamma never answers."""

    def __init__(self) -> None:
        self.built: dict[str, ScriptedProvider] = {}

    def __call__(self, spec: Any, _config: Any) -> ScriptedProvider:
        step = {"alpha": Reply(ALPHA), "beta": Reply("At sea level " + "very " * 50, delay=0.5),
                }.get(spec.id, Hang())
        self.built[spec.id] = ScriptedProvider(spec.id, [step])
        return self.built[spec.id]


async def _until(run: Any, seen: Any) -> None:
    async with asyncio.timeout(20.0):
        async for item in run.follow():
            if item is not None and seen(run.events):
                return


def _stored(services: Any, ask_id: str) -> dict[str, Any] | None:
    """The stored ask as its JSON export shows it."""
    record = services.store.asks.get(ask_id)
    return None if record is None else record.model_dump(mode="json")


def _answers(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["model"]: a for a in record["answers"]}


async def test_cancel_keeps_what_arrived_and_followers_hear_partial(drux_env: Path) -> None:
    scripts = Stalling()
    services = make_services(drux_env, scripts)
    runner = AskRunner(services)
    try:
        ask_id = await runner.start(AskOptions(question="Does water boil at 100 C?"))
        run = runner.get(ask_id)
        assert run is not None
        await _until(run, lambda evs: any(e["type"] == "finished" for e in evs)
                     and any(e["type"] == "token" and e["model"] == "beta" for e in evs))
        stopped = await runner.cancel(ask_id)
        assert stopped is not None and stopped.stopped and stopped.status == "partial"
        assert run.done and run.events[-1] == {"type": "done", "ask_id": ask_id,
                                               "status": "partial"}
        record = _stored(services, ask_id)
        assert record is not None and record["status"] == "partial"
        answers = _answers(record)
        assert answers["alpha"]["status"] == "done" and answers["alpha"]["text"] == ALPHA
        assert answers["beta"]["status"] == "partial"
        received = "".join(e["text"] for e in run.events
                           if e["type"] == "token" and e["model"] == "beta")
        assert received and answers["beta"]["text"] == received
        assert answers["gamma"]["status"] == "partial" and answers["gamma"]["text"] == ""
        assert scripts.built["beta"].cancelled == 1 and scripts.built["gamma"].cancelled == 1
        again = await runner.cancel(ask_id)  # idempotent: nothing changes
        assert again is not None and not again.stopped and again.status == "partial"
        assert await runner.cancel("no-such-ask") is None
    finally:
        await runner.aclose()
        await services.aclose()


async def test_a_stop_while_scoring_leaves_the_record_partial(
        drux_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import drux.services.ask as ask_service

    scoring = asyncio.Event()

    async def slow_score(*_a: Any, **_k: Any) -> Any:
        scoring.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(ask_service, "score", slow_score)
    services = make_services(drux_env, lambda spec, _c: ScriptedProvider(spec.id, [Reply("ok")]))
    runner = AskRunner(services)
    try:
        ask_id = await runner.start(AskOptions(question="Does water boil at 100 C?"))
        async with asyncio.timeout(20.0):
            await scoring.wait()
        stopped = await runner.cancel(ask_id)
        assert stopped is not None and stopped.status == "partial"
        record = _stored(services, ask_id)
        assert record is not None and record["status"] == "partial"  # was left "running"
        assert all(a["status"] == "done" and a["text"] == "ok" for a in record["answers"])
    finally:
        await runner.aclose()
        await services.aclose()


async def test_a_run_cancelled_before_its_first_step_still_ends_partial(drux_env: Path) -> None:
    services = make_services(drux_env, Stalling())
    runner = AskRunner(services)
    try:
        ask_id = await runner.start(AskOptions(question="Does water boil at 100 C?"))
        stopped = await runner.cancel(ask_id)  # the task has not run yet
        run = runner.get(ask_id)
        assert stopped is not None and stopped.stopped and run is not None and run.done
        assert run.events[-1]["status"] == "partial"
        record = _stored(services, ask_id)
        assert record is not None and record["status"] == "partial"
        assert {a["status"] for a in record["answers"]} == {"partial"}
    finally:
        await runner.aclose()
        await services.aclose()


@pytest.fixture
def client(drux_env: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_services(drux_env, Stalling()), relaxed())) as c:
        yield c


def _start_stalling(client: TestClient) -> str:
    """An ask whose alpha has answered and whose gamma never will."""
    ask_id = str(client.post("/api/asks", json={"question": "Boiling point?"}).json()["id"])
    deadline = time.monotonic() + 20
    while _answers(client.get(f"/api/asks/{ask_id}").json())["alpha"]["status"] != "done":
        assert time.monotonic() < deadline, "alpha never answered"
    return ask_id


def test_the_cancel_endpoint_stops_the_ask_and_sse_ends_partial(client: TestClient) -> None:
    ask_id = _start_stalling(client)
    r = client.post(f"/api/asks/{ask_id}/cancel")
    assert r.status_code == 202
    assert r.json() == {"id": ask_id, "stopped": True, "status": "partial",
                        "url": f"http://testserver/api/asks/{ask_id}"}
    events = [e for _, e in sse_events(client.get(f"/api/asks/{ask_id}/events").text)]
    assert events[-1] == {"type": "done", "ask_id": ask_id, "status": "partial"}
    record = client.get(f"/api/asks/{ask_id}").json()
    assert record["status"] == "partial"
    assert [a["status"] for a in record["answers"]] == ["done", "partial", "partial"]
    assert _answers(record)["alpha"]["text"] == ALPHA
    again = client.post(f"/api/asks/{ask_id}/cancel")
    assert again.status_code == 202 and again.json()["stopped"] is False
    assert again.json()["status"] == "partial"


def test_cancelling_a_finished_ask_changes_nothing(drux_env: Path) -> None:
    services = make_services(drux_env, lambda spec, _c: ScriptedProvider(spec.id, [Reply("ok")]))
    with TestClient(create_app(services, relaxed())) as client:
        ask_id = str(client.post("/api/asks", json={"question": "Boiling point?"}).json()["id"])
        sse_events(client.get(f"/api/asks/{ask_id}/events").text)  # wait for the end
        r = client.post(f"/api/asks/{ask_id}/cancel")
        assert r.status_code == 202 and r.json()["stopped"] is False
        assert r.json()["status"] == "complete"
        assert client.get(f"/api/asks/{ask_id}").json()["status"] == "complete"


def test_cancel_errors_are_typed(client: TestClient) -> None:
    r = client.post("/api/asks/not-an-ask/cancel")
    assert r.status_code == 404
    assert r.json() == {"error": {"type": "not_found", "message": "no ask with this id"}}
    services = client.app.state.services  # type: ignore[attr-defined]
    # Running in another process (drux ask): this server cannot stop it.
    elsewhere = services.store.asks.create(question="q", models=["alpha"], families={})
    r = client.post(f"/api/asks/{elsewhere}/cancel")
    assert r.status_code == 409 and r.json()["error"]["type"] == "conflict"
    ask_id = _start_stalling(client)
    r = client.post(f"/api/asks/{ask_id}/cancel", headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["error"]["type"] == "forbidden"
    assert client.get(f"/api/asks/{ask_id}").json()["status"] == "running"


def test_the_stop_form_works_without_javascript(client: TestClient) -> None:
    ask_id = _start_stalling(client)
    page = client.get(f"/r/{ask_id}").text
    assert f'action="/r/{ask_id}/stop"' in page
    r = client.post(f"/r/{ask_id}/stop", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith(f"/r/{ask_id}")
    page = client.get(f"/r/{ask_id}").text
    assert 'id="ask-status">partial<' in page
    assert f'action="/r/{ask_id}/stop"' not in page  # nothing left to stop
    assert ALPHA in page
    assert client.post("/r/not-an-ask/stop").status_code == 404
    assert client.post(f"/r/{ask_id}/stop", headers={"Sec-Fetch-Site": "cross-site"}
                       ).status_code == 403
