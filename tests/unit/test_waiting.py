"""The suite's own waiting tools: polling with a deadline, and the Gate scripted replies wait on."""

from __future__ import annotations

import asyncio
import threading

import pytest

from drux.types import ChatRequest, Message

from scripted import Gate, Reply, ScriptedProvider
from waiting import eventually, wait_until


def test_wait_until_returns_the_first_truthy_value() -> None:
    answers = iter([None, [], ["row"]])
    assert wait_until(lambda: next(answers), "never", interval=0.001) == ["row"]


def test_wait_until_fails_saying_what_never_happened() -> None:
    with pytest.raises(AssertionError, match=r"the row never came \(waited 0.05 s\)"):
        wait_until(lambda: None, lambda: "the row never came", patience=0.05, interval=0.01)


async def test_eventually_lets_the_loop_run_until_the_condition_holds() -> None:
    done = asyncio.Event()
    asyncio.get_running_loop().call_later(0.01, done.set)
    assert await eventually(done.is_set, "never set", interval=0.001)
    with pytest.raises(AssertionError, match="still unset"):
        await eventually(lambda: False, "still unset", patience=0.05, interval=0.01)


async def test_a_gate_opened_from_another_thread_wakes_its_waiter() -> None:
    gate = Gate()
    waiter = asyncio.create_task(gate.wait())
    await asyncio.sleep(0)  # the waiter is parked on the gate
    assert not waiter.done()
    opener = threading.Thread(target=gate.open)
    opener.start()
    opener.join()
    async with asyncio.timeout(60):
        await waiter
    await gate.wait()  # once open, it stays open


async def test_a_gated_reply_holds_its_last_word_until_the_gate_opens() -> None:
    gate = Gate()
    provider = ScriptedProvider("m", [Reply("one two three", gate=gate)])
    request = ChatRequest([Message("user", "q")], model="m")
    seen: list[str] = []

    async def read() -> None:
        async for chunk in provider.stream(request):
            seen.append(chunk.text)

    reading = asyncio.create_task(read())
    await eventually(lambda: "".join(seen) == "one two", "the first words never came")
    for _ in range(10):
        await asyncio.sleep(0)
    assert "".join(seen) == "one two" and not reading.done()
    gate.open()
    async with asyncio.timeout(60):
        await reading
    assert "".join(seen) == "one two three"
