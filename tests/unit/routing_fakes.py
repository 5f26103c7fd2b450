"""Scripted fake providers and a fake clock for the routing unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from drux.errors import ProviderError
from drux.types import ChatRequest, Chunk, Completion, Usage


@dataclass
class Reply:
    """Answer with these pieces; the last chunk carries finish_reason."""

    pieces: tuple[str, ...] = ("hello", " world")
    finish: str | None = "stop"
    # Wait for this event before the first piece (hedging tests).
    gate: asyncio.Event | None = None


@dataclass
class Fail:
    """Raise ``error`` after yielding ``pieces`` (none: fail before any output)."""

    error: ProviderError
    pieces: tuple[str, ...] = ()
    gate: asyncio.Event | None = None


@dataclass
class Hang:
    """Never answer; remember if the call was cancelled."""


Step = Reply | Fail | Hang


@dataclass
class ScriptedProvider:
    """Plays its script one step per call; the last step repeats once the script runs out."""

    name: str
    script: list[Step] = field(default_factory=lambda: [Reply()])
    calls: int = 0
    requests: list[ChatRequest] = field(default_factory=list)
    cancelled: int = 0
    started: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def _next_step(self, request: ChatRequest) -> Step:
        self.calls += 1
        self.requests.append(request)
        self.started.set()
        index = min(self.calls - 1, len(self.script) - 1)
        return self.script[index]

    async def _wait(self, step: Step) -> None:
        try:
            if isinstance(step, Hang):
                await asyncio.Event().wait()
            if isinstance(step, Reply | Fail) and step.gate is not None:
                await step.gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    async def complete(self, request: ChatRequest) -> Completion:
        step = self._next_step(request)
        await self._wait(step)
        if isinstance(step, Fail):
            raise step.error
        assert isinstance(step, Reply)
        return Completion(text="".join(step.pieces), model=request.model, deployment=self.name,
                          finish_reason=step.finish, usage=Usage(3, len(step.pieces)))

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        step = self._next_step(request)
        await self._wait(step)
        pieces = step.pieces if isinstance(step, Reply | Fail) else ()
        for i, piece in enumerate(pieces):
            last = isinstance(step, Reply) and i == len(pieces) - 1
            try:
                await asyncio.sleep(0)
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            yield Chunk(text=piece, deployment=self.name,
                        finish_reason=step.finish if last else None,
                        usage=Usage(3, len(pieces)) if last else None)
        if isinstance(step, Fail):
            raise step.error

    async def aclose(self) -> None:
        self.closed = True


class FakeClock:
    """A monotonic clock that only moves when told to (or when ``sleep`` is awaited)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
