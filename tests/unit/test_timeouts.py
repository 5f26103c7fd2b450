"""drux.timeouts.timeout behaves as asyncio.timeout: every case runs through both."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from drux.timeouts import timeout as drux_timeout

Make = Callable[[float | None], AbstractAsyncContextManager[Any]]
BOTH = pytest.mark.parametrize("make", [asyncio.timeout, drux_timeout], ids=["asyncio", "drux"])


async def _outcome(body: Callable[[], Awaitable[object]]) -> tuple[str, object]:
    """What a task running ``body`` ended with, and how often it was left cancelled."""
    task = asyncio.ensure_future(body())
    try:
        value = await task
    except BaseException as exc:
        return type(exc).__name__, str(exc)
    return "returned", value


def _run(body: Callable[[], Awaitable[object]]) -> tuple[str, object]:
    return asyncio.run(_outcome(body))


@BOTH
def test_a_block_that_finishes_in_time_returns(make: Make) -> None:
    async def body() -> object:
        async with make(5):
            await asyncio.sleep(0)
        return asyncio.current_task().cancelling()  # type: ignore[union-attr]

    assert _run(body) == ("returned", 0)


@BOTH
@pytest.mark.parametrize("delay", [0.01, 0.0, -1.0])
def test_an_expired_block_raises_timeout_error(make: Make, delay: float) -> None:
    async def body() -> object:
        try:
            async with make(delay):
                await asyncio.sleep(10)
        except TimeoutError as exc:
            assert isinstance(exc.__cause__, asyncio.CancelledError)
            return ("timed out", asyncio.current_task().cancelling())  # type: ignore[union-attr]
        return "not reached"

    assert _run(body) == ("returned", ("timed out", 0))


@BOTH
def test_none_never_expires(make: Make) -> None:
    async def body() -> object:
        async with make(None):
            await asyncio.sleep(0.02)
        return "done"

    assert _run(body) == ("returned", "done")


@BOTH
def test_a_block_that_never_waits_is_not_cut(make: Make) -> None:
    async def body() -> object:
        async with make(0):
            total = sum(range(1000))
        await asyncio.sleep(0)  # the timer, had it been left armed, would fire here
        return total

    assert _run(body) == ("returned", sum(range(1000)))


@BOTH
def test_a_cancel_from_outside_is_not_turned_into_timeout(make: Make) -> None:
    async def main() -> tuple[str, object]:
        entered = asyncio.Event()

        async def body() -> object:
            async with make(5):
                entered.set()
                await asyncio.sleep(10)
            return "not reached"

        task = asyncio.ensure_future(body())
        await entered.wait()  # cancelled inside the timeout, not before it
        task.cancel()
        try:
            await task
        except BaseException as exc:
            return type(exc).__name__, task.cancelling()
        return "returned", None

    assert asyncio.run(main()) == ("CancelledError", 1)


@BOTH
def test_a_cancel_that_comes_with_the_expiry_wins(make: Make) -> None:
    """Expired, but someone else cancelled the task too: the cancel goes on."""
    async def main() -> tuple[str, object]:
        async def body() -> object:
            async with make(0.01):
                try:
                    await asyncio.sleep(10)
                finally:
                    asyncio.current_task().cancel()  # type: ignore[union-attr]
                    await asyncio.sleep(0)  # never reached: the pending cancel lands here
            return "not reached"

        task = asyncio.ensure_future(body())
        try:
            await task
        except BaseException as exc:
            return type(exc).__name__, None
        return "returned", None

    assert asyncio.run(main())[0] == "CancelledError"


@BOTH
def test_a_body_that_swallows_the_cancel_returns_normally(make: Make) -> None:
    async def body() -> object:
        async with make(0.01):
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass
        return asyncio.current_task().cancelling()  # type: ignore[union-attr]

    assert _run(body) == ("returned", 0)


@BOTH
def test_nested_the_one_that_expired_reports_it(make: Make) -> None:
    async def inner_expires() -> object:
        async with make(5):
            try:
                async with make(0.01):
                    await asyncio.sleep(10)
            except TimeoutError:
                return "inner"
        return "not reached"

    async def outer_expires() -> object:
        try:
            async with make(0.01):
                async with make(5):
                    await asyncio.sleep(10)
        except TimeoutError:
            return "outer"
        return "not reached"

    assert _run(inner_expires) == ("returned", "inner")
    assert _run(outer_expires) == ("returned", "outer")


@BOTH
def test_other_errors_pass_through(make: Make) -> None:
    async def body() -> object:
        async with make(5):
            await asyncio.sleep(0)
            raise ValueError("boom")

    assert _run(body) == ("ValueError", "boom")

