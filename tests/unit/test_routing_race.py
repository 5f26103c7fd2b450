"""``hedge.race`` itself: the attempt that starts a race runs in the caller's task, and
joins a race of tasks only when its hedge delay passes.

Every attempt here waits on an event or a future the test controls; a hedge delay of 0
makes the hedge start on the next loop turn, one of 60 s never in a test.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drux.routing import hedge
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


# -- the inline race against the race of tasks, on a clock that only moves when the loop waits --

class _NoWaitSelector(selectors.BaseSelector):
    """The selector of a loop with no real I/O: a wait moves the loop's clock to the end of
    the wait at once, so timers fire in order, at exact times, however busy the machine."""

    def __init__(self, clock: list[float]) -> None:
        self._clock = clock
        self._keys: dict[int, selectors.SelectorKey] = {}

    @staticmethod
    def _fd(fileobj: Any) -> int:
        return fileobj if isinstance(fileobj, int) else int(fileobj.fileno())

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = selectors.SelectorKey(fileobj, self._fd(fileobj), events, data)
        self._keys[key.fd] = key
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._keys.pop(self._fd(fileobj))

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise RuntimeError("every task waits on something that never comes")
        self._clock[0] += timeout
        return []

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._keys


class _VirtualClockLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._now = [0.0]
        super().__init__(_NoWaitSelector(self._now))

    def time(self) -> float:
        return self._now[0]


@dataclass(frozen=True)
class _Plan:
    """One candidate: answers (or fails) after ``seconds``; ``None``: never."""

    seconds: float | None
    fails: bool


def _play(plans: list[_Plan], delay: float | None, max_in_flight: int, abort_on: int | None,
          inline: bool, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Run one race on a fresh virtual-clock loop; return everything that happened, in order."""
    loop = _VirtualClockLoop()
    monkeypatch.setattr(hedge, "time", SimpleNamespace(monotonic=loop.time))
    trace: list[object] = []
    pending = list(range(len(plans)))

    def next_candidate() -> tuple[int, Callable[[], Awaitable[str]]] | None:
        if not pending:
            return None
        key = pending.pop(0)

        async def attempt() -> str:
            trace.append(("start", key, loop.time()))
            plan = plans[key]
            try:
                if plan.seconds is None:
                    await loop.create_future()
                await asyncio.sleep(plan.seconds)  # type: ignore[arg-type]
            except asyncio.CancelledError:
                trace.append(("cancelled", key, loop.time()))
                raise
            if plan.fails:
                raise RuntimeError(f"{key} failed")
            return f"answer {key}"

        return key, attempt

    def on_error(key: int, exc: BaseException) -> None:
        trace.append(("error", key, str(exc), loop.time()))
        if key == abort_on:
            raise ValueError(f"abort after {key}")

    async def discard(value: str) -> None:
        trace.append(("discarded", value, loop.time()))

    async def main() -> None:
        run = race if inline else partial(hedge._race_tasks, first=None)
        try:
            async with asyncio.timeout(1000.0):
                result = await run(next_candidate, delay_for=lambda _key: delay,
                                   on_error=on_error, discard=discard, max_in_flight=max_in_flight)
            trace.append(("won", result.key, result.value, result.overtaken, loop.time()))
        except (RaceExhausted, ValueError, TimeoutError) as exc:
            trace.append(("raised", type(exc).__name__, str(exc), loop.time()))
        me = asyncio.current_task()
        assert me is not None and me.cancelling() == 0
        trace.append(("left behind", len(asyncio.all_tasks()) - 1))

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return trace


def _losers_sorted(trace: list[object]) -> list[object]:
    """The losers a race cancels at one instant, in key order: the order in which they are
    cancelled is not a rule (the inline attempt hears of it a loop turn after the tasks)."""
    out: list[object] = []
    for event in trace:
        run = out[-1] if out and isinstance(out[-1], list) else None
        if isinstance(event, tuple) and event[0] == "cancelled":
            if run is not None and run[0][2] == event[2]:
                run.append(event)
                run.sort()
                continue
            out.append([event])
        else:
            out.append(event)
    return out


# Distinct, unlikely sums: two events at the same instant would make the order of the two
# implementations' loop turns matter, which the rules leave open.
_SECONDS = st.sampled_from([1.3, 2.9, 4.1, 6.7, 9.7, 13.1, 17.3, 23.9])


@given(plans=st.lists(st.builds(_Plan, st.one_of(st.none(), _SECONDS), st.booleans()),
                      min_size=0, max_size=4),
       delay=st.one_of(st.none(), st.sampled_from([0.7, 3.7, 7.9, 11.3])),
       max_in_flight=st.integers(1, 3), abort_on=st.one_of(st.none(), st.integers(0, 3)))
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_inline_race_does_what_the_race_of_tasks_does(
        plans: list[_Plan], delay: float | None, max_in_flight: int, abort_on: int | None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    inline = _play(plans, delay, max_in_flight, abort_on, True, monkeypatch)
    tasks = _play(plans, delay, max_in_flight, abort_on, False, monkeypatch)
    assert _losers_sorted(inline) == _losers_sorted(tasks)
    assert inline[-1] == ("left behind", 0)
