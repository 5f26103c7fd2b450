"""Waiting for a condition in a test: poll it until it holds, or fail after a generous deadline.

Tests never sleep to let something happen. When something signals (an event, a Playwright
expectation, a console message), they wait for that signal; when nothing does (a subprocess,
a server thread starting, a row in a database), they poll the condition with these helpers.
The deadline only bounds a failing test: a passing one waits as long as its condition takes,
so it can be generous enough for a loaded two-core machine.

    wait_until(lambda: server.started, "the test server did not start")
    row = await eventually(lambda: repo.get(ask_id), "the ask was never stored")
    health = first_answer(f"{base}/health", proc, "drux serve")
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

import httpx

T = TypeVar("T")

PATIENCE_S = 60.0  # seconds; only a failing test waits this long
POLL_S = 0.05
REQUEST_S = 30.0  # one request to a server that has just started on a loaded machine


def _fail(message: str | Callable[[], str], patience: float) -> AssertionError:
    text = message() if callable(message) else message
    return AssertionError(f"{text} (waited {patience:g} s)")


def wait_until(condition: Callable[[], T], message: str | Callable[[], str], *,
               patience: float = PATIENCE_S, interval: float = POLL_S) -> T:
    """Call ``condition`` until it returns something truthy and return that.

    ``message`` (or what it returns when called) says what never happened. A condition
    may itself raise, e.g. to stop early when a subprocess died.
    """
    deadline = time.monotonic() + patience
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _fail(message, patience)
        time.sleep(interval)


async def eventually(condition: Callable[[], T], message: str | Callable[[], str], *,
                     patience: float = PATIENCE_S, interval: float = POLL_S) -> T:
    """``wait_until`` for a coroutine: the event loop runs on while the condition is false."""
    deadline = time.monotonic() + patience
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _fail(message, patience)
        await asyncio.sleep(interval)


def first_answer(url: str, proc: subprocess.Popen[str], what: str) -> httpx.Response:
    """GET ``url`` until the server ``proc`` runs answers; fail at once if ``proc`` exits."""

    def answer() -> httpx.Response | None:
        if proc.poll() is not None:
            pipe = proc.stderr or proc.stdout
            raise AssertionError(f"{what} exited: {pipe.read() if pipe else proc.returncode}")
        try:
            return httpx.get(url, timeout=REQUEST_S)
        except httpx.TransportError:  # not listening yet
            return None

    return wait_until(answer, f"{what} did not come up")
