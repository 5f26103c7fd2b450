"""The fan-out engine with scripted providers: ordering, deadlines, failures, cancellation."""

from __future__ import annotations

import asyncio
import time

import pytest

from drux.errors import ModelNotFoundError, ProviderTimeoutError, ServerError
from drux.panel import Failed, Finished, PanelEvent, Started, Token, run_panel
from drux.types import ChatRequest, Message

from scripted import Hang, Raise, Reply, ScriptedProvider
from waiting import PATIENCE_S


def _requests(*models: str) -> dict[str, ChatRequest]:
    return {m: ChatRequest([Message("user", "q")], model=m) for m in models}


# Members' deadlines where a test does not test them: scripted members answer at once, but a
# loaded machine may stall for seconds.
async def _collect(members: dict[str, ScriptedProvider], deadline: float = PATIENCE_S) -> list[PanelEvent]:
    return [e async for e in run_panel(members, _requests(*members), deadlines=deadline)]


async def test_every_member_streams_and_finishes_once() -> None:
    members = {
        "a": ScriptedProvider("a", [Reply("one two three", delay=0.001)]),
        "b": ScriptedProvider("b", [Reply("four five", delay=0.001)]),
    }
    events = await _collect(members)
    for model, text in (("a", "one two three"), ("b", "four five")):
        mine = [e for e in events if e.model == model]
        assert isinstance(mine[0], Started)
        assert isinstance(mine[-1], Finished)
        assert sum(isinstance(e, Finished | Failed) for e in mine) == 1
        tokens = "".join(e.text for e in mine if isinstance(e, Token))
        assert tokens == text
        assert mine[-1].completion.text == text
        assert mine[-1].timings.first_token_s is not None
        assert mine[-1].timings.total_s >= mine[-1].timings.first_token_s


async def test_tokens_interleave_in_arrival_order() -> None:
    members = {
        "slow": ScriptedProvider("slow", [Reply("s1 s2", delay=0.05, first_delay=0.05)]),
        "fast": ScriptedProvider("fast", [Reply("f1 f2", delay=0.0)]),
    }
    events = await _collect(members)
    finished = [e.model for e in events if isinstance(e, Finished)]
    assert finished == ["fast", "slow"]


async def test_one_failure_among_successes_is_data() -> None:
    members = {
        "ok": ScriptedProvider("ok", [Reply("fine answer", delay=0.01)]),
        "gone": ScriptedProvider("gone", [Raise(ModelNotFoundError("withdrawn", provider="x",
                                                                  model="gone"))]),
        "err": ScriptedProvider("err", [Reply("partial text here", fail_after=2,
                                              error=ServerError("died"))]),
    }
    events = await _collect(members)
    by_model = {e.model: e for e in events if isinstance(e, Finished | Failed)}
    assert isinstance(by_model["ok"], Finished)
    assert by_model["ok"].completion.text == "fine answer"
    assert isinstance(by_model["gone"], Failed)
    assert isinstance(by_model["gone"].error, ModelNotFoundError)
    assert isinstance(by_model["err"], Failed)
    assert by_model["err"].partial_text == "partial text"


async def test_deadline_fails_only_the_hung_member_without_delaying_others() -> None:
    members = {
        "hang": ScriptedProvider("hang", [Hang()]),
        "ok": ScriptedProvider("ok", [Reply("quick")]),
    }
    seen: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    # ok answers in a few turns of the loop: the hung member's deadline leaves a stalled
    # machine a full second for them, and ok's own deadline never matters.
    async for e in run_panel(members, _requests("hang", "ok"),
                             deadlines={"hang": 1.0, "ok": PATIENCE_S}):
        if isinstance(e, Finished | Failed):
            seen.append((e.model, time.perf_counter() - t0))
            if isinstance(e, Failed):
                assert isinstance(e.error, ProviderTimeoutError)
    assert [m for m, _ in seen] == ["ok", "hang"]
    assert members["hang"].cancelled == 1


async def test_closing_the_stream_cancels_running_members() -> None:
    members = {
        "a": ScriptedProvider("a", [Reply("x " * 50, delay=0.05)]),
        "b": ScriptedProvider("b", [Hang()]),
    }
    stream = run_panel(members, _requests("a", "b"), deadlines=10.0)
    async for e in stream:
        if isinstance(e, Token):
            break
    await stream.aclose()
    assert members["a"].cancelled == 1
    assert members["b"].cancelled == 1


async def test_consumer_cancellation_cancels_members() -> None:
    members = {"h": ScriptedProvider("h", [Hang()])}

    async def consume() -> None:
        async for _ in run_panel(members, _requests("h"), deadlines=10.0):
            pass

    task = asyncio.create_task(consume())
    async with asyncio.timeout(PATIENCE_S):
        await members["h"].started.wait()  # cancelled before it started, it had nothing to cancel
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert members["h"].cancelled == 1


async def test_adapter_bug_becomes_a_failure_not_a_crash() -> None:
    class Broken(ScriptedProvider):
        async def stream(self, request):  # type: ignore[no-untyped-def,override]
            raise KeyError("bug")
            yield  # pragma: no cover

    members = {"bug": Broken("bug", []), "ok": ScriptedProvider("ok", [Reply("fine")])}
    events = await _collect(members)  # type: ignore[arg-type]
    failed = [e for e in events if isinstance(e, Failed)]
    assert [f.model for f in failed] == ["bug"]
    assert "KeyError" in str(failed[0].error)
