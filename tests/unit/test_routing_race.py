"""``hedge.race`` itself: the attempt that starts a race runs in the caller's task, and
joins a race of tasks only when its hedge delay passes.

Every attempt here waits on an event or a future the test controls; a hedge delay of 0
makes the hedge start on the next loop turn, one of 60 s never in a test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest

from drux.routing.hedge import RaceExhausted, RaceResult, race

NEVER = 60.0


@dataclass
class Attempt:
    """One candidate: waits for ``gate`` (if any), then returns ``value`` or raises ``error``."""

    key: str
    value: str = ""
    error: Exception | None = None
    gate: asyncio.Event | None = None
    hang: bool = False
    started: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[object] | None = None
    cancelled: bool = False
    then: Callable[[], object] | None = None  # called just before it answers

    async def run(self) -> str:
        self.task = asyncio.current_task()
        self.started.set()
        try:
            if self.hang:
                await asyncio.get_running_loop().create_future()
            if self.gate is not None:
                await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.then is not None:
            self.then()
        if self.error is not None:
            raise self.error
        return self.value


@dataclass
class Race:
    attempts: list[Attempt]
    delay: float = 0.0
    max_in_flight: int = 2
    errors: list[tuple[str, str]] = field(default_factory=list)
    discarded: list[str] = field(default_factory=list)
    abort_on: str | None = None

    def run(self) -> Coroutine[Any, Any, RaceResult[str, str]]:
        pending = list(self.attempts)

        def next_candidate() -> tuple[str, Callable[[], Awaitable[str]]] | None:
            if not pending:
                return None
            attempt = pending.pop(0)
            return attempt.key, attempt.run

        def on_error(key: str, exc: BaseException) -> None:
            self.errors.append((key, str(exc)))
            if key == self.abort_on:
                raise ValueError(f"abort after {key}")

        async def discard(value: str) -> None:
            self.discarded.append(value)

        return race(next_candidate, delay_for=lambda _key: self.delay, on_error=on_error,
                    discard=discard, max_in_flight=self.max_in_flight)


def others() -> set[asyncio.Task[object]]:
    return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]


async def test_the_first_attempt_runs_in_the_callers_task_without_a_task_of_its_own() -> None:
    before = others()
    seen: list[set[asyncio.Task[object]]] = []
    a = Attempt("a", "A", then=lambda: seen.append(others()))
    result = await Race([a, Attempt("b", "B")], delay=NEVER).run()
    assert (result.key, result.value, result.overtaken) == ("a", "A", [])
    assert a.task is asyncio.current_task()
    assert seen == [before]  # no task was started beside it
    assert others() == before  # and its hedge timer is gone: nothing left behind


async def test_sequential_without_hedging_runs_every_attempt_in_the_callers_task() -> None:
    r = Race([Attempt("a", error=RuntimeError("a down")), Attempt("b", error=RuntimeError("b down")),
              Attempt("c", "C")], delay=NEVER, max_in_flight=1)
    result = await r.run()
    assert result.key == "c" and r.errors == [("a", "a down"), ("b", "b down")]
    assert all(a.task is asyncio.current_task() for a in r.attempts)


async def test_a_failed_first_attempt_hands_over_at_once_in_the_same_task() -> None:
    a, b = Attempt("a", error=RuntimeError("a down")), Attempt("b", "B")
    r = Race([a, b], delay=NEVER)
    result = await r.run()
    assert (result.key, result.value) == ("b", "B") and r.errors == [("a", "a down")]
    assert b.task is asyncio.current_task()


async def test_exhausted_chain_raises() -> None:
    r = Race([Attempt("a", error=RuntimeError("a down"))], delay=NEVER)
    with pytest.raises(RaceExhausted):
        await r.run()
    with pytest.raises(RaceExhausted):
        await Race([]).run()


async def test_the_hedge_wins_and_the_first_attempt_is_stopped_in_the_callers_task() -> None:
    a, b = Attempt("a", hang=True), Attempt("b", "B")
    before = others()
    result = await Race([a, b]).run()
    assert (result.key, result.value, result.overtaken) == ("b", "B", ["a"])
    assert a.cancelled and a.task is asyncio.current_task() and b.task is not a.task
    me = asyncio.current_task()
    assert me is not None and me.cancelling() == 0  # the stop was taken back
    assert others() == before


async def test_the_first_attempt_wins_after_the_hedge_started() -> None:
    gate = asyncio.Event()
    a, b = Attempt("a", "A", gate=gate), Attempt("b", hang=True)
    r = Race([a, b])
    task = asyncio.create_task(r.run())
    await b.started.wait()
    gate.set()
    result = await task
    assert (result.key, result.value, result.overtaken) == ("a", "A", [])
    assert b.cancelled and r.discarded == [] and task.cancelling() == 0


async def test_the_first_attempt_fails_after_the_hedge_started() -> None:
    gate_a, gate_b = asyncio.Event(), asyncio.Event()
    a = Attempt("a", error=RuntimeError("a down"), gate=gate_a)
    b = Attempt("b", "B", gate=gate_b, then=None)
    r = Race([a, b, Attempt("c", "C", hang=True)])
    task = asyncio.create_task(r.run())
    await b.started.wait()
    a.then = gate_b.set  # a fails, and only then b answers
    gate_a.set()
    result = await task
    assert (result.key, result.value, result.overtaken) == ("b", "B", [])
    assert r.errors == [("a", "a down")]


async def test_answers_in_the_same_instant_the_earlier_started_wins_the_other_is_discarded() -> None:
    gate = asyncio.Event()
    a, b = Attempt("a", "A", gate=gate), Attempt("b", "B", gate=gate)
    r = Race([a, b])
    task = asyncio.create_task(r.run())
    await b.started.wait()
    gate.set()
    result = await task
    assert result.key == "a" and r.discarded == ["B"]


@pytest.mark.parametrize("hedged", [False, True], ids=["before-the-hedge", "with-the-hedge"])
async def test_a_cancellation_from_outside_goes_through_with_its_message(hedged: bool) -> None:
    a, b = Attempt("a", hang=True), Attempt("b", hang=True)
    before = others()
    task = asyncio.create_task(Race([a, b], delay=0.0 if hedged else NEVER).run())
    await (b if hedged else a).started.wait()
    task.cancel("client gone")
    with pytest.raises(asyncio.CancelledError) as caught:
        await task
    assert caught.value.args == ("client gone",)
    assert a.cancelled and b.cancelled is hedged
    assert others() == before  # the race's task and the hedge's are gone


async def test_a_deadline_around_the_race_becomes_a_timeout() -> None:
    a, b = Attempt("a", hang=True), Attempt("b", hang=True)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await Race([a, b]).run()
    me = asyncio.current_task()
    assert a.cancelled and b.cancelled and me is not None and me.cancelling() == 0


async def test_an_error_that_aborts_the_race_stops_the_first_attempt_too() -> None:
    gate = asyncio.Event()
    a, b = Attempt("a", hang=True), Attempt("b", error=RuntimeError("bad request"), gate=gate)
    r = Race([a, b, Attempt("c", "C")], abort_on="b")
    task = asyncio.create_task(r.run())
    await b.started.wait()
    gate.set()
    with pytest.raises(ValueError, match="abort after b"):
        await task
    assert a.cancelled and r.errors == [("b", "bad request")]


async def test_the_winner_is_discarded_when_the_caller_is_cancelled_as_it_wins() -> None:
    gate = asyncio.Event()
    holder: list[asyncio.Task[RaceResult[str, str]]] = []
    a = Attempt("a", hang=True)
    b = Attempt("b", "B", gate=gate, then=lambda: holder[0].cancel())  # gone as b answers
    r = Race([a, b])
    task = asyncio.create_task(r.run())
    holder.append(task)
    await b.started.wait()
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert a.cancelled and r.discarded == ["B"]
